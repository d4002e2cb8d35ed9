"""Stage the init image's build context: the same files for ``docker build`` and ensure_images.

Layout of the staged context (``FROM scratch`` + ``COPY``, see the repo's ``Containerfile``)::

    opt/odo-init/bin/tini                  Debian tini-static: PID 1, reaps orphans
    opt/odo-init/bin/busybox               Debian busybox-static: sh/cp/... for the scripts
    opt/odo-init/bin/supervisor            pyodo's static Go supervisor (supervisor/main.go)
    opt/odo-init/bin/{assemble-and-restart,run,s2i-setup,ctl}
    opt/odo-init/conf/supervisor.conf
    opt/odo-init/language-scripts/{nodejs,java}/debug

Why a Go supervisor of our own: ochinchina/supervisord (odo's) is not served by the Go module
proxy here and Debian's busybox-static lacks the runit applets, so neither could be had. A
stdlib-only program builds offline in seconds with the Go the cluster build needs anyway.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime.binaries import build_supervisor as _build
from pyodo_tasks.runtime.binaries import go_arch
from pyodo_tasks.runtime.sources import INIT_SOURCE_DIR, SUPERVISOR_SOURCE_DIR
from pyodo_tasks.testbed.images._system import apt_download_extract, find_go

__all__ = [
    "CONTAINERFILE",
    "INIT_PACKAGES",
    "INIT_SOURCE_DIR",
    "SUPERVISOR_SOURCE_DIR",
    "build_supervisor",
    "stage_init_context",
]

PACKAGE_DIR = Path(__file__).resolve().parent
#: Debian packages whose static binaries go into the init image.
INIT_PACKAGES = ("tini", "busybox-static")

#: The repo's ``Containerfile``, kept here too so an installed (non-editable) pyodo can build the
#: init image; a unit test checks the two are identical.
CONTAINERFILE = """\
# pyodo init image: the files the copy-supervisord init container copies onto the /opt/odo
# emptyDir (seed 000's "copy-supervisord"). Build context: the directory staged by
# `doit init_image` (pyodo_tasks/testbed/images/stage.py), not the repo root.
FROM scratch
COPY opt/odo-init/ /opt/odo-init/
LABEL org.opencontainers.image.title="pyodo init" \\
      org.opencontainers.image.description="tini, busybox, pyodo supervisor and odo-style scripts"
CMD ["/opt/odo-init/bin/busybox", "cp", "-a", "/opt/odo-init/.", "/opt/odo/"]
"""


def build_supervisor(out: Path) -> None:
    """Build the static supervisor for this host's architecture to ``out`` (offline, Go)."""
    arch = go_arch(platform.machine()) or "amd64"
    _build(out, arch, find_go())


def stage_init_context(dest: Path) -> Path:
    """Fill ``dest`` with the init image's build context (see module doc); returns ``dest``.

    ``dest`` is emptied first. Needs apt (tini, busybox-static .debs) and Go.
    """
    if dest.exists():
        shutil.rmtree(dest)
    root = dest / "opt" / "odo-init"
    shutil.copytree(INIT_SOURCE_DIR, root, symlinks=True)
    bin_dir = root / "bin"
    # An installed wheel may not keep the exec bit: scripts are executable by definition.
    for script in [*bin_dir.iterdir(), *(root / "language-scripts").glob("*/*")]:
        script.chmod(0o755)
    with tempfile.TemporaryDirectory(prefix="pyodo-init-debs-") as tmp:
        unpacked = Path(tmp) / "root"
        apt_download_extract(list(INIT_PACKAGES), unpacked)
        for source, target in (("usr/bin/tini-static", "tini"), ("bin/busybox", "busybox")):
            path = unpacked / source
            if not path.is_file():
                raise ClusterSetupError(f"{source} missing from the {INIT_PACKAGES} packages")
            shutil.copy2(path, bin_dir / target)
            (bin_dir / target).chmod(0o755)
    build_supervisor(bin_dir / "supervisor")
    (dest / "Containerfile").write_text(CONTAINERFILE)
    return dest
