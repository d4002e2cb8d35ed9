"""Starting the local cluster's daemons in order, and proving the booted cluster works.

Each daemon is started and waited for until it serves (etcd's /health, containerd's socket, the
apiserver's /readyz); then the node must be Ready, a smoke-test pod must run (sandbox, CNI and
runtime work) and, when asked for, CoreDNS must be available. Every wait is bounded by the one
deadline of the ``up`` and fails at once, with the log tail, when a daemon it needs has died.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import (
    clusterdns,
    components,
    hostclean,
    hostnet,
    localapi,
    manifests,
    procs,
    waits,
)
from pyodo_tasks.testbed.layout import Layout
from pyodo_tasks.testbed.progress import Phase, Progress

T = TypeVar("T")


def prepare_host(lay: Layout) -> None:
    """Sysctls pods need (restored by ``down``), a FORWARD accept for our bridge, the bridge
    with the node address and the NAT to the loopback-only listeners (:mod:`.hostnet`)."""
    hostclean.write_sysctl("net.ipv4.ip_forward", "1")
    hostclean.write_sysctl("net.bridge.bridge-nf-call-iptables", "1")
    hostclean.ensure_forward_accept(lay.net.bridge)
    hostnet.ensure_bridge(lay.net)
    hostnet.install(lay.net)


class Boot:
    """The steps of one boot that start or wait, all against ``deadline`` (``time.monotonic``)."""

    def __init__(self, layout: Layout, progress: Progress, deadline: float) -> None:
        self.layout = layout
        self._progress = progress
        self.deadline = deadline

    def start_etcd(self) -> None:
        daemon = components.etcd(self.layout)
        url = f"http://127.0.0.1:{self.layout.net.etcd_client_port}/health"

        def probe() -> tuple[bool | None, str]:
            code, body = waits.http_get(url, timeout=2)
            return (True if code == 200 and '"true"' in body else None), f"{code} {body[:80]}"

        self._start_and_wait(daemon, probe, "etcd /health")

    def start_containerd(self) -> None:
        daemon = components.containerd(self.layout)
        sock = self.layout.containerd_socket
        self._start_and_wait(daemon, lambda: waits.containerd_answers(sock), "containerd socket")

    def start_apiserver(self) -> None:
        daemon = components.kube_apiserver(self.layout)

        def probe() -> tuple[bool | None, str]:
            code, body = localapi.api_get(self.layout, "/readyz")
            return (True if code == 200 else None), f"{code} {body.strip()[-200:]}"

        self._start_and_wait(daemon, probe, "kube-apiserver /readyz", interval=0.5)

    def start_the_rest(self) -> None:
        """The controllers and node agents: they need only the apiserver to be serving."""
        lay = self.layout
        for daemon in (
            components.kube_controller_manager(lay),
            components.kube_scheduler(lay),
            components.kubelet(lay),
            components.kube_proxy(lay),
        ):
            self._progress(f"starting {daemon.name}")
            procs.start(daemon)
            procs.ensure_alive(daemon)

    def _start_and_wait(
        self,
        daemon: procs.Daemon,
        probe: Callable[[], tuple[bool | None, str]],
        what: str,
        interval: float = 0.25,
    ) -> None:
        """Start ``daemon`` and wait until ``probe`` says it serves; its state is the detail."""
        everyone = components.daemons(self.layout)
        started = everyone[: [d.name for d in everyone].index(daemon.name) + 1]

        def alive() -> None:  # this one, and those it needs (the apiserver dies with etcd)
            for each in started:
                procs.ensure_alive(each)

        with self._progress.phase(f"starting {daemon.name}") as phase:
            procs.start(daemon)
            self._wait(probe, what, interval, phase, check=alive)

    def _wait(
        self,
        probe: Callable[[], tuple[bool | None, str]],
        what: str,
        interval: float,
        shown: Phase | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Wait, within the boot's deadline, until ``probe`` says yes, showing the state it
        sees as ``shown``'s detail; fail early when ``check`` (every daemon alive) raises."""
        waits.wait_for(
            probe if shown is None else _reporting(probe, shown),
            what,
            self._left(),
            interval=interval,
            check=check or self._all_alive,
        )

    def _all_alive(self) -> None:
        """Raise with its log tail as soon as any daemon has died (not at the wait's timeout)."""
        for daemon in components.daemons(self.layout):
            procs.ensure_alive(daemon)

    def wait_node_ready(self) -> None:
        lay = self.layout

        def probe() -> tuple[bool | None, str]:
            state = localapi.node_state(lay)
            return (True if state == "Ready" else None), state

        with self._progress.phase(f"waiting for node {lay.node_name} Ready") as phase:
            self._wait(probe, f"node {lay.node_name} Ready", 1.0, phase)

    def put_loopback_nat_first(self) -> None:
        """Once kube-proxy has written its Service rules, put :mod:`.hostnet`'s jumps above them
        (else pods reaching the ``kubernetes`` Service meet kube-proxy's DNAT first)."""

        def probe() -> tuple[bool | None, str]:
            synced = hostnet.kube_proxy_synced()
            return (True if synced else None), "no KUBE-SERVICES jump yet"

        waits.wait_for(
            probe, "kube-proxy's first sync", self._left(), interval=0.5, check=self._all_alive
        )
        hostnet.put_jumps_first(self.layout.net)

    def start_cluster_dns(self) -> None:
        """Apply kubeadm's CoreDNS objects and wait (bounded) until the Deployment is available."""
        with self._progress.phase(f"starting cluster DNS (CoreDNS at {clusterdns.LOCAL_DNS_IP})"):
            self._kubectl(["apply", "-f", "-"], stdin=manifests.dump_all(clusterdns.objects()))
            wait = max(1, min(int(self._left()), 100))
            proc = self._kubectl(
                [
                    "-n",
                    "kube-system",
                    "rollout",
                    "status",
                    "deployment/coredns",
                    f"--timeout={wait}s",
                ],
                check=False,
            )
            if proc.returncode != 0:
                pods = self._kubectl(
                    ["-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "wide"],
                    check=False,
                )
                raise ClusterSetupError(
                    f"CoreDNS was not available {wait}s after it was applied "
                    f"({(proc.stdout + proc.stderr).strip()[-300:]}); pods: "
                    f"{pods.stdout.strip()[-500:]}; turn cluster DNS off with "
                    f"{clusterdns.DNS_ENV}=0"
                )

    def smoke_pod(self) -> None:
        """Run a pod with the sandbox image: proves sandbox, CNI and runtime work."""
        with self._progress.phase("running a smoke-test pod") as phase:
            self._run_smoke_pod(phase)

    def _run_smoke_pod(self, shown: Phase) -> None:
        pod = manifests.smoke_pod(self.layout.sandbox_image)
        name = pod["metadata"]["name"]
        sa_path = "/api/v1/namespaces/default/serviceaccounts/default"

        def sa_probe() -> tuple[bool | None, str]:
            code, body = localapi.api_get(self.layout, sa_path)
            return (True if code == 200 else None), f"{code} {body.strip()[-120:]}"

        # Pod admission needs the namespace's default ServiceAccount, which the
        # controller-manager creates a moment after it starts.
        self._wait(sa_probe, "ServiceAccount default/default", 0.5)
        self._kubectl(["delete", "pod", name, "--ignore-not-found", "--wait=false"])
        self._kubectl(["apply", "-f", "-"], stdin=json.dumps(pod))

        def probe() -> tuple[bool | None, str]:
            proc = self._kubectl(["get", "pod", name, "-o", "json"], check=False)
            if proc.returncode != 0:
                return None, proc.stderr.strip()[-200:]
            status = json.loads(proc.stdout).get("status", {})
            phase = status.get("phase", "")
            if phase == "Running":
                return True, phase
            if phase == "Failed":
                raise ClusterSetupError(f"smoke-test pod failed: {json.dumps(status)[:400]}")
            waiting = [
                (c.get("state", {}).get("waiting") or {}).get("reason", "")
                for c in status.get("containerStatuses", [])
            ]
            return None, f"{phase} {' '.join(w for w in waiting if w)}"

        self._wait(probe, f"pod {name} Running", 0.5, shown)
        self._kubectl(["delete", "pod", name, "--wait=false"])

    def _kubectl(
        self, args: list[str], stdin: str | None = None, check: bool = True
    ) -> host.Result:
        return localapi.kubectl(self.layout, args, stdin=stdin, check=check)

    def _left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())


def _reporting(
    probe: Callable[[], tuple[T | None, str]], phase: Phase
) -> Callable[[], tuple[T | None, str]]:
    """``probe``, also showing the state it saw as ``phase``'s detail."""

    def wrapped() -> tuple[T | None, str]:
        value, state = probe()
        if value is None:
            phase.update(state)
        return value, state

    return wrapped
