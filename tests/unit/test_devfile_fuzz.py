"""Whatever a devfile holds, loading and rendering it fails only with pyodo's own one-line errors.

Property-based (hypothesis): thousands of devfiles mutated from the repo's examples and
fixtures — byte flips, truncation, inserted and deleted bytes, other encodings, keys deleted,
values swapped for other types, huge values, a mutated child on a mutated ``parent:``, a parent
``uri`` that is any string or bytes or names a loopback server that misbehaves (closes early,
sends garbage, redirects in a loop or off http(s), answers too much) — go through
``load_devfile`` and ``render``. Any
exception that is not a :class:`~pyodo_tasks.errors.PyodoError` would reach a user as a
traceback (or a "pyodo bug" line), so it fails the test.

Sizes are in units of the hypothesis profile (tests/conftest.py): 2,900 examples in all in
``./run test`` (``PYODO_FUZZ=full``, about 30 s here), a fifth of them in the fast tier;
``PYODO_FUZZ=full PYODO_FUZZ_SCALE=20 pytest -k fuzz`` searches twenty times as long.
"""

from __future__ import annotations

import copy
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core.render import RenderContext, render, spec_hash
from pyodo_tasks.errors import PyodoError
from tests.fakes.http_servers import HOW, MisbehavingServer, misbehaving_server

ROOT = Path(__file__).parents[2]
SEEDS = sorted(
    [*ROOT.glob("examples/*/devfile.yaml"), *ROOT.glob("fixtures/devfiles/*.yaml")],
    key=str,
)
SEED_BYTES = [path.read_bytes() for path in SEEDS]
SEED_TREES = [yaml.safe_load(data) for data in SEED_BYTES]
#: Examples per unit of size: the loaded profile's (100 in the full run, 20 in the fast tier).
UNIT = settings().max_examples


@pytest.fixture(scope="module")
def devfile_path() -> Iterator[Path]:
    """One file rewritten by every example (hypothesis reruns a test body many times)."""
    with tempfile.TemporaryDirectory(prefix="pyodo-fuzz-") as tmp:
        yield Path(tmp) / "devfile.yaml"


def check(path: Path, data: bytes) -> None:
    """Load and render ``data``; only PyodoError may come out, as one short line."""
    path.write_bytes(data)
    try:
        devfile = load_devfile(path, environ={})
        objects = render(devfile, RenderContext(namespace="fuzz"))
        spec_hash(objects)
    except PyodoError as exc:
        message = str(exc)
        assert "\n" not in message, f"not one line: {message!r}"
        assert len(message) < 2000, f"not short: {len(message)} characters"


# -- byte-level mutations -------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEED_BYTES)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate"]))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def reencoded(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SEED_BYTES)).decode("utf-8")
    encoding = draw(st.sampled_from(["utf-16", "utf-16-be", "utf-32", "utf-8-sig", "latin-1"]))
    if encoding == "latin-1":  # valid latin-1 that is not UTF-8: an accent in a value
        text = text.replace("name: ", "name: caf\xe9-", 1)
    return text.encode(encoding, errors="replace")


@settings(max_examples=15 * UNIT)
@given(data=mutated_bytes())
def test_byte_mutated_devfiles_fail_only_with_pyodo_errors(devfile_path: Path, data: bytes) -> None:
    check(devfile_path, data)


@settings(max_examples=1 * UNIT)
@given(data=reencoded())
def test_devfiles_in_other_encodings_fail_only_with_pyodo_errors(
    devfile_path: Path, data: bytes
) -> None:
    check(devfile_path, data)


# -- structure-level mutations --------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    # Huge values are one pick among several: pure-Python YAML reads 100 KB in about 50 ms.
    st.sampled_from(
        ["", " ", "-", "0", "1e9", "${PROJECT_SOURCE}", "${UNDEFINED}", "a" * 300, "x" * 100_000]
    ),
)
#: The C emitter when PyYAML has it: the pure-Python one would be most of the test's time.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in the tree (dict keys and list indexes)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


@st.composite
def mutated_trees(draw: st.DrawFn) -> bytes:
    tree = copy.deepcopy(draw(st.sampled_from(SEED_TREES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(tree, path)
        how = draw(st.sampled_from(["delete", "replace", "replace", "duplicate"]))
        if how == "delete":
            del parent[path[-1]]
        elif how == "replace":
            parent[path[-1]] = draw(VALUES)
        elif isinstance(parent, list):  # the same entry twice: duplicate names and ids
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = [parent[path[-1]], parent[path[-1]]]
    if draw(st.booleans()):
        tree = draw(st.sampled_from([tree, [tree], None, "text", 7]))
    text = yaml.dump(tree, Dumper=DUMPER, allow_unicode=draw(st.booleans()))
    return text.encode("utf-8")


@settings(max_examples=7 * UNIT)
@given(data=mutated_trees())
def test_structurally_mutated_devfiles_fail_only_with_pyodo_errors(
    devfile_path: Path, data: bytes
) -> None:
    check(devfile_path, data)


# -- parents: a mutated child on a mutated parent, with mutated overrides ----------------------

OVERRIDES = ("components", "commands", "variables", "attributes", "projects")


@st.composite
def parent_chains(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(child, parent): the child names ``parent.yaml`` by uri and may override its parts."""
    parent = draw(st.one_of(mutated_trees(), mutated_bytes()))
    child = copy.deepcopy(draw(st.sampled_from(SEED_TREES)))
    if draw(st.booleans()):  # the child's own body: none, or (some of) a seed's
        for key in draw(st.lists(st.sampled_from(sorted(child)), max_size=4)):
            child.pop(key, None)
    reference: dict[str, Any] = {"uri": "parent.yaml"}
    for key in draw(st.lists(st.sampled_from(OVERRIDES), max_size=2, unique=True)):
        donor = draw(st.sampled_from(SEED_TREES)).get(key)
        reference[key] = draw(st.one_of(st.just(copy.deepcopy(donor)), VALUES))
    child["parent"] = reference
    return yaml.dump(child, Dumper=DUMPER).encode("utf-8"), parent


@settings(max_examples=4 * UNIT)
@given(files=parent_chains())
def test_mutated_parent_chains_fail_only_with_pyodo_errors(
    devfile_path: Path, files: tuple[bytes, bytes]
) -> None:
    child, parent = files
    (devfile_path.parent / "parent.yaml").write_bytes(parent)
    check(devfile_path, child)


# -- parent uri resolution: any string, any bytes, servers that misbehave ---------------------

#: Beginnings that steer a drawn string into each branch of uri resolution.
URI_PREFIXES = (
    "",
    "/",
    "./",
    "../",
    "//",
    "file://",
    "file:///",
    "http://",
    "https://",
    "http://[",
    "http://127.0.0.1:",
    "https://{{ host }}/",
    "ftp://",
    "C:\\",
    "https://example.invalid/",
)


@pytest.fixture(scope="module")
def fetch_sandbox() -> Iterator[MisbehavingServer]:
    """A misbehaving loopback server; a throw-away parent cache; and no name resolution but
    loopback's (an offline machine: no drawn host name is ever looked up on the network)."""
    resolve = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "name resolution is off in this test")
        return resolve(host, *args, **kwargs)

    with (
        tempfile.TemporaryDirectory(prefix="pyodo-fuzz-cache-") as cache,
        pytest.MonkeyPatch.context() as patch,
        misbehaving_server() as server,
    ):
        patch.setenv("PYODO_CACHE_DIR", cache)
        patch.setattr(socket, "getaddrinfo", loopback_only)
        yield server


@st.composite
def parent_uris(draw: st.DrawFn, server: MisbehavingServer) -> Any:
    """A ``parent.uri``: any string (steered by a prefix), any bytes, or a server's URL."""
    kind = draw(st.sampled_from(["text", "text", "bytes", "server", "server"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "text":
        return draw(st.sampled_from(URI_PREFIXES)) + draw(st.text(max_size=40))
    how = draw(st.sampled_from([h for h in HOW if h != "trickle"]))  # trickle: its own test
    body = draw(st.one_of(st.binary(max_size=200), st.sampled_from(SEED_BYTES)))
    scheme = draw(st.sampled_from(["http", "https"]))
    return server.url(how, body, scheme) + draw(st.sampled_from(["", "?q=1", "#x", "/../y"]))


@settings(max_examples=2 * UNIT)
@given(data=st.data())
def test_any_parent_uri_fails_only_with_pyodo_errors(
    devfile_path: Path, fetch_sandbox: MisbehavingServer, data: st.DataObject
) -> None:
    child = copy.deepcopy(data.draw(st.sampled_from(SEED_TREES)))
    child["parent"] = {"uri": data.draw(parent_uris(fetch_sandbox))}
    check(devfile_path, yaml.dump(child, Dumper=DUMPER).encode("utf-8"))


# -- YAML that is valid but hostile ---------------------------------------------------------

HOSTILE = [
    b"schemaVersion: 2.2.0\nmetadata: {name: 2020-13-45}\n",  # a date YAML cannot construct
    b"schemaVersion: 2020-02-30\n",
    b"[" * 5000 + b"]" * 5000,  # nesting deeper than the recursion limit
    b"a: &a [*a]\n",  # a self-referencing alias
    b"!!python/object:os.system {}\n",
    b"schemaVersion: 2.2.0\nmetadata: {name: x}\ncomponents: !!set {a, b}\n",
    b"? [a, b]\n: c\n",  # a key that is a list
    b"schemaVersion: 2.2.0\nmetadata: {name: x}\n" + b"x: 1\n" * 5_000,
    b"\x00\x01\x02",
    b"\xef\xbb\xbf",  # a BOM and nothing else
    b"",
]


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_yaml_fails_only_with_pyodo_errors(devfile_path: Path, data: bytes) -> None:
    check(devfile_path, data)
