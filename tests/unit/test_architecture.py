"""``docs/architecture.md`` is drawn from the code: its layers and contracts match what
``lint-imports`` checks (``[[tool.importlinter.contracts]]`` in ``pyproject.toml``).

- the doc's numbered contract list ("The contracts, as `lint-imports` checks them:") has one
  item per contract, in ``pyproject.toml``'s order;
- each item names, in backticks, every package or module its contract lists as a source or as
  forbidden (``pyodo_tasks.runtime`` may be written `runtime`; ``core.**`` as `core.**`);
- the diagram shows every top-level subpackage (``pyodo_tasks/<name>/``) and module
  (``<name>.py``) of ``pyodo_tasks``.

Add a contract or a package and this test names what the doc is missing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomllib is new in 3.11; tomli is the same parser, when installed
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomli on 3.10")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "pyodo_tasks"
LIST_HEADING = "The contracts, as `lint-imports` checks them:"
PREFIX = "pyodo_tasks."


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _doc_items(text: str) -> list[str]:
    """The numbered items after :data:`LIST_HEADING`, each with its continuation lines."""
    assert LIST_HEADING in text, f"{DOC.name} lost the line {LIST_HEADING!r}"
    items: list[str] = []
    for line in text.split(LIST_HEADING, 1)[1].lstrip("\n").splitlines():
        if re.match(r"\d+\. ", line):
            items.append(line)
        elif items and line.startswith("   ") and line.strip():
            items[-1] += "\n" + line
        else:
            break
    return items


def _diagram(text: str) -> str:
    match = re.search(r"^```\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert match, f"{DOC.name} has no diagram (a ``` block)"
    return match.group(1)


def _spellings(module: str) -> set[str]:
    """How the doc may write ``module`` in backticks."""
    short = module.removeprefix(PREFIX)
    return {module, short}


def test_the_doc_lists_one_item_per_contract() -> None:
    contracts, items = _contracts(), _doc_items(_doc())
    assert len(items) == len(contracts), (
        f"{DOC.name} lists {len(items)} contracts, pyproject.toml has {len(contracts)}: "
        + "; ".join(c["name"] for c in contracts)
    )
    numbers = [int(item.split(".", 1)[0]) for item in items]
    assert numbers == list(range(1, len(items) + 1))


def test_each_item_names_its_contracts_modules() -> None:
    contracts, items = _contracts(), _doc_items(_doc())
    missing = []
    for number, (contract, item) in enumerate(zip(contracts, items, strict=False), start=1):
        quoted = set(re.findall(r"`([^`]+)`", item))
        named = [*contract.get("source_modules", []), *contract.get("forbidden_modules", [])]
        missing += [
            f"item {number} ({contract['name']}): `{module}`"
            for module in named
            if not _spellings(module) & quoted
        ]
    assert missing == [], f"{DOC.name}'s contract list does not name these in backticks"


def test_the_diagram_shows_every_subpackage_and_module() -> None:
    diagram = _diagram(_doc())
    subpackages = sorted(
        p.parent.name for p in PACKAGE.glob("*/__init__.py") if not p.parent.name.startswith("_")
    )
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if not p.name.startswith("__"))
    assert subpackages and modules
    missing = [f"pyodo_tasks/{name}/" for name in subpackages]
    missing = [folder for folder in missing if folder not in diagram]
    missing += [name for name in modules if not re.search(rf"(?<!\w){re.escape(name)}", diagram)]
    assert missing == [], f"{DOC.name}'s diagram does not show these"


def test_the_parsers_read_this_doc() -> None:
    """The list and the diagram are found at all (guards the three tests above)."""
    text = _doc()
    assert _doc_items(text)[0].startswith("1. ")
    assert "pyodo_tasks/core/" in _diagram(text)
