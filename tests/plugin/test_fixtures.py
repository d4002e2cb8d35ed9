"""Fixtures, markers, the deploy cache and failure reports, against the fake engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Fake


def test_endpoint_deploys_the_configured_component_once_per_session(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        def test_one(pyodo_endpoint):
            assert pyodo_endpoint == "http://127.0.0.1:9/app"

        def test_two(pyodo_endpoint, pyodo_component):
            assert pyodo_component.name == "app"
        """
    )
    fake.pytester.runpytest("--pyodo-component=app").assert_outcomes(passed=2)
    assert len(fake.events("push")) == 1
    assert len(fake.events("up")) == 1


def test_cluster_fixture_names_kubeconfig_context_and_run_namespace(fake: Fake) -> None:
    fake.pytester.makepyfile(
        """
        def test_cluster(pyodo_cluster):
            assert pyodo_cluster.context == "fake-ctx"
            assert pyodo_cluster.kubeconfig.is_file()
            assert pyodo_cluster.namespace == f"pyodo-{pyodo_cluster.run_id}-main"
            assert pyodo_cluster.owns_namespace and not pyodo_cluster.shared_namespace
        """
    )
    fake.pytester.runpytest("--pyodo-cluster=local").assert_outcomes(passed=1)
    assert [e["name"] for e in fake.events("provider")] == ["local"]


def test_kubeconfig_cluster_gets_the_kubeconfig_and_context(fake: Fake) -> None:
    fake.pytester.path.joinpath("admin.kubeconfig").write_text("apiVersion: v1\n")
    fake.pytester.makepyfile("def test_cluster(pyodo_cluster):\n    pass\n")
    fake.pytester.runpytest(
        "--pyodo-cluster=kubeconfig", "--pyodo-kubeconfig=admin.kubeconfig", "--pyodo-context=c1"
    ).assert_outcomes(passed=1)
    (provider,) = fake.events("provider")
    assert provider["name"] == "kubeconfig"
    assert provider["kubeconfig"].endswith("admin.kubeconfig")
    assert provider["context"] == "c1"


def test_marker_chooses_the_component_per_module_and_the_closest_wins(fake: Fake) -> None:
    for name in ("default", "module", "single"):
        fake.component(name)
    fake.pytester.makepyfile(
        test_marked="""
        import pytest
        pytestmark = pytest.mark.pyodo_component("module")

        def test_module_level(pyodo_component):
            assert pyodo_component.name == "module"

        @pytest.mark.pyodo_component("single", image_overrides={"runtime": "img:1"})
        def test_own(pyodo_component, pyodo_image_overrides):
            assert pyodo_component.name == "single"
            assert pyodo_image_overrides == {"runtime": "img:1"}
        """,
        test_plain="""
        def test_default(pyodo_component):
            assert pyodo_component.name == "default"
        """,
    )
    fake.pytester.runpytest("--pyodo-component=default").assert_outcomes(passed=3)
    created = fake.events("component")
    overrides = {e["path"].rsplit("/", 1)[1]: e["image_overrides"] for e in created}
    assert overrides == {"module": {}, "single": {"runtime": "img:1"}, "default": {}}


def test_marker_pointing_nowhere_fails_the_test_naming_the_fix(fake: Fake) -> None:
    fake.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.pyodo_component("missing")
        def test_marked(pyodo_component):
            pass
        """
    )
    result = fake.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pyodo: @pytest.mark.pyodo_component=missing: no such file*"])


def test_no_component_configured_fails_naming_every_way_to_choose_one(fake: Fake) -> None:
    fake.pytester.makepyfile("def test_endpoint(pyodo_endpoint):\n    pass\n")
    result = fake.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*no component to deploy: pass --pyodo-component=PATH*pyodo_component_path fixture*"]
    )
    assert fake.events() == []


def test_deploy_factory_caches_by_path_and_overrides(fake: Fake) -> None:
    fake.component("other")
    fake.pytester.makepyfile(
        """
        def test_factory(pyodo_deploy):
            first = pyodo_deploy("other")
            assert pyodo_deploy("other") is first
            tuned = pyodo_deploy("other", image_overrides={"runtime": "img:2"})
            assert tuned is not first
            assert first.service_url() == f"http://other.{first.namespace}.svc:3000"

        def test_again(pyodo_deploy):
            pyodo_deploy("other")
        """
    )
    fake.pytester.runpytest().assert_outcomes(passed=2)
    assert len(fake.events("push")) == 2


def test_component_handle_offers_exec_logs_sync_and_restart(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        def test_handle(pyodo_component):
            result = pyodo_component.exec(["cat", "x"], check=True, timeout=5)
            assert (result.returncode, result.stdout) == (0, b"exec-out")
            assert pyodo_component.logs() == "fake log"
            pyodo_component.sync()
            pyodo_component.restart()
        """
    )
    fake.pytester.runpytest("--pyodo-component=app").assert_outcomes(passed=1)
    assert fake.events("exec")[0]["args"] == ["cat", "x"]
    assert len(fake.events("push")) == 2  # the deploy, then the sync
    assert len(fake.events("restart")) == 1


def test_fixture_override_beats_the_command_line(fake: Fake) -> None:
    fake.component("app")
    fake.component("override")
    fake.pytester.makeconftest(
        fake.pytester.path.joinpath("conftest.py").read_text()
        + """
import dataclasses

@pytest.fixture(scope="session")
def pyodo_config(pyodo_config):
    return dataclasses.replace(pyodo_config, namespace="forced", timeout=12.0)

@pytest.fixture
def pyodo_component_path(pytestconfig):
    return pytestconfig.rootpath / "override"
"""
    )
    fake.pytester.makepyfile(
        """
        def test_override(pyodo_component, pyodo_config):
            assert pyodo_component.name == "override"
            assert pyodo_component.namespace == "forced"
        """
    )
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-namespace=fromcli")
    result.assert_outcomes(passed=1)
    assert fake.events("push")[0]["timeout"] == 12.0


def test_failing_test_report_shows_the_pod_and_its_log_tail(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        def test_fails(pyodo_endpoint):
            assert False, "the app said no"

        def test_passes(pyodo_endpoint):
            pass
        """
    )
    result = fake.pytester.runpytest("--pyodo-component=app", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails _*",
            "*- pyodo: component app in namespace pyodo-*-main -*",
            "pod/app-pod: Running",
            "FAKE-LOG-TAIL of app",
        ]
    )
    assert result.stdout.str().count("FAKE-LOG-TAIL") == 1


def test_failed_deploy_reports_the_build_output_and_fails_later_tests_fast(fake: Fake) -> None:
    fake.component("app", broken=True)
    fake.pytester.makepyfile(
        """
        def test_one(pyodo_endpoint):
            pass

        def test_two(pyodo_endpoint):
            pass
        """
    )
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*pyodo: deploying */app: assemble-and-restart exited 1 in pod/fake-pod:",
            "npm ERR! boom",
            "*could not be deployed earlier in this session*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(["deploy failed: *", "FAKE-LOG-TAIL of app"])
    assert len(fake.events("push")) == 1


def test_ready_hook_runs_once_per_deployment(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makeconftest(
        fake.pytester.path.joinpath("conftest.py").read_text()
        + """
def pytest_pyodo_component_ready(component, config):
    component.exec(["seed"])
"""
    )
    fake.pytester.makepyfile(
        """
        def test_one(pyodo_component):
            pass

        def test_two(pyodo_component):
            pass
        """
    )
    fake.pytester.runpytest("--pyodo-component=app").assert_outcomes(passed=2)
    assert [e["args"] for e in fake.events("exec")] == [["seed"]]


def test_push_output_goes_to_the_captured_log(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile("def test_fails(pyodo_component):\n    assert False\n")
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.stdout.fnmatch_lines(["*Captured log setup*", "*[[]app] Syncing files into pod/*"])


@pytest.mark.parametrize("fixture", ["pyodo_endpoint", "pyodo_cluster"])
def test_fixtures_are_documented_in_the_fixtures_listing(
    pytester: pytest.Pytester, fixture: str
) -> None:
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines([f"{fixture} *", "*"])
    text = result.stdout.str().split(f"{fixture} ", 1)[1].split("\n\n", 1)[0]
    assert "[session scope]" in text if fixture == "pyodo_cluster" else "pyodo" in text
