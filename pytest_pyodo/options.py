"""The ``pyodo`` option group, its ini mirrors, and reading every source into :class:`Settings`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import pytest

from pyodo_tasks.errors import ConfigError

from .settings import SETTINGS, Settings, Source, env_source, resolve_settings

__all__ = ["add_options", "read_settings"]

_FLAGS = ("keep", "reuse")
_METAVARS = {
    "component": "PATH",
    "cluster": "local|kind|kubeconfig",
    "kubeconfig": "FILE",
    "context": "NAME",
    "kind_image": "pyodo|IMAGE",
    "namespace": "NAME",
    "ttl": "DURATION",
    "timeout": "DURATION",
    "teardown": "background|wait",
    "devfile_registry": "URL|DIR[,...]",
    "layout": "auto|inject|init",
    "init_image": "IMAGE",
}


def _dest(key: str) -> str:
    return f"pyodo_{key}"


def add_options(parser: pytest.Parser) -> None:
    """One ``pyodo`` group; every option also settable as an ini value and a PYODO_* variable."""
    group = parser.getgroup("pyodo", "pyodo: deploy components to Kubernetes for tests")
    for setting in SETTINGS:
        help_text = f"{setting.help} [ini: {setting.ini}; env: {setting.env}]"
        if setting.key in _FLAGS:
            group.addoption(
                setting.option,
                action="store_true",
                default=None,
                dest=_dest(setting.key),
                help=help_text,
            )
        else:
            group.addoption(
                setting.option,
                action="append" if setting.key == "component" else "store",
                default=None,
                dest=_dest(setting.key),
                metavar=_METAVARS[setting.key],
                help=help_text,
            )
        parser.addini(
            setting.ini,
            help=f"{setting.help} (like {setting.option})",
            # Paths are resolved against the ini file's directory by pytest itself.
            type=_ini_type(setting.key),
            default=None,
        )


def sources(config: pytest.Config, environ: Mapping[str, str]) -> list[Source]:
    """The option, ini and environment sources, highest precedence first."""
    ini_base = config.inipath.parent if config.inipath is not None else config.rootpath
    return [
        Source(
            "option",
            {s.key: config.getoption(_dest(s.key)) for s in SETTINGS},
            config.invocation_params.dir,
        ),
        Source("ini", {s.key: config.getini(s.ini) for s in SETTINGS}, ini_base),
        env_source(environ),
    ]


def read_settings(
    config: pytest.Config, environ: Mapping[str, str] | None = None, *, check_devfiles: bool = True
) -> Settings:
    """Decide the settings; a bad value or combination is a usage error naming the fix.

    ``check_devfiles=False`` skips loading the components' devfiles: an xdist worker's
    controller has checked the same settings before starting it.
    """
    environ = os.environ if environ is None else environ
    try:
        return resolve_settings(sources(config, environ), environ, check_devfiles=check_devfiles)
    except ConfigError as exc:
        raise pytest.UsageError(f"pyodo: {exc}") from exc


def _ini_type(key: str) -> Literal["paths", "string"]:
    return "paths" if key == "component" else "string"
