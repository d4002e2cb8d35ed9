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

:class:`LocalProvider` is the lifecycle; each step's work lives in a module of its own:
:mod:`.uplock` (one ``up``/``down`` at a time), :mod:`.localimages` (building and importing the
images), :mod:`.localfiles` (PKI, configs, kubeconfigs), :mod:`.localboot` (daemons in order,
the node, a smoke pod, CoreDNS), :mod:`.localapi` (the apiserver and kubectl as the admin) and
:mod:`.localdown` (stopping everything and restoring the host).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ClusterError
from pyodo_tasks.testbed import (
    components,
    ctrimages,
    debs,
    gobuild,
    hostclean,
    localapi,
    localboot,
    localdown,
    localfiles,
    localimages,
    manifests,
    procs,
    settings,
    uplock,
)
from pyodo_tasks.testbed.layout import Layout
from pyodo_tasks.testbed.localfiles import CONTEXT
from pyodo_tasks.testbed.progress import Progress, as_progress
from pyodo_tasks.testbed.versions import KUBERNETES_VERSION


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
        self.layout = layout or Layout(version=version)
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
        return uplock.up_down_lock(self.layout.state, self._progress)

    def up(self) -> ClusterInfo:
        with self._lock():
            return self._up()

    def down(self) -> None:
        with self._lock(), self._progress.phase("stopping the cluster and restoring the host"):
            localdown.down(self.layout)

    def _up(self) -> ClusterInfo:
        lay = self.layout
        self._progress("checking Debian packages")
        debs.ensure_packages()
        gobuild.ensure_kube_binaries(lay.version, self._progress)
        archives = localimages.image_archives(lay, self.images, self.cluster_dns, self._progress)
        if self._healthy():
            localimages.import_images(lay, archives, self._progress)
            return self.info()
        with self._progress.phase("clearing leftovers of an earlier run"):
            localdown.down(lay)
        try:
            self._boot(archives)
        except BaseException:
            # Never leave a half-booted cluster behind: stop every daemon this up started and
            # put the host back. The daemon logs stay (outside the state dir) for the error.
            self._progress(f"up failed; stopping what it started (logs kept in {lay.logs})")
            try:
                with self._progress.phase("stopping the cluster and restoring the host"):
                    localdown.down(lay)
            except Exception as exc:  # the boot failure is the error to report
                self._progress(f"clean-up after the failed up failed too: {exc}")
            raise
        return self.info()

    def _boot(self, archives: list[ImageArchiveLike]) -> None:
        """Boot from a cleared host: files, host settings, daemons in order, a smoke pod."""
        lay = self.layout
        hostclean.save_snapshot_once(lay.host_snapshot)
        localfiles.prepare_files(lay, self.cluster_dns, self._progress)
        localboot.prepare_host(lay)
        boot = localboot.Boot(lay, self._progress, time.monotonic() + self.boot_timeout)
        boot.start_etcd()
        boot.start_containerd()
        # Containers a killed run left in containerd's (cached) metadata: gone before kubelet.
        localdown.remove_containers(lay)
        localimages.import_images(lay, archives, self._progress)
        boot.start_apiserver()
        boot.start_the_rest()
        self._progress("creating namespace, RBAC and StorageClass")
        bootstrap = manifests.dump_all(manifests.bootstrap_objects())
        localapi.kubectl(lay, ["apply", "-f", "-"], stdin=bootstrap)
        boot.wait_node_ready()
        boot.put_loopback_nat_first()
        boot.smoke_pod()
        if self.cluster_dns:
            boot.start_cluster_dns()
        self._booted_marker.write_text(
            json.dumps({"version": lay.version, "at": time.time(), "cluster_dns": self.cluster_dns})
        )

    def load_image(self, archive: ImageArchiveLike) -> None:
        if procs.running(components.containerd(self.layout)) is None:
            raise ClusterError(
                "the local cluster is not running; run `python -m pyodo_tasks.cluster up`"
            )
        record = localimages.image_record(self.layout)
        ctrimages.import_archive(self.layout.containerd_socket, archive, record)

    def status(self) -> ClusterStatus:
        lay = self.layout
        comps = {
            d.name: (f"running (pid {pid})" if (pid := procs.running(d)) else "stopped")
            for d in components.daemons(lay)
        }
        running = False
        detail = ""
        if lay.admin_kubeconfig.is_file() and (lay.pki / "admin.crt").is_file():
            code, body = localapi.api_get(lay, "/readyz")
            running = code == 200
            comps["apiserver /readyz"] = body.strip()[:60] if code else f"unreachable: {body}"
            if running:
                comps["node"] = localapi.node_state(lay)
        else:
            detail = "not booted (no admin kubeconfig)"
        return ClusterStatus(self.name, running, comps, detail)

    # -- reuse --------------------------------------------------------------------------------

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
        code, _ = localapi.api_get(lay, "/readyz")
        return code == 200 and localapi.node_state(lay) == "Ready"
