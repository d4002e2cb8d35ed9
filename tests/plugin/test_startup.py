"""What every pytest start pays for the plugin: xdist starts N interpreters, each loading it."""

from __future__ import annotations

from pathlib import Path

import pytest

DEVFILE = Path(__file__).parents[2] / "examples" / "nodejs" / "devfile.yaml"

LOADED = """
import sys


def test_no_kubernetes_client_before_a_pyodo_fixture(request):
    assert "kubernetes" not in sys.modules
    if hasattr(request.config, "workerinput"):  # the controller checked the devfiles
        assert "pyodo_tasks.core.devfile.loader" not in sys.modules
"""

CONTROLLER = """
import sys


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"controller loaded kubernetes: {'kubernetes' in sys.modules}")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_plugin_loads_no_kubernetes_client_until_a_test_needs_the_cluster(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    (pytester.path / "app").mkdir()
    (pytester.path / "app" / "devfile.yaml").write_text(DEVFILE.read_text())
    pytester.makeconftest(CONTROLLER)
    pytester.makepyfile(LOADED)
    # The header (cluster, context, components) is shown too: it must not need the client.
    result = pytester.runpytest_subprocess("--pyodo-component=app", *workers)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pyodo: components app*", "controller loaded kubernetes: False"])
