"""The resident agent (``supervisor agent``) driven by :class:`AgentSession` over local pipes.

The real Go binary, built here (skipped without Go); only the transport differs from the
cluster's (a subprocess's stdin/stdout instead of an exec websocket).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyodo_tasks.core.agent import AgentSession, AgentUnavailable, prefetch
from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.tarball import build_tar
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime.binaries import build_supervisor


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
        build_supervisor(out, "amd64")
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


def _tar(entries: list[tuple[str, bytes | str | None, int]]) -> bytes:
    """A tar of (name, content, mode): bytes = file, str = symlink target, None = directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1_600_000_000
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.host  # builds the supervisor with Go
def test_many_files_land_in_archive_order_with_kind_changes_and_repeats(
    agent: AgentSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    (dest / "was_dir" / "deep").mkdir(parents=True)
    (dest / "was_dir" / "deep" / "f").write_text("old")
    (dest / "was_file").write_text("old")
    (dest / "to_link").mkdir()
    (dest / "to_link" / "f").write_text("old")
    entries: list[tuple[str, bytes | str | None, int]] = [("pkg", None, 0o755)]
    entries += [(f"pkg/f{i:04d}", f"content {i}".encode(), 0o644) for i in range(600)]
    entries += [
        ("pkg/twice", b"first", 0o644),
        ("was_dir", b"now a file", 0o600),
        ("was_file", None, 0o700),
        ("was_file/inner", b"inside", 0o444),
        ("to_link", "pkg", 0o777),
        ("big", b"B" * (2 * 1024 * 1024 + 5), 0o755),
        ("pkg/twice", b"second", 0o640),
    ]
    result = agent.request(dest=str(dest), chunks=[_tar(entries)])
    assert result.code == 0, result.error
    assert result.files == len(entries)
    assert [(dest / "pkg" / f"f{i:04d}").read_text() for i in range(600)] == [
        f"content {i}" for i in range(600)
    ]
    assert (dest / "pkg" / "twice").read_text() == "second"
    assert stat.S_IMODE((dest / "pkg" / "twice").stat().st_mode) == 0o640
    assert (dest / "was_dir").read_text() == "now a file"
    assert stat.S_IMODE((dest / "was_dir").stat().st_mode) == 0o600
    assert (dest / "was_file" / "inner").read_text() == "inside"
    assert stat.S_IMODE((dest / "was_file" / "inner").stat().st_mode) == 0o444
    assert stat.S_IMODE((dest / "was_file").stat().st_mode) == 0o700
    assert os.readlink(dest / "to_link") == "pkg"
    assert (dest / "big").stat().st_size == 2 * 1024 * 1024 + 5
    assert int((dest / "pkg" / "f0007").stat().st_mtime) == 1_600_000_000
    assert int((dest / "pkg").stat().st_mtime) == 1_600_000_000
    assert not [p for p in dest.rglob(".pyodo-*")]


@pytest.mark.host  # builds the supervisor with Go
def test_a_refused_entry_fails_the_request_after_the_files_before_it(
    agent: AgentSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    (dest / "out").mkdir(parents=True)
    (dest / "escape").symlink_to(tmp_path / "outside")
    entries: list[tuple[str, bytes | str | None, int]] = [(f"f{i}", b"x", 0o644) for i in range(50)]
    entries.append(("escape/evil", b"no", 0o644))
    result = agent.request(dest=str(dest), chunks=[_tar(entries)])
    assert result.code == 1 and "symlink" in result.error
    assert sorted(p.name for p in dest.glob("f*")) == sorted(f"f{i}" for i in range(50))
    assert not (tmp_path / "outside").exists()
    assert agent.request(dest=str(dest), delete=["f0"]).code == 0  # the stream stays usable


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


@dataclass
class BuildScript:
    """A supervisor configuration and the build script its agents run, which logs each run."""

    conf: Path
    build: Path
    log: Path

    def session(self, supervisor_bin: Path) -> AgentSession:
        argv = [str(supervisor_bin), "agent", "-c", str(self.conf), str(self.build)]
        return AgentSession(ProcessPipe(argv))

    def lines(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@dataclass
class RestartingApp(BuildScript):
    """A supervised app that listens 0.3 s after its start, restarted by a logging build script."""

    port: int


@pytest.fixture
def restarting_app(supervisor_bin: Path, tmp_path: Path) -> Iterator[RestartingApp]:
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
    log = tmp_path / "build.log"
    build = tmp_path / "restart.sh"
    build.write_text(
        f"#!/bin/sh\necho start >> {log}\necho restarting\n"
        f"{supervisor_bin} ctl -c {conf} restart\nrc=$?\necho end >> {log}\nexit $rc\n"
    )
    build.chmod(0o755)
    daemon = subprocess.Popen([str(supervisor_bin), "-c", str(conf)], stderr=subprocess.DEVNULL)
    yield RestartingApp(conf, build, log, port)
    daemon.terminate()
    daemon.wait(10)


@pytest.mark.host  # builds the supervisor with Go
def test_done_comes_at_serving_and_the_restart_ends_in_the_background(
    supervisor_bin: Path, restarting_app: RestartingApp, tmp_path: Path
) -> None:
    session = restarting_app.session(supervisor_bin)
    seen: list[float] = []
    outputs: list[list[str]] = [[], []]
    try:
        first = session.request(
            dest=str(tmp_path / "d"),
            mkdir=True,
            build=True,
            ports=[restarting_app.port],
            on_serving=seen.append,
            on_output=outputs[0].append,
        )
        # done came while `ctl restart` still waited startsecs (1.5 s after the app's start)
        assert restarting_app.log.read_text() == "start\n"
        second = session.request(
            dest=str(tmp_path / "d"),
            build=True,
            ports=[restarting_app.port],
            on_output=outputs[1].append,
        )
        # another agent (the next `doit push`) waits for this one's restart too
        other = restarting_app.session(supervisor_bin)
        try:
            third = other.request(dest=str(tmp_path / "d"), build=True, ports=[restarting_app.port])
        finally:
            other.close()
    finally:
        session.close()  # the agent exits once the last restart ended
    assert [r.code for r in (first, second, third)] == [0, 0, 0], first.output + second.output
    assert len(seen) == 1
    assert 300 <= first.serving_ms == first.build_ms
    # each build waited for the restart before it; no restart's tail leaked into output
    assert restarting_app.log.read_text() == "start\nend\n" * 3
    assert outputs == [["restarting"], ["restarting"]]
    assert third.output == "restarting"


@pytest.mark.host  # builds the supervisor with Go
def test_without_ports_done_waits_for_the_restart_to_be_confirmed(
    supervisor_bin: Path, restarting_app: RestartingApp, tmp_path: Path
) -> None:
    session = restarting_app.session(supervisor_bin)
    try:
        result = session.request(dest=str(tmp_path / "d"), mkdir=True, build=True)
    finally:
        session.close()
    assert result.code == 0, result.output
    assert restarting_app.log.read_text() == "start\nend\n"
    assert result.output.splitlines()[-1].startswith("RUNNING pid=")
    assert result.build_ms >= 1500  # startsecs


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


@pytest.fixture
def slow_build(tmp_path: Path) -> BuildScript:
    """A build whose first run hangs (until stopped) and later runs are quick."""
    conf = tmp_path / "supervisor.conf"
    conf.write_text(f"program = /bin/true\nsocket = {tmp_path}/run/s.sock\nbuildwait = 1\n")
    log, first = tmp_path / "build.log", tmp_path / "first"
    build = tmp_path / "build.sh"
    build.write_text(
        "#!/bin/sh\n"
        f"if mkdir {first} 2>/dev/null; then\n"
        f"  echo slow-start >> {log}; sleep 60; echo slow-end >> {log}\n"
        f"else\n  echo quick >> {log}\nfi\n"
    )
    build.chmod(0o755)
    return BuildScript(conf, build, log)


@pytest.mark.host  # builds the supervisor with Go
def test_a_build_still_running_after_buildwait_is_stopped_before_another_agents_build(
    supervisor_bin: Path, slow_build: BuildScript, tmp_path: Path
) -> None:
    results: list = []  # the first agent's request, made in a thread: it hangs in its build
    first = slow_build.session(supervisor_bin)
    worker = threading.Thread(
        target=lambda: results.append(first.request(dest=str(tmp_path / "d"), build=True)),
        daemon=True,
    )
    worker.start()
    wait_for(
        lambda: (slow_build.lines() == ["slow-start"] or None, ""), "the first build", 10, 0.05
    )
    second = slow_build.session(supervisor_bin)
    try:
        result = second.request(dest=str(tmp_path / "d"), build=True)
        worker.join(15)
    finally:
        second.close()
        first.close()
    assert result.code == 0, result.output
    assert "still ran after 1s: stopped it, this sync supersedes it" in result.output
    # the stale build (and its sleep: the whole process group) ended before the new one began
    assert slow_build.lines() == ["slow-start", "quick"]
    assert results and results[0].code != 0
    assert "stopped by a signal" in results[0].output
