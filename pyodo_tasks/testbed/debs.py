"""Install the Debian packages the local cluster runs, only when missing.

Package maintainer scripts would start etcd and containerd through invoke-rc.d; the cluster
starts its own copies with its own config, so while apt runs a ``policy-rc.d`` that denies
service starts is put in place (only if the machine has none, and removed afterwards).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError

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
_DENY_ALL = "#!/bin/sh\n# written by pyodo while installing cluster packages\nexit 101\n"


def missing(packages: tuple[str, ...] | list[str] = PACKAGES) -> list[str]:
    """Packages not in the ``install ok installed`` state, per dpkg-query."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0]
        for line in proc.stdout.splitlines()
        if line.endswith("install ok installed")
    }
    return [p for p in packages if p not in installed]


def ensure_packages(packages: tuple[str, ...] | list[str] = PACKAGES) -> list[str]:
    """apt-get install whatever is missing; return what was installed."""
    todo = missing(packages)
    if not todo:
        return []
    if os.geteuid() != 0:
        raise ClusterSetupError(f"packages {' '.join(todo)} are missing; run as root to install")
    wrote_policy = False
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text(_DENY_ALL)
        POLICY_RC_D.chmod(0o755)
        wrote_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        proc = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *todo],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if proc.returncode != 0 and "Unable to locate package" in proc.stderr:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False, env=env)
            proc = subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends", *todo],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
    finally:
        if wrote_policy:
            POLICY_RC_D.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise ClusterSetupError(
            f"apt-get install {' '.join(todo)} failed: {proc.stderr.strip()[-500:]}"
        )
    still = missing(todo)
    if still:
        raise ClusterSetupError(f"apt-get reported success but {' '.join(still)} is not installed")
    return todo
