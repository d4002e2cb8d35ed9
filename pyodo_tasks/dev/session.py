"""Wiring ``doit dev`` together: watchers in, one reconcile loop, a clean exit.

Threads and who they talk to::

    files (watchfiles) ──> DevClient ──writes──> <name>-pyodo-spec ──watch──┐
    pods (watch, selector) ──────────────────────────────── PodTracker ───┤
    retries (after an error) ──────────────────────────────────────────────┴─> EventQueue
                                                                               │ batches
    main thread:  Controller.reconcile(batch) ──writes──> <name>-pyodo-status ─watch─> display

The main thread runs the loop, so Ctrl-C lands where the work is; SIGTERM is turned into the
same interrupt. A reconcile interrupted half-way is safe to repeat: the index is committed only
after a successful copy and a build is redone until it succeeds.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.devfile import find_devfile
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.core.options import ComponentOptions
from pyodo_tasks.dev.client import DevClient
from pyodo_tasks.dev.controller import Controller
from pyodo_tasks.dev.display import Display, make_display
from pyodo_tasks.dev.events import Event, EventQueue
from pyodo_tasks.dev.files import SourceWatcher, own_output_files
from pyodo_tasks.dev.single import SessionLock
from pyodo_tasks.dev.state import Spec, spec_name, status_name
from pyodo_tasks.dev.watches import PodTracker, ResourceWatch
from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import log_bug

__all__ = ["DevSession", "run_dev"]

log = logging.getLogger(__name__)

#: How long the loop waits for events before checking its deadline and owed spec writes.
TICK = 0.5


class DevSession:
    """One ``doit dev`` run for one component directory, its components made from ``options``
    (with ``debug``, ``--debug``: the pod runs the devfile's debug command and the debug
    endpoint is forwarded, :mod:`pyodo_tasks.core.debugging`)."""

    def __init__(
        self,
        path: Path | str = ".",
        options: ComponentOptions | None = None,
        *,
        display: Display | None = None,
        cleanup: bool = False,
        wait_timeout: float = 300.0,
        watch_timeout: int = 30,
    ) -> None:
        self.path = Path(path)
        self.options = options or ComponentOptions()
        self.cleanup = cleanup
        self.wait_timeout = wait_timeout
        self.watch_timeout = watch_timeout
        #: Where our own stdout/stderr go when they are files: never synced (``> dev.log``).
        self.own_output = own_output_files()
        # Fails here, before anything runs, on an invalid devfile or an unusable target: with no
        # last good spec there is nothing to keep running.
        self.component = self.options.component(self.path, exclude=self.own_output)
        self.kube = self.component.kube
        self.display = display or make_display()
        self.queue = EventQueue()
        self.stop = threading.Event()
        self.client = DevClient(
            self.kube,
            self.component.name,
            find_devfile(self.component.root),
            self.component.index(),
            self.display,
            self.component.context.labels,
            on_published=self._on_published,
        )
        self.controller: Controller | None = None
        self.lock = SessionLock(
            self.component.state_dir,
            self.component.key,
            f"{self.kube.target.context}/{self.kube.namespace}",
        )
        self._threads: list[Any] = []
        self._watch_kube: Kube | None = None

    def _make_component(self) -> Component:
        return self.options.component(self.component.root, kube=self.kube, exclude=self.own_output)

    # -- running -------------------------------------------------------------------------------
    def run(self, seconds: float = 0) -> None:
        """Reconcile until Ctrl-C, SIGTERM or ``seconds`` (0: no bound) pass; then clean up."""
        deadline = time.monotonic() + seconds if seconds else None
        self.lock.acquire()  # before anything is written: the running session's stays whole
        restore = _interrupt_on_signals()
        restore_hook = _report_thread_bugs()
        try:
            self.display.line(
                f"[dev] {self.component.name} in {self.kube.target.context}/"
                f"{self.kube.namespace}; watching {self.component.root}"
            )
            for path in self.own_output:
                if path.is_relative_to(self.component.root.resolve()):
                    self.display.line(f"[dev] not syncing its own output, {path.name}")
            spec = self.client.start()
            self.controller = Controller(
                self.component,
                make_component=self._make_component,
                queue=self.queue,
                display=self.display,
                devfile_digest=spec.devfile_digest,
                republish=self.client.republish,
                wait_timeout=self.wait_timeout,
            )
            self._start_watchers()
            self.queue.put(Event("start"))
            while not self.stop.is_set():
                tick = TICK
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.display.line(f"[dev] stopping after {seconds:g}s")
                        break
                    tick = min(tick, left)
                batch = self.queue.get(tick)
                if batch:
                    self.controller.reconcile(batch)
                else:
                    self.client.flush()
        except KeyboardInterrupt:
            self.display.line("[dev] interrupted, stopping")
        finally:
            try:
                self._shutdown()
            finally:
                restore()
                restore_hook()
                self.lock.release()

    def _start_watchers(self) -> None:
        # Watches get their own connection pool: each holds a long poll open.
        self._watch_kube = Kube(self.kube.target)
        watch_kube, namespace = self._watch_kube, self.kube.namespace
        name = self.component.name
        watches = [
            ResourceWatch(
                "spec",
                watch_kube.list_function("ConfigMap"),
                namespace,
                self._on_spec,
                self.stop,
                field_selector=f"metadata.name={spec_name(name)}",
                timeout_seconds=self.watch_timeout,
                kubeconfig=self.kube.target.kubeconfig,
            ),
            ResourceWatch(
                "pods",
                watch_kube.list_function("Pod"),
                namespace,
                PodTracker(lambda why: self.queue.put(Event("pod", why))),
                self.stop,
                label_selector=self.component.selector,
                timeout_seconds=self.watch_timeout,
                kubeconfig=self.kube.target.kubeconfig,
            ),
            ResourceWatch(
                "status",
                watch_kube.list_function("ConfigMap"),
                namespace,
                self.client.on_status,
                self.stop,
                field_selector=f"metadata.name={status_name(name)}",
                timeout_seconds=self.watch_timeout,
                kubeconfig=self.kube.target.kubeconfig,
            ),
        ]
        files = SourceWatcher(
            self.component.root,
            self.client.on_files,
            self.stop,
            state_dir=self.component.state_dir,
            exclude=self.own_output,
            on_ready=self.client.rescan,
        )
        self._threads = [*watches, files]
        for thread in self._threads:
            thread.start()

    def _on_published(self, spec: Spec, saved_at: float) -> None:
        """The client's new spec goes straight to the loop (the watch's echo is skipped by
        generation): no API write and watch delivery between a save and its reconcile."""
        if self.controller is not None:
            self.queue.put(Event("spec", generation=spec.generation, spec=spec, saved_at=saved_at))

    def _on_spec(self, kind: str, obj: Any) -> None:
        """Spec events carry their generation so the controller can skip its own echoes;
        a deleted or unreadable spec is always reconciled (republished, or reported)."""
        if kind == "DELETED":
            self.queue.put(Event("spec-deleted"))
            return
        try:
            spec = Spec.from_data(obj.data)
        except ValueError as exc:
            self.queue.put(Event("spec-unreadable", str(exc)))
            return
        self.queue.put(Event("spec", generation=spec.generation, spec=spec))

    def _shutdown(self) -> None:
        """Stop watchers, then forwards; keep or delete the component. Each step bounded."""
        self.stop.set()
        self.queue.close()
        for thread in self._threads:
            thread.stop()
        controller = self.controller
        try:
            if self.cleanup:
                component = controller.component if controller else self.component
                if controller is not None:
                    controller.close()
                gone = component.delete()
                self.display.line(f"[dev] deleted {', '.join(gone) or 'nothing'}")
            elif controller is not None:
                controller.stopped()
                self.display.line(
                    f"[dev] stopped; {self.component.name} keeps running (doit delete removes it)"
                )
        except PyodoError as exc:
            self.display.line(f"[dev] cleanup failed: {exc}")
        finally:
            if controller is not None:
                controller.close()
            self.display.close()
            if self._watch_kube is not None:
                self._watch_kube.close()


def run_dev(
    path: Path | str = ".",
    options: ComponentOptions | None = None,
    *,
    seconds: float = 0,
    **session: Any,
) -> None:
    """Run ``doit dev`` for the component at ``path``; see :class:`DevSession` for the rest."""
    DevSession(path, options, **session).run(seconds)


def _report_thread_bugs() -> Any:
    """Route an exception that ends one of the loop's threads through
    :func:`~pyodo_tasks.failures.log_bug` (one line, the traceback on request) instead of
    Python's default hook, which prints the whole traceback; returns a function restoring it."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or not isinstance(args.exc_value, Exception):
            previous(args)
            return
        name = args.thread.name if args.thread is not None else "a thread"
        log_bug(log, f"{name} stopped", args.exc_value)

    threading.excepthook = hook

    def restore() -> None:
        threading.excepthook = previous

    return restore


def _interrupt_on_signals() -> Any:
    """Make SIGINT and SIGTERM stop the loop (KeyboardInterrupt); returns a function restoring
    the previous handlers.

    SIGINT is set explicitly: a process started in the background by a non-interactive shell
    (``doit dev > dev.log &`` in a script) starts with SIGINT ignored, and Python then installs
    no handler, so ``kill -INT`` — what Ctrl-C sends — would do nothing (FINDINGS, "Linux
    process identity"). Signal handlers can only be set from the main thread; elsewhere (an
    embedding app) the caller owns signals and stops us through the ``seconds`` bound.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
