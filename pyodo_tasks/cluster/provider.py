"""The one small interface every cluster provider implements.

Tests, the CLI and the doit tasks only talk to :class:`Provider`; whether the cluster is an
existing one (``kubeconfig``), a kind cluster or the local single-node cluster is an option.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class ImageArchiveLike(Protocol):
    """What a provider needs of ``pyodo_tasks.testbed.images.ImageArchive``: a ref and a tarball."""

    @property
    def ref(self) -> str: ...

    @property
    def path(self) -> Path: ...


@dataclass(frozen=True)
class ClusterInfo:
    """How to reach a cluster.

    ``kubeconfig``/``context``: admin access. ``restricted_kubeconfig``: a user confined to
    ``restricted_namespace`` by a Role (None when the provider has no such user).
    ``kubectl``: a kubectl binary matching the server, when the provider built one.
    """

    provider: str
    name: str
    kubeconfig: Path
    context: str
    server: str = ""
    restricted_kubeconfig: Path | None = None
    restricted_namespace: str | None = None
    kubectl: Path | None = None


@dataclass(frozen=True)
class ClusterStatus:
    """``running`` is True when the API answers; ``components`` maps part -> short state."""

    provider: str
    running: bool
    components: dict[str, str] = field(default_factory=dict)
    detail: str = ""


class Provider(ABC):
    """Create or connect to a cluster, hand out its kubeconfig, load images, delete it."""

    #: Short name used by :func:`pyodo_tasks.cluster.get_provider` and the CLI (the provider's
    #: entry point in the group ``pyodo.providers`` bears the same name).
    name: str = ""

    @classmethod
    def planned_context(cls) -> str | None:
        """The context :meth:`up` will return with the default options, known without building,
        booting or contacting anything; None when only :meth:`up` knows it."""
        return None

    @abstractmethod
    def up(self) -> ClusterInfo:
        """Create (or reuse) the cluster; return only once a pod can run. Idempotent."""

    @property
    @abstractmethod
    def kubeconfig(self) -> Path:
        """Path of the admin kubeconfig (may not exist before :meth:`up`)."""

    @abstractmethod
    def load_image(self, archive: ImageArchiveLike) -> None:
        """Make a locally built image (docker-archive tarball) runnable in the cluster."""

    @abstractmethod
    def down(self) -> None:
        """Delete what :meth:`up` created. Idempotent."""

    @abstractmethod
    def status(self) -> ClusterStatus:
        """Report whether the cluster runs, without changing anything."""
