"""Which file events reach the loop: the index's own rules decide, state files never do."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import watchfiles
from watchfiles import Change

from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.rescan import LiveTree
from pyodo_tasks.dev.client import DevClient
from pyodo_tasks.dev.display import PlainDisplay
from pyodo_tasks.dev.files import SourceWatcher, WatchFilter, relevant_paths, tree_paths
from pyodo_tasks.dev.state import Spec, spec_name
from tests.fakes.kube import FakeKube

DEVFILE = "schemaVersion: 2.2.0\nmetadata: {name: app}\n"


def make_tree(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "devfile.yaml").write_text(DEVFILE)
    (root / "src" / "app.js").write_text("ok\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    return root.resolve()


def test_watch_filter_drops_git_pyodo_and_doit_databases(tmp_path: Path) -> None:
    state = tmp_path / "state"
    keep = WatchFilter(state)
    assert keep(Change.modified, str(tmp_path / "src" / "app.js"))
    assert not keep(Change.modified, str(tmp_path / ".git" / "index"))
    assert not keep(Change.added, str(tmp_path / ".pyodo" / "index-abc.json"))
    assert not keep(Change.modified, str(tmp_path / ".doit.db"))
    assert not keep(Change.modified, str(tmp_path / ".doit.db.dat"))
    assert not keep(Change.modified, str(state.resolve() / "state.json"))
    assert keep(Change.modified, str(tmp_path / "doit.db.txt"))


def test_only_paths_the_index_tracks_are_relevant(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    index = FileIndex(root)
    before = index.scan()
    (root / "debug.log").write_text("noise\n")
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_text("x")
    (root / "src" / "app.js").write_text("changed\n")
    after = index.scan()
    changed = [str(root / p) for p in ("debug.log", "build", "build/out.bin", "src/app.js")]
    assert relevant_paths(changed, root, before, after) == ["src/app.js"]


def test_deleted_and_renamed_files_are_relevant(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    index = FileIndex(root)
    before = index.scan()
    (root / "src" / "app.js").rename(root / "src" / "main.js")
    after = index.scan()
    changed = [str(root / "src" / "app.js"), str(root / "src" / "main.js")]
    assert relevant_paths(changed, root, before, after) == ["src/app.js", "src/main.js"]


def test_paths_outside_the_root_or_the_root_itself_are_not_relevant(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    snap = FileIndex(root).scan()
    assert relevant_paths([str(tmp_path / "elsewhere.js"), str(root)], root, snap, snap) == []


def test_a_new_directory_reported_alone_counts_and_the_rescan_finds_its_files(
    tmp_path: Path,
) -> None:
    root = make_tree(tmp_path / "c")
    index = FileIndex(root)
    before = index.scan()
    (root / "lib" / "deep").mkdir(parents=True)
    (root / "lib" / "deep" / "util.js").write_text("u\n")
    after = index.scan()
    # watchfiles may report only the top directory (samuelcolvin/watchfiles#245)
    assert relevant_paths([str(root / "lib")], root, before, after) == ["lib"]
    assert "lib/deep/util.js" in after


class SpecKube(FakeKube):
    """The shared fake cluster; ``applied`` is every object written, in order."""

    @property
    def applied(self) -> list[dict[str, Any]]:
        return [args[0] for method, args in self.calls if method == "apply"]


def make_client(root: Path, kube: SpecKube) -> DevClient:
    return DevClient(
        kube,  # type: ignore[arg-type]
        "app",
        root / "devfile.yaml",
        FileIndex(root),
        PlainDisplay(io.StringIO()),
    )


def published(kube: SpecKube) -> list[Spec]:
    return [Spec.from_data(obj["data"]) for obj in kube.applied]


def test_client_publishes_a_new_generation_only_for_relevant_edits(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    kube = SpecKube()
    client = make_client(root, kube)
    first = client.start()
    assert first.generation == 1 and first.devfile == DEVFILE
    (root / "debug.log").write_text("noise\n")
    client.on_files({(Change.added, str(root / "debug.log"))})
    assert len(kube.applied) == 1, "an ignored file changes nothing"
    (root / "src" / "app.js").write_text("edited\n")
    client.on_files({(Change.modified, str(root / "src" / "app.js"))})
    specs = published(kube)
    assert [s.generation for s in specs] == [1, 2]
    assert specs[1].source_digest != specs[0].source_digest


def test_client_publishes_devfile_edits_with_the_new_text(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    kube = SpecKube()
    client = make_client(root, kube)
    client.start()
    (root / "devfile.yaml").write_text(DEVFILE + "# edited\n")
    client.on_files({(Change.modified, str(root / "devfile.yaml"))})
    assert published(kube)[-1].devfile.endswith("# edited\n")


def test_client_continues_the_generation_of_an_earlier_session(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    kube = SpecKube()
    earlier = Spec("old", "d", 41).to_data()
    kube.objects[("ns", "ConfigMap", spec_name("app"))] = {
        "kind": "ConfigMap",
        "metadata": {"name": spec_name("app"), "namespace": "ns"},
        "data": earlier,
    }
    client = make_client(root, kube)
    assert client.start().generation == 42
    client.republish()
    assert published(kube)[-1].generation == 43


def test_watcher_reports_a_save_within_a_bounded_time(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    batches: list[set[tuple[Change, str]]] = []
    got = threading.Event()

    def on_batch(changes: set[tuple[Change, str]]) -> None:
        batches.append(changes)
        got.set()

    stop = threading.Event()
    watcher = SourceWatcher(root, on_batch, stop, state_dir=root / ".pyodo")
    watcher.start()
    try:
        time.sleep(0.3)  # let the OS watch be installed
        (root / ".pyodo").mkdir()
        (root / ".pyodo" / "index.json").write_text("{}")
        (root / "src" / "app.js").write_text("saved\n")
        assert got.wait(10), "no batch within 10 s"
    finally:
        watcher.stop()
    paths = {Path(p).name for batch in batches for _, p in batch}
    assert "app.js" in paths
    assert "index.json" not in paths, "pyodo's own state never triggers a sync"
    assert not watcher.is_alive()


def test_watcher_calls_on_ready_once_it_watches(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c")
    ready = threading.Event()
    stop = threading.Event()
    watcher = SourceWatcher(root, lambda _c: None, stop, on_ready=ready.set)
    watcher.start()
    try:
        assert ready.wait(10)
    finally:
        watcher.stop()


def test_watchfiles_is_the_version_the_filter_was_written_for() -> None:
    # BaseFilter's ignore_dirs/ignore_entity_patterns API exists since watchfiles 0.10
    assert hasattr(watchfiles, "BaseFilter")


def test_tree_paths_are_relative_and_none_when_the_root_itself_is_named(tmp_path: Path) -> None:
    root = tmp_path / "c"
    changed = [str(root / "src" / "app.js"), str(tmp_path / "elsewhere.js")]
    assert tree_paths(changed, root) == ["src/app.js"]
    assert tree_paths([*changed, str(root)], root) is None


def test_client_sees_a_new_directory_the_watcher_names_alone(tmp_path: Path) -> None:
    """watchfiles may name only the directory of a ``mkdir -p`` (samuelcolvin/watchfiles#245):
    the client's rescan of that one path still finds the files written in it."""
    root = make_tree(tmp_path / "c")
    kube = SpecKube()
    client = make_client(root, kube)
    client.start()
    (root / "src" / "new" / "deep").mkdir(parents=True)
    (root / "src" / "new" / "deep" / "x.js").write_text("x\n")
    client.on_files({(Change.added, str(root / "src" / "new"))})
    specs = published(kube)
    assert [s.generation for s in specs] == [1, 2]
    full = LiveTree(FileIndex(root))
    assert "src/new/deep/x.js" in full.scan()
    assert specs[1].source_digest == full.digest(), "the rescan found what a full scan finds"
