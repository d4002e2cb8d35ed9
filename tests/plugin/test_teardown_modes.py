"""``--pyodo-teardown``: the session asks for its namespace's deletion and returns (background,
the default) or waits until the namespace is gone (wait); the setting's sources and errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_pyodo.settings import resolve_settings
from tests.plugin.sources import setting_sources

if TYPE_CHECKING:
    from conftest import Fake


def _names(fake: Fake, event: str) -> list[str]:
    return [e["name"] for e in fake.events(event)]


def test_by_default_the_session_requests_the_deletion_stops_the_pods_and_does_not_wait(
    fake: Fake,
) -> None:
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.assert_outcomes(passed=2)
    (namespace,) = _names(fake, "ensure_namespace")
    assert _names(fake, "delete_namespace") == [namespace]  # requested...
    assert fake.events("wait_namespace_gone") == []  # ...and not waited for
    kinds = [e["event"] for e in fake.events() if e["event"] in ("delete_namespace", "delete_pod")]
    assert kinds == ["delete_namespace", "delete_pod"]  # the pods go after: none is recreated
    (pods,) = fake.events("pods")
    assert pods["selector"] == "app.kubernetes.io/managed-by=pyodo"
    assert pods["namespace"] == namespace
    result.stdout.fnmatch_lines(
        [f"deleted namespace/{namespace} in *s (terminating in the background)"]
    )


@pytest.mark.parametrize(
    ("how", "value"),
    [("option", "--pyodo-teardown=wait"), ("ini", "wait"), ("env", "WAIT")],
)
def test_wait_waits_until_the_namespace_is_gone(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, how: str, value: str
) -> None:
    fake.component("app")
    fake.endpoint_tests()
    args = ["--pyodo-component=app"]
    if how == "option":
        args.append(value)
    elif how == "ini":
        fake.pytester.makeini(f"[pytest]\npyodo_teardown = {value}\n")
    else:
        monkeypatch.setenv("PYODO_TEARDOWN", value)
    result = fake.pytester.runpytest(*args)
    result.assert_outcomes(passed=2)
    (namespace,) = _names(fake, "ensure_namespace")
    assert _names(fake, "delete_namespace") == [namespace]
    assert _names(fake, "wait_namespace_gone") == [namespace]
    assert fake.events("delete_pod") == []  # the namespace controller deleted them: waited for
    result.stdout.fnmatch_lines([f"deleted namespace/{namespace} in *s"])
    result.stdout.no_fnmatch_line("*terminating in the background*")


def test_a_named_namespace_is_waited_for_even_in_the_background(fake: Fake) -> None:
    """The next session uses the same name: it must not find it terminating."""
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-namespace=team-ci")
    result.assert_outcomes(passed=2)
    assert _names(fake, "delete_namespace") == ["team-ci"]
    assert _names(fake, "wait_namespace_gone") == ["team-ci"]


@pytest.mark.parametrize("mode", ["background", "wait"])
def test_the_xdist_controller_follows_the_mode(fake: Fake, mode: str) -> None:
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest_subprocess(
        "--pyodo-component=app", "-n", "2", f"--pyodo-teardown={mode}"
    )
    result.assert_outcomes(passed=2)
    (namespace,) = set(_names(fake, "ensure_namespace"))
    assert namespace.endswith("-shared")
    assert _names(fake, "delete_namespace") == [namespace]
    waited = _names(fake, "wait_namespace_gone")
    assert waited == ([namespace] if mode == "wait" else [])
    later = " (terminating in the background)" if mode == "background" else ""
    result.stdout.fnmatch_lines([f"[[]controller] deleted namespace/{namespace}{later}"])


def test_a_bad_value_is_a_usage_error_naming_the_option(fake: Fake) -> None:
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-teardown=later")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*pyodo: --pyodo-teardown='later': write one of background, wait*"]
    )
    assert fake.events() == []


# -- the setting, on resolve_settings directly -------------------------------------------------
def test_teardown_defaults_to_background(tmp_path: Path) -> None:
    settings = resolve_settings(setting_sources(tmp_path), {"HOME": str(tmp_path)})
    assert settings.teardown == "background"
    assert settings.origin["teardown"] == "default"
    assert not settings.configured  # a default is not the user's choice


@pytest.mark.parametrize(
    ("option", "ini", "env", "expected", "origin"),
    [
        ("wait", "background", "background", "wait", "--pyodo-teardown"),
        (None, "wait", "background", "wait", "pyodo_teardown (ini)"),
        (None, None, " Wait ", "wait", "PYODO_TEARDOWN"),
        ("background", "wait", "wait", "background", "--pyodo-teardown"),
    ],
)
def test_teardown_precedence_option_ini_env(
    tmp_path: Path, option: str | None, ini: str | None, env: str | None, expected: str, origin: str
) -> None:
    sources = setting_sources(
        tmp_path, option={"teardown": option}, ini={"teardown": ini}, env={"teardown": env}
    )
    settings = resolve_settings(sources, {"HOME": str(tmp_path)})
    assert (settings.teardown, settings.origin["teardown"]) == (expected, origin)
    assert settings.configured
