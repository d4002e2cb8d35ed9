"""One ``doit dev`` per component and target on this machine.

Two loops on one component fight: each syncs, builds and restarts the app on its own events,
each rewrites the status the other just wrote, and each forwards the same endpoints. The second
``doit dev`` therefore refuses at once, naming the process that runs (the first one's status
and forwards are the ones to use). The lock is an OS file lock (``flock``) beside the index, in
the component's state directory: the kernel drops it when its process ends, however it ends,
so a SIGKILLed session never leaves a stale lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from pyodo_tasks.errors import DevAlreadyRunning

__all__ = ["SessionLock"]


class SessionLock:
    """Held for the whole session: ``acquire`` raises :class:`DevAlreadyRunning` at once when
    another session holds it; ``release`` is idempotent."""

    def __init__(self, state_dir: Path, key: str, where: str) -> None:
        self.path = state_dir / f"dev-{key}.lock"
        self.owner = state_dir / f"dev-{key}.owner"
        self.where = where
        self._lock = FileLock(os.fspath(self.path))

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout as exc:
            raise DevAlreadyRunning(
                f"doit dev already runs for this component in {self.where} "
                f"({self._holder()}); use its status and forwards, or stop it (Ctrl-C) first"
            ) from exc
        self.owner.write_text(f"pid {os.getpid()}\n")

    def _holder(self) -> str:
        try:
            return self.owner.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        if self._lock.is_locked:
            self.owner.unlink(missing_ok=True)
            self._lock.release()
