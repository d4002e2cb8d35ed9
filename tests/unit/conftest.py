"""Fixtures of the unit tier shared by several files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.testbed.layout import Layout


@pytest.fixture
def scratch_layout(tmp_path: Path) -> Layout:
    """The local cluster's file layout under ``tmp_path``: the config renderers' input, with
    nothing of this host's state in it."""
    return Layout(
        state=tmp_path / "state",
        run=tmp_path / "run",
        cache=tmp_path / "cache",
    )
