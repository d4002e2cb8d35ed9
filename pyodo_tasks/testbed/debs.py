"""The test bed's one Debian installer: install what is missing, bounded, retrying once.

Used for the cluster's packages (containerd, etcd, runc, CNI plugins, ...) and the image
builders' host tools (debootstrap, gcc). Idempotent: ``dpkg-query`` first, ``apt-get`` only for
what is missing. apt waits for dpkg's lock (other pyodo parts may be installing) instead of
failing, and a failure refreshes the package lists once and retries (a fresh machine may have
stale or no lists).

Package maintainer scripts would start etcd and containerd through invoke-rc.d; the cluster
starts its own copies with its own config, so while apt runs a ``policy-rc.d`` that denies
service starts is put in place (only if the machine has none, and removed afterwards).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.progress import Progress, as_progress

__all__ = ["PACKAGES", "ensure_packages", "missing"]

#: What the local cluster runs and uses on the host.
PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "etcd-server",
    "iptables",
    "conntrack",
    "iproute2",
    "openssl",
    "util-linux",
    "mount",
)
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_DENY_ALL = "#!/bin/sh\n# written by pyodo while installing packages\nexit 101\n"
#: apt waits this long for another apt/dpkg to release its lock.
_DPKG_LOCK_WAIT = "600"
_INSTALL_TIMEOUT = 1200.0
_UPDATE_TIMEOUT = 600.0


def missing(packages: Sequence[str] = PACKAGES) -> list[str]:
    """Packages not in the ``install ok installed`` state, per dpkg-query."""
    try:
        result = host.run(
            ["dpkg-query", "-W", "-f=${Package} ${Status}\n", *packages],
            timeout=60,
            what="checking installed Debian packages",
            check=False,  # exits 1 when some package is unknown; its lines still count
        )
    except host.HostCommandError as exc:
        raise ClusterSetupError(
            "dpkg-query cannot run: pyodo's test bed needs a Debian host"
        ) from exc
    installed = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.endswith("install ok installed")
    }
    return [p for p in packages if p not in installed]


def ensure_packages(
    packages: Sequence[str] = PACKAGES,
    progress: Progress | Callable[[str], None] | None = None,
) -> list[str]:
    """apt-get install whatever of ``packages`` is missing; return what was installed."""
    todo = missing(packages)
    if not todo:
        return []
    if os.geteuid() != 0:
        raise ClusterSetupError(
            f"Debian packages {' '.join(todo)} are missing; run as root to install them"
        )
    install = [
        "apt-get",
        "-o",
        f"DPkg::Lock::Timeout={_DPKG_LOCK_WAIT}",
        "install",
        "-y",
        "--no-install-recommends",
        *todo,
    ]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    what = f"installing {' '.join(todo)}"
    with as_progress(progress).phase(f"apt-get install {' '.join(todo)}"), _no_service_starts():
        try:
            host.run(install, timeout=_INSTALL_TIMEOUT, what=what, env=env)
        except host.HostCommandError:
            host.run(
                ["apt-get", "-o", f"DPkg::Lock::Timeout={_DPKG_LOCK_WAIT}", "update"],
                timeout=_UPDATE_TIMEOUT,
                what="apt-get update",
                env=env,
            )
            host.run(install, timeout=_INSTALL_TIMEOUT, what=what, env=env)
    still = missing(todo)
    if still:
        raise ClusterSetupError(f"apt-get reported success but {' '.join(still)} is not installed")
    return todo


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """Deny invoke-rc.d service starts while apt runs, unless the machine has its own policy."""
    wrote = False
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text(_DENY_ALL)
        POLICY_RC_D.chmod(0o755)
        wrote = True
    try:
        yield
    finally:
        if wrote:
            POLICY_RC_D.unlink(missing_ok=True)
