"""The test bed's start-up waits go through core.wait.wait_for and still fail as setup errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import engine, procs
from pyodo_tasks.testbed.kindnode import preload


def _died(daemon: procs.Daemon) -> None:
    raise ClusterSetupError(f"{daemon.name} exited; see its log")


@pytest.fixture
def own_dockerd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[bool]:
    """ensure_engine with no Docker around, starting nothing: answers[i] is the i-th probe's."""
    answers: list[bool] = []
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("PYODO_DOCKER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(engine, "_engine_run_dir", lambda: tmp_path / "run")
    monkeypatch.setattr(engine, "engine_running", lambda: False)
    monkeypatch.setattr(engine, "_answers", lambda url, timeout=20: url and answers.pop(0))
    monkeypatch.setattr(engine.debs, "ensure_packages", lambda packages: None)
    monkeypatch.setattr(procs, "start", lambda daemon: 1)
    monkeypatch.setattr(procs, "ensure_alive", lambda daemon: None)
    monkeypatch.setattr(procs, "log_tail", lambda daemon: "the log's tail")
    monkeypatch.setattr(engine, "_START_TIMEOUT", 0.3)
    return answers


def test_dockerd_answering_on_a_later_probe_is_pyodos_engine(
    own_dockerd: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "_START_TIMEOUT", 5.0)
    own_dockerd.extend([False, True])
    assert engine.ensure_engine() == engine.Engine(engine.own_host(), owned=True)


def test_dockerd_silent_past_the_deadline_is_a_setup_error_with_its_log(
    own_dockerd: list[bool],
) -> None:
    own_dockerd.extend([False] * 10)
    with pytest.raises(ClusterSetupError, match=r"waiting for dockerd to answer.*\n.*log's tail"):
        engine.ensure_engine()


def test_dockerd_exiting_ends_the_wait_at_once(
    own_dockerd: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    own_dockerd.extend([False] * 10)
    monkeypatch.setattr(engine, "_START_TIMEOUT", 60.0)
    monkeypatch.setattr(procs, "ensure_alive", _died)
    with pytest.raises(ClusterSetupError, match="dockerd exited"):
        engine.ensure_engine()


def _daemon(tmp_path: Path) -> procs.Daemon:
    return procs.Daemon("preload-containerd", ["containerd"], tmp_path, tmp_path)


def test_preload_containerd_not_answering_is_a_setup_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(preload, "_READY_TIMEOUT", 0.3)
    monkeypatch.setattr(procs, "ensure_alive", lambda daemon: None)
    with pytest.raises(ClusterSetupError, match=r"containerd .* last seen: no socket yet"):
        preload._wait_ready(_daemon(tmp_path), tmp_path / "containerd.sock")


def test_preload_containerd_waits_for_ctr_and_stops_at_a_dead_daemon(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    socket = tmp_path / "containerd.sock"
    monkeypatch.setattr(Path, "is_socket", lambda self: self == socket)
    codes = [1, 0]
    monkeypatch.setattr(
        host, "run", lambda args, **kw: host.Result(list(args), codes.pop(0), "", "not yet")
    )
    monkeypatch.setattr(procs, "ensure_alive", lambda daemon: None)
    preload._wait_ready(_daemon(tmp_path), socket)
    assert codes == []
    monkeypatch.setattr(procs, "ensure_alive", _died)
    codes.append(1)
    with pytest.raises(ClusterSetupError, match="preload-containerd exited"):
        preload._wait_ready(_daemon(tmp_path), socket)
