"""``doit why PATH…`` without a cluster: the index's rule explanations, and :func:`why` driven
through the in-memory ``Kube`` fake whose exec handler runs the sync's ``tar``/``rm`` and the
verifier's ``b2sum`` script for real, on a local directory standing in for the container's
``/projects`` (as tests/unit/test_verify.py runs ``b2sum`` itself)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.index import FileIndex, IgnoreRule
from pyodo_tasks.core.kube import ExecResult
from pyodo_tasks.core.why import relative_path, why
from pyodo_tasks.errors import ConfigError
from pyodo_tasks.tasks import ComponentTasks
from pyodo_tasks.tasks.guard import Reporter, failing_tasks
from pyodo_tasks.tasks.params import TASK_PARAMS
from pyodo_tasks.tasks.why import format_json, format_text
from tests.commands import doit, user_environ
from tests.fakes.apps import offline_component, write_app
from tests.fakes.kube import FakeKube

ROOT = Path(__file__).parents[2]
DEST = "/projects"
GITIGNORE = "# build output\n*.log\n\nnode_modules/\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    files = {"server.js": "console.log('hi')\n", ".gitignore": GITIGNORE, "debug.log": "noise\n"}
    return write_app(tmp_path, files=files)


@pytest.fixture
def pod_dir(tmp_path: Path) -> Path:
    """What the app container's ``/projects`` holds."""
    return tmp_path / "pod"


@pytest.fixture
def kube(pod_dir: Path) -> FakeKube:
    kube = FakeKube(auto_rollout=True)

    def local(arg: str) -> str:
        if arg == DEST or arg.startswith(DEST + "/"):
            return str(pod_dir) + arg[len(DEST) :]
        return arg

    def handler(pod: str, argv: tuple[str, ...], container: str | None, data: bytes | None):
        real = argv[0] in ("mkdir", "tar", "rm") or "pyodo-verify" in argv
        if not real:
            return ExecResult(argv, 0, b"", b"")
        out = subprocess.run([local(a) for a in argv], input=data, capture_output=True, check=False)
        return ExecResult(argv, out.returncode, out.stdout, out.stderr)

    kube.exec_handler = handler
    return kube


@pytest.fixture
def component(source: Path, kube: FakeKube, tmp_path: Path) -> Component:
    return offline_component(source, tmp_path / "state", kube)


def b2sum_execs(kube: FakeKube) -> int:
    return sum(1 for _, argv, _, _ in kube.execs if "pyodo-verify" in argv)


# -- the index's explanations -------------------------------------------------------------------
def test_an_ignored_path_names_the_ignore_file_and_its_line(source: Path) -> None:
    found = FileIndex(source).explain("debug.log")
    assert found.ignored and found.under is None
    assert found.rule == IgnoreRule(".gitignore", 2, "*.log")
    assert str(found.rule) == ".gitignore:2: *.log"


def test_nested_files_negations_and_ignored_directories(source: Path) -> None:
    (source / "web").mkdir()
    (source / "web" / ".gitignore").write_text("*.tmp\n")
    (source / "web" / ".pyodoignore").write_text("\n!keep.log\n")
    index = FileIndex(source, extra_ignores=["*.bak"])
    keep = index.explain("web/keep.log")
    assert not keep.ignored and keep.rule == IgnoreRule("web/.pyodoignore", 2, "!keep.log")
    assert index.explain("web/a.tmp").rule == IgnoreRule("web/.gitignore", 1, "*.tmp")
    inside = index.explain("node_modules/left-pad/index.js")
    assert inside.ignored and inside.under == "node_modules"
    assert inside.rule == IgnoreRule(".gitignore", 4, "node_modules/")
    assert index.explain("x.bak").rule == IgnoreRule("extra patterns", 1, "*.bak")
    assert index.explain("server.js").rule is None
    git = index.explain(".git/config")
    assert git.ignored and git.under == ".git" and git.rule and git.rule.line is None


def test_explain_agrees_with_the_scan_on_every_path(source: Path) -> None:
    (source / "web" / "dist").mkdir(parents=True)
    (source / "web" / ".gitignore").write_text("dist/\n!*.log\n")
    (source / "web" / ".pyodoignore").write_text("!dist/\n")
    for rel in ("web/dist/a.js", "web/b.log", "web/c.js", "node_modules/m/i.js", "a/b/c.log"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(rel)
    index = FileIndex(source)
    scanned = set(index.scan())
    every = {p.relative_to(source).as_posix() for p in source.rglob("*")}
    assert {p for p in every if not index.explain(p).ignored} == scanned


def test_a_commit_records_its_time_and_an_older_index_reads_as_unknown(source: Path) -> None:
    index = FileIndex(source)
    before = time.time_ns()
    index.commit(index.scan())
    loaded = index.load()
    assert loaded is not None and loaded.committed_at_ns is not None
    assert loaded.committed_at_ns >= before
    doc = json.loads(index.index_path.read_text())
    del doc["committed_at_ns"]  # as pyodo wrote it before
    index.index_path.write_text(json.dumps(doc))
    old = index.load()
    assert old is not None and old.committed_at_ns is None


# -- why() through the fake -------------------------------------------------------------------
def test_ignored_by_a_gitignore_rule(component: Component, kube: FakeKube) -> None:
    component.push(timeout=1)
    item = why(component, ["debug.log"]).paths[0]
    assert item.local_state == "ignored" and item.entry is None
    assert item.ignore.rule == IgnoreRule(".gitignore", 2, "*.log")
    assert item.pod_state == "absent"


def test_synced_and_matching_in_one_exec(component: Component, kube: FakeKube) -> None:
    component.push(timeout=1)
    kube.execs.clear()
    report = why(component, ["server.js", "devfile.yaml", "debug.log"])
    assert b2sum_execs(kube) == 1
    server = report.paths[0]
    assert server.local_state == "same" and server.pod_state == "same"
    assert server.entry is not None and server.entry.digest == server.pod_digest
    assert report.pod == "app-pod" and report.synced_at_ns is not None
    text = format_text(report)
    assert "server.js: in sync: the pod has this version" in text
    assert "debug.log: not synced: ignored by .gitignore:2 (*.log)" in text


def test_stale_after_a_local_edit(component: Component, source: Path) -> None:
    component.push(timeout=1)
    (source / "server.js").write_text("console.log('edited, not pushed')\n")
    item = why(component, ["server.js"]).paths[0]
    assert item.local_state == "stale" and item.pod_state == "synced"
    assert item.pod_digest == item.index_digest != item.local_digest
    assert "changed here since the last sync" in format_text(why(component, ["server.js"]))


def test_deleted_locally(component: Component, source: Path) -> None:
    component.push(timeout=1)
    (source / "server.js").unlink()
    item = why(component, [str(source / "server.js")]).paths[0]  # absolute, inside
    assert item.local is None and item.local_state == "deleted"
    assert item.pod_state == "synced"


def test_never_synced(component: Component, source: Path) -> None:
    component.push(timeout=1)
    (source / "new.js").write_text("1\n")
    item = why(component, ["new.js"]).paths[0]
    assert item.local_state == "unsynced" and item.entry is None and item.pod_state == "absent"
    assert "synced  never" in format_text(why(component, ["new.js"]))


def test_changed_in_the_container(component: Component, pod_dir: Path) -> None:
    component.push(timeout=1)
    (pod_dir / "server.js").write_text("changed behind pyodo's back\n")
    item = why(component, ["server.js"]).paths[0]
    assert item.local_state == "same" and item.pod_state == "differs"


def test_no_pod_is_said_not_raised(component: Component, kube: FakeKube) -> None:
    report = why(component, ["server.js"])
    assert report.pod is None and "no pod of component app runs" in report.pod_note
    assert report.paths[0].pod_state == "unknown" and kube.execs == []
    assert report.paths[0].local_state == "unsynced"
    assert "last synced never" in format_text(report)


def test_an_older_index_says_unknown(component: Component) -> None:
    component.push(timeout=1)
    path = component.index().index_path
    doc = json.loads(path.read_text())
    del doc["committed_at_ns"]
    path.write_text(json.dumps(doc))
    report = why(component, ["server.js"])
    assert report.synced_at_ns is None
    assert "synced  unknown" in format_text(report)
    assert json.loads(format_json(report))["paths"][0]["pod_state"] == "same"


@pytest.mark.parametrize("raw", ["../elsewhere.js", "/etc/passwd", ".", ""])
def test_a_path_outside_the_component_names_the_fix(source: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match="give one relative to that directory"):
        relative_path(source, raw)


def test_paths_inside_are_made_relative(source: Path) -> None:
    assert relative_path(source, "./src/../server.js") == "server.js"
    assert relative_path(source, str(source / "web" / "x.js")) == "web/x.js"


# -- the task -----------------------------------------------------------------------------------
def test_the_task_takes_paths_and_a_json_switch() -> None:
    tasks = {t["basename"]: t for t in ComponentTasks(ROOT / "examples" / "nodejs").tasks()}
    task = tasks["why"]
    assert task["pos_arg"] == "paths"
    options = {p["name"] for p in task["params"]}
    assert {"namespace", "context", "kubeconfig", "as_json"} <= options
    stand_in = next(failing_tasks([("why", TASK_PARAMS["why"])], RuntimeError("boom")))
    assert stand_in["pos_arg"] == "paths"


def test_the_json_document_is_all_of_stdout() -> None:
    class Task:
        name = "why"
        actions = ("an action",)

        def __init__(self, as_json: bool) -> None:
            self.options = {"as_json": as_json}

        def title(self) -> str:
            return self.name

    out = io.StringIO()
    Reporter(out, {}).execute_task(Task(as_json=True))
    Reporter(out, {}).execute_task(Task(as_json=False))
    assert out.getvalue() == ".  why\n"


def test_doit_why_outside_the_component_is_one_line(tmp_path: Path) -> None:
    example = tmp_path / "nodejs"
    example.mkdir()
    for name in ("devfile.yaml", "dodo.py", "server.js"):
        (example / name).write_text((ROOT / "examples" / "nodejs" / name).read_text())
    env = user_environ(KUBECONFIG=str(tmp_path / "none"))
    out = doit(example, "why", "../elsewhere.js", env=env, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"pyodo: doit why: '../elsewhere.js' is not a path inside the component directory "
        f"{example}: give one relative to that directory (e.g. server.js) or an absolute path "
        "inside it"
    ]
