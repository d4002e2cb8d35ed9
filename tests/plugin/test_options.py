"""Options, ini values, markers, help text and usage errors, seen through real pytest runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Fake

OPTIONS = [
    "--pyodo-component=PATH",
    "--pyodo-cluster=local|kind|kubeconfig",
    "--pyodo-kubeconfig=FILE",
    "--pyodo-context=NAME",
    "--pyodo-namespace=NAME",
    "--pyodo-keep",
    "--pyodo-reuse",
    "--pyodo-ttl=DURATION",
    "--pyodo-timeout=DURATION",
]
INI = [
    "pyodo_component",
    "pyodo_cluster",
    "pyodo_kubeconfig",
    "pyodo_context",
    "pyodo_namespace",
    "pyodo_keep",
    "pyodo_reuse",
    "pyodo_ttl",
    "pyodo_timeout",
]


def test_help_shows_every_option_in_the_pyodo_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["pyodo: deploy components to Kubernetes for tests:"])
    group = result.stdout.str().split("pyodo: deploy components", 1)[1].split("\n\n", 1)[0]
    for option in OPTIONS:
        assert option in group
    assert "[ini: pyodo_cluster; env: PYODO_CLUSTER_PROVIDER]" in " ".join(group.split())


def test_help_mirrors_every_option_as_an_ini_value(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([f"  {name} (*" for name in INI], consecutive=False)


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.pyodo_component(path, *, image_overrides=None):*"])
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.pyodo_component("x")
        def test_marked():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pyodo-cluster=minikube"], "*--pyodo-cluster='minikube' is not a cluster provider*"),
        (["--pyodo-component=nowhere"], "*--pyodo-component=nowhere: no such file or directory*"),
        (["--pyodo-ttl=soon"], "*--pyodo-ttl='soon' is not a duration*"),
        (["--pyodo-namespace=Bad_Name"], "*not a valid namespace name*"),
        (
            ["--pyodo-cluster=local", "--pyodo-kubeconfig=kc"],
            "*drop --pyodo-kubeconfig, or use --pyodo-cluster=kubeconfig*",
        ),
        (
            ["--pyodo-cluster=kubeconfig", "--pyodo-kubeconfig=missing.yaml"],
            "*--pyodo-kubeconfig=missing.yaml: no such file*",
        ),
    ],
)
def test_bad_options_are_usage_errors_naming_the_fix(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.path.joinpath("kc").write_text("apiVersion: v1\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pyodo: {message}"])


def test_bad_ini_value_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npyodo_keep = sometimes\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pyodo: pyodo_keep='sometimes' is not a boolean*"])


def test_bad_env_value_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYODO_CLUSTER_PROVIDER", "docker")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*PYODO_CLUSTER_PROVIDER='docker' is not a cluster provider*"])


def test_devfile_errors_are_usage_errors_before_any_test_runs(fake: Fake) -> None:
    path = fake.component("app")
    (path / "devfile.yaml").write_text("schemaVersion: 2.2.0\nmetadata: {name: Bad Name}\n")
    result = fake.pytester.runpytest("--pyodo-component=app")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pyodo: --pyodo-component=app: *devfile.yaml*"])
    assert fake.events() == []


def test_ini_component_paths_are_relative_to_the_ini_file(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.mkdir("tests")
    fake.pytester.makeini("[pytest]\npyodo_component = app\n")
    fake.pytester.makepyfile(
        **{
            "tests/test_where.py": """
            def test_where(pyodo_component_path, pytestconfig):
                assert pyodo_component_path == pytestconfig.rootpath / "app"
            """
        }
    )
    result = fake.pytester.runpytest("tests", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_stays_silent_and_offline_when_not_configured(fake: Fake) -> None:
    fake.pytester.makepyfile("def test_plain():\n    pass\n")
    result = fake.pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "pyodo:" not in result.stdout.str()
    assert fake.events() == []


def test_header_names_cluster_context_namespace_and_components(fake: Fake) -> None:
    fake.component("app")
    kubeconfig = fake.pytester.path / "kc"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: https://x}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: ctx-a, context: {cluster: c, user: u}}]\ncurrent-context: ctx-a\n"
    )
    fake.pytester.makepyfile("def test_plain():\n    pass\n")
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-kubeconfig=kc")
    result.stdout.re_match_lines(
        [
            r"pyodo: cluster kubeconfig \[auto: kubeconfig .*/kc\], context ctx-a$",
            r"pyodo: run (\w+), namespace pyodo-\1-main \(deleted at the end\)$",
            r"pyodo: components app \(image localhost/pyodo/builder-nodejs:bookworm\)$",
        ]
    )
    assert fake.events() == []  # the header never contacts the cluster
