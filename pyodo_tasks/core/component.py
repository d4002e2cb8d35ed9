"""A component deployed to one target: the push workflow's steps, each usable on its own.

The doit tasks (``pyodo_tasks.tasks``), the pytest plugin and ``doit dev`` all drive a
:class:`Component`. Each step knows whether it has anything to do, so a push with nothing changed
reads the cluster but writes nothing and builds nothing:

1. :meth:`apply` — server-side apply of the rendered objects, only when the spec hash differs
   from the one on the live Deployment;
2. :meth:`wait_ready` — the rollout is complete and the app container runs (bounded, ends early
   on image, config and crash failures, naming the fix);
3. :meth:`sync` — index the tree, send created/modified/renamed files as one tar stream through
   exec and delete removed ones in one call; the index is committed only after the copy
   succeeded, and it is kept per container instance, so a new pod or a restarted container
   gets everything;
4. :meth:`build` — ``assemble-and-restart`` in the container, its output streamed live; a
   non-zero exit fails the push and the supervisor keeps the previous app running.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from pyodo_tasks.core import pod as contract
from pyodo_tasks.core.devfile import Devfile, Endpoint, load_devfile
from pyodo_tasks.core.index import Changes, FileIndex
from pyodo_tasks.core.kube import ExecResult, Kube, PortForwarder, ResolvedTarget, Target
from pyodo_tasks.core.kube.execs import exec_run
from pyodo_tasks.core.render import (
    SPEC_HASH_ANNOTATION,
    RenderContext,
    component_selector,
    render,
)
from pyodo_tasks.core.tarball import build_tar, delete_argv
from pyodo_tasks.errors import ClusterError, CommandError, ConfigError, SyncError, WaitTimeout

__all__ = ["Component", "PushResult", "SyncResult"]

log = logging.getLogger(__name__)


#: Waiting reasons that will not fix themselves: fail at once and say what to do.
FATAL_WAITING = {
    "ErrImagePull": "the image cannot be pulled; load it into the cluster or override it with "
    "PYODO_IMAGE_<CONTAINER>",
    "ImagePullBackOff": "the image cannot be pulled; load it into the cluster or override it "
    "with PYODO_IMAGE_<CONTAINER>",
    "ErrImageNeverPull": "the image is not on the node; load it into the cluster",
    "InvalidImageName": "the image name is invalid; fix components[].container.image",
    "CreateContainerConfigError": "the container config is invalid (missing Secret or ConfigMap?)",
    "CreateContainerError": "the runtime could not create the container",
    "CrashLoopBackOff": "a container keeps crashing; see its logs",
}

Output = Callable[[str], None]


@dataclass(frozen=True)
class SyncResult:
    """What a sync sent. ``changes`` is empty when nothing had to move."""

    changes: Changes
    pod: str
    digest: str
    bytes_sent: int = 0


@dataclass(frozen=True)
class PushResult:
    applied: tuple[str, ...]
    sync: SyncResult
    built: bool
    pod: str


class Component:
    """A component directory bound to a cluster target.

    ``labels`` are added to every object (run id, expiry); ``state_dir`` holds the file index
    (default ``<component>/.pyodo``), kept per target so pushes to two clusters don't share it.
    """

    def __init__(
        self,
        path: Path | str,
        target: Target | ResolvedTarget | None = None,
        *,
        image_overrides: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
        state_dir: Path | None = None,
        kube: Kube | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.devfile: Devfile = load_devfile(
            path, image_overrides=image_overrides, environ=self.environ
        )
        self.root = self.devfile.root
        self._owns_kube = kube is None
        self.kube = kube or Kube(target or Target.from_env(self.environ))
        self.namespace = self.kube.namespace
        self.name = self.devfile.name
        self.context = RenderContext(
            namespace=self.namespace, labels=dict(labels or {}), **dict(render_options or {})
        )
        self.state_dir = state_dir or self.root / ".pyodo"
        key_src = f"{self.kube.target.context}/{self.namespace}/{self.name}"
        self.key = hashlib.sha256(key_src.encode()).hexdigest()[:12]
        self._forwards: dict[str, PortForwarder] = {}

    # -- rendering and apply ---------------------------------------------------------------
    def render(self) -> list[dict[str, Any]]:
        return render(self.devfile, self.context)

    def spec_hash(self) -> str:
        """The hash :func:`render` stamps on every object (run labels excluded)."""
        return self.render()[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]

    def live_spec_hash(self) -> str | None:
        """The spec hash on the live Deployment, or None when it does not exist."""
        deployment = self.kube.get("Deployment", self.name)
        if deployment is None:
            return None
        return (deployment["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)

    def resources_uptodate(self) -> bool:
        """True when the live objects were applied from this exact spec (one read, no write)."""
        return self.live_spec_hash() == self.spec_hash()

    def apply(self, force: bool = False) -> tuple[str, ...]:
        """Apply the rendered objects if the spec changed; returns ``Kind/name`` applied."""
        if not force and self.resources_uptodate():
            return ()
        applied = []
        for obj in self.render():
            self.kube.apply(obj)
            applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return tuple(applied)

    # -- pods ------------------------------------------------------------------------------
    @property
    def selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in component_selector(self.name).items())

    def pod(self) -> k8s.V1Pod:
        """The component's running pod (not one being deleted)."""
        pods = [
            p
            for p in self.kube.pods(self.selector)
            if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
        ]
        if not pods:
            raise ClusterError(
                f"component {self.name} has no running pod in {self.namespace}: push it first"
            )
        return max(pods, key=lambda p: p.metadata.creation_timestamp)

    def pod_name(self) -> str:
        return self.pod().metadata.name

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.5) -> k8s.V1Pod:
        """Wait until the rollout is complete and the app container runs; return the pod."""
        deadline = time.monotonic() + timeout
        last = "no Deployment yet"
        while True:
            state = self._rollout_state()
            if state is None:
                pod = self.pod()
                return pod
            last = state
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"component {self.name} to become ready", timeout, last)
            time.sleep(poll)

    def _rollout_state(self) -> str | None:
        """None when ready; otherwise what is still pending. Raises on fatal pod states."""
        deployment = self.kube.get("Deployment", self.name)
        if deployment is None:
            return f"Deployment/{self.name} does not exist"
        for pod in self.kube.pods(self.selector):
            if pod.metadata.deletion_timestamp is None:
                self._check_pod(pod)
        spec, status = deployment["spec"], deployment.get("status") or {}
        generation = deployment["metadata"].get("generation", 0)
        for condition in status.get("conditions") or []:
            if condition.get("reason") == "ProgressDeadlineExceeded":
                raise ClusterError(f"Deployment/{self.name}: {condition.get('message')}")
        if status.get("observedGeneration", 0) < generation:
            return "waiting for the Deployment spec update to be observed"
        wanted = spec.get("replicas", 1)
        if status.get("updatedReplicas", 0) < wanted:
            return f"{status.get('updatedReplicas', 0)} of {wanted} pods updated"
        if status.get("replicas", 0) > status.get("updatedReplicas", 0):
            return "old pod still terminating"
        if status.get("availableReplicas", 0) < wanted:
            return self._pending_pod_state()
        return None

    def _pending_pod_state(self) -> str:
        pods = [p for p in self.kube.pods(self.selector) if p.metadata.deletion_timestamp is None]
        if not pods:
            return "no pod yet"
        pod = pods[-1]
        for condition in pod.status.conditions or []:
            if condition.status != "True" and condition.message:
                return f"pod/{pod.metadata.name} {condition.type}: {condition.message}"
        for status in (pod.status.init_container_statuses or []) + (
            pod.status.container_statuses or []
        ):
            waiting = status.state.waiting if status.state else None
            if waiting is not None:
                return f"pod/{pod.metadata.name} container {status.name}: {waiting.reason}"
        return f"pod/{pod.metadata.name} phase {pod.status.phase}"

    def _check_pod(self, pod: k8s.V1Pod) -> None:
        statuses = (pod.status.init_container_statuses or []) + (
            pod.status.container_statuses or []
        )
        for status in statuses:
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in FATAL_WAITING:
                detail = f" ({waiting.message})" if waiting.message else ""
                raise ClusterError(
                    f"pod/{pod.metadata.name} container {status.name} image {status.image}: "
                    f"{waiting.reason}{detail}: {FATAL_WAITING[waiting.reason]}"
                )
            terminated = status.state.terminated if status.state else None
            if (
                terminated is not None
                and terminated.exit_code
                and status.name in ("copy-supervisord", "copy-files-to-volume")
            ):
                raise ClusterError(
                    f"pod/{pod.metadata.name} init container {status.name} exited "
                    f"{terminated.exit_code}: {terminated.message or terminated.reason}"
                )

    # -- sync ------------------------------------------------------------------------------
    def index(self) -> FileIndex:
        return FileIndex(self.root, state_dir=self.state_dir, key=self.key)

    def _state_path(self) -> Path:
        return self.state_dir / f"state-{self.key}.json"

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, **values: Any) -> None:
        state = self._read_state()
        state.update(values)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self._state_path())

    def container_instance(self, pod: k8s.V1Pod) -> str:
        """Identifies the app container's current instance: pod uid plus container id.

        Synced sources live in the container's writable layer, so a restarted container (same
        pod, new container id) has lost them and needs a full sync and a build.
        """
        name = self.devfile.app_container.name
        for status in pod.status.container_statuses or []:
            if status.name == name:
                return f"{pod.metadata.uid}/{status.container_id or ''}"
        return f"{pod.metadata.uid}/"

    def pending(self, pod: k8s.V1Pod | None = None) -> tuple[Changes, Any, k8s.V1Pod]:
        """What a sync would send now, against the index kept for the current container."""
        pod = pod or self.pod()
        index = self.index()
        same_pod = self._read_state().get("container") == self.container_instance(pod)
        old = index.load() if same_pod else None
        new = index.scan()
        return index.diff(old, new), new, pod

    def sync_digest(self, pod: k8s.V1Pod | None = None) -> str:
        """A digest of (tree, container): equal digests mean a sync would send nothing."""
        _, snapshot, pod = self.pending(pod)
        return f"{self.container_instance(pod)}:{snapshot.digest()}"

    def sync(self, output: Output | None = None) -> SyncResult:
        """Copy what changed into the app container; commit the index only on success."""
        changes, snapshot, pod = self.pending()
        name = pod.metadata.name
        digest = f"{self.container_instance(pod)}:{snapshot.digest()}"
        if not changes:
            if changes.touched:  # stat changed, content did not: remember, so no re-hash
                self.index().commit(snapshot)
            return SyncResult(changes, name, digest)
        dest = self.devfile.source_dir
        container = self.devfile.app_container.name
        say = output or (lambda _line: None)
        say(f"Syncing files into pod/{name}:{dest}: {changes.summary()}")
        if changes.full:
            self._exec_sync(name, container, ["mkdir", "-p", dest], None)
        for argv in delete_argv(dest, changes.to_delete()) if changes.to_delete() else []:
            self._exec_sync(name, container, argv, None)
        sent = 0
        if changes.to_send():
            counter = _Counter(build_tar(self.root, changes.to_send(), snapshot))
            self._exec_sync(name, container, ["tar", "-xf", "-", "-C", dest], counter)
            sent = counter.total
        self.index().commit(snapshot)
        self._write_state(container=self.container_instance(pod))
        return SyncResult(changes, name, digest, sent)

    def _exec_sync(
        self, pod: str, container: str, argv: list[str], data: Iterable[bytes] | None
    ) -> None:
        result = exec_run(self.kube, pod, argv, container=container, input=data, timeout=600)
        if result.returncode == 0:
            return
        err = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        image = self.devfile.app_container.image
        if result.returncode == 127:
            raise SyncError(
                f"image {image} has no {argv[0]!r}: pyodo copies files with tar; "
                f"use an image that has tar or add it ({err})"
            )
        if "Permission denied" in err or "Read-only" in err:
            raise SyncError(
                f"{self.devfile.source_dir} is not writable in {image}: set the container's "
                f"sourceMapping to a writable directory ({err.splitlines()[-1]})"
            )
        raise SyncError(f"{' '.join(argv[:3])} in pod/{pod} exited {result.returncode}: {err}")

    # -- build and run ---------------------------------------------------------------------
    def post_start(self, output: Output | None = None, timeout: float = 600.0) -> bool:
        """Run ``events.postStart`` once per app container instance; True when they ran.

        They run after the container's first sync (so they see the sources) and before its
        first build, each in its own command's container.
        """
        steps = self.devfile.post_start_steps()
        pod = self.pod()
        instance = self.container_instance(pod)
        if not steps or self._read_state().get("post_start") == instance:
            return False
        say = output or (lambda _line: None)
        for container, script in steps:
            say(f"[pyodo] postStart in {container}: {script}")
            lines = _LineSplitter(say)
            result = exec_run(
                self.kube,
                pod.metadata.name,
                ["sh", "-c", script],
                container=container,
                timeout=timeout,
                on_stdout=lines.feed,
                on_stderr=lines.feed,
            )
            lines.flush()
            if result.returncode != 0:
                raise CommandError(
                    ["sh", "-c", script],
                    result.returncode,
                    (result.stdout + result.stderr).decode("utf-8", "replace"),
                    f"postStart of component {self.name} in pod/{pod.metadata.name}",
                )
        self._write_state(post_start=instance)
        return True

    def build(self, output: Output | None = None, timeout: float = 900.0) -> ExecResult:
        """Run postStart events if this container has not yet, then ``assemble-and-restart``
        in the app container, streaming its output."""
        self.post_start(output)
        pod = self.pod_name()
        say = output or (lambda _line: None)
        lines = _LineSplitter(say)
        result = exec_run(
            self.kube,
            pod,
            list(contract.ASSEMBLE_AND_RESTART_COMMAND),
            container=self.devfile.app_container.name,
            timeout=timeout,
            on_stdout=lines.feed,
            on_stderr=lines.feed,
        )
        lines.flush()
        if result.returncode != 0:
            raise CommandError(
                ["assemble-and-restart"],
                result.returncode,
                (result.stdout + result.stderr).decode("utf-8", "replace"),
                f"pod/{pod} (component {self.name})",
            )
        return result

    def push(self, output: Output | None = None, timeout: float = 300.0) -> PushResult:
        """The whole push: apply if changed, wait, sync what changed, build if anything moved."""
        say = output or (lambda _line: None)
        applied = self.apply()
        if applied:
            say(f"Applied {', '.join(applied)}")
        pod = self.wait_ready(timeout=timeout)
        result = self.sync(output=say)
        built = False
        if result.changes or not self.build_uptodate(result.digest):
            self.build(output=say)
            self.mark_built(result.digest)
            built = True
        return PushResult(applied, result, built, pod.metadata.name)

    def build_uptodate(self, digest: str) -> bool:
        return self._read_state().get("built") == digest

    def mark_built(self, digest: str) -> None:
        self._write_state(built=digest)

    # -- using the running component -------------------------------------------------------
    def exec(
        self,
        args: Sequence[str],
        *,
        container: str | None = None,
        check: bool = False,
        timeout: float = 60.0,
        input: bytes | None = None,
    ) -> ExecResult:
        """Run a command in the component's container, shaped like ``subprocess.run``."""
        return exec_run(
            self.kube,
            self.pod_name(),
            args,
            container=container or self.devfile.app_container.name,
            check=check,
            timeout=timeout,
            input=input,
        )

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        return self.kube.logs(
            self.pod_name(), container or self.devfile.app_container.name, tail_lines
        )

    def restart(self) -> None:
        """Restart the app through the supervisor (the pod stays)."""
        self.exec([*contract.CTL_COMMAND, "restart"], check=True)

    def endpoint_spec(self, name: str | None = None) -> Endpoint:
        endpoints = [e for c in self.devfile.containers for e in c.endpoints]
        if not endpoints:
            raise ConfigError(f"{self.devfile.path}: component {self.name} has no endpoints")
        if name is None:
            reachable = [e for e in endpoints if e.exposure != "none"] or endpoints
            return reachable[0]
        for endpoint in endpoints:
            if endpoint.name == name:
                return endpoint
        known = ", ".join(e.name for e in endpoints)
        raise ConfigError(f"{self.devfile.path}: no endpoint {name!r} (have: {known})")

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address of an endpoint, through the component's Service."""
        endpoint = self.endpoint_spec(name)
        scheme = _scheme(endpoint)
        return f"{scheme}://{self.name}.{self.namespace}.svc:{endpoint.target_port}"

    def forward(self, name: str | None = None, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to an endpoint (started, reused while this object lives)."""
        endpoint = self.endpoint_spec(name)
        if endpoint.name not in self._forwards:
            self._forwards[endpoint.name] = PortForwarder(
                self.kube, self.pod_name, endpoint.target_port, local_port=local_port
            ).start()
        return self._forwards[endpoint.name]

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from this process, returned only once the app answers."""
        endpoint = self.endpoint_spec(name)
        forwarder = self.forward(endpoint.name)
        url = f"{_scheme(endpoint)}://{forwarder.address}{endpoint.path}"
        wait_answering(url, endpoint, timeout)
        return url

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail: what a failing test needs to show."""
        lines = [f"component {self.name} in {self.kube.target.context}/{self.namespace}"]
        try:
            pods = self.kube.pods(self.selector)
            for pod in pods:
                lines.append(f"pod/{pod.metadata.name}: {pod.status.phase}")
                for status in (pod.status.init_container_statuses or []) + (
                    pod.status.container_statuses or []
                ):
                    state = status.state
                    what = (
                        "running"
                        if state.running
                        else f"waiting {state.waiting.reason}"
                        if state.waiting
                        else f"terminated {state.terminated.reason} ({state.terminated.exit_code})"
                        if state.terminated
                        else "unknown"
                    )
                    lines.append(f"  {status.name}: {what}, restarts {status.restart_count}")
            lines.append("events:")
            for event in self.kube.events([self.name])[-15:]:
                lines.append(
                    f"  {event.type} {event.reason} {event.involved_object.kind}/"
                    f"{event.involved_object.name}: {event.message}"
                )
            if pods:
                lines.append(f"log tail of {self.devfile.app_container.name}:")
                lines.append(
                    self.kube.logs(
                        pods[-1].metadata.name, self.devfile.app_container.name, tail_lines
                    )
                )
        except ClusterError as exc:
            lines.append(f"(could not read more: {exc})")
        return "\n".join(lines)

    def delete(self, timeout: float = 120.0) -> list[str]:
        """Delete every object of this component and wait until they are gone."""
        self.stop_forwards()
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/managed-by=pyodo"
        gone = self.kube.delete_labelled(selector)
        deadline = time.monotonic() + timeout
        while self.kube.list_labelled(selector) or self.kube.pods(self.selector):
            if time.monotonic() >= deadline:
                left = [o["metadata"]["name"] for o in self.kube.list_labelled(selector)]
                raise WaitTimeout(
                    f"component {self.name} objects to be deleted", timeout, f"left: {left}"
                )
            time.sleep(0.5)
        for path in (self._state_path(), self.index().index_path):
            path.unlink(missing_ok=True)
        return gone

    def stop_forwards(self) -> None:
        """Stop the port-forwards this object started (the connection stays open)."""
        for forwarder in self._forwards.values():
            forwarder.stop()
        self._forwards.clear()

    def close(self) -> None:
        """Stop port-forwards and close the cluster connection if this object opened it."""
        self.stop_forwards()
        if self._owns_kube:
            self.kube.close()

    def __enter__(self) -> Component:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scheme(endpoint: Endpoint) -> str:
    return {"https": "https", "ws": "ws", "wss": "wss"}.get(endpoint.protocol, "http")


def wait_answering(url: str, endpoint: Endpoint, timeout: float) -> None:
    """Wait until the endpoint answers: any HTTP response for http(s), a TCP connect otherwise."""
    deadline = time.monotonic() + timeout
    last = "not tried"
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    while True:
        try:
            if endpoint.protocol in ("http", "https"):
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read(1)
                return
            with socket.create_connection((host, int(port)), timeout=5):
                return
        except urllib.error.HTTPError:
            return  # the app answered, even if with an error status
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{url} to answer", timeout, last)
        time.sleep(0.5)


class _Counter:
    """Iterates tar chunks while counting bytes, for the sync summary."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.total += len(chunk)
            yield chunk


class _LineSplitter:
    """Turn output chunks into whole lines for the live build log."""

    def __init__(self, say: Output) -> None:
        self.say = say
        self.buffer = b""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.say(line.decode("utf-8", "replace"))

    def flush(self) -> None:
        if self.buffer:
            self.say(self.buffer.decode("utf-8", "replace"))
            self.buffer = b""
