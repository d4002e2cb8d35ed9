"""Settings precedence and validation, on :func:`resolve_settings` directly (no pytest run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyodo_tasks.errors import ConfigError
from pytest_pyodo.settings import (
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    parse_bool,
    parse_duration,
    resolve_settings,
)
from tests.plugin.sources import setting_sources

DEVFILE = (Path(__file__).parents[2] / "examples" / "nodejs" / "devfile.yaml").read_text()


def _component(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "devfile.yaml").write_text(DEVFILE)
    return path


def test_option_beats_ini_beats_env(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    sources = setting_sources(
        tmp_path,
        option={"namespace": "from-option"},
        ini={"namespace": "from-ini", "ttl": "1h"},
        env={"namespace": "from-env", "ttl": "2h", "timeout": "90"},
    )
    settings = resolve_settings(sources, env)
    assert settings.namespace == "from-option"
    assert settings.ttl == 3600
    assert settings.timeout == 90
    assert settings.origin["namespace"] == "--pyodo-namespace"
    assert settings.origin["ttl"] == "pyodo_ttl (ini)"
    assert settings.origin["timeout"] == "PYODO_TIMEOUT"


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = resolve_settings(setting_sources(tmp_path), {"HOME": str(tmp_path)})
    assert (settings.cluster, settings.keep, settings.reuse) == ("local", False, False)
    assert (settings.ttl, settings.timeout) == (DEFAULT_TTL, DEFAULT_TIMEOUT)
    assert settings.origin["cluster"] == "auto: no kubeconfig found"
    assert not settings.configured


def test_auto_detect_picks_kubeconfig_when_home_has_one(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\n")
    settings = resolve_settings(setting_sources(tmp_path), {"HOME": str(tmp_path)})
    assert settings.cluster == "kubeconfig"
    assert settings.origin["cluster"].startswith("auto: kubeconfig")


def test_auto_detect_picks_kubeconfig_from_the_kubeconfig_variable(tmp_path: Path) -> None:
    config = tmp_path / "kc"
    config.write_text("apiVersion: v1\n")
    env = {"HOME": str(tmp_path / "nohome"), "KUBECONFIG": f"/missing:{config}"}
    assert resolve_settings(setting_sources(tmp_path), env).cluster == "kubeconfig"


def test_a_kubeconfig_setting_implies_the_kubeconfig_cluster(tmp_path: Path) -> None:
    config = tmp_path / "kc"
    config.write_text("apiVersion: v1\n")
    settings = resolve_settings(
        setting_sources(tmp_path, ini={"kubeconfig": "kc"}), {"HOME": str(tmp_path)}
    )
    assert (settings.cluster, settings.kubeconfig) == ("kubeconfig", config.resolve())


def test_env_kubeconfig_is_ignored_when_an_option_picks_local(tmp_path: Path) -> None:
    config = tmp_path / "kc"
    config.write_text("apiVersion: v1\n")
    sources = setting_sources(
        tmp_path, option={"cluster": "local"}, env={"kubeconfig": str(config), "context": "x"}
    )
    settings = resolve_settings(sources, {"HOME": str(tmp_path)})
    assert (settings.cluster, settings.kubeconfig, settings.context) == ("local", None, None)
    assert "kubeconfig" not in settings.origin


@pytest.mark.parametrize("kind", ["option", "ini"])
def test_kubeconfig_given_to_pytest_contradicts_the_local_cluster(
    tmp_path: Path, kind: str
) -> None:
    config = tmp_path / "kc"
    config.write_text("apiVersion: v1\n")
    values = {"cluster": "local", "kubeconfig": str(config)}
    sources = setting_sources(tmp_path, **{kind: values})
    with pytest.raises(ConfigError, match=r"use .*=kubeconfig"):
        resolve_settings(sources, {})


def test_context_contradicts_the_kind_cluster(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"cluster": "kind", "context": "other"})
    with pytest.raises(ConfigError, match="--pyodo-context does not apply to --pyodo-cluster=kind"):
        resolve_settings(sources, {})


def test_kind_image_option_goes_with_the_kind_cluster(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"cluster": "kind", "kind_image": "pyodo"})
    settings = resolve_settings(sources, {})
    assert settings.kind_image == "pyodo"
    assert settings.origin["kind_image"] == "--pyodo-kind-image"


def test_kind_image_option_contradicts_another_cluster(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"cluster": "local", "kind_image": "pyodo"})
    with pytest.raises(ConfigError, match="--pyodo-kind-image applies only to"):
        resolve_settings(sources, {})


def test_kind_image_from_the_environment_is_ignored_for_another_cluster(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"cluster": "local"}, env={"kind_image": "pyodo"})
    settings = resolve_settings(sources, {})
    assert settings.kind_image is None and "kind_image" not in settings.origin


@pytest.mark.parametrize(
    ("kind", "name"), [("option", "--pyodo-{}"), ("ini", "pyodo_{}"), ("env", "PYODO_{}")]
)
@pytest.mark.parametrize(
    ("setting", "bad", "choices"),
    [("layout", "sideload", "auto, inject, init"), ("teardown", "never", "background, wait")],
)
def test_a_bad_choice_names_where_it_was_set_and_the_choices(
    tmp_path: Path, kind: str, name: str, setting: str, bad: str, choices: str
) -> None:
    named = name.format(setting.upper() if kind == "env" else setting)
    with pytest.raises(ConfigError, match=rf"^{named}='{bad}': write one of {choices}$"):
        resolve_settings(
            setting_sources(tmp_path, **{kind: {setting: bad}}), {"HOME": str(tmp_path)}
        )


def test_unknown_cluster_names_the_source_and_the_choices(tmp_path: Path) -> None:
    choices = r"PYODO_CLUSTER_PROVIDER='minikube'.*kind, kubeconfig, local"
    with pytest.raises(ConfigError, match=choices):
        resolve_settings(setting_sources(tmp_path, env={"cluster": "minikube"}), {})


def test_kubeconfig_cluster_without_any_kubeconfig_is_rejected(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, ini={"cluster": "kubeconfig"})
    with pytest.raises(ConfigError, match=r"pyodo_cluster \(ini\)=kubeconfig but no kubeconfig"):
        resolve_settings(sources, {"HOME": str(tmp_path)})


def test_missing_kubeconfig_file_is_rejected(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"cluster": "kubeconfig", "kubeconfig": "nope"})
    with pytest.raises(ConfigError, match="--pyodo-kubeconfig=nope: no such file"):
        resolve_settings(sources, {})


def test_component_paths_resolve_against_their_source(tmp_path: Path) -> None:
    first = _component(tmp_path, "first")
    second = _component(tmp_path, "second")
    env = {"component": os.pathsep.join(["first", "second"])}
    settings = resolve_settings(setting_sources(tmp_path, env=env), {"HOME": str(tmp_path)})
    assert settings.components == (first, second)


def test_component_without_devfile_is_rejected_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"--pyodo-component=empty: .*no devfile.yaml found"):
        resolve_settings(setting_sources(tmp_path, option={"component": ["empty"]}), {})


def test_invalid_devfile_is_rejected_naming_the_field(tmp_path: Path) -> None:
    path = _component(tmp_path, "bad")
    (path / "devfile.yaml").write_text(DEVFILE.replace("schemaVersion: 2.2.0", "schemaVersion: 1"))
    with pytest.raises(ConfigError, match="schemaVersion"):
        resolve_settings(setting_sources(tmp_path, option={"component": ["bad"]}), {})


@pytest.mark.parametrize("name", ["Upper", "-dash", "x" * 64, "under_score"])
def test_invalid_namespace_names_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid namespace name"):
        resolve_settings(setting_sources(tmp_path, option={"namespace": name}), {})


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("4h", 14400), ("1d", 86400)]
)
def test_durations_accept_units(text: str, seconds: float) -> None:
    assert parse_duration(text, "--pyodo-ttl") == seconds


@pytest.mark.parametrize("text", ["soon", "-5", "0", "4 weeks"])
def test_bad_durations_name_the_format(text: str) -> None:
    with pytest.raises(ConfigError, match="--pyodo-ttl"):
        parse_duration(text, "--pyodo-ttl")


def test_booleans_accept_the_usual_spellings() -> None:
    assert parse_bool("Yes", "PYODO_KEEP") and not parse_bool("0", "PYODO_KEEP")
    with pytest.raises(ConfigError, match="PYODO_KEEP='maybe' is not a boolean"):
        parse_bool("maybe", "PYODO_KEEP")


def test_package_exports_the_fixture_types() -> None:
    import pytest_pyodo
    from pytest_pyodo.session import DeployedComponent

    assert pytest_pyodo.__all__ == sorted(pytest_pyodo.__all__)
    assert pytest_pyodo.DeployedComponent is DeployedComponent
    for name in pytest_pyodo.__all__:
        assert getattr(pytest_pyodo, name).__name__ == name


def test_devfile_registry_option_lets_a_child_component_load(tmp_path: Path) -> None:
    registry = Path(__file__).parents[2] / "fixtures" / "devfiles" / "registry"
    child = tmp_path / "child"
    child.mkdir()
    (child / "devfile.yaml").write_text(
        "schemaVersion: 2.2.0\nmetadata: {name: child}\nparent: {id: pyodo-node}\n"
    )
    env = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match="names no registry"):
        resolve_settings(setting_sources(tmp_path, option={"component": [str(child)]}), env)
    option = {"component": [str(child)], "devfile_registry": str(registry)}
    settings = resolve_settings(setting_sources(tmp_path, option=option), env)
    assert settings.devfile_registry == str(registry.resolve())
    assert settings.origin["devfile_registry"] == "--pyodo-devfile-registry"
    assert settings.component_environ({})["PYODO_DEVFILE_REGISTRY"] == str(registry.resolve())
