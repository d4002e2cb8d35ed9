"""Spec and status of a ``doit dev`` session, stored in two ConfigMaps (seed 004, no CRD).

Why ConfigMaps: a CustomResourceDefinition needs cluster-admin rights a developer rarely has;
a ConfigMap needs only the namespace rights the component needs anyway, and ``kubectl get cm
<name>-pyodo-status -o yaml`` shows what the loop is doing without pyodo installed.

* ``<component>-pyodo-spec`` — what the user asked for, written by the client: the devfile text,
  the digest of the indexed source tree, and a generation counter bumped on every write.
* ``<component>-pyodo-status`` — what the controller did, written only by the controller: the
  state (the seed's steps), a message, the forwarded ports, the last sync, the spec generation
  it reconciled, timestamps.

Both carry the component's labels (so ``Component.delete`` and ``doit gc`` remove them) plus
``pyodo.dev/role``. ConfigMap values are strings; structured values are JSON. Parsing is strict
(``ValueError`` on anything malformed): a spec that cannot be read is never half-applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pyodo_tasks.core.render import component_selector

__all__ = [
    "FORMAT",
    "ROLE_LABEL",
    "ForwardedPort",
    "Spec",
    "State",
    "Status",
    "configmap",
    "spec_name",
    "status_name",
]

#: Bumped when the data layout changes incompatibly.
FORMAT = "1"
ROLE_LABEL = "pyodo.dev/role"


def spec_name(component: str) -> str:
    return f"{component}-pyodo-spec"


def status_name(component: str) -> str:
    return f"{component}-pyodo-status"


def now_iso() -> str:
    """UTC, second precision, ``Z`` suffix: what ``kubectl`` users read everywhere else."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State(str, Enum):
    """The controller's step, in the order a reconcile goes through them (seed 004)."""

    WAIT_DEPLOYMENT = "WaitDeployment"
    POD_RUNNING = "PodRunning"
    FILES_SYNCED = "FilesSynced"
    BUILD_COMMAND_EXECUTED = "BuildCommandExecuted"
    RUN_COMMAND_RUNNING = "RunCommandRunning"
    ERROR = "Error"


@dataclass(frozen=True)
class Spec:
    """What the client asks the controller to make true."""

    devfile: str
    source_digest: str
    generation: int

    @property
    def devfile_digest(self) -> str:
        """Changes exactly when the devfile text does: the controller reloads only then."""
        return hashlib.sha256(self.devfile.encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def to_data(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "devfile.yaml": self.devfile,
            "sourceDigest": self.source_digest,
            "generation": str(self.generation),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> Spec:
        data = _check_format(data, "spec")
        return cls(
            devfile=_required(data, "devfile.yaml"),
            source_digest=_required(data, "sourceDigest"),
            generation=_int(data, "generation"),
        )


@dataclass(frozen=True)
class ForwardedPort:
    """One endpoint reachable from the developer's machine."""

    name: str
    container: str
    local_address: str
    local_port: int
    container_port: int
    protocol: str = "http"
    path: str = "/"
    #: The scheme the app was found to speak through the forward, for endpoints declared
    #: ``https``/``wss`` (see :func:`pyodo_tasks.core.endpoints.probe_scheme`); "" until probed.
    scheme: str = ""

    @property
    def url(self) -> str:
        scheme = self.scheme or {"https": "https", "ws": "ws", "wss": "wss", "tcp": "tcp"}.get(
            self.protocol, "http"
        )
        if scheme == "tcp":
            return f"{self.local_address}:{self.local_port}"
        return f"{scheme}://{self.local_address}:{self.local_port}{self.path}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "container": self.container,
            "localAddress": self.local_address,
            "localPort": self.local_port,
            "containerPort": self.container_port,
            "protocol": self.protocol,
            "path": self.path,
            **({"scheme": self.scheme} if self.scheme else {}),
        }

    @classmethod
    def from_json(cls, raw: Any) -> ForwardedPort:
        if not isinstance(raw, dict):
            raise ValueError(f"forwarded port is not an object: {raw!r}")
        try:
            port = cls(
                name=str(raw["name"]),
                container=str(raw["container"]),
                local_address=str(raw["localAddress"]),
                local_port=int(raw["localPort"]),
                container_port=int(raw["containerPort"]),
                protocol=str(raw.get("protocol", "http")),
                path=str(raw.get("path", "/")),
                scheme=str(raw.get("scheme", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad forwarded port {raw!r}: {exc}") from exc
        return port


@dataclass(frozen=True)
class Status:
    """What the controller last did. ``observed_generation`` is the spec generation it was
    reconciling; a client knows its edit was handled once this reaches its generation."""

    state: State
    message: str = ""
    ports: tuple[ForwardedPort, ...] = ()
    last_sync: str = ""
    pod: str = ""
    observed_generation: int = 0
    #: How long the last finished reconcile took, for the live display and latency reports.
    duration_ms: int = field(default=0, compare=False)
    #: Milliseconds from what started this reconcile (the save, for an edit) to this state.
    elapsed_ms: int = field(default=0, compare=False)
    #: The last edit's save->serving: from the file's save to the restarted app accepting
    #: connections again (0 until an edit was served).
    serving_ms: int = field(default=0, compare=False)
    #: Where the last reconcile's time went, e.g. ``sync 12ms, build 240ms``.
    steps: str = field(default="", compare=False)
    updated: str = field(default="", compare=False)

    def same_as(self, other: Status | None) -> bool:
        """Equal but for timings: lets the controller skip writing what is already there."""
        return other is not None and self == other

    def to_data(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "state": self.state.value,
            "message": self.message,
            "ports": json.dumps([p.to_json() for p in self.ports], separators=(",", ":")),
            "lastSync": self.last_sync,
            "pod": self.pod,
            "observedGeneration": str(self.observed_generation),
            "durationMs": str(self.duration_ms),
            "elapsedMs": str(self.elapsed_ms),
            "servingMs": str(self.serving_ms),
            "steps": self.steps,
            "updated": self.updated or now_iso(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> Status:
        data = _check_format(data, "status")
        try:
            state = State(_required(data, "state"))
        except ValueError as exc:
            raise ValueError(f"status: unknown state {data.get('state')!r}") from exc
        try:
            raw_ports = json.loads(data.get("ports") or "[]")
        except ValueError as exc:
            raise ValueError(f"status: ports is not JSON: {exc}") from exc
        if not isinstance(raw_ports, list):
            raise ValueError("status: ports is not a JSON list")
        return cls(
            state=state,
            message=data.get("message", ""),
            ports=tuple(ForwardedPort.from_json(p) for p in raw_ports),
            last_sync=data.get("lastSync", ""),
            pod=data.get("pod", ""),
            observed_generation=_int(data, "observedGeneration"),
            duration_ms=_int(data, "durationMs", default=0),
            elapsed_ms=_int(data, "elapsedMs", default=0),
            serving_ms=_int(data, "servingMs", default=0),
            steps=data.get("steps", ""),
            updated=data.get("updated", ""),
        )


def configmap(
    name: str,
    component: str,
    namespace: str,
    role: str,
    data: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ConfigMap manifest for server-side apply, labelled like the component's objects."""
    all_labels = {**component_selector(component), **dict(labels or {}), ROLE_LABEL: role}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": all_labels},
        "data": dict(data),
    }


def _check_format(data: Mapping[str, str] | None, what: str) -> Mapping[str, str]:
    if not data:
        raise ValueError(f"{what}: the ConfigMap has no data")
    if data.get("format") != FORMAT:
        raise ValueError(f"{what}: unsupported format {data.get('format')!r} (want {FORMAT})")
    return data


def _required(data: Mapping[str, str], key: str) -> str:
    value = data.get(key)
    if value is None:
        raise ValueError(f"missing key {key!r}")
    return value


def _int(data: Mapping[str, str], key: str, default: int | None = None) -> int:
    raw = data.get(key)
    if raw is None:
        if default is not None:
            return default
        raise ValueError(f"missing key {key!r}")
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} is not an integer: {raw!r}") from exc
