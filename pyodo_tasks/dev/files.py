"""Which file events count, and the watcher thread that reports them.

Two stages, because they answer different questions at different costs:

1. :class:`WatchFilter` runs in watchfiles for every raw event and drops what can never be part
   of a sync by name alone: ``.git``, pyodo's state directory (the index and doit's database are
   rewritten by every sync — watching them would make each sync trigger the next), and doit's
   ``.doit.db*`` files.
2. :func:`relevant_paths` decides the rest with the *index's own* rules, so the loop reacts to
   exactly what a push would send: after a debounced batch the tree is re-scanned — only the
   batch's paths (:func:`tree_paths`, :class:`~pyodo_tasks.core.rescan.LiveTree`), which walks
   a named directory whole, so watchfiles reporting ``mkdir -p`` plus the files written inside
   it only as the directory is covered (samuelcolvin/watchfiles#245) — and a changed path
   counts when it is in the snapshot before or after the batch (created, modified, deleted,
   renamed away). An ignored file is in neither.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

import watchfiles

from pyodo_tasks.core.index import ALWAYS_SKIP, DOIT_DB
from pyodo_tasks.failures import log_bug

__all__ = [
    "DEBOUNCE_MS",
    "STEP_MS",
    "SourceWatcher",
    "WatchFilter",
    "own_output_files",
    "relevant_paths",
    "tree_paths",
]

log = logging.getLogger(__name__)

#: Longest time changes are grouped (FINDINGS: 100-200 ms keeps saves from several editors'
#: write-rename dances in one batch without feeling slow).
DEBOUNCE_MS = 150
#: Quiet time that ends a batch early; watchfiles yields after this much silence. 50 ms put a
#: median ~100 ms between a save and its batch; 15 ms ~20 ms (FINDINGS), and an editor's
#: write-then-rename that straddles two batches costs only a no-op second scan.
STEP_MS = 15

Batch = set[tuple[watchfiles.Change, str]]


class WatchFilter(watchfiles.BaseFilter):
    """Drop events under ``.git``/``.pyodo``/the state dir, doit's database files and the
    ``exclude`` files (the loop's own output)."""

    ignore_dirs = tuple(sorted(ALWAYS_SKIP))

    def __init__(self, state_dir: Path | None = None, exclude: Iterable[Path] = ()) -> None:
        super().__init__()
        self._state_dir = os.fspath(state_dir.resolve()) if state_dir is not None else None
        self._exclude = frozenset(os.fspath(Path(p).resolve()) for p in exclude)

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if self._state_dir and (
            path == self._state_dir or path.startswith(self._state_dir + os.sep)
        ):
            return False
        if path in self._exclude or DOIT_DB.match(os.path.basename(path)):
            return False
        return super().__call__(change, path)


def own_output_files(fds: Iterable[int] = (1, 2)) -> tuple[Path, ...]:
    """The regular files this process's stdout and stderr write to (``doit dev > dev.log``).

    The loop must never sync them: each line it prints would change the tree, trigger a sync
    and print another line — an endless sync-build-restart cycle. Found from the open file
    (``fstat``, then ``/proc/self/fd``), so any redirection counts, whatever its name.
    """
    found: list[Path] = []
    for fd in fds:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue  # a terminal, pipe or /dev/null
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed, or no /proc: nothing we can name
        if target.startswith("/") and not target.endswith(" (deleted)"):
            found.append(Path(target))
    return tuple(dict.fromkeys(found))


def relevant_paths(
    changed: Iterable[str], root: Path, before: Collection[str], after: Collection[str]
) -> list[str]:
    """The changed paths a sync would act on, as sorted POSIX paths relative to ``root``.

    ``before``/``after`` are the indexed paths (snapshot keys) around the batch. ``changed``
    holds absolute paths as watchfiles reports them; ``root`` must be resolved the same way.
    """
    return sorted({rel for rel in _inside(changed, root) if rel in before or rel in after})


def tree_paths(changed: Iterable[str], root: Path) -> list[str] | None:
    """The changed paths under ``root`` relative to it, what a rescan is told; None when the
    root itself is named (a watcher that lost track: only a full scan can tell what moved)."""
    found = list(_inside(changed, root, keep_root=True))
    return None if "" in found else found


def _inside(changed: Iterable[str], root: Path, keep_root: bool = False) -> Iterator[str]:
    """``changed`` (absolute, as watchfiles reports them) under ``root`` as relative POSIX
    paths; the root itself as ``""`` when ``keep_root``."""
    for path in changed:
        try:
            rel = Path(path).relative_to(root).as_posix()
        except ValueError:
            continue  # outside the component (e.g. a watched devfile elsewhere)
        if rel in (".", ""):
            if keep_root:
                yield ""
            continue
        yield rel


class SourceWatcher(threading.Thread):
    """Reports debounced change batches under ``root`` to ``on_batch`` until ``stop`` is set.

    A daemon thread: the process never waits on it beyond the bounded join in :meth:`stop`.
    ``on_batch`` runs in this thread; an exception there is logged and watching goes on.
    """

    def __init__(
        self,
        root: Path,
        on_batch: Callable[[Batch], None],
        stop: threading.Event,
        *,
        state_dir: Path | None = None,
        exclude: Iterable[Path] = (),
        debounce_ms: int = DEBOUNCE_MS,
        step_ms: int = STEP_MS,
        force_polling: bool | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="pyodo-dev-files", daemon=True)
        self.root = root.resolve()
        self.on_batch = on_batch
        self._halt = stop
        self._filter = WatchFilter(state_dir, exclude)
        self._debounce = debounce_ms
        self._step = step_ms
        self._force_polling = force_polling
        #: Called once the watch has been installed for a while (its first idle tick): the
        #: caller re-scans then, so an edit made between its first scan and the watch being
        #: installed is not missed.
        self.on_ready = on_ready
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            for changes in watchfiles.watch(
                self.root,
                watch_filter=self._filter,
                debounce=self._debounce,
                step=self._step,
                stop_event=self._halt,
                rust_timeout=1000,
                yield_on_timeout=True,
                raise_interrupt=False,
                force_polling=self._force_polling,
            ):
                if not self.ready.is_set():
                    self.ready.set()
                    if self.on_ready is not None:
                        self._call(self.on_ready)
                if not changes:
                    continue  # the idle tick: lets us notice stop and mark ready
                self._call(self.on_batch, changes)
        finally:
            self.ready.set()

    @staticmethod
    def _call(func: Callable[..., None], *args: object) -> None:
        try:
            func(*args)
        except Exception as exc:  # a bad batch must not end the watch
            log_bug(log, "handling file changes", exc)

    def stop(self, timeout: float = 3.0) -> None:
        self._halt.set()
        self.join(timeout)
