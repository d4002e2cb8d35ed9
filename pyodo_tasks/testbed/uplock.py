"""One ``up``/``down`` of the local cluster at a time across processes, and who holds it.

pytest workers, the CLI and doit may all ask for the cluster at once; the second waits (an ``up``
may include a cold Kubernetes build) and says which process it waits for, from the note the
holder leaves next to the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from pyodo_tasks.errors import WaitTimeout
from pyodo_tasks.testbed import procs
from pyodo_tasks.testbed.progress import Progress, duration

#: An ``up`` may include a cold Kubernetes build (~20 min on 2 cores); waiters get that long.
LOCK_TIMEOUT = 3600.0


def up_down_lock(state: Path, progress: Progress) -> contextlib.AbstractContextManager[object]:
    """The lock next to the state dir ``state``, held for the ``with`` block."""
    path = state.with_name(state.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))

    @contextlib.contextmanager
    def held() -> Iterator[object]:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = _lock_holder(path)
            with progress.phase(f"waiting for another up/down to finish{holder}"):
                try:
                    lock.acquire(timeout=LOCK_TIMEOUT)
                except Timeout as exc:
                    raise WaitTimeout(f"another up/down to release {path}", LOCK_TIMEOUT) from exc
        _record_lock_holder(path)
        try:
            yield lock
        finally:
            path.with_suffix(".holder").unlink(missing_ok=True)
            lock.release()

    return held()


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
