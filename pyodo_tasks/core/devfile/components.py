"""The components part of a devfile: containers, volumes, endpoints, image components.

Why apart from the document (:mod:`.parser`): a container alone has more fields and rules than
the rest of the document together (resources, env and its secret names, source mapping, the
overrides attributes, endpoints, volume mounts); the checks that span several components
(endpoint names and ports, mounts naming volumes) live here with them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyodo_tasks.core.devfile.fields import (
    DNS1123_LABEL,
    EXPOSURES,
    PROTOCOLS,
    FieldReader,
)
from pyodo_tasks.core.devfile.model import Container, Endpoint, Volume, VolumeMount

__all__ = ["ComponentReader"]

COMPONENT_KINDS = ("container", "volume", "kubernetes", "openshift", "image", "custom")
CONTAINER_FIELDS = (
    "image",
    "env",
    "command",
    "args",
    "memoryLimit",
    "memoryRequest",
    "cpuLimit",
    "cpuRequest",
    "mountSources",
    "sourceMapping",
    "endpoints",
    "volumeMounts",
    "dedicatedPod",
    "annotation",
)
ENDPOINT_FIELDS = (
    "name",
    "targetPort",
    "exposure",
    "protocol",
    "secure",
    "path",
    "attributes",
    "annotation",
)
#: What odo (the devfile library's generator) refuses in each overrides attribute.
FORBIDDEN_OVERRIDES = {
    "container-overrides": ("name", "image", "command", "args", "ports", "volumeMounts", "env"),
    "pod-overrides": ("containers", "initContainers", "volumes"),
}


class ComponentReader(FieldReader):
    """Reads ``components``: one method per kind and per part of a container."""

    def __init__(self, file: Path) -> None:
        super().__init__(file)
        #: The schema version's limit (see :func:`.parser.endpoint_name_limit`); set by ``parse``.
        self.endpoint_name_limit = 15
        #: Every component's name and kind, for ``apply`` commands (set by ``components``).
        self.component_kinds: dict[str, str] = {}

    def components(self, raw: Any) -> tuple[list[Container], list[Volume], list[tuple]]:
        containers: list[Container] = []
        volumes: list[Volume] = []
        manifests: list[tuple] = []
        names: set[str] = set()
        for item, at in self.each(raw, "components"):
            item = self.mapping(item, at, ("name", "attributes", *COMPONENT_KINDS))
            cname = self.required(item.get("name"), f"{at}.name")
            self.check_name(cname, f"{at}.name", DNS1123_LABEL, 63)
            if cname in names:
                raise self.fail(f"{at}.name", f"duplicate component {cname!r}", "rename one")
            names.add(cname)
            kinds = [k for k in COMPONENT_KINDS if k in item]
            if len(kinds) != 1:
                raise self.fail(
                    at,
                    "needs exactly one of container, volume, kubernetes, openshift, image",
                    "keep one",
                )
            kind = kinds[0]
            self.component_kinds[cname] = kind
            if kind == "container":
                containers.append(self.container(cname, item, f"{at}.container"))
            elif kind == "volume":
                volumes.append(self.volume(cname, item["volume"], f"{at}.volume"))
            elif kind in ("kubernetes", "openshift"):
                manifests.append((cname, item[kind], f"{at}.{kind}"))
            elif kind == "image":
                self.image_component(cname, item["image"], f"{at}.image")
            else:
                self.note(f"{at}.custom", "custom components are not supported; ignored")
        if not containers:
            raise self.fail("components", "no container component", "add one with an image")
        return containers, volumes, manifests

    def image_component(self, name: str, raw: Any, at: str) -> None:
        raw = self.mapping(raw, at, ("imageName", "autoBuild", "dockerfile"))
        if self.boolean(raw.get("autoBuild"), f"{at}.autoBuild", False):
            self.note(
                f"{at}.autoBuild",
                f"pyodo builds no images; build {raw.get('imageName') or name} yourself and "
                "point the container at it (PYODO_IMAGE_<CONTAINER>)",
            )

    def container(self, name: str, component: dict[str, Any], at: str) -> Container:
        raw = self.mapping(component["container"], at, CONTAINER_FIELDS)
        image = self.required(raw.get("image"), f"{at}.image")
        env = self.container_env(raw.get("env"), component.get("attributes"), at)
        source_mapping = self.string(raw.get("sourceMapping"), f"{at}.sourceMapping")
        if source_mapping is not None and not source_mapping.startswith("/"):
            self.note(
                f"{at}.sourceMapping",
                f"{source_mapping!r} is not an absolute path; using the default",
            )
            source_mapping = None
        if self.boolean(raw.get("dedicatedPod"), f"{at}.dedicatedPod", False):
            self.note(
                f"{at}.dedicatedPod", "not supported; the container runs in the component's pod"
            )
        if raw.get("annotation"):
            self.note(
                f"{at}.annotation", "not applied by pyodo; set annotations with pod-overrides"
            )
        attributes = component.get("attributes")
        attr_at = at.rsplit(".", 1)[0] + ".attributes"
        return Container(
            name=name,
            image=image,
            env=env,
            command=self.strings(raw.get("command"), f"{at}.command"),
            args=self.strings(raw.get("args"), f"{at}.args"),
            memory_limit=self.quantity(raw.get("memoryLimit"), f"{at}.memoryLimit"),
            memory_request=self.quantity(raw.get("memoryRequest"), f"{at}.memoryRequest"),
            cpu_limit=self.quantity(raw.get("cpuLimit"), f"{at}.cpuLimit"),
            cpu_request=self.quantity(raw.get("cpuRequest"), f"{at}.cpuRequest"),
            mount_sources=self.boolean(raw.get("mountSources"), f"{at}.mountSources", True),
            source_mapping=source_mapping,
            endpoints=self.endpoints(raw.get("endpoints"), f"{at}.endpoints"),
            volume_mounts=self.volume_mounts(raw.get("volumeMounts"), f"{at}.volumeMounts"),
            overrides=self.overrides_attribute(attributes, "container-overrides", attr_at),
            pod_overrides=self.overrides_attribute(attributes, "pod-overrides", attr_at),
        )

    def overrides_attribute(self, attributes: Any, key: str, at: str) -> dict[str, Any]:
        """A ``container-overrides``/``pod-overrides`` attribute: a mapping (or its JSON text)."""
        if not isinstance(attributes, dict) or attributes.get(key) is None:
            return {}
        value = attributes[key]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise self.fail(f"{at}.{key}", f"not valid JSON: {exc}", "write a mapping") from exc
        if not isinstance(value, dict):
            raise self.fail(f"{at}.{key}", f"expected a mapping, got {type(value).__name__}")
        spec = value.get("spec") if key == "pod-overrides" else value
        forbidden = FORBIDDEN_OVERRIDES[key]
        bad = [f for f in forbidden if isinstance(spec, dict) and f in spec]
        if bad:
            raise self.fail(
                f"{at}.{key}",
                f"cannot override {', '.join(bad)}",
                "set them in the component itself (odo refuses them too)",
            )
        return value

    def container_env(self, raw: Any, attributes: Any, at: str) -> tuple:
        """The container's env; names listed in ``pyodo.dev/secret-env`` become secret."""
        secret = attributes.get("pyodo.dev/secret-env") if isinstance(attributes, dict) else None
        secret_names = [str(n) for n in self.seq(secret, "attributes.pyodo.dev/secret-env")]
        env = self.env(raw, f"{at}.env", secret_names)
        missing = sorted(set(secret_names) - {e.name for e in env})
        if missing:
            raise self.fail(
                f"{at}.env",
                f"secret-env names undefined variables: {missing}",
                "add them to env or drop them from pyodo.dev/secret-env",
            )
        return env

    def endpoints(self, raw: Any, at: str) -> tuple[Endpoint, ...]:
        """A component's endpoints. Several may share a ``targetPort`` (an app page and a dev
        UI on one port, different paths): the devfile API allows it within one container, and
        render gives the port one entry (see :meth:`check_endpoints` for across containers)."""
        return tuple(self.endpoint(item, where) for item, where in self.each(raw, at))

    def check_endpoints(self, containers: Sequence[Container]) -> None:
        """Endpoint names are unique in the devfile; a port belongs to one container (the
        devfile API's rules: the pod's containers share one network namespace)."""
        names: dict[str, str] = {}
        ports: dict[int, str] = {}
        for ci, container in enumerate(containers):
            for ei, endpoint in enumerate(container.endpoints):
                at = f"components[{ci}].container.endpoints[{ei}]"
                if endpoint.name in names:
                    raise self.fail(
                        f"{at}.name",
                        f"endpoint {endpoint.name!r} is also defined in {names[endpoint.name]}",
                        "give each endpoint its own name",
                    )
                names[endpoint.name] = container.name
                owner = ports.setdefault(endpoint.target_port, container.name)
                if owner != container.name:
                    raise self.fail(
                        f"{at}.targetPort",
                        f"port {endpoint.target_port} is also an endpoint of container {owner!r}",
                        "two containers of a pod cannot listen on one port: use another port",
                    )

    def endpoint(self, raw: Any, at: str) -> Endpoint:
        item = self.mapping(raw, at, ENDPOINT_FIELDS)
        name = self.required(item.get("name"), f"{at}.name")
        self.check_name(name, f"{at}.name", DNS1123_LABEL, self.endpoint_name_limit)
        port = item.get("targetPort")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise self.fail(
                f"{at}.targetPort",
                f"{port!r} is not a port number",
                "use an integer from 1 to 65535",
            )
        return Endpoint(
            name=name,
            target_port=port,
            exposure=self.choice(item.get("exposure"), f"{at}.exposure", EXPOSURES, "public"),
            protocol=self.choice(item.get("protocol"), f"{at}.protocol", PROTOCOLS, "http"),
            path=self.string(item.get("path"), f"{at}.path") or "/",
            secure=self.boolean(item.get("secure"), f"{at}.secure", False),
        )

    def volume_mounts(self, raw: Any, at: str) -> tuple[VolumeMount, ...]:
        mounts = []
        for item, mat in self.each(raw, at):
            item = self.mapping(item, mat, ("name", "path"))
            vname = self.required(item.get("name"), f"{mat}.name")
            vpath = self.string(item.get("path"), f"{mat}.path") or f"/{vname}"
            if not vpath.startswith("/"):
                raise self.fail(f"{mat}.path", f"{vpath!r} is not absolute", "start it with /")
            mounts.append(VolumeMount(vname, vpath))
        return tuple(mounts)

    def volume(self, name: str, raw: Any, at: str) -> Volume:
        raw = self.mapping(raw, at, ("size", "ephemeral"))
        return Volume(
            name=name,
            size=self.quantity(raw.get("size"), f"{at}.size") or "1Gi",
            ephemeral=self.boolean(raw.get("ephemeral"), f"{at}.ephemeral", False),
        )

    def check_mounts(self, containers: Sequence[Container], volumes: Sequence[Volume]) -> None:
        volume_names = {v.name for v in volumes}
        for ci, container in enumerate(containers):
            for mi, mount in enumerate(container.volume_mounts):
                if mount.name not in volume_names:
                    raise self.fail(
                        f"components[{ci}].container.volumeMounts[{mi}].name",
                        f"no volume component named {mount.name!r}",
                        "add a volume component or fix the name",
                    )
