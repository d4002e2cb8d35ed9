"""kubectl's kubeconfig precedence and the kubeconfig provider (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyodo_tasks.cluster import PROVIDERS, get_provider, kubeconfig, planned_context
from pyodo_tasks.core.kube import target
from pyodo_tasks.errors import ConfigError


def _write(path: Path, context: str, server: str = "https://192.0.2.9:6443") -> Path:
    text = kubeconfig.render(context, server, b"ca", "user-" + context, b"cert", b"key")
    return kubeconfig.write(path, text)


def test_explicit_path_wins_over_env_and_home(tmp_path) -> None:
    env = {"KUBECONFIG": str(_write(tmp_path / "env", "env"))}
    got = target.kubeconfig_paths(tmp_path / "explicit", environ=env, home=tmp_path)
    assert got == [tmp_path / "explicit"]


def test_env_wins_over_home_and_skips_missing_entries(tmp_path) -> None:
    a = _write(tmp_path / "a", "a")
    env = {"KUBECONFIG": f"{tmp_path / 'missing'}:{a}"}
    assert target.kubeconfig_paths(None, environ=env, home=tmp_path) == [a]


def test_env_naming_no_existing_file_is_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="KUBECONFIG"):
        target.kubeconfig_paths(None, environ={"KUBECONFIG": str(tmp_path / "nope")})


def test_home_config_is_the_fallback(tmp_path) -> None:
    assert target.kubeconfig_paths(None, environ={}, home=tmp_path) == [
        tmp_path / ".kube" / "config"
    ]


def test_merge_first_file_wins_and_context_override(tmp_path) -> None:
    a, b = _write(tmp_path / "a", "a"), _write(tmp_path / "b", "b")
    merged = target.load_merged([a, b])
    assert merged["current-context"] == "a"
    assert target.pick_context(merged) == "a"
    assert target.pick_context(merged, "b") == "b"
    with pytest.raises(ConfigError, match="not found"):
        target.pick_context(merged, "c")


def test_written_kubeconfig_is_private_and_embeds_certs(tmp_path) -> None:
    path = _write(tmp_path / "kc", "x")
    assert path.stat().st_mode & 0o077 == 0
    doc = yaml.safe_load(path.read_text())
    assert doc["users"][0]["user"]["client-key-data"]


def test_kubeconfig_provider_reports_context_and_server(tmp_path, monkeypatch) -> None:
    a, b = _write(tmp_path / "a", "a"), _write(tmp_path / "b", "b", "https://192.0.2.10:6443")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    info = get_provider("kubeconfig", context="b").up()
    assert info.context == "b"
    assert info.server == "https://192.0.2.10:6443"
    info = get_provider("kubeconfig", kubeconfig=a).up()
    assert (info.kubeconfig, info.context) == (a, "a")


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown cluster provider"):
        get_provider("minikube")


def test_the_providers_are_the_entry_points_of_pyodo_providers() -> None:
    """pyproject.toml registers them, so cluster/ never imports the test bed behind two."""
    assert PROVIDERS == ("kind", "kubeconfig", "local")
    assert [type(get_provider(name)).__name__ for name in ("kind", "kubeconfig")] == [
        "KindProvider",
        "KubeconfigProvider",
    ]
    assert planned_context("local") == "pyodo-local"
    assert planned_context("kind") == "kind-pyodo"
    assert planned_context("kubeconfig") is None
    assert planned_context("minikube") is None


def test_the_engine_and_the_provider_resolve_the_same_context(tmp_path, monkeypatch) -> None:
    """One resolver: Target.resolve and the kubeconfig provider agree on merged files."""
    from pyodo_tasks.core.kube import Target

    a, b = _write(tmp_path / "a", "a"), _write(tmp_path / "b", "b")
    env = {"KUBECONFIG": f"{a}:{b}"}
    monkeypatch.setenv("KUBECONFIG", env["KUBECONFIG"])
    resolved = Target().resolve(env)
    provider = get_provider("kubeconfig")
    assert resolved.context == provider.context() == "a"
    assert resolved.namespace == "default"
    assert Target(context="b").resolve(env).context == "b"
    with pytest.raises(ConfigError, match=r"context 'c' not found in kubeconfig \(have: a, b\)"):
        Target(context="c").resolve(env)


def test_a_kubeconfig_that_is_not_a_mapping_is_one_config_error(tmp_path) -> None:
    bad = tmp_path / "kc"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="is not a kubeconfig"):
        target.load_merged([bad])
