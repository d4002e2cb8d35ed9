"""The layout settings (``--pyodo-layout``, ``--pyodo-init-image``) on :func:`resolve_settings`
directly: precedence, validation, and what components are handed (no pytest run)."""

from __future__ import annotations

from pathlib import Path

from pyodo_tasks.core.inject import layout_settings
from pytest_pyodo.settings import resolve_settings
from tests.plugin.sources import setting_sources


def _home(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path)}


def test_the_option_beats_ini_beats_env(tmp_path: Path) -> None:
    sources = setting_sources(
        tmp_path,
        option={"layout": "inject"},
        ini={"layout": "init", "init_image": "ini.example/init:1"},
        env={"layout": "auto", "init_image": "env.example/init:1"},
    )
    settings = resolve_settings(sources, _home(tmp_path))
    assert (settings.layout, settings.init_image) == ("inject", "ini.example/init:1")
    assert settings.origin["layout"] == "--pyodo-layout"
    assert settings.origin["init_image"] == "pyodo_init_image (ini)"
    assert settings.configured


def test_the_environment_alone_sets_them(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, env={"layout": "init", "init_image": "env.example/init:1"})
    settings = resolve_settings(sources, _home(tmp_path))
    assert (settings.layout, settings.init_image) == ("init", "env.example/init:1")
    assert settings.origin["layout"] == "PYODO_LAYOUT"
    assert settings.origin["init_image"] == "PYODO_INIT_IMAGE"


def test_unset_they_are_left_to_the_component(tmp_path: Path) -> None:
    settings = resolve_settings(setting_sources(tmp_path), _home(tmp_path))
    assert (settings.layout, settings.init_image) == (None, None)
    assert "layout" not in settings.origin and "init_image" not in settings.origin
    environ = {"HOME": str(tmp_path)}
    assert settings.component_environ(environ) == environ


def test_a_layout_is_normalised(tmp_path: Path) -> None:
    sources = setting_sources(
        tmp_path, option={"layout": " Inject "}, ini={"init_image": "  img:1 "}
    )
    settings = resolve_settings(sources, _home(tmp_path))
    assert (settings.layout, settings.init_image) == ("inject", "img:1")


def test_components_are_handed_the_decided_values(tmp_path: Path) -> None:
    sources = setting_sources(
        tmp_path,
        option={"layout": "init", "init_image": "opt.example/init:2"},
        env={"layout": "inject"},
    )
    settings = resolve_settings(sources, _home(tmp_path))
    caller = {"HOME": str(tmp_path), "PYODO_LAYOUT": "inject", "OTHER": "kept"}
    environ = settings.component_environ(caller)
    assert environ["PYODO_LAYOUT"] == "init"
    assert environ["PYODO_INIT_IMAGE"] == "opt.example/init:2"
    assert environ["OTHER"] == "kept"
    assert caller["PYODO_LAYOUT"] == "inject", "the caller's mapping is not changed"
    # ... and a component reads them as decided
    assert layout_settings({}, environ) == ("init", "opt.example/init:2")


def test_a_bad_layout_below_a_good_one_is_not_read(tmp_path: Path) -> None:
    sources = setting_sources(tmp_path, option={"layout": "auto"}, env={"layout": "sideload"})
    assert resolve_settings(sources, _home(tmp_path)).layout == "auto"
