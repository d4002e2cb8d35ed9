"""Driving ``doit dev`` (``python -m pyodo_tasks.dev``) from outside, as a user does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import State, Status, status_name


class DevProcess:
    """One ``doit dev`` subprocess on a component directory, in a namespace."""

    def __init__(
        self, path: Path, name: str, namespace: str, kube: Kube, log: Path, *extra: str
    ) -> None:
        """``extra``: more arguments for ``doit dev`` (e.g. ``-v``)."""
        self.path, self.name, self.namespace, self.kube, self.log = path, name, namespace, kube, log
        env = dict(os.environ)
        for var in ("PYODO_NAMESPACE", "PYODO_CONTEXT"):
            env.pop(var, None)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pyodo_tasks.dev",
                    str(path),
                    "--namespace",
                    namespace,
                    "--seconds",
                    "3600",
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def status(self) -> Status | None:
        obj = self.kube.get("ConfigMap", status_name(self.name))
        return Status.from_data(obj["data"]) if obj and obj.get("data") else None

    def wait_running(self, timeout: float = 300.0) -> Status:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"doit dev exited {self.proc.returncode}: {self.tail()}")
            status = self.status()
            if status and status.state is State.RUN_COMMAND_RUNNING and status.ports:
                return status
            time.sleep(0.2)
        raise RuntimeError(f"doit dev did not reach RunCommandRunning: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def answer(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode().strip()
    except OSError:
        return ""


def wait_answer(
    url: str, expected: str, since: float, timeout: float = 30.0, poll: float = 0.01
) -> float:
    """Seconds from ``since`` until ``url`` answers ``expected`` (polled every ``poll`` s)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = answer(url)
        if seen == expected:
            return time.monotonic() - since
        time.sleep(poll)
    raise RuntimeError(f"{url} answered {seen!r}, not {expected!r}, after {timeout:g}s")
