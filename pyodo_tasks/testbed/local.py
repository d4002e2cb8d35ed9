"""The ``local`` provider: a real single-node Kubernetes cluster on this host.

etcd, containerd, runc and the CNI plugins come from Debian packages; kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl are built from the Go
module proxy (:mod:`.gobuild`). Every daemon runs detached with a pid file and a log under the
state dir; ``down`` stops exactly those, unmounts, removes the CNI and iptables state and puts
back the sysctls recorded before ``up`` (:mod:`.hostclean`).

Cluster DNS is optional (``cluster_dns=True`` or ``PYODO_CLUSTER_DNS=1``): CoreDNS, built from
the Go module proxy for the kind node image, runs as kubeadm's ``kube-dns`` Service at
10.96.0.10 and the kubelet points pods at it (:mod:`.clusterdns`). Off by default because a
machine's first ``up`` (``./run demo``) would then also build CoreDNS; without it pods use the
host's resolver and Services are reached by ClusterIP.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout

from pyodo_tasks import host
from pyodo_tasks.cluster import kubeconfig
from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ClusterError, ClusterSetupError, WaitTimeout
from pyodo_tasks.testbed import (
    clusterdns,
    components,
    configs,
    ctrimages,
    debs,
    gobuild,
    hostclean,
    manifests,
    procs,
    settings,
    waits,
)
from pyodo_tasks.testbed import pki as pki_mod
from pyodo_tasks.testbed.layout import Layout, Network
from pyodo_tasks.testbed.progress import Phase, Progress, as_progress, duration
from pyodo_tasks.testbed.versions import KUBERNETES_VERSION

CONTEXT = "pyodo-local"
T = TypeVar("T")
#: An ``up`` may include a cold Kubernetes build (~20 min on 2 cores); waiters get that long.
LOCK_TIMEOUT = 3600.0
#: Stopped first on ``down``: the node agents and controllers that would recreate things.
_AGENTS = ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager")


def detect_node_ip() -> str:
    """IPv4 address of the default-route interface (pods reach the apiserver through it)."""
    what = "finding the node IP"
    try:
        route = ["ip", "-4", "-j", "route", "show", "default"]
        routes = json.loads(host.run(route, timeout=30, what=what, check=False).stdout or "[]")
        devs = [r["dev"] for r in routes if r.get("dev")]
        addr = ["ip", "-4", "-j", "addr", "show", *(["dev", devs[0]] if devs else [])]
        addrs = json.loads(host.run(addr, timeout=30, what=what, check=False).stdout or "[]")
    except (ClusterSetupError, ValueError):
        return "127.0.0.1"
    for link in addrs:
        for info in link.get("addr_info", []):
            if info.get("scope") == "global" and info.get("local"):
                return str(info["local"])
    return "127.0.0.1"


class LocalProvider(Provider):
    """Build, boot and tear down the single-node cluster (see module docstring)."""

    name = "local"

    @classmethod
    def planned_context(cls) -> str:
        return CONTEXT

    def __init__(
        self,
        layout: Layout | None = None,
        images: list[str] | None = None,
        boot_timeout: float = 240.0,
        progress: Progress | Callable[[str], None] | None = None,
        version: str = KUBERNETES_VERSION,
        cluster_dns: bool | None = None,
    ) -> None:
        self.layout = layout or Layout(version=version, net=Network(node_ip=detect_node_ip()))
        self.images = images
        #: CoreDNS as the cluster's DNS (default: ``$PYODO_CLUSTER_DNS`` is ``1``).
        self.cluster_dns = settings.cluster_dns() if cluster_dns is None else cluster_dns
        self.boot_timeout = boot_timeout
        #: Lines and live phases on stderr by default: a first ``up`` builds for many minutes.
        self._progress = as_progress(progress)

    # -- public interface -------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    @property
    def restricted_kubeconfig(self) -> Path:
        return self.layout.restricted_kubeconfig

    def info(self) -> ClusterInfo:
        lay = self.layout
        return ClusterInfo(
            provider=self.name,
            name=CONTEXT,
            kubeconfig=lay.admin_kubeconfig,
            context=CONTEXT,
            server=lay.server_url,
            restricted_kubeconfig=lay.restricted_kubeconfig,
            restricted_namespace=manifests.RESTRICTED_NAMESPACE,
            kubectl=lay.bin_dir / "kubectl",
        )

    def _lock(self) -> contextlib.AbstractContextManager[object]:
        """One ``up``/``down`` at a time across processes (pytest workers, CLI, doit)."""
        path = self.layout.state.with_name(self.layout.state.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path))

        @contextlib.contextmanager
        def held() -> Iterator[object]:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                holder = _lock_holder(path)
                with self._progress.phase(f"waiting for another up/down to finish{holder}"):
                    try:
                        lock.acquire(timeout=LOCK_TIMEOUT)
                    except Timeout as exc:
                        raise WaitTimeout(
                            f"another up/down to release {path}", LOCK_TIMEOUT
                        ) from exc
            _record_lock_holder(path)
            try:
                yield lock
            finally:
                path.with_suffix(".holder").unlink(missing_ok=True)
                lock.release()

        return held()

    def up(self) -> ClusterInfo:
        with self._lock():
            return self._up()

    def down(self) -> None:
        with self._lock(), self._progress.phase("stopping the cluster and restoring the host"):
            self._down()

    def _up(self) -> ClusterInfo:
        lay = self.layout
        self._progress("checking Debian packages")
        debs.ensure_packages()
        gobuild.ensure_kube_binaries(lay.version, self._progress)
        archives = self._image_archives()
        if self._healthy():
            self._import_images(archives)
            return self.info()
        if lay.net.node_ip.startswith("127."):
            raise ClusterSetupError(
                "no non-loopback IPv4 address on the default-route interface; pods could not "
                "reach the apiserver (configure a default route)"
            )
        with self._progress.phase("clearing leftovers of an earlier run"):
            self._down()
        try:
            self._boot(archives)
        except BaseException:
            # Never leave a half-booted cluster behind: stop every daemon this up started and
            # put the host back. The daemon logs stay (outside the state dir) for the error.
            self._progress(f"up failed; stopping what it started (logs kept in {lay.logs})")
            try:
                with self._progress.phase("stopping the cluster and restoring the host"):
                    self._down()
            except Exception as exc:  # the boot failure is the error to report
                self._progress(f"clean-up after the failed up failed too: {exc}")
            raise
        return self.info()

    def _boot(self, archives: list[ImageArchiveLike]) -> None:
        """Boot from a cleared host: files, host settings, daemons in order, a smoke pod."""
        lay = self.layout
        hostclean.save_snapshot_once(lay.host_snapshot)
        self._prepare_files()
        self._prepare_host()
        deadline = time.monotonic() + self.boot_timeout
        self._start_etcd(deadline)
        self._start_containerd(deadline)
        # Containers a killed run left in containerd's (cached) metadata: gone before kubelet.
        self._remove_containers()
        self._import_images(archives)
        self._start_apiserver(deadline)
        for daemon in (
            components.kube_controller_manager(lay),
            components.kube_scheduler(lay),
            components.kubelet(lay),
            components.kube_proxy(lay),
        ):
            self._progress(f"starting {daemon.name}")
            procs.start(daemon)
            procs.ensure_alive(daemon)
        self._progress("creating namespace, RBAC and StorageClass")
        self._kubectl(["apply", "-f", "-"], stdin=manifests.dump_all(manifests.bootstrap_objects()))
        self._wait_node_ready(deadline)
        self._smoke_pod(deadline)
        if self.cluster_dns:
            self._start_cluster_dns(deadline)
        self._booted_marker.write_text(
            json.dumps({"version": lay.version, "at": time.time(), "cluster_dns": self.cluster_dns})
        )

    def load_image(self, archive: ImageArchiveLike) -> None:
        if procs.running(components.containerd(self.layout)) is None:
            raise ClusterError(
                "the local cluster is not running; run `python -m pyodo_tasks.cluster up`"
            )
        ctrimages.import_archive(self.layout.containerd_socket, archive, self._image_record)

    def _down(self) -> None:
        lay = self.layout
        by_name = {d.name: d for d in components.daemons(lay)}
        for name in _AGENTS:
            procs.stop(by_name[name])
        containerd = by_name["containerd"]
        if procs.running(containerd) is not None:
            self._remove_containers()
        procs.stop(containerd)
        snap = self._load_snapshot()
        self._kill_leftover_containers(snap)
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

    def status(self) -> ClusterStatus:
        lay = self.layout
        comps = {
            d.name: (f"running (pid {pid})" if (pid := procs.running(d)) else "stopped")
            for d in components.daemons(lay)
        }
        running = False
        detail = ""
        if lay.admin_kubeconfig.is_file() and (lay.pki / "admin.crt").is_file():
            code, body = self._api_get("/readyz")
            running = code == 200
            comps["apiserver /readyz"] = body.strip()[:60] if code else f"unreachable: {body}"
            if running:
                comps["node"] = self._node_state()
        else:
            detail = "not booted (no admin kubeconfig)"
        return ClusterStatus(self.name, running, comps, detail)

    # -- boot steps ---------------------------------------------------------------------------

    @property
    def _image_record(self) -> Path:
        return self.layout.containerd_root.parent / "imported-images.json"

    def _image_archives(self) -> list[ImageArchiveLike]:
        """Build or fetch from cache every image the cluster needs (pause first)."""
        self._progress("images: pause, init, builders (built once, cached)")
        try:
            from pyodo_tasks.testbed.images import ensure_images
        except ImportError as exc:
            raise ClusterSetupError(
                "pyodo_tasks.testbed.images.ensure_images is not available, so no sandbox "
                "(pause) image can be built; no image can be pulled on this machine"
            ) from exc
        log = self._progress
        archives: list[ImageArchiveLike] = list(ensure_images(self.images, log=log).values())
        refs = {a.ref for a in archives}
        if self.layout.sandbox_image not in refs:
            sandbox = [_image_name(self.layout.sandbox_image)]
            archives += list(ensure_images(sandbox, log=log).values())
        if self.cluster_dns:
            with self._progress.phase("CoreDNS image (built from the Go module proxy once)"):
                archives.append(clusterdns.coredns_archive(log))
        return archives

    def _import_images(self, archives: list[ImageArchiveLike]) -> None:
        for archive in archives:
            ctrimages.import_archive(
                self.layout.containerd_socket, archive, self._image_record, self._progress
            )

    def _prepare_files(self) -> None:
        lay = self.layout
        for d in (
            lay.state,
            lay.config_dir,
            lay.logs,
            lay.pids,
            lay.etcd_data,
            lay.kubelet_root,
            lay.cni_conf_dir,
            lay.cni_ipam_dir,
            lay.containerd_root,
            lay.containerd_socket.parent,
        ):
            d.mkdir(parents=True, exist_ok=True)
        lay.etcd_data.chmod(0o700)
        for log in lay.logs.glob("*.log"):  # keep the previous boot's logs, one generation
            log.replace(log.with_suffix(".log.1"))
        self._progress("generating PKI and kubeconfigs")
        pki_mod.generate(lay.pki, lay.node_name, lay.net.node_ip, lay.net.api_service_ip)
        (lay.config_dir / "containerd.toml").write_text(configs.containerd_toml(lay))
        (lay.cni_conf_dir / "10-pyodo.conflist").write_text(configs.cni_conflist(lay))
        dns_ip = clusterdns.LOCAL_DNS_IP if self.cluster_dns else None
        (lay.config_dir / "kubelet.yaml").write_text(configs.kubelet_config(lay, dns_ip))
        (lay.config_dir / "kube-proxy.yaml").write_text(configs.kube_proxy_config(lay))
        ca = (lay.pki / "ca.crt").read_bytes()
        users = {
            "controller-manager": ("controller-manager", "system:kube-controller-manager"),
            "scheduler": ("scheduler", "system:kube-scheduler"),
            "kube-proxy": ("kube-proxy", "system:kube-proxy"),
            "kubelet": ("kubelet-client", f"system:node:{lay.node_name}"),
        }
        for component, (cert, user) in users.items():
            kubeconfig.write(lay.kubeconfig_for(component), self._render_kc(ca, cert, user))
        kubeconfig.write(lay.admin_kubeconfig, self._render_kc(ca, "admin", "pyodo-admin"))
        restricted = kubeconfig.render(
            CONTEXT,
            lay.server_url,
            ca,
            manifests.RESTRICTED_USER,
            (lay.pki / "restricted.crt").read_bytes(),
            (lay.pki / "restricted.key").read_bytes(),
        )
        kubeconfig.write(
            lay.restricted_kubeconfig, _with_namespace(restricted, manifests.RESTRICTED_NAMESPACE)
        )

    def _render_kc(self, ca: bytes, cert: str, user: str) -> str:
        lay = self.layout
        return kubeconfig.render(
            CONTEXT,
            lay.server_url,
            ca,
            user,
            (lay.pki / f"{cert}.crt").read_bytes(),
            (lay.pki / f"{cert}.key").read_bytes(),
        )

    def _prepare_host(self) -> None:
        """Sysctls pods need (restored by ``down``) and a FORWARD accept for our bridge."""
        hostclean.write_sysctl("net.ipv4.ip_forward", "1")
        hostclean.write_sysctl("net.bridge.bridge-nf-call-iptables", "1")
        hostclean.ensure_forward_accept(self.layout.net.bridge)

    def _start_etcd(self, deadline: float) -> None:
        daemon = components.etcd(self.layout)
        url = f"http://127.0.0.1:{self.layout.net.etcd_client_port}/health"

        def probe() -> tuple[bool | None, str]:
            code, body = waits.http_get(url, timeout=2)
            return (True if code == 200 and '"true"' in body else None), f"{code} {body[:80]}"

        self._start_and_wait(daemon, probe, "etcd /health", deadline)

    def _start_containerd(self, deadline: float) -> None:
        daemon = components.containerd(self.layout)
        sock = self.layout.containerd_socket

        def probe() -> tuple[bool | None, str]:
            if not sock.exists():
                return None, "socket not there yet"
            proc = host.run(
                ["ctr", "--address", str(sock), "version"],
                timeout=10,
                what="asking containerd its version",
                check=False,
            )
            return (True if proc.returncode == 0 else None), proc.stderr.strip()[-120:]

        self._start_and_wait(daemon, probe, "containerd socket", deadline)

    def _start_apiserver(self, deadline: float) -> None:
        daemon = components.kube_apiserver(self.layout)

        def probe() -> tuple[bool | None, str]:
            code, body = self._api_get("/readyz")
            return (True if code == 200 else None), f"{code} {body.strip()[-200:]}"

        self._start_and_wait(daemon, probe, "kube-apiserver /readyz", deadline, interval=0.5)

    def _start_and_wait(
        self,
        daemon: procs.Daemon,
        probe: Callable[[], tuple[bool | None, str]],
        what: str,
        deadline: float,
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
            waits.wait_for(
                _reporting(probe, phase), what, _left(deadline), interval=interval, check=alive
            )

    def _all_alive(self) -> None:
        """Raise with its log tail as soon as any daemon has died (not at the wait's timeout)."""
        for daemon in components.daemons(self.layout):
            procs.ensure_alive(daemon)

    def _wait_node_ready(self, deadline: float) -> None:
        lay = self.layout

        def probe() -> tuple[bool | None, str]:
            state = self._node_state()
            return (True if state == "Ready" else None), state

        with self._progress.phase(f"waiting for node {lay.node_name} Ready") as phase:
            waits.wait_for(
                _reporting(probe, phase),
                f"node {lay.node_name} Ready",
                _left(deadline),
                interval=1.0,
                check=self._all_alive,
            )

    def _start_cluster_dns(self, deadline: float) -> None:
        """Apply kubeadm's CoreDNS objects and wait (bounded) until the Deployment is available."""
        with self._progress.phase(f"starting cluster DNS (CoreDNS at {clusterdns.LOCAL_DNS_IP})"):
            self._kubectl(["apply", "-f", "-"], stdin=manifests.dump_all(clusterdns.objects()))
            wait = max(1, min(int(_left(deadline)), 100))
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

    def _smoke_pod(self, deadline: float) -> None:
        """Run a pod with the sandbox image: proves sandbox, CNI and runtime work."""
        with self._progress.phase("running a smoke-test pod") as phase:
            self._run_smoke_pod(deadline, phase)

    def _run_smoke_pod(self, deadline: float, shown: Phase) -> None:
        pod = manifests.smoke_pod(self.layout.sandbox_image)
        name = pod["metadata"]["name"]
        sa_path = "/api/v1/namespaces/default/serviceaccounts/default"

        def sa_probe() -> tuple[bool | None, str]:
            code, body = self._api_get(sa_path)
            return (True if code == 200 else None), f"{code} {body.strip()[-120:]}"

        # Pod admission needs the namespace's default ServiceAccount, which the
        # controller-manager creates a moment after it starts.
        waits.wait_for(
            sa_probe,
            "ServiceAccount default/default",
            _left(deadline),
            interval=0.5,
            check=self._all_alive,
        )
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

        waits.wait_for(
            _reporting(probe, shown),
            f"pod {name} Running",
            _left(deadline),
            interval=0.5,
            check=self._all_alive,
        )
        self._kubectl(["delete", "pod", name, "--wait=false"])

    # -- helpers ------------------------------------------------------------------------------

    def _api_get(self, path: str) -> tuple[int, str]:
        lay = self.layout
        return waits.https_get(
            lay.server_url + path,
            lay.pki / "ca.crt",
            lay.pki / "admin.crt",
            lay.pki / "admin.key",
            timeout=3,
        )

    def _node_state(self) -> str:
        code, body = self._api_get(f"/api/v1/nodes/{self.layout.node_name}")
        if code != 200:
            return f"not registered ({code})"
        try:
            conds = json.loads(body).get("status", {}).get("conditions", [])
        except ValueError:
            return "unreadable node object"
        ready = next((c for c in conds if c.get("type") == "Ready"), None)
        if ready and ready.get("status") == "True":
            return "Ready"
        return f"NotReady: {(ready or {}).get('message', 'no Ready condition yet')}"[:200]

    @property
    def _booted_marker(self) -> Path:
        """Written when an ``up`` finished; a half-finished boot is never reused as healthy."""
        return self.layout.state / "booted.json"

    def _healthy(self) -> bool:
        """Booted by a finished ``up`` with the same cluster-DNS choice, and everything runs."""
        lay = self.layout
        try:
            booted = json.loads(self._booted_marker.read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(booted, dict) or booted.get("cluster_dns", False) != self.cluster_dns:
            return False
        if not all(procs.running(d) for d in components.daemons(lay)):
            return False
        if not lay.admin_kubeconfig.is_file() or not lay.restricted_kubeconfig.is_file():
            return False
        code, _ = self._api_get("/readyz")
        return code == 200 and self._node_state() == "Ready"

    def _kubectl(
        self, args: list[str], stdin: str | None = None, check: bool = True
    ) -> host.Result:
        lay = self.layout
        argv = [
            str(lay.bin_dir / "kubectl"),
            f"--kubeconfig={lay.admin_kubeconfig}",
            f"--cache-dir={lay.state / 'kubectl-cache'}",  # not ~/.kube/cache
            *args,
        ]
        return host.run(
            argv, input=stdin, timeout=120, what=f"kubectl {' '.join(args[:2])}", check=check
        )

    def _ctr(self, args: list[str]) -> host.Result:
        return ctrimages.ctr(self.layout.containerd_socket, args, timeout=60)

    def _remove_containers(self) -> None:
        """Kill and delete every container (pods and sandboxes) in our containerd."""
        tasks = self._ctr(["tasks", "ls", "-q"]).stdout.split()
        for task in tasks:
            self._ctr(["tasks", "kill", "-a", "-s", "SIGKILL", task])
        for task in tasks:
            self._ctr(["tasks", "delete", "-f", task])
        for container in self._ctr(["containers", "ls", "-q"]).stdout.split():
            self._ctr(["containers", "delete", container])

    def _kill_leftover_containers(self, snap: dict | None) -> None:
        """After containerd is gone: end our shims (matched by our socket) and pod processes."""
        sock = str(self.layout.containerd_socket)
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

    def _load_snapshot(self) -> dict | None:
        try:
            return json.loads(self.layout.host_snapshot.read_text())
        except (OSError, ValueError):
            return None


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


def _lock_holder(path: Path) -> str:
    """`` (pid N: up, for 3m05s)`` from the lock's holder note, when that process still runs."""
    try:
        note = json.loads(path.with_suffix(".holder").read_text())
        ident = procs.ProcessIdentity(**note["process"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if not ident.alive():
        return ""
    since = duration(time.time() - float(note.get("since", time.time())))
    return f" (pid {ident.pid}: {note.get('command', '?')}, for {since})"


def _record_lock_holder(path: Path) -> None:
    """Note who holds the lock, so a waiting ``up`` can say whom it waits for."""
    ident = procs.identify(os.getpid())
    if ident is None:
        return
    note = {
        "process": ident.to_json(),
        "command": " ".join(sys.argv[:3])[:120],
        "since": time.time(),
    }
    with contextlib.suppress(OSError):
        path.with_suffix(".holder").write_text(json.dumps(note))


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


def _image_name(ref: str) -> str:
    """``localhost/pyodo/pause:3.10`` -> ``pause`` (the name ``ensure_images`` takes)."""
    return ref.rsplit("/", 1)[-1].split(":", 1)[0]


def _with_namespace(kubeconfig_text: str, namespace: str) -> str:
    import yaml

    doc = yaml.safe_load(kubeconfig_text)
    for ctx in doc["contexts"]:
        ctx["context"]["namespace"] = namespace
    return yaml.safe_dump(doc, sort_keys=False)
