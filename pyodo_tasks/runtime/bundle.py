"""The upload that puts pyodo's runtime into a pod with nothing preloaded (the inject layout).

Why this shape: the app image is only known to have ``sh`` and ``cat``, not ``tar`` or
``base64``. So the upload is one file that runs by itself: the static supervisor, then a tar of the
scripts and configuration, then the tar's length and a magic word (``supervisor/inject.go``
reads them back). :data:`INSTALL_SCRIPT` writes it with ``cat``, marks it executable and runs its
``install`` mode. Scripts are written with ``#!/bin/sh`` instead of the init image's busybox: in
this layout the image's own shell runs them.
"""

from __future__ import annotations

import functools
import io
import struct
import tarfile
from pathlib import Path

from pyodo_tasks.runtime.binaries import supervisor_binary
from pyodo_tasks.runtime.contract import ODO_MOUNT, RUNTIME_MARKER_PREFIX
from pyodo_tasks.runtime.sources import INIT_SOURCE_DIR, runtime_digest

__all__ = [
    "INSTALL_SCRIPT",
    "PROBE_SCRIPT",
    "TRAILER_MAGIC",
    "install_argv",
    "probe_argv",
    "scripts_tar",
    "upload",
]

TRAILER_MAGIC = b"PYODOBDL"
_BUSYBOX_SHEBANG = b"#!/opt/odo/bin/busybox sh"
_EXECUTABLE_DIRS = ("bin", "language-scripts")

#: One exec before anything is sent: the machine word, whether this runtime is there already,
#: and what the image lacks. ``$1`` is the runtime digest (an argument, never spliced in).
PROBE_SCRIPT = (
    "uname -m 2>/dev/null || echo unknown-machine; "
    f'[ -e {ODO_MOUNT}/{RUNTIME_MARKER_PREFIX}"$1" ] && echo present; '
    f"[ -w {ODO_MOUNT} ] || echo odo-not-writable; "
    "command -v cat >/dev/null 2>&1 || echo no-cat; "
    "command -v chmod >/dev/null 2>&1 || echo no-chmod; "
    "exit 0"
)
#: Receive the upload on stdin and install it; ``$1`` is the digest. Exits 0 ("present") when a
#: concurrent push installed the same runtime first (the upload is read and dropped).
INSTALL_SCRIPT = (
    f"d={ODO_MOUNT}; "
    f'if [ -e "$d/{RUNTIME_MARKER_PREFIX}$1" ]; then cat >/dev/null; echo present; exit 0; fi; '
    'f="$d/.runtime-upload.$$"; '
    'cat >"$f" || { rm -f "$f"; exit 90; }; '
    'chmod 700 "$f" || { rm -f "$f"; exit 91; }; '
    '"$f" install "$d" "$1"; rc=$?; rm -f "$f"; exit $rc'
)


def probe_argv() -> list[str]:
    return ["/bin/sh", "-c", PROBE_SCRIPT, "pyodo-probe", runtime_digest()]


def install_argv() -> list[str]:
    return ["/bin/sh", "-c", INSTALL_SCRIPT, "pyodo-install", runtime_digest()]


def _script_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(_BUSYBOX_SHEBANG):
        data = b"#!/bin/sh" + data[len(_BUSYBOX_SHEBANG) :]
    return data


@functools.lru_cache(maxsize=1)
def scripts_tar() -> bytes:
    """The tar of ``init/`` as it lands in ``/opt/odo``: scripts 0755 with ``#!/bin/sh``,
    configuration 0644, fixed owner and times (the same bytes every time)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(INIT_SOURCE_DIR.rglob("*")):
            rel = path.relative_to(INIT_SOURCE_DIR)
            info = tarfile.TarInfo(rel.as_posix())
            info.mtime = 0
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = _script_bytes(path)
            info.size = len(data)
            info.mode = 0o755 if rel.parts[0] in _EXECUTABLE_DIRS else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(arch: str) -> bytes:
    """The bytes :data:`INSTALL_SCRIPT` receives for a linux/``arch`` node."""
    binary = supervisor_binary(arch).read_bytes()
    tar = scripts_tar()
    return binary + tar + struct.pack("<Q", len(tar)) + TRAILER_MAGIC
