"""What a sync and a push did: frozen results, in a leaf module so that the push workflow
(:mod:`.component`) and the delivery paths (:mod:`.delivery`) both import them without importing
each other."""

from __future__ import annotations

from dataclasses import dataclass

from pyodo_tasks.core.index import Changes

__all__ = ["PushResult", "SyncResult"]


@dataclass(frozen=True)
class SyncResult:
    """What a sync sent. ``changes`` is empty when nothing had to move."""

    changes: Changes
    pod: str
    digest: str
    bytes_sent: int = 0


@dataclass(frozen=True)
class PushResult:
    """What a push did: the objects it applied, what its sync sent, whether it built."""

    applied: tuple[str, ...]
    sync: SyncResult
    built: bool

    @property
    def pod(self) -> str:
        """The pod pushed to: the one the sync went into, named once (in ``sync``)."""
        return self.sync.pod
