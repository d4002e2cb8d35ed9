"""Host helpers for image builds: the apt mirror, .deb extraction, Go, mounts.

Commands go through the one host runner (:func:`pyodo_tasks.host.run`: list arguments, a
timeout, the output tail in the error; its :class:`~pyodo_tasks.host.Result` has ``stdout`` and
``output``) and packages through the test bed's one installer (:mod:`pyodo_tasks.testbed.debs`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.paths import cache_root
from pyodo_tasks.runtime.binaries import find_go as runtime_find_go
from pyodo_tasks.runtime.image import apt_download_extract
from pyodo_tasks.testbed import debs, settings
from pyodo_tasks.testbed.progress import Progress

__all__ = [
    "apt_download_extract",
    "cache_root",
    "debian_mirror",
    "ensure_debian_packages",
    "find_go",
    "remove_tree",
    "unmount_under",
]


def ensure_debian_packages(
    packages: Sequence[str], progress: Progress | Callable[[str], None] | None = None
) -> None:
    """The builders' host tools, through the test bed's one installer (:mod:`..debs`).

    ``progress`` is the caller's, so the install's lines share its clock and its sink.
    """
    debs.ensure_packages(packages, progress)


def _sources_paragraphs() -> list[dict[str, str]]:
    paragraphs: list[dict[str, str]] = []
    sources_dir = Path("/etc/apt/sources.list.d")
    for path in sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []:
        for block in path.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if fields:
                paragraphs.append(fields)
    lists = [Path("/etc/apt/sources.list")]
    if sources_dir.is_dir():
        lists += sorted(sources_dir.glob("*.list"))
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                rest = [w for w in words[1:] if not w.startswith("[")]
                if len(rest) >= 2:
                    paragraphs.append({"types": "deb", "uris": rest[0], "suites": rest[1]})
    return paragraphs


def debian_mirror(suite: str) -> str:
    """The apt mirror this machine is configured with for ``suite``, read at run time.

    ``$PYODO_DEBIAN_MIRROR`` overrides. The repo never names a mirror host.
    """
    override = settings.debian_mirror()
    if override:
        return override
    for fields in _sources_paragraphs():
        if "deb" not in fields.get("types", "").split():
            continue
        if suite in fields.get("suites", "").split() and fields.get("uris"):
            return fields["uris"].split()[0]
    raise ClusterSetupError(
        f"no apt source for suite {suite!r} in /etc/apt/sources.list(.d): "
        "set PYODO_DEBIAN_MIRROR to a Debian mirror URL"
    )


def find_go() -> str:
    """The go binary (:func:`pyodo_tasks.runtime.binaries.find_go`'s lookup), or
    ClusterSetupError: the test bed cannot build without it."""
    found = runtime_find_go()
    if not found:
        raise ClusterSetupError("go not found: the init image's supervisor is built with Go")
    return found


def _mounts_under(root: Path) -> list[str]:
    prefix = os.fspath(root.resolve())
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def unmount_under(root: Path) -> None:
    """Unmount whatever a killed debootstrap left mounted below ``root`` (deepest first)."""
    for point in sorted(_mounts_under(root), key=len, reverse=True):
        host.run(["umount", "-l", point], timeout=60, what=f"unmounting {point}")


def remove_tree(root: Path) -> None:
    """rm -rf a build root, but never through a mount (a leftover /proc or /dev bind)."""
    if not root.exists():
        return
    unmount_under(root)
    if _mounts_under(root):
        raise ClusterSetupError(f"{root} still has mounts below it; not removing it")
    shutil.rmtree(root)
