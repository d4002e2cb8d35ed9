"""One doit dev per component and target: the second refuses at once, naming the first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyodo_tasks.dev.single import SessionLock
from pyodo_tasks.errors import DevAlreadyRunning


def test_a_second_session_on_the_same_component_and_target_refuses_naming_the_first(
    tmp_path: Path,
) -> None:
    first = SessionLock(tmp_path / ".pyodo", "ctx-ns-app", "ctx/ns")
    first.acquire()
    second = SessionLock(tmp_path / ".pyodo", "ctx-ns-app", "ctx/ns")
    with pytest.raises(DevAlreadyRunning) as refused:
        second.acquire()
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "ctx/ns" in str(refused.value)
    first.release()
    second.acquire()  # free again once the first stopped
    second.release()
    second.release()  # idempotent
    assert not (tmp_path / ".pyodo" / "dev-ctx-ns-app.owner").exists()


def test_sessions_on_other_targets_do_not_block_each_other(tmp_path: Path) -> None:
    one = SessionLock(tmp_path, "ctx-dev-app", "ctx/dev")
    other = SessionLock(tmp_path, "ctx-staging-app", "ctx/staging")
    one.acquire()
    other.acquire()
    one.release()
    other.release()
