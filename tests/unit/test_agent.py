"""The resident agent (``supervisor agent``) driven by :class:`AgentSession` over local pipes.

The real Go binary, built here (skipped without Go); only the transport differs from the
cluster's (a subprocess's stdin/stdout instead of an exec websocket).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyodo_tasks.core.agent import AgentSession, AgentUnavailable, prefetch
from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.tarball import build_tar
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.images.stage import build_supervisor


class ProcessPipe:
    """A subprocess's pipes behind the same interface as the exec websocket."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.out: queue.Queue[tuple[int, bytes]] = queue.Queue()
        for channel, stream in ((1, self.proc.stdout), (2, self.proc.stderr)):
            threading.Thread(target=self._pump, args=(channel, stream), daemon=True).start()

    def _pump(self, channel: int, stream) -> None:
        with stream:
            for data in iter(lambda: stream.read1(65536), b""):
                self.out.put((channel, data))
        if channel == 1:
            self.out.put((3, b"exited"))

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        try:
            return self.out.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        if not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def supervisor_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agent") / "supervisor"
    try:
        build_supervisor(out)
    except ClusterSetupError as exc:
        pytest.skip(f"cannot build the supervisor: {exc}")
    return out


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "supervisor.conf"
    path.write_text(f"program = /bin/true\nsocket = {tmp_path}/run/s.sock\nstartsecs = 0.2\n")
    return path


@pytest.fixture
def agent(supervisor_bin: Path, conf: Path, tmp_path: Path) -> Iterator[AgentSession]:
    build = tmp_path / "build.sh"
    build.write_text("#!/bin/sh\necho building in $PWD\necho oops >&2\nexit ${BUILD_EXIT:-0}\n")
    build.chmod(0o755)
    session = AgentSession(ProcessPipe([str(supervisor_bin), "agent", "-c", str(conf), str(build)]))
    yield session
    session.close()


def _tree(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.txt").write_text("alpha\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks
    (root / "link").symlink_to("pkg/a.txt")


def _send(agent: AgentSession, src: Path, dest: Path, **kw):
    index = FileIndex(src, state_dir=src.parent / "state")
    changes, snapshot = index.changes()
    result = agent.request(
        dest=str(dest),
        mkdir=True,
        delete=changes.to_delete(),
        chunks=prefetch(build_tar(src, changes.to_send(), snapshot)),
        **kw,
    )
    if result.code == 0:
        index.commit(snapshot)
    return changes, result


@pytest.mark.host  # builds the supervisor with Go
def test_one_request_deletes_extracts_and_keeps_modes_links_and_content(
    agent: AgentSession, tmp_path: Path
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    _tree(src)
    _, result = _send(agent, src, dest)
    assert result.code == 0 and result.error == ""
    assert (dest / "pkg" / "a.txt").read_text() == "alpha\n"
    assert (dest / "blob.bin").read_bytes() == (src / "blob.bin").read_bytes()
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert os.readlink(dest / "link") == "pkg/a.txt"
    assert int((dest / "pkg" / "a.txt").stat().st_mtime) == int(
        (src / "pkg" / "a.txt").stat().st_mtime
    )

    # the same session takes the next change set: an edit, a deletion, a file replacing a dir
    (src / "pkg" / "a.txt").write_text("beta\n")
    (src / "blob.bin").unlink()
    changes, result = _send(agent, src, dest)
    assert changes.to_delete() == ("blob.bin",)
    assert result.code == 0
    assert (dest / "pkg" / "a.txt").read_text() == "beta\n"
    assert not (dest / "blob.bin").exists()
    assert not [p for p in dest.rglob(".pyodo-*")]  # no temporary files left


@pytest.mark.host  # builds the supervisor with Go
def test_paths_leaving_the_destination_are_refused_and_the_stream_stays_usable(
    agent: AgentSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "precious").write_text("keep")
    result = agent.request(dest=str(dest), delete=["../precious"])
    assert result.code == 1 and "not a relative path" in result.error
    assert (tmp_path / "precious").exists()
    (dest / "gone").write_text("x")
    assert agent.request(dest=str(dest), delete=["gone"]).code == 0
    assert not (dest / "gone").exists()


@pytest.mark.host  # builds the supervisor with Go
def test_build_output_streams_and_its_exit_code_comes_back(
    supervisor_bin: Path, conf: Path, tmp_path: Path
) -> None:
    build = tmp_path / "fail.sh"
    build.write_text("#!/bin/sh\necho step one\necho broken >&2\nexit 3\n")
    build.chmod(0o755)
    session = AgentSession(ProcessPipe([str(supervisor_bin), "agent", "-c", str(conf), str(build)]))
    lines: list[str] = []
    try:
        result = session.request(
            dest=str(tmp_path / "d"), mkdir=True, build=True, on_output=lines.append
        )
    finally:
        session.close()
    assert result.code == 3
    assert lines == ["step one", "broken"]
    assert result.build_ms >= result.sync_ms


@pytest.mark.host  # builds the supervisor with Go
def test_serving_is_reported_once_the_restarted_app_accepts(
    supervisor_bin: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = tmp_path / "app"
    app.write_text(
        f"#!/bin/sh\nsleep 0.3\nexec {sys.executable} -m http.server {port} --bind 127.0.0.1\n"
    )
    app.chmod(0o755)
    conf = tmp_path / "supervisor.conf"
    conf.write_text(
        f"program = {app}\nsocket = {tmp_path}/run/s.sock\nstartsecs = 1.5\nstopsecs = 3\n"
    )
    daemon = subprocess.Popen([str(supervisor_bin), "-c", str(conf)], stderr=subprocess.DEVNULL)
    build = tmp_path / "restart.sh"
    build.write_text(f"#!/bin/sh\nexec {supervisor_bin} ctl -c {conf} restart\n")
    build.chmod(0o755)
    session = AgentSession(ProcessPipe([str(supervisor_bin), "agent", "-c", str(conf), str(build)]))
    seen: list[float] = []
    try:
        result = session.request(
            dest=str(tmp_path / "d"), mkdir=True, build=True, ports=[port], on_serving=seen.append
        )
    finally:
        session.close()
        daemon.terminate()
        daemon.wait(10)
    assert result.code == 0, result.output
    assert len(seen) == 1
    # the app listens ~0.3 s after its start; restart confirms only after startsecs (1.5 s)
    assert 300 <= result.serving_ms < result.build_ms
    assert result.build_ms >= 1500


def test_a_container_without_the_agent_is_reported_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(AgentUnavailable):
        AgentSession(ProcessPipe(["/bin/sh", "-c", "echo no agent here >&2; exit 127"]))
    assert time.monotonic() - started < 5


def test_prefetch_hands_over_the_producers_error() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a"
        raise ValueError("disk gone")

    got = []
    with pytest.raises(ValueError, match="disk gone"):
        for chunk in prefetch(chunks()):
            got.append(chunk)
    assert got == [b"a"]
