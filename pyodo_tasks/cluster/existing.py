"""The ``kubeconfig`` provider: an existing cluster reached through a kubeconfig.

It creates and deletes nothing. The kubeconfig is found with kubectl's precedence (explicit
path > ``KUBECONFIG`` > ``~/.kube/config``); ``context`` overrides the current context.
Images are loaded by nothing pyodo controls on a foreign cluster, so :meth:`load_image` says so.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from pyodo_tasks.cluster import kubeconfig as kc
from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.core.kube.target import kubeconfig_paths, load_merged, pick_context
from pyodo_tasks.errors import ClusterError, ConfigError


class KubeconfigProvider(Provider):
    """Connect to whatever cluster a kubeconfig points at."""

    name = "kubeconfig"

    def __init__(
        self,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        restricted_kubeconfig: str | os.PathLike[str] | None = None,
        restricted_namespace: str | None = None,
    ) -> None:
        self._explicit = kubeconfig
        self._context = context
        self._restricted = Path(restricted_kubeconfig) if restricted_kubeconfig else None
        self._restricted_ns = restricted_namespace

    def files(self) -> list[Path]:
        """Kubeconfig files in kubectl's precedence order."""
        return kubeconfig_paths(self._explicit)

    @property
    def kubeconfig(self) -> Path:
        """One file to hand to clients: the file itself, or a merged copy for multi-file
        ``KUBECONFIG`` values (clients such as the Python one read only one file)."""
        files = self.files()
        if len(files) == 1:
            return files[0]
        merged = load_merged(files)
        out = Path(tempfile.gettempdir()) / f"pyodo-merged-{os.getuid()}.kubeconfig"
        return kc.write(out, yaml.safe_dump(merged, sort_keys=False))

    def context(self) -> str:
        files = self.files()
        if not files[0].is_file():
            raise ConfigError(
                f"kubeconfig {files[0]} does not exist (pass a path, set KUBECONFIG, "
                "or create ~/.kube/config)"
            )
        return pick_context(load_merged(files), self._context)

    def up(self) -> ClusterInfo:
        path = self.kubeconfig
        ctx = self.context()
        merged = load_merged([path])
        cluster_name = next(
            (c["context"].get("cluster") for c in merged["contexts"] if c.get("name") == ctx), ""
        )
        server = next(
            (
                c["cluster"].get("server", "")
                for c in merged["clusters"]
                if c.get("name") == cluster_name
            ),
            "",
        )
        return ClusterInfo(
            provider=self.name,
            name=cluster_name or ctx,
            kubeconfig=path,
            context=ctx,
            server=server,
            restricted_kubeconfig=self._restricted,
            restricted_namespace=self._restricted_ns,
        )

    def load_image(self, archive: ImageArchiveLike) -> None:
        raise ClusterError(
            f"cannot load {archive.ref} into an existing cluster: push it to a registry the "
            "cluster can pull from, or use the `local` or `kind` provider"
        )

    def down(self) -> None:
        """Nothing to delete: this provider never created the cluster."""

    def status(self) -> ClusterStatus:
        """Ask the API server for its version (5 s timeout) through the chosen context."""
        try:
            info = self.up()
        except ConfigError as exc:
            return ClusterStatus(self.name, False, {}, str(exc))
        comps = {"context": info.context, "server": info.server}
        from pyodo_tasks.core.kube import Kube, ResolvedTarget

        target = ResolvedTarget(str(info.kubeconfig), info.context, "default")
        try:
            with Kube(target) as kube:
                comps["version"] = kube.version(timeout=5)
            running = True
        except Exception as exc:  # status never raises: any failure means "not running"
            comps["error"] = str(exc).splitlines()[0][:200]
            running = False
        return ClusterStatus(self.name, running, comps, f"kubeconfig {info.kubeconfig}")
