"""Render a devfile into the Kubernetes objects of seed 000's pod, as plain dicts.

Pure: no cluster, no I/O, so every shape is unit-tested. The objects, in apply order:

- a ``Secret`` ``<name>-env`` holding env values marked secret (only when there are some);
- the ``PersistentVolumeClaim`` ``<name>-s2idata`` (and one per devfile volume component);
- a ``Service`` ``<name>`` for the endpoints that are not ``exposure: none``;
- the objects of the devfile's Kubernetes/OpenShift components deployed by default;
- a ``Deployment`` ``<name>`` (apps/v1; the seeds' DeploymentConfig is OpenShift-only) whose pod
  runs the init containers ``copy-supervisord`` and ``copy-files-to-volume``, then the app
  container with the shared emptyDir at ``/opt/odo``, the PVC at ``/opt/app-root``, and the
  init (PID 1) → supervisor → app chain as its command.

Every object carries the ``app.kubernetes.io`` labels with ``managed-by=pyodo`` plus whatever
run labels the caller adds (run id, expiry), so cleanup is one label selector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyodo_tasks.core.debugging import debug_port
from pyodo_tasks.core.devfile import Container, Devfile
from pyodo_tasks.core.devfile.model import NO_RUN_COMMAND
from pyodo_tasks.errors import DevfileError
from pyodo_tasks.runtime import contract

__all__ = [
    "COMPONENT_LABEL",
    "KUBERNETES_COMPONENT_LABEL",
    "MANAGED_BY",
    "SPEC_HASH_ANNOTATION",
    "RenderContext",
    "component_labels",
    "component_selector",
    "render",
    "spec_hash",
]

MANAGED_BY = "pyodo"
SPEC_HASH_ANNOTATION = "pyodo.dev/spec-hash"
COMPONENT_LABEL = "pyodo.dev/component"
#: On objects from a devfile's kubernetes/openshift component: which component they came from.
KUBERNETES_COMPONENT_LABEL = "pyodo.dev/kubernetes-component"
#: Kinds known to be namespaced, whose namespace render sets; others get it from discovery.
NAMESPACED_KINDS = frozenset(
    {"ConfigMap", "Secret", "Service", "Deployment", "PersistentVolumeClaim", "Pod", "Ingress"}
)
SHARED_VOLUME = "odo-shared-data"
#: The emptyDir the sources are synced into, mounted in every container that mounts sources.
PROJECTS_VOLUME = "odo-projects"
#: Keeps a container that only serves as an exec target alive without its image's entrypoint
#: (odo's ``tail -f /dev/null``), with the init image's busybox so any image works; in the inject
#: layout (no init image) with the image's own sh.
KEEP_ALIVE_SCRIPT = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"
KEEP_ALIVE_COMMAND = (
    f"{contract.ODO_MOUNT}/bin/busybox",
    "sh",
    "-c",
    f"trap 'exit 0' TERM; while :; do {contract.ODO_MOUNT}/bin/busybox sleep 3600 & wait $!; done",
)
ODO_DIR = contract.ODO_MOUNT
APP_ROOT = contract.APP_ROOT


@dataclass(frozen=True)
class RenderContext:
    """Everything besides the devfile that shapes the objects. Defaults suit a dev cluster."""

    namespace: str
    init_image: str = contract.INIT_REF
    #: Extra labels on every object, e.g. the pytest run id and expiry used by ``doit gc``.
    labels: Mapping[str, str] = field(default_factory=dict)
    #: ``app.kubernetes.io/part-of``: the application the component belongs to.
    part_of: str | None = None
    image_pull_policy: str = "IfNotPresent"
    storage_class: str | None = None
    s2idata_size: str = "1Gi"
    #: Where the builder image keeps its S2I scripts (its ``io.openshift.s2i.scripts-url``).
    s2i_scripts: str = contract.DEFAULT_S2I_SCRIPTS
    debug: bool = False
    termination_grace_seconds: int = 5
    #: How the runtime reaches /opt/odo: ``contract.LAYOUT_INIT`` (seed 000's init containers,
    #: ``init_image``) or ``contract.LAYOUT_INJECT`` (uploaded by exec; ``core/inject.py``).
    layout: str = contract.LAYOUT_INIT
    #: The runtime's digest, on the pod template in the inject layout (a new one rolls the pod).
    runtime: str = ""


def component_selector(name: str) -> dict[str, str]:
    """The labels that pick a component's pods (stable across renders: selectors are immutable)."""
    return {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": MANAGED_BY}


def component_labels(devfile: Devfile, ctx: RenderContext) -> dict[str, str]:
    """The stable labels of every object of the component (run labels come on top)."""
    labels = {
        "app.kubernetes.io/name": devfile.name,
        "app.kubernetes.io/instance": devfile.name,
        "app.kubernetes.io/part-of": ctx.part_of or devfile.name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        COMPONENT_LABEL: devfile.name,
    }
    return labels


def render(devfile: Devfile, ctx: RenderContext) -> list[dict[str, Any]]:
    """The component's objects in apply order (Secret, PVCs, Service, Deployment)."""
    labels = component_labels(devfile, ctx)
    objects: list[dict[str, Any]] = []
    secret = _secret(devfile, ctx, labels)
    if secret is not None:
        objects.append(secret)
    objects.append(_pvc(f"{devfile.name}-s2idata", ctx.s2idata_size, ctx, labels))
    for volume in devfile.volumes:
        if not volume.ephemeral:
            objects.append(_pvc(f"{devfile.name}-{volume.name}", volume.size, ctx, labels))
    service = _service(devfile, ctx, labels)
    if service is not None:
        objects.append(service)
    objects.extend(_manifests(devfile, ctx, labels))
    objects.append(_deployment(devfile, ctx, labels))
    # The hash covers what the component is, not who deployed it: run labels (run id, expiry)
    # are added after it and kept off the pod template, so they never roll the pod and a
    # reused deployment matches.
    digest = spec_hash(objects)
    for obj in objects:
        obj["metadata"]["labels"].update(ctx.labels)
        obj["metadata"].setdefault("annotations", {})[SPEC_HASH_ANNOTATION] = digest
    # The pod carries it too: one pod list then tells whether the running pod is of this spec
    # (doit push with nothing to do makes that one call, not a Deployment read and a wait).
    template = objects[-1]["spec"]["template"]["metadata"]
    template.setdefault("annotations", {})[SPEC_HASH_ANNOTATION] = digest
    return objects


def check_commands_decided(devfile: Devfile, ctx: RenderContext) -> None:
    """A group the push needs with several commands and none default is refused before an
    apply, as odo refuses it when it runs the component (loading accepts it: the devfile API
    only warns; and a delete, which renders to find the objects, needs no decision)."""
    for kind in ("build", "run", "debug") if ctx.debug else ("build", "run"):
        ids = devfile.undecided(kind)
        if ids:
            raise DevfileError(
                devfile.path,
                "commands",
                f"several {kind} commands and none is default: {', '.join(ids)}",
                f"choose one: doit push {kind}_command=ID (PYODO_{kind.upper()}_COMMAND, "
                f"pytest render_options={{'{kind}_command': ID}}), or mark one with "
                "group.isDefault: true",
            )


def spec_hash(objects: list[dict[str, Any]]) -> str:
    """A stable digest of rendered objects, ignoring any earlier hash annotation."""
    stripped = []
    for obj in objects:
        copy = json.loads(json.dumps(obj))
        metas = [copy["metadata"]]
        template = (copy.get("spec") or {}).get("template")
        if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
            metas.append(template["metadata"])
        for meta in metas:
            annotations = meta.get("annotations")
            if annotations is not None:
                annotations.pop(SPEC_HASH_ANNOTATION, None)
                if not annotations:
                    del meta["annotations"]
        stripped.append(copy)
    blob = json.dumps(stripped, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _meta(name: str, ctx: RenderContext, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": ctx.namespace, "labels": dict(labels)}


def _manifests(
    devfile: Devfile, ctx: RenderContext, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The objects of Kubernetes/OpenShift components deployed by default, labelled as the
    component's (``pyodo.dev/component``, managed-by, run labels) and deleted with it."""
    found = []
    for component in devfile.deployed_kubernetes:
        for manifest in component.objects:
            obj = json.loads(json.dumps(manifest))
            meta = obj["metadata"]
            # Not the selector labels: a Pod or a Deployment's pods from a manifest must not
            # pass for the component's own pod. Delete finds them by name, gc by run labels.
            own = {k: v for k, v in labels.items() if k != "app.kubernetes.io/instance"}
            meta["labels"] = {**(meta.get("labels") or {}), **own}
            meta["labels"][KUBERNETES_COMPONENT_LABEL] = component.name
            if obj["kind"] in NAMESPACED_KINDS:
                meta["namespace"] = ctx.namespace
            found.append(obj)
    return found


def _secret_name(devfile: Devfile) -> str:
    return f"{devfile.name}-env"


def _secret(devfile: Devfile, ctx: RenderContext, labels: Mapping[str, str]) -> dict | None:
    data = {f"{c.name}.{e.name}": e.value for c in devfile.containers for e in c.env if e.secret}
    if not data:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(_secret_name(devfile), ctx, labels),
        "type": "Opaque",
        "stringData": data,
    }


def _pvc(name: str, size: str, ctx: RenderContext, labels: Mapping[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if ctx.storage_class:
        spec["storageClassName"] = ctx.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, ctx, labels),
        "spec": spec,
    }


def _service(devfile: Devfile, ctx: RenderContext, labels: Mapping[str, str]) -> dict | None:
    """The container ports (named as :func:`_ports` names them) that some endpoint on them
    exposes (not ``exposure: none``), each once."""
    ports: list[dict[str, Any]] = []
    for c in devfile.containers:
        exposed = {e.target_port for e in c.endpoints if e.exposure != "none"}
        ports.extend(
            {
                "name": port["name"],
                "port": port["containerPort"],
                "targetPort": port["containerPort"],
                "protocol": port["protocol"],
            }
            for port in _ports(c)
            if port["containerPort"] in exposed
        )
    if not ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(devfile.name, ctx, labels),
        "spec": {"selector": component_selector(devfile.name), "ports": ports},
    }


def _env(devfile: Devfile, container: Container) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for var in container.env:
        if var.secret:
            ref = {"name": _secret_name(devfile), "key": f"{container.name}.{var.name}"}
            env.append({"name": var.name, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": var.name, "value": var.value})
    return env


def _resources(container: Container) -> dict[str, Any]:
    limits = {
        k: v for k, v in (("memory", container.memory_limit), ("cpu", container.cpu_limit)) if v
    }
    requests = {
        k: v for k, v in (("memory", container.memory_request), ("cpu", container.cpu_request)) if v
    }
    resources: dict[str, Any] = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    return resources


def _ports(container: Container) -> list[dict[str, Any]]:
    """One container port per port number (endpoints of one container may share a port: an app
    page and a dev UI on different paths). Its name is the first endpoint's, unless that is no
    valid port name (at most 15 characters, a letter, no ``--``: IANA_SVC_NAME; devfile schemas
    before 2.2.0 allow 63), then ``port-<targetPort>`` as the devfile library names it."""
    ports: dict[int, dict[str, Any]] = {}
    for e in container.endpoints:
        name = e.name
        if len(name) > 15 or "--" in name or not any(ch.isalpha() for ch in name):
            name = f"port-{e.target_port}"
        ports.setdefault(
            e.target_port,
            {
                "name": name,
                "containerPort": e.target_port,
                "protocol": "UDP"
                if e.protocol == "udp"
                else "SCTP"
                if e.protocol == "sctp"
                else "TCP",
            },
        )
    return list(ports.values())


def _app_env(devfile: Devfile, container: Container, ctx: RenderContext) -> list[dict[str, Any]]:
    """The script contract (odo 2's ODO_COMMAND_* idea): the scripts read their commands here."""
    build, build_dir = devfile.shell_script("build")
    run, run_dir = devfile.shell_script("run")
    debug, debug_dir = devfile.shell_script("debug")
    source = devfile.source_dir
    if devfile.starts_nothing:
        # Exec commands but no run command (Che devfiles): the devfile's build, not the
        # image's S2I assemble, and no app: the supervisor keeps an idle program that says
        # why in the container's log, instead of an S2I run script the image may not have.
        # The image's own sleep: the inject layout has no busybox, and a loop whose sleep is
        # missing would spin.
        build = build or ":"
        run = (
            f"echo '[pyodo] {NO_RUN_COMMAND}' >&2; trap 'exit 0' TERM; "
            "while :; do sleep 3600 & wait $!; done"
        )
    contract_env = {
        contract.ENV_COMMAND_BUILD: build,
        contract.ENV_COMMAND_BUILD_WORKING_DIR: build_dir or source,
        contract.ENV_COMMAND_RUN: run,
        contract.ENV_COMMAND_RUN_WORKING_DIR: run_dir or source,
        contract.ENV_COMMAND_DEBUG: debug,
        contract.ENV_COMMAND_DEBUG_WORKING_DIR: debug_dir or source,
        contract.ENV_SRC: source,
        contract.ENV_S2I_SCRIPTS: ctx.s2i_scripts,
        contract.ENV_DEBUG: "true" if ctx.debug else "false",
        contract.ENV_HOT_RELOAD: "true" if _hot_reload(devfile) else "false",
        contract.ENV_START: "false" if devfile.starts_nothing else "true",
        "PROJECTS_ROOT": source,
        "PROJECT_SOURCE": source,
    }
    port = debug_port(devfile) if ctx.debug else None
    if port is not None and port.container == container.name:
        # Debug mode: the debug command and the language scripts listen on $DEBUG_PORT.
        contract_env[contract.ENV_DEBUG_PORT] = str(port.port)
    own = {e.name for e in container.env}
    env = [{"name": k, "value": v} for k, v in contract_env.items() if k not in own]
    return env + _env(devfile, container)


def _source_env(devfile: Devfile, container: Container) -> list[dict[str, Any]]:
    """``PROJECTS_ROOT``/``PROJECT_SOURCE`` for a container that mounts the sources."""
    if container not in devfile.source_containers:
        return []
    source = devfile.source_dir_of(container)
    own = {e.name for e in container.env}
    pairs = (("PROJECTS_ROOT", source), ("PROJECT_SOURCE", source))
    return [{"name": k, "value": v} for k, v in pairs if k not in own]


def _sidecar(
    devfile: Devfile, container: Container, spec: dict[str, Any], ctx: RenderContext
) -> list[dict]:
    """A non-app container: its own command, or kept alive when only commands target it."""
    mounts: list[dict[str, Any]] = []
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    targeted = any(
        step.component == container.name
        for command in devfile.commands
        for step in devfile.flatten(command)
    )
    if targeted and not container.command and not container.args:
        if ctx.layout == contract.LAYOUT_INJECT:
            spec["command"] = ["/bin/sh", "-c", KEEP_ALIVE_SCRIPT]
        else:
            spec["command"] = list(KEEP_ALIVE_COMMAND)
            mounts.append({"name": SHARED_VOLUME, "mountPath": ODO_DIR})
    spec["env"] = _source_env(devfile, container) + _env(devfile, container)
    return mounts


def _projects_mount(devfile: Devfile, container: Container) -> list[dict[str, Any]]:
    if devfile.s2i or container not in devfile.source_containers:
        return []
    return [{"name": PROJECTS_VOLUME, "mountPath": devfile.source_dir_of(container)}]


def strategic_merge(base: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge, as far as overrides need it: mappings merge key by key
    (``null`` removes), lists of named items merge by ``name``, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = strategic_merge(merged.get(key), value)
        return merged
    named = isinstance(base, list) and isinstance(patch, list)
    if named and all(isinstance(i, dict) and "name" in i for i in [*base, *patch]):
        merged_list = list(base)
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                pos = index[item["name"]]
                merged_list[pos] = strategic_merge(merged_list[pos], item)
            else:
                merged_list.append(item)
        return merged_list
    return patch


def _pod_overrides(devfile: Devfile, template: dict[str, Any]) -> dict[str, Any]:
    """``pod-overrides`` merged as odo merges them: the containers' in order, then the
    devfile's; containers, initContainers and volumes stay pyodo's (the parser refuses them)."""
    for overrides in [*(c.pod_overrides for c in devfile.containers), devfile.pod_overrides]:
        if overrides:
            template = strategic_merge(template, dict(overrides))
    return template


def _hot_reload(devfile: Devfile) -> bool:
    run = devfile.default_command("run")
    steps = devfile.flatten(run) if run is not None else ()
    return bool(steps) and all(step.hot_reload_capable for step in steps)


def _mounts(devfile: Devfile, container: Container) -> list[dict[str, Any]]:
    mounts = []
    for mount in container.volume_mounts:
        volume = next(v for v in devfile.volumes if v.name == mount.name)
        mounts.append({"name": f"vol-{volume.name}", "mountPath": mount.path})
    return mounts


def _init_containers(devfile: Devfile, ctx: RenderContext) -> list[dict[str, Any]]:
    """Seed 000's two init containers: the init image's files, then the builder's app root."""
    s2idata = f"{devfile.name}-s2idata"
    copy_supervisord = {
        "name": "copy-supervisord",
        "image": ctx.init_image,
        "imagePullPolicy": ctx.image_pull_policy,
        "command": list(contract.COPY_SUPERVISORD_COMMAND),
        "volumeMounts": [{"name": SHARED_VOLUME, "mountPath": ODO_DIR}],
    }
    return [
        *([copy_supervisord] if ctx.layout == contract.LAYOUT_INIT else []),
        {
            "name": "copy-files-to-volume",
            "image": devfile.app_container.image,
            "imagePullPolicy": ctx.image_pull_policy,
            "command": list(contract.COPY_FILES_TO_VOLUME_COMMAND),
            "volumeMounts": [{"name": s2idata, "mountPath": contract.APP_ROOT_INIT_MOUNT}],
        },
    ]


def _container(devfile: Devfile, container: Container, ctx: RenderContext) -> dict[str, Any]:
    """One container of the pod, its ``container-overrides`` merged last."""
    spec: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "imagePullPolicy": ctx.image_pull_policy,
    }
    if container is devfile.app_container:
        # The devfile's command/args keep odo-v3 style containers alive (`tail -f`); in the
        # seeds' pod the init + supervisor own PID 1, so they are not used here.
        if ctx.layout == contract.LAYOUT_INJECT:
            spec["command"] = list(contract.INJECT_WAIT_COMMAND)
        else:
            spec["command"] = list(contract.APP_CONTAINER_COMMAND)
        spec["env"] = _app_env(devfile, container, ctx)
        mounts = [
            {"name": SHARED_VOLUME, "mountPath": ODO_DIR},
            {"name": f"{devfile.name}-s2idata", "mountPath": APP_ROOT},
        ]
    else:
        mounts = _sidecar(devfile, container, spec, ctx)
    spec["volumeMounts"] = mounts + _projects_mount(devfile, container)
    spec["volumeMounts"] += _mounts(devfile, container)
    if ports := _ports(container):
        spec["ports"] = ports
    if resources := _resources(container):
        spec["resources"] = resources
    if not spec["env"]:
        del spec["env"]
    return strategic_merge(spec, dict(container.overrides))


def _volumes(devfile: Devfile) -> list[dict[str, Any]]:
    s2idata = f"{devfile.name}-s2idata"
    volumes: list[dict[str, Any]] = [
        {"name": SHARED_VOLUME, "emptyDir": {}},
        {"name": s2idata, "persistentVolumeClaim": {"claimName": s2idata}},
    ]
    if not devfile.s2i:
        volumes.append({"name": PROJECTS_VOLUME, "emptyDir": {}})
    for volume in devfile.volumes:
        if volume.ephemeral:
            volumes.append({"name": f"vol-{volume.name}", "emptyDir": {"sizeLimit": volume.size}})
        else:
            claim = {"claimName": f"{devfile.name}-{volume.name}"}
            volumes.append({"name": f"vol-{volume.name}", "persistentVolumeClaim": claim})
    return volumes


def _deployment(devfile: Devfile, ctx: RenderContext, labels: Mapping[str, str]) -> dict:
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if ctx.layout == contract.LAYOUT_INJECT:
        metadata["annotations"] = {contract.RUNTIME_ANNOTATION: ctx.runtime}
    template = {
        "metadata": metadata,
        "spec": {
            "initContainers": _init_containers(devfile, ctx),
            "containers": [_container(devfile, c, ctx) for c in devfile.containers],
            "volumes": _volumes(devfile),
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": ctx.termination_grace_seconds,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(devfile.name, ctx, labels),
        "spec": {
            "replicas": 1,
            # The s2idata PVC is ReadWriteOnce: the old pod must go before the new one mounts it.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": component_selector(devfile.name)},
            "template": _pod_overrides(devfile, template),
        },
    }
