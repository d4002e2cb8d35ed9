"""Record what the host looked like before ``up`` and put it back on ``down``.

The cluster changes shared host state: sysctls (kubelet, kube-proxy and the CNI bridge set
some), iptables chains (KUBE-*, CNI-*, our PYODO-*), a Linux bridge, pod cgroups, mounts and
network namespaces under our own directories. A JSON snapshot taken before the first ``up``
(kept until ``down`` finishes, so a re-``up`` after a killed run keeps the originals) tells
``down`` which of these existed already and must be left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from pathlib import Path

from pyodo_tasks import host

#: Sysctls the cluster's components may change.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.route_localnet",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
CHAIN_PREFIXES = ("KUBE-", "CNI-", "PYODO-")
TABLES = ("filter", "nat", "mangle", "raw")
IPTABLES = ("iptables", "ip6tables")
CGROUP_ROOT = Path("/sys/fs/cgroup")
POD_CGROUP = "kubepods"
#: Host paths components create outside our dirs (hard-coded in kubelet / the hostpath
#: provisioner); removed on ``down`` only when they did not exist before ``up``.
FOREIGN_PATHS = (
    Path("/tmp/hostpath_pv"),  # hostpath provisioner's volumes
    Path("/var/log/containers"),  # kubelet's container log symlinks
    Path("/var/log/pods"),
    Path("/var/lib/kubelet"),  # kubelet's device-plugin socket dir ignores --root-dir
    Path("/var/lib/cni"),  # libcni's result cache inside containerd
)
#: Shared with any other containerd (shim sockets under ``s/``): only emptied directories that
#: did not exist before are removed, never anything another containerd may still use.
SHARED_PATHS = (Path("/run/containerd"),)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    """Current values of :data:`SYSCTLS` that exist on this kernel."""
    values = {}
    for name in SYSCTLS:
        try:
            values[name] = _sysctl_path(name).read_text().strip()
        except OSError:
            continue
    return values


def write_sysctl(name: str, value: str) -> None:
    """Set one sysctl; a missing or read-only key is not our business, so it is skipped."""
    with contextlib.suppress(OSError):
        _sysctl_path(name).write_text(value)


def _run(argv: list[str], check: bool = False, what: str = "cleaning up the host") -> host.Result:
    return host.run(argv, timeout=60, what=what, check=check)


def list_chains(tool: str, table: str) -> list[str]:
    """User-defined chains of one iptables table (empty if the table or tool is unusable)."""
    proc = _run([tool, "-w", "5", "-t", table, "-S"])
    if proc.returncode != 0:
        return []
    return [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("-N ")]


def ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def snapshot() -> dict:
    """Capture the host state :func:`restore` needs."""
    chains = {
        f"{tool}/{table}": [c for c in list_chains(tool, table) if ours(c)]
        for tool in IPTABLES
        for table in TABLES
    }
    cgroups = sorted(str(d) for d in CGROUP_ROOT.glob(f"*/{POD_CGROUP}") if d.is_dir())
    return {
        "sysctls": read_sysctls(),
        "chains": chains,
        "cgroups": cgroups,
        "links": sorted(os.listdir("/sys/class/net")),
        "existing_paths": [str(p) for p in (*FOREIGN_PATHS, *SHARED_PATHS) if p.exists()],
        "taken": time.time(),
    }


def save_snapshot_once(path: Path) -> dict:
    """Write a snapshot unless one from an unfinished earlier run exists; return the kept one."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    snap = snapshot()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snap, indent=2))
    return snap


def delete_new_chains(snap_chains: dict[str, list[str]]) -> list[str]:
    """Remove KUBE-*/CNI-*/PYODO-* chains that were not there before, with jumps into them."""
    removed: list[str] = []
    for tool in IPTABLES:
        for table in TABLES:
            before = set(snap_chains.get(f"{tool}/{table}", []))
            proc = _run([tool, "-w", "5", "-t", table, "-S"])
            if proc.returncode != 0:
                continue
            new = {c for c in list_chains(tool, table) if ours(c) and c not in before}
            if not new:
                continue
            for line in proc.stdout.splitlines():
                if not line.startswith("-A "):
                    continue
                words = shlex.split(line)
                chain = words[1]
                target = _target(words)
                if chain not in new and target in new:
                    _run([tool, "-w", "5", "-t", table, "-D", *words[1:]])
            for chain in new:
                _run([tool, "-w", "5", "-t", table, "-F", chain])
            for chain in new:
                _run([tool, "-w", "5", "-t", table, "-X", chain])
                removed.append(f"{tool}/{table}/{chain}")
    return removed


def target_of(rule: str) -> str | None:
    """The chain or target an ``iptables -S`` rule line jumps to (None when it has none)."""
    return _target(shlex.split(rule))


def _target(words: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in words:
            i = words.index(flag)
            if i + 1 < len(words):
                return words[i + 1]
    return None


def ensure_forward_accept(bridge: str) -> None:
    """Accept forwarded pod traffic even when dockerd set the FORWARD policy to DROP."""
    tool, table, chain = "iptables", "filter", "PYODO-FORWARD"
    forwarding = f"letting pods on {bridge} through the FORWARD chain"
    if chain not in list_chains(tool, table):
        _run([tool, "-w", "5", "-t", table, "-N", chain], check=True, what=forwarding)
        _run(
            [tool, "-w", "5", "-t", table, "-A", chain, "-i", bridge, "-j", "ACCEPT"],
            check=True,
            what=forwarding,
        )
        _run(
            [tool, "-w", "5", "-t", table, "-A", chain, "-o", bridge, "-j", "ACCEPT"],
            check=True,
            what=forwarding,
        )
    if _run([tool, "-w", "5", "-t", table, "-C", "FORWARD", "-j", chain]).returncode != 0:
        _run(
            [tool, "-w", "5", "-t", table, "-I", "FORWARD", "1", "-j", chain],
            check=True,
            what=forwarding,
        )


def mounts_under(roots: list[Path]) -> list[str]:
    """Mount points at or below any of ``roots``, deepest first."""
    resolved = [str(r.resolve()) for r in roots]
    found: list[str] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if any(point == r or point.startswith(r + "/") for r in resolved):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def _unescape(field: str) -> str:
    """Decode mountinfo's octal escapes (``\\040`` for space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def unmount_all(roots: list[Path]) -> list[str]:
    """Unmount everything under ``roots`` (repeating for stacked mounts); lazily if busy."""
    done: list[str] = []
    for _ in range(5):
        points = mounts_under(roots)
        if not points:
            break
        for point in points:
            if _run(["umount", point]).returncode != 0:
                _run(["umount", "-l", point])
            done.append(point)
    return done


def remove_cgroups(existed: list[str]) -> None:
    """rmdir pod cgroup trees that the cluster created (children first)."""
    for top in CGROUP_ROOT.glob(f"*/{POD_CGROUP}"):
        if str(top) in existed or not top.is_dir():
            continue
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, top]:
            with contextlib.suppress(OSError):
                d.rmdir()


def pids_in_cgroups(existed: list[str]) -> set[int]:
    """Pids still inside pod cgroups the cluster created (leftover container processes)."""
    pids: set[int] = set()
    for top in CGROUP_ROOT.glob(f"*/{POD_CGROUP}"):
        if str(top) in existed:
            continue
        for procs in top.rglob("cgroup.procs"):
            try:
                pids.update(int(p) for p in procs.read_text().split())
            except (OSError, ValueError):
                continue
    return pids


def delete_link(name: str, existed: list[str]) -> None:
    """Delete a network link the cluster created."""
    if name not in existed and Path(f"/sys/class/net/{name}").exists():
        _run(["ip", "link", "delete", name])


def remove_foreign_paths(existed: list[str], own_roots: list[Path]) -> None:
    """Remove :data:`FOREIGN_PATHS` we created; in pre-existing ones, only links into our dirs."""
    import shutil

    roots = [str(r) for r in own_roots]
    for path in FOREIGN_PATHS:
        if not path.exists():
            continue
        if str(path) not in existed:
            shutil.rmtree(path, ignore_errors=True)
            continue
        for entry in path.iterdir():
            if entry.is_symlink() and os.readlink(entry).startswith(tuple(roots)):
                entry.unlink(missing_ok=True)
    for path in SHARED_PATHS:
        if str(path) in existed or not path.is_dir():
            continue
        dirs = sorted((d for d in path.rglob("*") if d.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, path]:
            with contextlib.suppress(OSError):
                d.rmdir()


def restore_sysctls(before: dict[str, str], keep_forwarding: bool) -> None:
    """Put back sysctls that differ from the snapshot.

    ``keep_forwarding``: another network user (e.g. a dockerd started meanwhile) appeared and
    needs IP forwarding, so ``net.ipv4.ip_forward`` is left on.
    """
    now = read_sysctls()
    for name, value in before.items():
        if name == "net.ipv4.ip_forward" and keep_forwarding:
            continue
        if now.get(name) is not None and now[name] != value:
            write_sysctl(name, value)
