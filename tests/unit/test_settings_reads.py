"""``PYODO_*`` environment variables are read in few places: the modules listed per layer.

A read is ``<environ>.get(NAME)``, ``<environ>[NAME]``, ``<environ>.pop(NAME)`` or
``os.getenv(NAME)`` where the mapping's expression mentions ``env`` and ``NAME`` is a
``"PYODO_…"`` literal or f-string, a constant holding one (``IMAGE_ENV``, ``REGISTRY_ENV``), a
function building one (``image_override_env_name``) or a setting's ``.env``. A new variable goes
into its layer's settings module; a layer that has none reads through the one below it (the doit
layer and the dev loop hand ``os.environ`` to the engine core's readers).
"""

from __future__ import annotations

import ast

from tests.unit.sources import ROOT, last_name, parsed

PREFIX = "PYODO_"

#: The modules that may read ``PYODO_*`` variables, per layer (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    # PYODO_CACHE_DIR (every layer's cache) and PYODO_DEBUG (how a failure is shown).
    "shared modules": {"pyodo_tasks/paths.py", "pyodo_tasks/failures.py"},
    # layout_settings (PYODO_LAYOUT, PYODO_INIT_IMAGE); the target (PYODO_KUBECONFIG,
    # PYODO_CONTEXT, PYODO_NAMESPACE); the devfile's image overrides and registry
    # (PYODO_IMAGE_<CONTAINER>, PYODO_DEVFILE_REGISTRY); PYODO_AGENT and PYODO_INDEX (delivery).
    "engine core": {
        "pyodo_tasks/core/inject.py",
        "pyodo_tasks/core/kube/target.py",
        "pyodo_tasks/core/devfile/loader.py",
        "pyodo_tasks/core/delivery.py",
    },
    "runtime": set(),
    "doit layer": set(),
    "dev loop": set(),
    # PYODO_CLUSTER_PROVIDER, the CLI's --provider default.
    "providers": {"pyodo_tasks/cluster/__main__.py"},
    "test bed": {"pyodo_tasks/testbed/settings.py"},
    "pytest plugin": {"pytest_pyodo/settings.py"},
}


def _builds_name(node: ast.expr | None) -> bool:
    """``node`` is a ``PYODO_…`` string, literal, f-string or ``"PYODO_" + …``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.startswith(PREFIX)
    if isinstance(node, ast.JoinedStr):
        return bool(node.values) and _builds_name(node.values[0])
    if isinstance(node, ast.BinOp):
        return _builds_name(node.left)
    return False


def _names_and_builders(modules: list[tuple[str, ast.Module]]) -> tuple[set[str], set[str]]:
    """Constants holding a ``PYODO_`` name (and their aliases); functions returning one."""
    constants: set[str] = set()
    builders: set[str] = set()
    while True:
        before = len(constants)
        for _, tree in modules:
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if _builds_name(node.value) or last_name(node.value) in constants:
                        constants |= {last_name(t) for t in targets} - {""}
                elif isinstance(node, ast.FunctionDef):
                    returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
                    if any(_builds_name(r.value) for r in returns):
                        builders.add(node.name)
        if len(constants) == before:
            return constants, builders


def _key_names_a_variable(key: ast.expr, constants: set[str], builders: set[str]) -> bool:
    if _builds_name(key):
        return True
    if isinstance(key, (ast.Name, ast.Attribute)):
        return last_name(key) in constants or last_name(key) == "env"
    if isinstance(key, ast.Call):
        return last_name(key.func) in builders
    return False


def _reads(tree: ast.Module, constants: set[str], builders: set[str]) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        mapping = key = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get", "pop", "getenv"):
                mapping, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            mapping, key = node.value, node.slice
        if mapping is None or key is None:
            continue
        getenv = isinstance(node, ast.Call) and last_name(node.func) == "getenv"
        if not getenv and "env" not in ast.unparse(mapping).lower():
            continue
        if _key_names_a_variable(key, constants, builders):
            lines.append(node.lineno)
    return lines


def _readers() -> dict[str, list[int]]:
    modules = list(parsed())
    constants, builders = _names_and_builders(modules)
    found = {name: _reads(tree, constants, builders) for name, tree in modules}
    return {name: lines for name, lines in found.items() if lines}


def test_pyodo_variables_are_read_only_in_each_layers_settings() -> None:
    allowed = set().union(*ALLOWED.values())
    outside = {name: lines for name, lines in _readers().items() if name not in allowed}
    assert outside == {}, "read PYODO_* variables in the layer's settings module (ALLOWED)"


def test_the_allowed_modules_exist() -> None:
    missing = [name for names in ALLOWED.values() for name in names if not (ROOT / name).exists()]
    assert missing == []


def test_the_scan_finds_the_reads_it_allows() -> None:
    """Guards the first test against a scan that finds nothing."""
    readers = _readers()
    for name in (
        "pyodo_tasks/testbed/settings.py",
        "pyodo_tasks/core/kube/target.py",
        "pyodo_tasks/core/devfile/loader.py",
        "pyodo_tasks/paths.py",
        "pytest_pyodo/settings.py",
    ):
        assert name in readers, name
    snippet = ast.parse(
        "os.environ.get('PYODO_X')\nenv[f'PYODO_{k}']\nself.environ.get(IMAGE_ENV)\nos.getenv(s.env)"
    )
    assert _reads(snippet, {"IMAGE_ENV"}, set()) == [1, 2, 3, 4]
