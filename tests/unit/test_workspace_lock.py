"""One sync per component and target: a second process's sync waits, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core.workspace import Workspace
from pyodo_tasks.errors import SyncError


def _workspace(tmp_path: Path, key: str = "ctx-ns-app") -> Workspace:
    return Workspace(tmp_path, tmp_path / ".pyodo", key, "runtime")


def test_a_second_sync_of_the_same_target_waits_and_says_why_when_it_gives_up(
    tmp_path: Path,
) -> None:
    with (
        _workspace(tmp_path).syncing(),
        pytest.raises(SyncError) as refused,
        _workspace(tmp_path).syncing(timeout=0.2),
    ):
        pass
    assert "another process has been syncing" in str(refused.value)
    assert "nothing was sent" in str(refused.value)
    with _workspace(tmp_path).syncing(timeout=0.2):  # free once the first is done
        pass


def test_syncs_to_other_targets_do_not_wait(tmp_path: Path) -> None:
    with (
        _workspace(tmp_path, "ctx-dev-app").syncing(),
        _workspace(tmp_path, "ctx-staging-app").syncing(timeout=0.2),
    ):
        pass
