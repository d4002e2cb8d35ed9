"""Docstrings point only at files that exist.

Every docstring (module, class, function) of ``pyodo_tasks`` and ``pytest_pyodo`` is scanned for
references into this repository:

- paths (``core/kube/pipe.py``, ``runtime/init/``, ``supervisor/*.go``, ``docs/push.md``) whose
  first folder is one of the repository's own folders: the file or folder must exist relative
  to the repository root, to ``pyodo_tasks/``, or to the docstring's module's folder or one of
  its parents inside the package (``kube/pipe.py`` from ``core/agent.py``); paths into a
  container or an example tree (``opt/odo-init/bin/``, ``src/app.py``) start elsewhere and are
  not checked;
- dotted names (``pyodo_tasks.host.run``): the longest prefix that is a module must be followed
  by at most a name that module defines.

A module that moves takes its references with it: this test names each stale one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pyodo_tasks", "pytest_pyodo")
SUFFIXES = ("py", "go", "md", "toml")
#: A path: folders, then a file with one of SUFFIXES, or nothing (a folder, ending in ``/``).
PATH = re.compile(
    r"(?<![\w./~$*{-])"
    rf"((?:[\w.*-]+/)+(?:[\w*-]+(?:\.[\w-]+)*\.(?:{'|'.join(SUFFIXES)})|))"
    r"(?![\w/{])"
)
DOTTED = re.compile(r"\b(?:pyodo_tasks|pytest_pyodo)(?:\.\w+)+")


def _repo_folders() -> set[str]:
    """Names of the folders a reference into the repository may start with."""
    names = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for package in PACKAGES:
        names |= {p.name for p in (ROOT / package).rglob("*") if p.is_dir()}
    return names - {"__pycache__"}


def _docstrings() -> Iterator[tuple[Path, int, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in [tree, *ast.walk(tree)]:
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    doc = ast.get_docstring(node, clean=False)
                    if doc:
                        yield path, getattr(node, "lineno", 1), doc


def _bases(module: Path) -> list[Path]:
    """Where a relative path in ``module``'s docstrings may start."""
    bases = [ROOT, ROOT / "pyodo_tasks"]
    folder = module.parent
    while folder != ROOT:
        bases.append(folder)
        folder = folder.parent
    return bases


def _exists(base: Path, reference: str) -> bool:
    if "*" in reference:
        return any(base.glob(reference.rstrip("/")))
    return (base / reference).exists()


def _stale_paths() -> list[str]:
    folders = _repo_folders()
    stale = []
    for path, line, doc in _docstrings():
        for match in PATH.finditer(doc):
            reference = match.group(1)
            first = reference.split("/", 1)[0]
            if first not in folders:
                continue
            if not any(_exists(base, reference) for base in _bases(path)):
                stale.append(f"{path.relative_to(ROOT)}:{line}: {reference}")
    return sorted(set(stale))


def _defines(module: Path, name: str) -> bool:
    source = module.read_text(encoding="utf-8")
    return bool(
        re.search(
            rf"^\s*(?:def|class|async def)\s+{name}\b|\b{name}\b\s*[:=]|"
            rf"\bimport\b.*\b{name}\b|\"{name}\"",
            source,
            re.MULTILINE,
        )
    )


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _stale_names() -> list[str]:
    stale = []
    for path, line, doc in _docstrings():
        for match in DOTTED.finditer(doc):
            parts = match.group(0).split(".")
            for cut in range(len(parts), 0, -1):
                module = _module_file(parts[:cut])
                if module is not None:
                    break
            assert module is not None
            rest = parts[cut:]
            if rest and not _defines(module, rest[0]):
                stale.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    return sorted(set(stale))


def test_docstring_paths_exist() -> None:
    assert _stale_paths() == []


def test_docstring_module_names_exist() -> None:
    assert _stale_names() == []


def test_the_scan_sees_references() -> None:
    """Guards the two tests above against patterns that match nothing."""
    folders = _repo_folders()
    checked = [
        m.group(1)
        for _, _, doc in _docstrings()
        for m in PATH.finditer(doc)
        if m.group(1).split("/", 1)[0] in folders
    ]
    assert len(checked) > 10
    assert "pyodo_tasks/runtime/supervisor/agent.go" in checked
    found = [m.group(1) for m in PATH.finditer("see `testbed/images/stage.py` and runtime/init/")]
    assert found == ["testbed/images/stage.py", "runtime/init/"]
    assert not any(_exists(base, found[0]) for base in _bases(ROOT / "pyodo_tasks" / "host.py"))
    assert DOTTED.findall("(:func:`pyodo_tasks.host.run`)") == ["pyodo_tasks.host.run"]
