"""What a test session is configured to do, decided once from every source.

Precedence, stated once (the first source that sets a value wins):

1. a fixture override (``pyodo_config``, ``pyodo_component_path``, ``pyodo_image_overrides``
   redefined in a ``conftest.py``) — applied by the fixtures, above everything here;
2. the command-line option (``--pyodo-cluster=kind``);
3. the ini value (``pyodo_cluster = kind`` in ``pytest.ini``/``pyproject.toml``);
4. the ``PYODO_*`` environment variable (``PYODO_CLUSTER_PROVIDER=kind``);
5. auto-detection: the cluster is ``kubeconfig`` when a kubeconfig can be found (the option, ini
   value or ``PYODO_KUBECONFIG``, else ``KUBECONFIG``, else ``~/.kube/config``) and ``local``
   otherwise.

A kubeconfig or context set through the environment while the option or ini value picks the
``local`` or ``kind`` cluster is ignored (the explicit choice wins); set through the option or ini
value, it is an error naming the fix. This module never imports pytest: the plugin turns its
:class:`~pyodo_tasks.errors.ConfigError` into ``pytest.UsageError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyodo_tasks.cluster import PROVIDERS
from pyodo_tasks.core.devfile import REGISTRY_ENV, registry_setting
from pyodo_tasks.core.kube import kubeconfig_paths
from pyodo_tasks.errors import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "SETTINGS",
    "TEARDOWN_MODES",
    "Settings",
    "Source",
    "env_source",
    "namespace_name",
    "parse_bool",
    "parse_duration",
    "resolve_settings",
]

#: Objects of a run may be collected by ``doit gc`` (or the next session) after this long.
DEFAULT_TTL = 4 * 3600.0
#: Bound on one deploy (the rollout wait of a push).
DEFAULT_TIMEOUT = 300.0

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Setting:
    """One setting and the name it has in each source (for lookups and error messages)."""

    key: str
    option: str
    ini: str
    env: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "component",
        "--pyodo-component",
        "pyodo_component",
        "PYODO_COMPONENT",
        "component directory (with a devfile.yaml) to deploy for pyodo_component/"
        "pyodo_endpoint; repeatable, the first is the default",
    ),
    Setting(
        "cluster",
        "--pyodo-cluster",
        "pyodo_cluster",
        "PYODO_CLUSTER_PROVIDER",
        "cluster provider: local, kind or kubeconfig (default: kubeconfig when a kubeconfig "
        "is found, else local)",
    ),
    Setting(
        "kubeconfig",
        "--pyodo-kubeconfig",
        "pyodo_kubeconfig",
        "PYODO_KUBECONFIG",
        "kubeconfig file for --pyodo-cluster=kubeconfig",
    ),
    Setting(
        "context",
        "--pyodo-context",
        "pyodo_context",
        "PYODO_CONTEXT",
        "kubeconfig context for --pyodo-cluster=kubeconfig (default: the current one)",
    ),
    Setting(
        "kind_image",
        "--pyodo-kind-image",
        "pyodo_kind_image",
        "PYODO_KIND_IMAGE",
        "node image for --pyodo-cluster=kind: `pyodo` builds one on this machine, any other "
        "value is an image ref (default: kind's own)",
    ),
    Setting(
        "namespace",
        "--pyodo-namespace",
        "pyodo_namespace",
        "PYODO_NAMESPACE",
        "deploy into this namespace instead of an ephemeral one per session and worker",
    ),
    Setting(
        "keep",
        "--pyodo-keep",
        "pyodo_keep",
        "PYODO_KEEP",
        "leave the namespace and objects after the session, for debugging",
    ),
    Setting(
        "reuse",
        "--pyodo-reuse",
        "pyodo_reuse",
        "PYODO_REUSE",
        "deploy into the kubeconfig's namespace (or --pyodo-namespace) and reuse a deployed "
        "component whose spec hash matches, e.g. one from `doit push`; nothing is deleted",
    ),
    Setting(
        "ttl",
        "--pyodo-ttl",
        "pyodo_ttl",
        "PYODO_TTL",
        "expiry label on the run's objects: `doit gc` may delete them after this long "
        "(seconds, or 30m, 4h, 1d; default 4h)",
    ),
    Setting(
        "timeout",
        "--pyodo-timeout",
        "pyodo_timeout",
        "PYODO_TIMEOUT",
        "bound on waiting for a deployed component to become ready (seconds or 5m; default 5m)",
    ),
    Setting(
        "teardown",
        "--pyodo-teardown",
        "pyodo_teardown",
        "PYODO_TEARDOWN",
        "at the end, background (default): delete the run's namespace and its pods and return, "
        "the namespace terminates on its own; wait: also wait until it is gone",
    ),
    Setting(
        "devfile_registry",
        "--pyodo-devfile-registry",
        "pyodo_devfile_registry",
        REGISTRY_ENV,
        "devfile registries for `parent: {id: …}`, tried before the devfile's registryUrl: "
        "comma-separated http(s) URLs or directories laid out as stacks/<id>/<version>/",
    ),
    Setting(
        "layout",
        "--pyodo-layout",
        "pyodo_layout",
        "PYODO_LAYOUT",
        "how pyodo's agent reaches the pod: inject (uploaded through exec: any cluster), init "
        "(seed 000's init containers from --pyodo-init-image) or auto (default: init where "
        "every node has the init image, else inject)",
    ),
    Setting(
        "init_image",
        "--pyodo-init-image",
        "pyodo_init_image",
        "PYODO_INIT_IMAGE",
        "pyodo's init image for the init layout, as the cluster pulls it (e.g. one pushed by "
        "`doit init_image`); setting it picks the init layout under auto",
    ),
)
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Source:
    """Raw values from one source: ``kind`` is ``option``, ``ini`` or ``env``.

    ``base`` is the directory relative paths in this source are resolved against (the
    invocation directory for options, the ini file's directory for ini values, the current
    directory for the environment). A value of ``None`` means "not set here".
    """

    kind: str
    values: Mapping[str, Any]
    base: Path

    def name_of(self, key: str) -> str:
        setting = _BY_KEY[key]
        return {"option": setting.option, "ini": setting.ini, "env": setting.env}[self.kind]


def env_source(environ: Mapping[str, str]) -> Source:
    """The ``PYODO_*`` variables of ``environ`` as a source: the plugin reads them only here."""
    return Source("env", {s.key: environ.get(s.env) for s in SETTINGS}, Path.cwd())


@dataclass(frozen=True)
class Settings:
    """The decided configuration of a session (override the ``pyodo_config`` fixture to change).

    ``origin`` maps each key to where its value came from (``--pyodo-cluster``,
    ``pyodo_cluster (ini)``, ``PYODO_CLUSTER_PROVIDER``, ``auto: …`` or ``default``), for the
    report header and error messages.
    """

    components: tuple[Path, ...] = ()
    cluster: str = "local"
    kubeconfig: Path | None = None
    context: str | None = None
    kind_image: str | None = None
    namespace: str | None = None
    keep: bool = False
    reuse: bool = False
    ttl: float = DEFAULT_TTL
    timeout: float = DEFAULT_TIMEOUT
    #: ``background`` or ``wait``: whether the session waits for its namespace to be gone.
    teardown: str = "background"
    #: Devfile registries for parents by id (``PYODO_DEVFILE_REGISTRY``'s value), or None.
    devfile_registry: str | None = None
    #: ``PYODO_LAYOUT`` and ``PYODO_INIT_IMAGE`` as decided (None: the component's default).
    layout: str | None = None
    init_image: str | None = None
    origin: Mapping[str, str] = field(default_factory=dict)

    def component_environ(self, environ: Mapping[str, str]) -> Mapping[str, str]:
        """``environ`` with ``PYODO_DEVFILE_REGISTRY``, ``PYODO_LAYOUT`` and
        ``PYODO_INIT_IMAGE`` set as decided (components read them)."""
        decided = {
            REGISTRY_ENV: self.devfile_registry,
            "PYODO_LAYOUT": self.layout,
            "PYODO_INIT_IMAGE": self.init_image,
        }
        chosen = {k: v for k, v in decided.items() if v}
        return {**environ, **chosen} if chosen else environ

    @property
    def configured(self) -> bool:
        """True when the user set anything pyodo (so the header and summary mention it)."""
        return any(not str(v).startswith(("auto", "default")) for v in self.origin.values())


def namespace_name(run_id: str, worker: str) -> str:
    """The ephemeral namespace of one session (``worker`` is ``main`` or xdist's ``gw0``…)."""
    return f"pyodo-{run_id}-{worker}"[:63].rstrip("-")


def parse_bool(text: str | bool, where: str) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{where}={text!r} is not a boolean: use true or false (or 1/0)")


def parse_duration(text: str | float, where: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``4h`` or ``1d``; must be positive."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text).lower())
        if match is None:
            raise ConfigError(
                f"{where}={text!r} is not a duration: use seconds or a number with s, m, h or d "
                "(e.g. 300, 30m, 4h)"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{where}={text!r}: the duration must be positive")
    return seconds


def _first(sources: Sequence[Source], key: str) -> tuple[Any, Source | None]:
    for source in sources:
        value = source.values.get(key)
        if value not in (None, "", [], ()):
            return value, source
    return None, None


def _label(source: Source, key: str) -> str:
    name = source.name_of(key)
    return f"{name} (ini)" if source.kind == "ini" else name


def _component_paths(value: Any, source: Source) -> list[tuple[str, Path]]:
    """``(as given, resolved)`` pairs; the environment separates paths with ``os.pathsep``."""
    if isinstance(value, (str, os.PathLike)):
        items: list[Any] = [p for p in str(value).split(os.pathsep) if p.strip()]
    else:
        items = list(value)
    given = [str(item).strip() for item in items]
    return [(text, (source.base / Path(text)).resolve()) for text in given]


def check_component(
    path: Path, where: str, environ: Mapping[str, str] | None = None, given: str | None = None
) -> Path:
    """Fail early, naming the fix, when ``path`` is not a component with a valid devfile."""
    shown = f"{where}={given if given is not None else path}"
    if not path.exists():
        raise ConfigError(
            f"{shown}: no such file or directory ({path}): point it at a component directory "
            "that holds a devfile.yaml"
        )
    from pyodo_tasks.core.devfile import load_devfile  # the parser: only when checking

    try:
        load_devfile(path, environ=environ)
    except ConfigError as exc:
        raise ConfigError(f"{shown}: {exc}") from exc
    return path


def _kubeconfig_found(explicit: Path | None, environ: Mapping[str, str]) -> str | None:
    """Where auto-detection found a kubeconfig, or None (kubectl's lookup order)."""
    home = Path(environ["HOME"]) if environ.get("HOME") else None
    try:
        paths = kubeconfig_paths(explicit, environ, home)
    except ConfigError:
        return None
    found = next((p for p in paths if explicit is not None or p.is_file()), None)
    if found is None:
        return None
    from_env = explicit is None and bool(environ.get("KUBECONFIG"))
    return f"KUBECONFIG={found}" if from_env else str(found)


class _Picker:
    """Reads each setting from the first source that sets it and records where it came from."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = sources
        self.origin: dict[str, str] = {}

    def pick(self, key: str) -> tuple[Any, Source | None]:
        value, source = _first(self.sources, key)
        if source is not None:
            self.origin[key] = _label(source, key)
        return value, source

    def flag(self, key: str) -> bool:
        value, source = self.pick(key)
        return False if source is None else parse_bool(value, source.name_of(key))

    def duration(self, key: str, default: float) -> float:
        value, source = self.pick(key)
        if source is None:
            self.origin[key] = "default"
            return default
        return parse_duration(value, source.name_of(key))


def resolve_settings(
    sources: Sequence[Source],
    environ: Mapping[str, str] | None = None,
    *,
    check_devfiles: bool = True,
) -> Settings:
    """Decide every setting from ``sources`` (highest precedence first) plus auto-detection.

    Raises :class:`ConfigError` naming the source and the fix for a bad value or combination.
    """
    environ = os.environ if environ is None else environ
    picker = _Picker(sources)
    devfile_registry = _registry(*picker.pick("devfile_registry"))
    if devfile_registry:
        environ = {**environ, REGISTRY_ENV: devfile_registry}
    components = _components(picker, environ, check_devfiles)
    cluster, kubeconfig, context = _cluster_target(picker, environ)
    return Settings(
        components=components,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        kind_image=_kind_image(picker, cluster),
        namespace=_namespace(picker),
        keep=picker.flag("keep"),
        reuse=picker.flag("reuse"),
        ttl=picker.duration("ttl", DEFAULT_TTL),
        timeout=picker.duration("timeout", DEFAULT_TIMEOUT),
        teardown=_choice(picker, "teardown", TEARDOWN_MODES),
        devfile_registry=devfile_registry,
        layout=_chosen(picker, "layout", _LAYOUTS),
        init_image=_text(picker, "init_image"),
        origin=picker.origin,
    )


_LAYOUTS = ("auto", "inject", "init")
#: ``--pyodo-teardown`` values, the default first (``pytest_pyodo.teardown`` acts on them).
TEARDOWN_MODES = ("background", "wait")


def _choice(picker: _Picker, key: str, choices: Sequence[str]) -> str:
    """One of ``choices`` (case-insensitive); the first when no source sets it."""
    text = _chosen(picker, key, choices)
    if text is None:
        picker.origin[key] = "default"
        return choices[0]
    return text


def _chosen(picker: _Picker, key: str, choices: Sequence[str]) -> str | None:
    """One of ``choices`` (case-insensitive) when a source sets ``key``, else None."""
    value, source = picker.pick(key)
    if source is None:
        return None
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{source.name_of(key)}={value!r}: write one of {', '.join(choices)}")
    return text


def _text(picker: _Picker, key: str) -> str | None:
    value, _ = picker.pick(key)
    return str(value).strip() or None if value is not None else None


def _components(
    picker: _Picker, environ: Mapping[str, str], check_devfiles: bool
) -> tuple[Path, ...]:
    raw, source = picker.pick("component")
    if source is None:
        return ()
    where = source.name_of("component")
    components = []
    for given, path in _component_paths(raw, source):
        if check_devfiles:
            check_component(path, where, environ, given)
        components.append(path)
    return tuple(components)


def _provider_name(raw: Any, source: Source | None) -> str | None:
    if source is None:
        return None
    cluster = str(raw).strip().lower()
    if cluster not in PROVIDERS:
        raise ConfigError(
            f"{source.name_of('cluster')}={raw!r} is not a cluster provider: "
            f"use one of {', '.join(PROVIDERS)}"
        )
    return cluster


def _cluster_target(
    picker: _Picker, environ: Mapping[str, str]
) -> tuple[str, Path | None, str | None]:
    """``(cluster, kubeconfig, context)``: explicit choices, their conflicts, auto-detection."""
    raw_cluster, cluster_source = picker.pick("cluster")
    raw_kubeconfig, kc_source = picker.pick("kubeconfig")
    raw_context, ctx_source = picker.pick("context")
    cluster = _provider_name(raw_cluster, cluster_source)
    kubeconfig: Path | None = None
    if kc_source is not None:
        kubeconfig = (kc_source.base / Path(str(raw_kubeconfig)).expanduser()).resolve()
    context = str(raw_context).strip() if ctx_source is not None else None
    if cluster_source is not None and cluster in ("local", "kind"):
        if _own_target_ignores(picker, cluster, cluster_source, "kubeconfig", kc_source):
            kubeconfig = None
        if _own_target_ignores(picker, cluster, cluster_source, "context", ctx_source):
            context = None
    if cluster is None:
        found = _kubeconfig_found(kubeconfig, environ)
        cluster = "kubeconfig" if found else "local"
        picker.origin["cluster"] = (
            f"auto: kubeconfig {found}" if found else "auto: no kubeconfig found"
        )
    if cluster == "kubeconfig":
        _check_kubeconfig(picker, kubeconfig, raw_kubeconfig, kc_source, environ)
    return cluster, kubeconfig, context


def _own_target_ignores(
    picker: _Picker, cluster: str, cluster_source: Source, key: str, source: Source | None
) -> bool:
    """True when a local/kind choice ignores ``key`` because only the environment set it.

    A kubeconfig or context given to pytest itself contradicts that choice: an error.
    """
    if source is None:
        return False
    if source.kind == "env" and cluster_source.kind != "env":
        picker.origin.pop(key)
        return True
    fixed = "its own kubeconfig" if key == "kubeconfig" else "its own context"
    raise ConfigError(
        f"{source.name_of(key)} does not apply to "
        f"{cluster_source.name_of('cluster')}={cluster} (that cluster has {fixed}): "
        f"drop {source.name_of(key)}, or use {cluster_source.name_of('cluster')}=kubeconfig"
    )


def _check_kubeconfig(
    picker: _Picker,
    kubeconfig: Path | None,
    raw: Any,
    source: Source | None,
    environ: Mapping[str, str],
) -> None:
    if _kubeconfig_found(kubeconfig, environ) is None:
        raise ConfigError(
            f"{picker.origin['cluster']}=kubeconfig but no kubeconfig was found: pass "
            "--pyodo-kubeconfig=FILE, set KUBECONFIG, or use --pyodo-cluster=local"
        )
    if source is not None and kubeconfig is not None and not kubeconfig.is_file():
        raise ConfigError(
            f"{source.name_of('kubeconfig')}={raw}: no such file (pass the "
            "path of an existing kubeconfig, or print the local cluster's with "
            "`python -m pyodo_tasks.cluster kubeconfig`)"
        )


def _kind_image(picker: _Picker, cluster: str) -> str | None:
    """The kind node image; given to pytest for another cluster it is a contradiction."""
    raw, source = picker.pick("kind_image")
    if source is None:
        return None
    if cluster != "kind":
        if source.kind != "env":
            raise ConfigError(
                f"{source.name_of('kind_image')} applies only to --pyodo-cluster=kind "
                f"(the cluster is {cluster}): drop it or choose the kind cluster"
            )
        picker.origin.pop("kind_image")
        return None
    return str(raw).strip()


def _namespace(picker: _Picker) -> str | None:
    raw, source = picker.pick("namespace")
    if source is None:
        return None
    namespace = str(raw).strip()
    if len(namespace) > 63 or not _DNS1123_LABEL.match(namespace):
        raise ConfigError(
            f"{source.name_of('namespace')}={raw!r} is not a valid namespace "
            "name: use at most 63 lowercase letters, digits and '-', starting and ending "
            "with a letter or digit"
        )
    return namespace


def _registry(value: Any, source: Source | None) -> str | None:
    """Registries as one comma-separated string; relative directories against the source."""
    if source is None or not value:
        return None
    items = []
    for item in registry_setting(str(value)):
        if item.startswith(("http://", "https://")):
            items.append(item)
        else:
            items.append(str((source.base / Path(item).expanduser()).resolve()))
    return ",".join(items)
