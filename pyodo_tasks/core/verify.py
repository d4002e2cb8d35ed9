"""Does the container hold what pyodo synced? One exec of ``b2sum`` compared with the index.

"Synced" is a claim about the container, and the container can change behind pyodo's back: a
test or a build step edits a source file, an init container copies over it, a restart loses the
writable layer. :func:`verify` checks the claim: it sends the paths of every regular file in the
committed index (what the last successful sync sent or kept) to ONE exec that hashes them with
``b2sum -l 128`` — the index's own digest (blake2b-128), so nothing has to be hashed twice — and
lists the paths whose content differs or that are missing.

Only what pyodo synced is compared: files the build wrote (``node_modules``, caches) are not in
the index and are ignored. Links and directories are not hashed. A file of the index whose digest
is not known yet is hashed here, if it still has the size and mtime the index recorded;
otherwise it changed locally since the sync and is reported as not verifiable (the next sync
sends it), not as a mismatch.

The container needs ``sh``, ``xargs`` and GNU ``b2sum`` (coreutils; every Debian/Ubuntu/Fedora
based image, pyodo's builder images included); without them the error says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.index import Snapshot, hash_file
from pyodo_tasks.errors import SyncError

if TYPE_CHECKING:
    from pyodo_tasks.core.component import Component

__all__ = [
    "Mismatch",
    "SyncMismatch",
    "VerifyResult",
    "check",
    "compare",
    "container_digests",
    "expected_digests",
    "verify",
    "verify_sync",
]

#: Bound on the one exec that hashes the synced files.
VERIFY_TIMEOUT = 300.0
#: Read NUL-separated paths on stdin, hash them relative to ``$1``, NUL-terminated output lines
#: (``--zero`` also turns off b2sum's escaping of odd names). ``cd`` failing means nothing was
#: synced there: exit 3, so the caller reports every file as missing.
_SCRIPT = 'cd -- "$1" 2>/dev/null || exit 3; exec xargs -0 -r b2sum -l 128 --zero --'
#: How many differing paths an error message lists before "and N more".
SHOWN = 20


@dataclass(frozen=True)
class Mismatch:
    """One synced file that is not in the container as the index says."""

    path: str
    problem: str  # "differs", "missing in the container"

    def __str__(self) -> str:
        return f"{self.path} ({self.problem})"


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` compared: ``ok`` when every checked file matched."""

    pod: str
    dest: str
    checked: int
    mismatches: tuple[Mismatch, ...] = ()
    #: Files changed locally since the last sync: the next sync sends them, nothing to compare.
    unverified: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        text = f"{self.checked} synced files in pod/{self.pod}:{self.dest}"
        if self.ok:
            text = f"verified {text} in {self.seconds:.2f}s"
        else:
            text = f"{len(self.mismatches)} of {text} differ from pyodo's index"
        if self.unverified:
            text += f" ({len(self.unverified)} changed locally since the sync, not compared)"
        return text


class SyncMismatch(SyncError):
    """The container's synced files differ from the index: something changed them behind
    pyodo's back. ``result`` has every differing path."""

    def __init__(self, result: VerifyResult, component: str) -> None:
        self.result = result
        shown = ", ".join(str(m) for m in result.mismatches[:SHOWN])
        more = len(result.mismatches) - SHOWN
        if more > 0:
            shown += f" and {more} more"
        super().__init__(
            f"component {component}: {result.summary()}: {shown}; something in the container "
            "changed them after the sync, and a push sends only what changed here: delete the "
            "pod (its new container gets every file) or `doit delete` then `doit push`"
        )


def expected_digests(root: Path, snapshot: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """``({path: digest}, unverified)`` for the regular files of a committed index."""
    expected: dict[str, str] = {}
    unverified: list[str] = []
    for path, entry in snapshot.items():
        if entry.kind != "file":
            continue
        digest = entry.digest or hash_file(root / path, expect=entry)
        if digest is None:
            unverified.append(path)
        else:
            expected[path] = digest
    return expected, unverified


def parse_b2sum(output: bytes) -> dict[str, str]:
    """``{path: digest}`` from ``b2sum --zero`` output (``<hex>  <path>\\0`` records)."""
    found: dict[str, str] = {}
    for record in output.split(b"\0"):
        if not record:
            continue
        digest, sep, path = record.partition(b"  ")
        if sep:
            found[path.decode("utf-8", "surrogateescape")] = digest.decode("ascii", "replace")
    return found


def container_digests(
    kube: Any,
    pod: str,
    container: str,
    dest: str,
    paths: Sequence[str],
    *,
    image: str = "the image",
    timeout: float = VERIFY_TIMEOUT,
) -> dict[str, str]:
    """``{path: digest}`` of ``paths`` under ``dest`` in the container (one exec); missing
    paths are absent from the result."""
    if not paths:
        return {}
    data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
    argv = ["sh", "-c", _SCRIPT, "pyodo-verify", dest]
    result = kube.exec(pod, argv, container=container, input=data, timeout=timeout)
    if result.returncode == 3:
        return {}
    if result.returncode in (126, 127):
        err = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise SyncError(
            f"cannot verify pod/{pod}: {image} lacks sh, xargs or GNU b2sum ({err}): use an "
            "image with coreutils, or skip verification"
        )
    # 123: some path could not be read (missing): what b2sum did print is still right.
    if result.returncode not in (0, 123):
        err = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise SyncError(f"verifying pod/{pod}: b2sum exited {result.returncode}: {err}")
    return parse_b2sum(result.stdout)


def compare(expected: Mapping[str, str], actual: Mapping[str, str]) -> tuple[Mismatch, ...]:
    """The differing paths, sorted: content differs, or the file is not in the container."""
    found = []
    for path in sorted(expected):
        digest = actual.get(path)
        if digest is None:
            found.append(Mismatch(path, "missing in the container"))
        elif digest != expected[path]:
            found.append(Mismatch(path, "differs"))
    return tuple(found)


def verify(
    component: Component, pod: Any = None, *, timeout: float = VERIFY_TIMEOUT
) -> VerifyResult:
    """Compare the app container's synced files with the committed index (one exec).

    Raises :class:`SyncError` when nothing was synced into the current container (push first);
    returns the result otherwise, mismatches included (:func:`check` raises for them).
    """
    started = time.monotonic()
    pod = pod or component.pod()
    instance = component.container_instance(pod)
    snapshot: Snapshot | None = None
    if component.state.get("container") == instance:
        snapshot = component.index().load()
    name = pod.metadata.name
    if snapshot is None:
        raise SyncError(
            f"component {component.name}: nothing was synced into pod/{name}'s current "
            "container (a new pod or a restarted container): push it first"
        )
    expected, unverified = expected_digests(component.root, snapshot)
    app = component.devfile.app_container
    dest = component.devfile.source_dir
    actual = container_digests(
        component.connection,
        name,
        app.name,
        dest,
        sorted(expected),
        image=app.image,
        timeout=timeout,
    )
    return VerifyResult(
        pod=name,
        dest=dest,
        checked=len(expected),
        mismatches=compare(expected, actual),
        unverified=tuple(sorted(unverified)),
        seconds=time.monotonic() - started,
    )


def check(
    component: Component, pod: Any = None, *, timeout: float = VERIFY_TIMEOUT
) -> VerifyResult:
    """:func:`verify`, raising :class:`SyncMismatch` listing the differing paths."""
    result = verify(component, pod, timeout=timeout)
    if not result.ok:
        raise SyncMismatch(result, component.name)
    return result


#: The public name of :func:`check` (``pyodo_tasks.verify_sync``): verify, raise on a mismatch.
verify_sync = check
