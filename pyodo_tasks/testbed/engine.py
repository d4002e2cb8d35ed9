"""The container engine kind runs its nodes in: a Docker daemon from Debian's ``docker.io``.

Why our own daemon: kind drives ``docker`` and nothing on a fresh machine runs one. When a daemon
already answers (``DOCKER_HOST`` or the default socket) it is used as it is and never stopped.
Otherwise ``ensure_engine`` installs ``docker.io`` (its maintainer scripts may not start the
packaged service: a deny-all ``policy-rc.d`` is in place while apt runs) and starts ``dockerd``
on pyodo's own socket with its data under pyodo's directories, so it cannot collide with a
Docker the user runs later.

Why ``--iptables=false --ip-masq=false --bridge=none``: the local test cluster shares this host
and its network namespace. dockerd with iptables on sets the FORWARD policy to DROP and inserts
its DOCKER-USER/ISOLATION chains ahead of everything, which cuts the local cluster's pod traffic.
kind needs none of it: the host reaches a node through the kind network's bridge and published
ports go through ``docker-proxy`` (the userland proxy); nodes need no route to the outside.

Why a runtime wrapper: kind's nodes are ``--privileged``, and Docker 20.10 gives a privileged
container every capability the kernel knows. Root in these VMs has a bounding set without
CAP_SYS_RESOURCE, so runc fails with "unable to apply caps: operation not permitted". When the
bounding set lacks capabilities, dockerd's default runtime is a small script that removes exactly
those from the container's (or exec'd process's) spec and then runs runc: the container gets
every capability this machine can grant, no more.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterSetupError, WaitTimeout
from pyodo_tasks.testbed import debs, procs, settings
from pyodo_tasks.testbed.paths import run_root

__all__ = [
    "DOCKERD_FLAGS",
    "ENGINE_PACKAGES",
    "Engine",
    "docker_data_root",
    "dockerd_daemon",
    "engine_running",
    "ensure_engine",
    "missing_capabilities",
    "own_host",
    "runc_wrapper",
    "stop_engine",
]

#: Debian packages of the engine (dockerd, docker CLI, containerd, runc come with it).
ENGINE_PACKAGES = ("docker.io", "jq")
#: See the module docstring: the engine must leave the host's firewall and bridges alone.
DOCKERD_FLAGS = (
    "--iptables=false",
    "--ip6tables=false",
    "--ip-masq=false",
    "--bridge=none",
    "--userland-proxy=true",
)
_START_TIMEOUT = 90.0
#: Linux capability numbers to names (``include/uapi/linux/capability.h``).
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip
RUNTIME_NAME = "pyodo-runc"
_RUNC_WRAPPER = """\
#!/bin/sh
# pyodo: dockerd's runtime on a machine whose capability bounding set lacks {missing}.
# Removes those from the spec runc is given (--bundle's config.json, or exec's --process file),
# then runs runc with the same arguments. Written by pyodo_tasks/testbed/engine.py.
drop='{drop_json}'
bundle=""; process=""; prev=""
for arg in "$@"; do
  case "$prev" in
    --bundle|-b) bundle="$arg" ;;
    --process|-p) process="$arg" ;;
  esac
  case "$arg" in
    --bundle=*) bundle="${{arg#--bundle=}}" ;;
    --process=*) process="${{arg#--process=}}" ;;
  esac
  prev="$arg"
done
filter='with_entries(.value |= map(select(. as $c | $drop | index($c) | not)))'
strip() {{
  [ -f "$1" ] || return 0
  jq --argjson drop "$drop" "$2" "$1" > "$1.pyodo" && mv "$1.pyodo" "$1"
}}
[ -n "$bundle" ] && strip "$bundle/config.json" \
  "if .process.capabilities then .process.capabilities |= $filter else . end"
[ -n "$process" ] && strip "$process" "if .capabilities then .capabilities |= $filter else . end"
exec {runc} "$@"
"""


@dataclass(frozen=True)
class Engine:
    """A Docker daemon to talk to: ``env`` holds DOCKER_HOST; ``owned`` when pyodo started it."""

    host: str
    owned: bool

    @property
    def env(self) -> dict[str, str]:
        """The environment for ``docker``/``kind`` subprocesses (the caller's plus DOCKER_HOST)."""
        return {**os.environ, "DOCKER_HOST": self.host}


def docker_data_root() -> Path:
    """dockerd's images and containers: kept across ``down`` so the node image stays loaded."""
    return settings.docker_data() or Path("/var/lib/pyodo/docker")


def _engine_run_dir() -> Path:
    return run_root() / "docker"


def own_host() -> str:
    """pyodo's dockerd socket as a DOCKER_HOST value."""
    return f"unix://{_engine_run_dir() / 'docker.sock'}"


def missing_capabilities(status: str | None = None) -> list[str]:
    """``CAP_*`` names the kernel knows but this process's bounding set lacks."""
    text = status if status is not None else Path("/proc/self/status").read_text()
    bounding = next(
        int(line.split()[1], 16) for line in text.splitlines() if line.startswith("CapBnd:")
    )
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text()) if status is None else 40
    return [
        f"CAP_{name}"
        for number, name in enumerate(CAPABILITIES[: last + 1])
        if not bounding >> number & 1
    ]


def runc_wrapper(missing: list[str], runc: str = "/usr/sbin/runc") -> str:
    """The runtime script for a bounding set lacking ``missing`` (see the module docstring)."""
    return _RUNC_WRAPPER.format(
        missing=", ".join(missing), drop_json=json.dumps(missing), runc=runc
    )


def _runtime_flags() -> list[str]:
    """``--add-runtime``/``--default-runtime`` for the wrapper, or nothing when not needed."""
    missing = missing_capabilities()
    if not missing:
        return []
    path = _engine_run_dir() / RUNTIME_NAME
    text = runc_wrapper(missing)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return [f"--add-runtime={RUNTIME_NAME}={path}", f"--default-runtime={RUNTIME_NAME}"]


def dockerd_daemon() -> procs.Daemon:
    """pyodo's dockerd: own socket, exec root and pid file under /run/pyodo, data under
    /var/lib/pyodo/docker, log next to the data."""
    run_dir = _engine_run_dir()
    data = docker_data_root()
    argv = [
        "/usr/sbin/dockerd",
        f"--host={own_host()}",
        f"--data-root={data}",
        f"--exec-root={run_dir / 'exec'}",
        f"--pidfile={run_dir / 'dockerd.pid'}",
        *DOCKERD_FLAGS,
        *_runtime_flags(),
    ]
    return procs.Daemon("dockerd", argv, run_dir / "pids", data.parent / "docker-logs")


def _answers(host_url: str | None, timeout: float = 20) -> bool:
    env = {} if host_url is None else {"DOCKER_HOST": host_url}
    try:
        result = host.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            timeout=timeout,
            what="asking Docker for its version",
            env=env,
            check=False,
        )
    except host.HostCommandError:  # no docker CLI yet, or it hung
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def engine_running() -> bool:
    """True when pyodo's own dockerd runs (not a daemon the user runs)."""
    return procs.running(dockerd_daemon()) is not None


def ensure_engine() -> Engine:
    """A Docker daemon that answers: the ambient one, else pyodo's own (installed, started).

    Idempotent; bounded by a 90 s start deadline. Raises ClusterSetupError with the log tail.
    """
    if engine_running() and _answers(own_host()):
        return Engine(own_host(), owned=True)
    ambient = os.environ.get("DOCKER_HOST")
    if (ambient or Path("/var/run/docker.sock").exists()) and _answers(None, timeout=10):
        return Engine(ambient or "unix:///var/run/docker.sock", owned=False)
    debs.ensure_packages(ENGINE_PACKAGES)
    daemon = dockerd_daemon()
    for directory in (_engine_run_dir(), docker_data_root()):
        directory.mkdir(parents=True, exist_ok=True)
    procs.start(daemon)

    def probe() -> tuple[Engine | None, str]:
        if _answers(own_host(), timeout=5):
            return Engine(own_host(), owned=True), "answering"
        return None, "no answer to `docker info`"

    try:
        # Ends at once, with its log tail, when dockerd exits (procs.ensure_alive).
        return wait_for(
            probe,
            f"dockerd to answer on {own_host()}",
            _START_TIMEOUT,
            interval=0.5,
            check=lambda: procs.ensure_alive(daemon),
        )
    except WaitTimeout as exc:  # still a setup error: the init image task falls back on it
        raise ClusterSetupError(f"{exc}; see {daemon.log_file}:\n{procs.log_tail(daemon)}") from exc


def stop_engine(timeout: float = 30.0) -> bool:
    """Stop pyodo's dockerd (never one the user runs); True when it was running."""
    return procs.stop(dockerd_daemon(), timeout=timeout)
