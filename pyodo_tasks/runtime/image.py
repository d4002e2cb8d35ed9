"""pyodo's init image (seed 000's ``copy-supervisord``): its build context, and ``doit init_image``.

Why users build it: the inject layout needs no image at all, but some clusters forbid exec
into pods, or a team wants the seeds' pod exactly; they build this image, push it to a registry
their cluster pulls from, and set ``PYODO_INIT_IMAGE``. The test bed builds the same context
without Docker (``pyodo_tasks/testbed/images``).

Layout of the staged context (``FROM scratch`` + ``COPY``: :data:`CONTAINERFILE`)::

    opt/odo-init/bin/tini                  Debian tini-static: PID 1, reaps orphans
    opt/odo-init/bin/busybox               Debian busybox-static: sh/cp/... for the scripts
    opt/odo-init/bin/supervisor            pyodo's static Go supervisor (runtime/binaries.py)
    opt/odo-init/bin/{agent,assemble-and-restart,run,s2i-setup,ctl}
    opt/odo-init/conf/supervisor.conf
    opt/odo-init/language-scripts/{nodejs,java}/debug

tini and busybox come from Debian's packages through ``apt-get download`` (no install, no root
needed), so building needs a Debian or Ubuntu host with apt, and docker or podman.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError, ConfigError
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.binaries import go_arch, supervisor_binary
from pyodo_tasks.runtime.sources import INIT_SOURCE_DIR

__all__ = [
    "CONTAINERFILE",
    "INIT_PACKAGES",
    "InitImage",
    "apt_download_extract",
    "find_engine",
    "stage_init_context",
]

#: Debian packages whose static binaries go into the init image.
INIT_PACKAGES = ("tini", "busybox-static")

#: The image's Containerfile, written into the staged context (the repo keeps a copy at its
#: root; a unit test checks the two are identical).
CONTAINERFILE = """\
# pyodo init image: the files the copy-supervisord init container copies onto the /opt/odo
# emptyDir (seed 000's "copy-supervisord"). Build context: the directory staged by
# `doit init_image` (pyodo_tasks/runtime/image.py), not the repo root.
FROM scratch
COPY opt/odo-init/ /opt/odo-init/
LABEL org.opencontainers.image.title="pyodo init" \\
      org.opencontainers.image.description="tini, busybox, pyodo supervisor and odo-style scripts"
CMD ["/opt/odo-init/bin/busybox", "cp", "-a", "/opt/odo-init/.", "/opt/odo/"]
"""


def _apt_download(packages: Sequence[str], cwd: Path) -> None:
    """``apt-get download``; on failure refresh the package lists once and retry."""
    argv = ["apt-get", "download", *packages]
    try:
        host.run(argv, timeout=600, what="apt-get download", cwd=cwd)
    except ClusterSetupError:
        update = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"]
        host.run(update, timeout=600, what="apt-get update")
        host.run(argv, timeout=600, what="apt-get download", cwd=cwd)


def apt_download_extract(packages: Sequence[str], dest: Path) -> None:
    """Fetch .debs with ``apt-get download`` and unpack them into ``dest`` (no install)."""
    if shutil.which("apt-get") is None:
        raise ClusterSetupError(
            f"apt-get not found: the init image takes {', '.join(packages)} from Debian's "
            "packages, so build it on a Debian or Ubuntu machine (or use PYODO_LAYOUT=inject, "
            "which needs no init image)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyodo-debs-") as tmp:
        # _apt cannot write into root's temp dir; let it drop privileges into a readable one.
        os.chmod(tmp, 0o777)
        _apt_download(packages, Path(tmp))
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) < len(packages):
            raise ClusterSetupError(f"apt-get download {packages} produced only {debs}")
        for deb in debs:
            host.run(["dpkg-deb", "-x", deb, dest], timeout=120, what=f"unpacking {deb.name}")


def stage_init_context(dest: Path, arch: str | None = None) -> Path:
    """Fill ``dest`` with the init image's build context (module doc); returns ``dest``.

    ``dest`` is emptied first. ``arch`` (Go's word) defaults to this machine's; the Debian
    binaries are this machine's architecture, so another arch is refused.
    """
    here = go_arch(platform.machine()) or "amd64"
    arch = arch or here
    if arch != here:
        raise ConfigError(
            f"arch={arch}: the init image is built with this machine's Debian binaries "
            f"({here}); build it on a linux/{arch} machine"
        )
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
    shutil.copy2(supervisor_binary(arch), bin_dir / "supervisor")
    (bin_dir / "supervisor").chmod(0o755)
    (dest / "Containerfile").write_text(CONTAINERFILE)
    return dest


def find_engine() -> str:
    """docker when on PATH, else podman; ConfigError naming the fix when neither is."""
    for name in ("docker", "podman"):
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError("neither docker nor podman is on PATH: install one to build the init image")


class InitImage:
    """What ``doit init_image`` does (its task: ``pyodo_tasks/tasks/init_image.py``): build the
    image as ``tag`` with docker or podman and, with ``push``, push it to the registry the tag
    names (then set ``PYODO_INIT_IMAGE=<tag>``)."""

    def __init__(
        self,
        tag: str = contract.INIT_REF,
        *,
        push: bool = False,
        engine: str | None = None,
        context: Path | None = None,
    ) -> None:
        self.tag = tag
        self.push = push
        self.engine = engine
        self.context = context or Path(tempfile.gettempdir()) / f"pyodo-init-context-{os.getuid()}"

    def _engine(self) -> str:
        return self.engine or find_engine()

    def _run(self, argv: list[str], what: str, fix: str) -> str:
        result = host.run(argv, timeout=900, what=what, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            said = " | ".join(tail)
            raise ConfigError(f"{what} failed (exit {result.returncode}): {said}: {fix}")
        return result.stdout

    def build(self) -> None:
        """Stage the context, build it, and push it when asked."""
        stage_init_context(self.context)
        engine = self._engine()
        fix = "see the engine's message above"
        containerfile = str(self.context / "Containerfile")
        argv = [engine, "build", "-f", containerfile, "-t", self.tag, str(self.context)]
        print(self._run(argv, f"building {self.tag}", fix).rstrip())
        print(f"built {self.tag}")
        if self.push:
            fix = (
                f"log in to the registry ({os.path.basename(engine)} login) or name one you may "
                "push to: doit init_image tag=REGISTRY/pyodo-init:VERSION push=true"
            )
            self._run([engine, "push", self.tag], f"pushing {self.tag}", fix)
            print(f"pushed {self.tag}: set PYODO_INIT_IMAGE={self.tag} (or --pyodo-init-image)")

    def image_present(self) -> bool:
        """doit ``uptodate`` check: the engine still has the tag (False when it cannot say)."""
        try:
            result = host.run(
                [self._engine(), "image", "inspect", self.tag],
                timeout=60,
                what=f"looking for image {self.tag}",
                check=False,
            )
        except (ClusterSetupError, ConfigError):  # no engine, or it did not answer in time
            return False
        return result.returncode == 0
