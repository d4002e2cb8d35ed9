"""The one way the test bed runs a host command: list arguments, a mandatory timeout, and an
error that keeps the tail of the output.

Why one runner: host work (apt, go, debootstrap, openssl, iptables, ctr, kubectl) fails in ways a
user must be able to read in one message, and a command that hangs must not hang ``up``. Every
call names what it was doing (``what``), so the error reads "installing containerd: `apt-get
install ...` exited 100" followed by the last lines of output. ``on_line`` streams merged output
line by line (progress for long builds); ``log`` appends it to a file.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyodo_tasks.errors import ClusterSetupError

__all__ = ["HostCommandError", "Result", "run"]

#: Lines of output kept in an error message.
TAIL_LINES = 25


@dataclass(frozen=True)
class Result:
    """A finished command: ``stdout`` (merged with stderr when streamed), ``stderr``."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class HostCommandError(ClusterSetupError):
    """A host command failed, timed out or is not installed; the message has its output tail."""

    def __init__(
        self, what: str, args: list[str], problem: str, output: str = "", returncode: int = -1
    ) -> None:
        self.what = what
        self.args_ = args
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        message = f"{what}: `{' '.join(args[:6])}{' ...' if len(args) > 6 else ''}` {problem}"
        super().__init__(message + (f"\n{tail}" if tail else ""))


def _argv(args: Sequence[str | os.PathLike[str]]) -> list[str]:
    return [os.fspath(a) for a in args]


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Result:
    """Run ``args`` (no shell) and wait at most ``timeout`` seconds.

    ``env`` is added to this process's environment. With ``log`` or ``on_line`` the output is
    streamed (stderr merged into stdout, and only the last lines kept in the result: the log
    has the rest); otherwise both are captured separately. Raises
    :class:`HostCommandError` when the program is missing, the timeout passes (the process
    group is killed) or, with ``check``, the exit status is not 0.
    """
    full_env = None if env is None else {**os.environ, **env}
    call = _Call(_argv(args), timeout, what, cwd, full_env)
    if log is None and on_line is None:
        return _captured(call, input, check)
    return _streamed(call, check, log, on_line)


@dataclass(frozen=True)
class _Call:
    """One command as :func:`run` was given it: what both ways of running it start from."""

    argv: list[str]
    timeout: float
    what: str
    cwd: Path | None
    env: dict[str, str] | None

    def popen(self, stdin: Any, stderr: int) -> subprocess.Popen[str]:
        """Start it with stdout piped, in a session of its own, so a timeout can end it with
        its children (apt-get's dpkg, go's compilers) by killing the process group."""
        try:
            return subprocess.Popen(
                self.argv,
                text=True,
                errors="replace",
                start_new_session=True,
                cwd=self.cwd,
                env=self.env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        except FileNotFoundError as exc:
            raise self.error(f"cannot run: {self.argv[0]} is not installed") from exc

    def error(self, problem: str, output: str = "", returncode: int = -1) -> HostCommandError:
        return HostCommandError(self.what, self.argv, problem, output, returncode)


def _captured(call: _Call, input: str | None, check: bool) -> Result:
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    proc = call.popen(stdin, subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(input, timeout=call.timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        stdout, stderr = _leftover_output(proc)
        raise call.error(f"did not finish within {call.timeout:g}s", stdout + stderr) from exc
    except BaseException:  # Ctrl-C: its own session did not get the SIGINT; end it too
        _kill_group(proc)
        proc.wait()
        raise
    result = Result(call.argv, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise call.error(f"exited {proc.returncode}", result.output, proc.returncode)
    return result


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _leftover_output(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """What a killed process had written; bounded, in case something outside its group still
    holds the pipes open."""
    try:
        stdout, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "", ""
    return stdout or "", stderr or ""


def _streamed(
    call: _Call, check: bool, log: Path | None, on_line: Callable[[str], None] | None
) -> Result:
    proc = call.popen(subprocess.DEVNULL, subprocess.STDOUT)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _kill_group(proc)

    watchdog = threading.Timer(call.timeout, kill)
    watchdog.daemon = True
    watchdog.start()
    lines: list[str] = []
    log_file = log.open("a", encoding="utf-8") if log is not None else None
    try:
        if log_file is not None:
            log_file.write(f"\n$ {shlex.join(call.argv)}\n")
            log_file.flush()
        for line in proc.stdout or ():
            lines.append(line)
            del lines[: -TAIL_LINES * 4]
            if log_file is not None:
                log_file.write(line)
                log_file.flush()
            if on_line is not None:
                on_line(line.rstrip("\n"))
        returncode = proc.wait()
    except BaseException:
        kill()
        proc.wait()
        raise
    finally:
        watchdog.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
        if log_file is not None:
            log_file.close()
    output = "".join(lines)
    if timed_out.is_set():
        raise call.error(f"did not finish within {call.timeout:g}s", output)
    if check and returncode != 0:
        raise call.error(f"exited {returncode}", output, returncode)
    return Result(call.argv, returncode, output, "")
