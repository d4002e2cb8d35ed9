"""Whatever a kubeconfig holds, resolving the target and building the client fails only with
pyodo's one-line errors (hypothesis, like test_devfile_fuzz.py, sized by the same profile:
300 examples in the full run). No cluster is contacted: building ``Kube`` only reads the file."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.errors import PyodoError

#: Examples per unit of size: the loaded profile's (tests/conftest.py).
UNIT = settings().max_examples
SEED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "dev",
    "clusters": [
        {
            "name": "local",
            "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
        },
        {"name": "other", "cluster": {"server": "https://127.0.0.1:7443"}},
    ],
    "users": [
        {"name": "admin", "user": {"token": "abc"}},
        {"name": "basic", "user": {"username": "u", "password": "p"}},
    ],
    "contexts": [
        {"name": "dev", "context": {"cluster": "local", "user": "admin", "namespace": "dev"}},
        {"name": "prod", "context": {"cluster": "other", "user": "basic"}},
    ],
}
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=12),
        st.sampled_from(["", "dev", "local", "admin", "https://", "http://[::1", "x" * 5000]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=5,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def kubeconfigs(draw: st.DrawFn) -> bytes:
    tree: Any = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(VALUES)
    data = yaml.safe_dump(tree).encode()
    if draw(st.integers(0, 9)) == 0:  # now and then, bytes that are not YAML or not UTF-8
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    return data


@pytest.fixture(scope="module")
def kubeconfig_path() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pyodo-kc-fuzz-") as tmp:
        yield Path(tmp) / "config"


@settings(max_examples=3 * UNIT)
@given(data=kubeconfigs(), context=st.sampled_from([None, "dev", "prod", "nope"]))
def test_mutated_kubeconfigs_fail_only_with_pyodo_errors(
    kubeconfig_path: Path, data: bytes, context: str | None
) -> None:
    kubeconfig_path.write_bytes(data)
    try:
        with Kube(Target(kubeconfig=str(kubeconfig_path), context=context)):
            pass
    except PyodoError as exc:
        assert "\n" not in str(exc), str(exc)
