"""Put pyodo's runtime into a pod that has nothing of pyodo's (the inject layout).

Why through exec: that is the one channel a push already has into any container on any
cluster, with no image to pull and no registry to reach. One probe exec learns the node's
machine, whether this runtime is there already, and what the image lacks; one more sends the
upload (:mod:`pyodo_tasks.runtime.bundle`) when it is not. Each failure is one line naming the
image and the fix. Runs once per container instance (the caller remembers it in its state file).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pyodo_tasks.core.kube import ExecResult
from pyodo_tasks.errors import ConfigError, RuntimeDeliveryError
from pyodo_tasks.runtime import bundle, contract
from pyodo_tasks.runtime.binaries import ARCHITECTURES, go_arch

__all__ = ["LAYOUT_AUTO", "Exec", "Injected", "ensure_runtime", "layout_settings"]

#: The layout setting's default: the init containers where the init image is on every node,
#: else inject (``Component.layout``).
LAYOUT_AUTO = "auto"

#: How long the probe may take, and the upload and start (the supervisor's socket) together.
PROBE_TIMEOUT = 30.0
INSTALL_TIMEOUT = 180.0

_FIX_LAYOUT = (
    "or use the init-container layout (PYODO_LAYOUT=init with PYODO_INIT_IMAGE=<image> "
    "the cluster can pull)"
)


def layout_settings(options: dict[str, Any], environ: Mapping[str, str]) -> tuple[str, str | None]:
    """``(layout, init_image)`` from the render options (the plugin's and doit's settings,
    popped from ``options``) over ``PYODO_LAYOUT`` / ``PYODO_INIT_IMAGE``; init_image None when
    none was given. Raises ConfigError for a layout that is not auto, inject or init."""
    given = options.pop("layout", None) or environ.get("PYODO_LAYOUT") or LAYOUT_AUTO
    layout = str(given).strip().lower()
    init_image = options.pop("init_image", None) or environ.get("PYODO_INIT_IMAGE") or None
    allowed = (LAYOUT_AUTO, *contract.LAYOUTS)
    if layout not in allowed:
        raise ConfigError(
            f"layout {given!r} (PYODO_LAYOUT, --pyodo-layout or doit's layout=): write one of "
            f"{', '.join(allowed)}"
        )
    return str(layout), init_image


class Exec(Protocol):
    """Runs argv in the app container: :meth:`Kube.exec` bound to the pod and container."""

    def __call__(
        self, args: list[str], *, input: bytes | None = None, timeout: float = 60.0
    ) -> ExecResult: ...


class Injected:
    """What :func:`ensure_runtime` did: ``sent`` bytes (0 when it was there) and seconds."""

    def __init__(self, sent: int, seconds: float, arch: str = "") -> None:
        self.sent, self.seconds, self.arch = sent, seconds, arch


def _probe(run: Exec, where: str, image: str) -> list[str]:
    result = run(bundle.probe_argv(), timeout=PROBE_TIMEOUT)
    if result.returncode in (126, 127):
        raise RuntimeDeliveryError(
            f"{where}: image {image} has no /bin/sh: pyodo runs its setup and puts its agent "
            "into the container with the image's sh (in either layout); use an image with a "
            "shell (not distroless), e.g. a builder image through PYODO_IMAGE_<CONTAINER>"
        )
    if result.returncode != 0:
        raise RuntimeDeliveryError(
            f"{where}: probing the container failed (exit {result.returncode}): "
            f"{(result.stdout + result.stderr).decode('utf-8', 'replace').strip()[-300:]}"
        )
    return result.text.split()


def _check(words: list[str], where: str, image: str) -> str:
    machine = words[0] if words else "unknown-machine"
    if "odo-not-writable" in words:
        raise RuntimeDeliveryError(
            f"{where}: {contract.ODO_MOUNT} is not writable in image {image}: pyodo mounts an "
            f"emptyDir there; do not override that mount in container-overrides"
        )
    missing = [w.removeprefix("no-") for w in words if w in ("no-cat", "no-chmod")]
    if missing:
        raise RuntimeDeliveryError(
            f"{where}: image {image} has no {' or '.join(missing)}: pyodo puts its agent into "
            f"the container with sh, cat and chmod; use an image that has them, {_FIX_LAYOUT}"
        )
    arch = go_arch(machine)
    if arch is None or arch not in ARCHITECTURES:
        raise RuntimeDeliveryError(
            f"{where}: the node's machine is {machine!r}; pyodo ships its agent for linux/"
            f"{' and linux/'.join(ARCHITECTURES)} only: run the component on such a node, "
            f"{_FIX_LAYOUT}"
        )
    return arch


def ensure_runtime(
    run: Exec, where: str, image: str, say: Callable[[str], None] | None = None
) -> Injected:
    """Make sure the app container runs this pyodo's runtime; send it when it does not.

    ``where`` names the pod and container in messages (``pod/x container runtime``). Raises
    RuntimeDeliveryError, naming the image and the fix, when the container cannot take it.
    """
    started = time.monotonic()
    words = _probe(run, where, image)
    if "present" in words:
        return Injected(0, time.monotonic() - started)
    arch = _check(words, where, image)
    payload = bundle.upload(arch)
    if say is not None:
        say(f"Putting pyodo's agent into {where} (linux/{arch}, {len(payload) >> 10} KiB)")
    result = run(bundle.install_argv(), input=payload, timeout=INSTALL_TIMEOUT)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        reason = {90: "writing the upload failed", 91: "chmod failed"}.get(result.returncode, "")
        raise RuntimeDeliveryError(
            f"{where}: installing pyodo's agent failed (exit {result.returncode}"
            f"{', ' + reason if reason else ''}): {output[-300:] or 'no output'}"
        )
    return Injected(len(payload), time.monotonic() - started, arch)
