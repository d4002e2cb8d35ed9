"""Stopping the local cluster and putting the host back as ``up`` found it.

The node agents and controllers go first (they would recreate what is removed), then every
container of our containerd, the shims and pod processes left behind, the apiserver and etcd
last; then mounts, the bridge, new iptables chains and cgroups, and the sysctls recorded before
``up`` (:mod:`.hostclean`). :func:`remove_containers` also runs at boot, before the kubelet, for
what a killed run left in containerd's metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.testbed import components, ctrimages, hostclean, procs
from pyodo_tasks.testbed.layout import Layout

#: Stopped first on ``down``: the node agents and controllers that would recreate things.
_AGENTS = ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager")


def down(lay: Layout) -> None:
    """Stop exactly this cluster's daemons and undo its changes to the host (idempotent)."""
    by_name = {d.name: d for d in components.daemons(lay)}
    for name in _AGENTS:
        procs.stop(by_name[name])
    containerd = by_name["containerd"]
    if procs.running(containerd) is not None:
        remove_containers(lay)
    procs.stop(containerd)
    snap = _load_snapshot(lay)
    _kill_leftover_containers(lay, snap)
    procs.stop(by_name["kube-apiserver"])
    procs.stop(by_name["etcd"])
    procs.stop_all_recorded(lay.pids)
    hostclean.unmount_all([*lay.own_dirs, lay.containerd_root])
    if snap is not None:
        links_now = set(os.listdir("/sys/class/net"))
        hostclean.delete_link(lay.net.bridge, snap.get("links", []))
        hostclean.delete_new_chains(snap.get("chains", {}))
        hostclean.remove_cgroups(snap.get("cgroups", []))
        others = links_now - set(snap.get("links", [])) - {lay.net.bridge}
        others = {n for n in others if not n.startswith("veth")}
        hostclean.restore_sysctls(snap.get("sysctls", {}), keep_forwarding=bool(others))
        hostclean.remove_foreign_paths(snap.get("existing_paths", []), [lay.state])
    for cri_dir in ("sandboxes", "containers"):
        shutil.rmtree(
            lay.containerd_root / "io.containerd.grpc.v1.cri" / cri_dir, ignore_errors=True
        )
    shutil.rmtree(lay.state, ignore_errors=True)
    shutil.rmtree(lay.cluster_run, ignore_errors=True)
    with contextlib.suppress(OSError):
        lay.run.rmdir()  # only when nothing else of pyodo's is in it
    lay.host_snapshot.unlink(missing_ok=True)


def remove_containers(lay: Layout) -> None:
    """Kill and delete every container (pods and sandboxes) in our containerd."""
    tasks = _ctr(lay, ["tasks", "ls", "-q"]).stdout.split()
    for task in tasks:
        _ctr(lay, ["tasks", "kill", "-a", "-s", "SIGKILL", task])
    for task in tasks:
        _ctr(lay, ["tasks", "delete", "-f", task])
    for container in _ctr(lay, ["containers", "ls", "-q"]).stdout.split():
        _ctr(lay, ["containers", "delete", container])


def _ctr(lay: Layout, args: list[str]) -> host.Result:
    return ctrimages.ctr(lay.containerd_socket, args, timeout=60)


def _kill_leftover_containers(lay: Layout, snap: dict | None) -> None:
    """After containerd is gone: end our shims (matched by our socket) and pod processes."""
    sock = str(lay.containerd_socket)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        ident = procs.identify(pid)
        argv = procs.cmdline(pid) if ident else None
        if ident and argv and "containerd-shim" in argv[0] and sock in argv:
            procs.stop_process(ident, "containerd-shim", timeout=5)
    if snap is not None:
        for pid in hostclean.pids_in_cgroups(snap.get("cgroups", [])):
            ident = procs.identify(pid)
            if ident is not None:
                procs.stop_process(ident, f"pod process {pid}", timeout=5)


def _load_snapshot(lay: Layout) -> dict | None:
    try:
        return json.loads(lay.host_snapshot.read_text())
    except (OSError, ValueError):
        return None
