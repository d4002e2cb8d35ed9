"""The three places a setting of the plugin comes from, as :func:`resolve_settings` takes them:
what the tests of the settings (test_settings.py, test_layout_settings.py,
test_teardown_modes.py) build instead of a pytest run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_pyodo.settings import Source

Values = dict[str, Any] | None


def setting_sources(
    tmp_path: Path, option: Values = None, ini: Values = None, env: Values = None
) -> list[Source]:
    """Command-line options, ini values and environment variables, in precedence order, each
    given as ``{setting: value}`` (None: nothing set there); ``tmp_path`` is where paths in
    them are relative to."""
    return [
        Source("option", option or {}, tmp_path),
        Source("ini", ini or {}, tmp_path),
        Source("env", env or {}, tmp_path),
    ]
