"""Large trees (issue 22), side by side with ``git status`` and ``kubectl cp`` in one run.

* the no-change index of 10k, 100k and 1M small files against ``git status`` on the same tree
  (the git directory kept outside the tree, so neither tool walks the other's data), and on the
  100k tree the walk of the native walkers issue 22 named, when they are importable (``rignore``,
  ``scandir-rs``: measured, not used by pyodo; see docs/performance.md);
* the first full sync of 10k, 100k and 1M small files, each in a process of its own so its
  peak RSS is its own, against ``kubectl cp`` of the 100k tree;
* ``doit dev`` on the ten-file, 100k and 1M trees (the two large ones after their first push):
  first start, how long it stays busy after running, CPU while idle (20 s) once it is not,
  peak RSS, and an edit's save->serving through the forward;
* ``doit dev``'s file side alone (the watcher and the rescan after each batch, no cluster) on
  the ten-file, 100k and 1M trees: start, idle CPU, peak RSS, save->rescanned.

Trees go under the system temporary directory and are deleted at the end. Creating the 1M tree
takes a minute, its first sync one to five; ``--quick`` uses 2k/10k/20k files.

The parts on their own, on a tree kept between them (e.g. the same tree before and after a
change; delete it afterwards)::

    python -m benchmarks.large tree COUNT ROOT        # make it (a component too)
    python -m benchmarks.large dev ROOT LABEL NAME    # doit dev through the cluster -> NAME.json
    python -m benchmarks.large watch ROOT [paths|full]
    python -m benchmarks.large steps ROOT             # doit dev -v, one edit every 3 s
    python -m benchmarks.large memory ROOT            # doit dev's memory by step, no cluster
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bench_index import GIT_ENV, median_of, timed
from benchmarks.cluster import PY_DEVFILE, kubectl_cp, namespace
from benchmarks.devloop import DevProcess, wait_answer
from benchmarks.index import nochange_vs_git, python_stat_walk
from benchmarks.runner import Bench, machine
from pyodo_tasks.core import refresh
from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.snapshot import RACY_WINDOW_NS

#: 64 small contents (8-120 bytes): many files, few distinct blobs for git to store.
_CONTENTS = tuple(f"line {v} of a small source file\n".encode() * (1 + v % 4) for v in range(64))
IDLE_SECONDS = 20.0
EDITS = 8


def small_tree(root: Path, count: int) -> None:
    """``count`` small files, 50 per directory, three levels (1M files: 20k directories)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if i % 50 == 0:
            d = os.path.join(
                root, f"a{i // 50_000:02d}", f"b{(i // 2500) % 20:02d}", f"c{i // 50:05d}"
            )
            os.makedirs(d, exist_ok=True)
        fd = os.open(os.path.join(d, f"f{i:07d}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, _CONTENTS[i % 64])
        os.close(fd)
    (root / "probe.txt").write_text("probe 0\n")


def _git(git_dir: Path, root: Path, *args: str) -> None:
    cmd = ["git", f"--git-dir={git_dir}", f"--work-tree={root}", "-c", "gc.auto=0", *args]
    subprocess.run(cmd, check=True, env=GIT_ENV, capture_output=True, timeout=1800)


def _cpu_all() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def index_figures(bench: Bench, label: str, root: Path, git_dir: Path, repeat: int) -> None:
    """The no-change index of ``root`` against ``git status`` of the same tree."""
    started = time.perf_counter()
    _git(git_dir, root, "init", "-q")
    _git(git_dir, root, "add", "-A")
    _git(git_dir, root, "commit", "-q", "-m", "tree")
    bench.note(f"{label}: git add+commit {time.perf_counter() - started:.1f}s")
    # Files written within the racy window of the index's scan cannot be trusted by their
    # stat (they are checked by content, or sent, until a sync commits them): wait it out,
    # as for any tree a person edits. git's index has the same rule ("racy git").
    time.sleep(RACY_WINDOW_NS / 1e9 + 0.5)
    idx = FileIndex(root, state_dir=git_dir.parent / f"state-{label}")

    def full_index() -> None:  # as a first push: the digest asked, then the commit
        snapshot = idx.changes()[1]
        snapshot.digest()
        idx.commit(snapshot)

    full = timed(full_index)
    bench.figure(f"full index {label} (wall)", full.wall)
    # A new FileIndex each time, as each `doit push` process has (a kept one hands back the
    # snapshot it committed instead of reading the index file).
    ours, theirs, walked = nochange_vs_git(
        bench,
        label,
        lambda: FileIndex(root, state_dir=idx.state_dir),
        lambda: _git(git_dir, root, "status", "--porcelain"),
        repeat,
        "<= 1.5x git status" if label == "100k" else "",
    )

    def push_index() -> None:  # what a no-change push computes: the changes and the digest
        refresh.changes(FileIndex(root, state_dir=idx.state_dir))[1].digest()

    pushed = median_of(repeat, push_index)
    bench.figure(f"no-change push's index and digest {label} (cpu)", pushed.cpu)
    kept = median_of(repeat, idx.changes)  # doit dev's case: its FileIndex keeps the snapshot
    bench.figure(
        f"no-change index {label}, index kept loaded (cpu)",
        kept.cpu,
        peer=theirs.cpu,
        peer_name="git status",
    )
    floor = median_of(repeat, lambda: python_stat_walk(root))
    bench.figure(f"bare Python lstat walk {label} (wall)", floor.wall)
    bench.raw[f"index_{label}"] = {
        "full_wall": full.wall,
        "nochange": ours._asdict(),
        "nochange_walk": walked._asdict(),
        "nochange_push_digest": pushed._asdict(),
        "nochange_kept": kept._asdict(),
        "git_status": theirs._asdict(),
        "python_walk": floor._asdict(),
    }
    if label == "100k":
        native_walks(bench, root, repeat)


def native_walks(bench: Bench, root: Path, repeat: int) -> None:
    """The native walkers issue 22 proposed, walking the same tree (only when installed)."""
    top = os.fspath(root)
    try:
        import rignore

        def rig() -> int:
            return sum(1 for _ in rignore.walk(top, ignore_hidden=False))

        t = median_of(repeat, rig)
        bench.figure("rignore walk 100k, its own gitignore, no stat (wall)", t.wall)
        bench.figure("rignore walk 100k, its own gitignore, no stat (cpu)", t.cpu)
    except ImportError:
        bench.note("rignore not installed: no figure")
    try:
        import scandir_rs

        def scan() -> int:
            entries, _ = scandir_rs.Scandir(top, return_type=scandir_rs.ReturnType.Ext).collect()
            return len([(e.path, e.st_mode, e.st_size, e.mtime) for e in entries])

        t = median_of(repeat, scan)
        bench.figure("scandir-rs walk+stat 100k (wall)", t.wall)
        bench.figure("scandir-rs walk+stat 100k (cpu)", t.cpu)
    except ImportError:
        bench.note("scandir-rs not installed: no figure")
    t = median_of(repeat, lambda: python_stat_walk(root))
    bench.figure("bare Python lstat walk 100k (cpu)", t.cpu)


def _own_process(what: str, *args: str) -> dict[str, Any]:
    """``python -m benchmarks.large ARGS`` in a process of its own (so its peak RSS is its
    own): the JSON document its last line prints; raises with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.large", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {proc.stdout[-800:]}{proc.stderr[-1500:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def first_push(bench: Bench, label: str, root: Path, ns: str) -> dict[str, float]:
    """The first push of ``root`` in a process of its own: its sync time and peak RSS."""
    result = _own_process(f"first push of {label}", "push", os.fspath(root), ns)
    bench.figure(f"first full sync {label} files", result["sync_s"])
    bench.figure(f"first push {label}: peak RSS", result["peak_mib"], "MiB")
    bench.figure(f"first push {label}: RSS growth during the sync", result["growth_mib"], "MiB")
    bench.raw[f"push_{label}"] = result
    return result


def _push_main(root: Path, ns: str) -> None:
    """In the child: apply, wait for the pod, then one timed sync (the whole tree).

    Peaks are VmHWM, reset by exec: ``ru_maxrss`` keeps the forking parent's."""
    from pyodo_tasks.core.component import Component
    from pyodo_tasks.core.kube import Target

    component = Component(root, Target(namespace=ns), environ={})
    try:
        component.apply()
        component.wait_ready(timeout=600)
        before = _proc_mib(os.getpid(), "VmHWM")
        started = time.perf_counter()
        sent = component.sync()
        seconds = time.perf_counter() - started
        peak = _proc_mib(os.getpid(), "VmHWM")
    finally:
        component.close()
    print(
        json.dumps(
            {
                "sync_s": seconds,
                "peak_mib": peak,
                "growth_mib": peak - before,
                "summary": str(sent)[:200],
            }
        )
    )


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settle(pid: int, timeout: float = 900.0) -> None:
    """Until ``pid`` has used under 5 % of a core over 3 s (at least 3 s, at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cpu, wall = _proc_cpu(pid), time.monotonic()
        time.sleep(3)
        if (_proc_cpu(pid) - cpu) / (time.monotonic() - wall) < 0.05:
            return
    raise RuntimeError(f"process {pid} still busy after {timeout:.0f} s")


def _proc_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def dev_figures(bench: Bench, label: str, root: Path, ns: str, kube, log: Path) -> None:
    """``doit dev`` on ``root``: start, idle CPU, peak RSS, save->serving of ``probe.txt``."""
    name = _name(root)
    dev = DevProcess(root, name, ns, kube, log)
    try:
        started = time.monotonic()
        status = dev.wait_running(timeout=3600)
        running = time.monotonic()
        bench.figure(f"doit dev first start, {label}", running - started)
        # Running is reported once the app serves; the client's scan once its watch is in
        # and the sync that follows may still be at work (seconds on 1M files): idle is after.
        _settle(dev.proc.pid)
        bench.figure(f"doit dev busy after running, {label}", time.monotonic() - running)
        cpu, wall = _proc_cpu(dev.proc.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = (_proc_cpu(dev.proc.pid) - cpu) / (time.monotonic() - wall)
        bench.figure(f"doit dev idle CPU, {label} ({IDLE_SECONDS:g} s)", idle * 100, "%")
        url = status.ports[0].url + "/probe.txt"
        probe = root / "probe.txt"
        got = []
        for i in range(1, EDITS + 1):
            text = f"probe {i} {uuid.uuid4().hex[:6]}"
            saved = time.monotonic()
            probe.write_text(text + "\n")
            got.append(wait_answer(url, text, saved, timeout=120))
            time.sleep(0.6)
        bench.latency(f"doit dev save->serving, {label}", got)
        bench.figure(f"doit dev peak RSS, {label}", _proc_mib(dev.proc.pid, "VmHWM"), "MiB")
        bench.figure(f"doit dev RSS at the end, {label}", _proc_mib(dev.proc.pid, "VmRSS"), "MiB")
    finally:
        dev.stop()
        bench.raw[f"dev_{label}_log_tail"] = dev.tail(15)


def watch_figures(bench: Bench, label: str, root: Path, mode: str = "paths") -> None:
    """``doit dev``'s file side alone, no cluster, in a process of its own: the watcher and
    the rescan after each batch (what the client does before any sync). ``mode``: ``paths``
    rescans what the watcher names (the client's :class:`LiveTree`), ``full`` the whole tree
    (the client before it, for the before/after figures)."""
    if mode != "paths":
        label = f"{label} ({mode} rescan)"
    result = _own_process(f"watching {label}", "watch", os.fspath(root), mode)
    bench.figure(f"watch {label}: start (scan + watch installed)", result["start_s"])
    bench.figure(f"watch {label}: idle CPU ({IDLE_SECONDS:g} s)", result["idle_cpu_pct"], "%")
    bench.latency(f"watch {label}: save->rescanned", result["latency_s"])
    bench.figure(f"watch {label}: peak RSS", result["peak_mib"], "MiB")
    bench.raw[f"watch_{label}"] = result


def _watch_main(root: Path, mode: str) -> None:
    """In the child: scan, watch, stay idle, then edit ``probe.txt`` and time each batch."""
    import queue
    import threading

    from pyodo_tasks.core.rescan import LiveTree
    from pyodo_tasks.dev.files import SourceWatcher, relevant_paths, tree_paths

    started = time.perf_counter()
    index = FileIndex(root, state_dir=root.parent / f"watch-state-{root.name}")
    tree = LiveTree(index)
    tree.scan()
    handled: queue.Queue[float] = queue.Queue()

    def on_batch(changes: set[tuple[object, str]]) -> None:
        changed = [p for _, p in changes]
        before = tree.snapshot or {}
        if mode == "paths":
            after = tree.update(tree_paths(changed, watcher.root))
            tree.digest()
        else:  # the client before LiveTree: a full scan, and the sorted digest of all rows
            after = tree.snapshot = index.scan(previous=tree.snapshot)
            after.digest()
        if relevant_paths(changed, watcher.root, before, after):
            handled.put(time.monotonic())

    stop = threading.Event()
    watcher = SourceWatcher(root, on_batch, stop)
    watcher.start()
    watcher.ready.wait(600)
    start_s = time.perf_counter() - started
    time.sleep(3)
    cpu, wall = _cpu_all(), time.monotonic()
    time.sleep(IDLE_SECONDS)
    idle = (_cpu_all() - cpu) / (time.monotonic() - wall)
    latency = []
    for i in range(1, EDITS + 1):
        saved = time.monotonic()
        (root / "probe.txt").write_text(f"probe {i}\n")
        latency.append(handled.get(timeout=600) - saved)
        time.sleep(0.6)
    stop.set()
    watcher.stop()
    peak = _proc_mib(os.getpid(), "VmHWM")
    print(
        json.dumps(
            {
                "start_s": start_s,
                "idle_cpu_pct": idle * 100,
                "latency_s": latency,
                "peak_mib": peak,
                "paths": len(tree.snapshot or ()),
            }
        )
    )


def _name(root: Path) -> str:
    return f"large-{root.name.lower()}"


#: Served straight from the synced directory, with a build that does nothing: the python
#: builder's S2I assemble (what runs without a build command) copies the whole tree into
#: /opt/app-root/src at every edit, which on 100k files takes longer than the sync and failed
#: ("cp: cannot create regular file ...: File exists") from the second edit on.
LARGE_DEVFILE = PY_DEVFILE.split("commands:")[0] + (
    "commands:\n"
    '  - {id: build, exec: {component: py, commandLine: "true", group: {kind: build}}}\n'
    "  - id: run\n"
    "    exec: {component: py, commandLine: python3 -m http.server 8080,\n"
    "           workingDir: '${PROJECT_SOURCE}', group: {kind: run}}\n"
)


def _component(root: Path) -> None:
    (root / "devfile.yaml").write_text(LARGE_DEVFILE % {"name": _name(root)})


@contextmanager
def _work() -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="pyodo-bench-large-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: The trees' sizes by label (the quick run's 2k and 20k too).
COUNTS = {"2k": 2_000, "10k": 10_000, "20k": 20_000, "100k": 100_000, "1M": 1_000_000}


def run(bench: Bench, quick: bool = False) -> None:
    small, mid, big = ("2k", "10k", "20k") if quick else ("10k", "100k", "1M")
    with _work() as work:
        trees = {label: _tree(bench, work, label) for label in (small, mid)}
        tiny = work / "tiny"
        small_tree(tiny, 10)
        _component(tiny)
        for label, root in (("10 files", tiny), (mid, trees[mid])):
            for mode in ("paths", "full"):
                watch_figures(bench, label, root, mode)
        _cluster_figures(bench, work, trees, tiny, small, mid)
        # The 1M tree last (a minute to make, minutes to sync), each of its parts in turn.
        root = _tree(bench, work, big)
        for mode in ("paths", "full"):
            watch_figures(bench, big, root, mode)
        with namespace("pyodo-bench-large") as (ns, kube):
            first_push(bench, big, root, ns)
            dev_figures(bench, big, root, ns, kube, work / f"dev-{root.name}.log")


def _tree(bench: Bench, work: Path, label: str) -> Path:
    """The ``label`` tree made, with its index figures."""
    root = _make_tree(bench, work, label)
    index_figures(bench, label, root, work / f"git-{label}", 5)
    return root


def _make_tree(bench: Bench, work: Path, label: str) -> Path:
    started = time.perf_counter()
    root = work / f"t{label}"
    small_tree(root, COUNTS[label])
    _component(root)
    bench.note(f"{label}: {COUNTS[label]} files made in {time.perf_counter() - started:.1f}s")
    return root


def _cluster_figures(
    bench: Bench, work: Path, trees: dict[str, Path], tiny: Path, small: str, mid: str
) -> None:
    with namespace("pyodo-bench-large") as (ns, kube):
        for label in (small, mid):
            first_push(bench, label, trees[label], ns)
        _vs_kubectl_cp(bench, mid, trees[mid], ns, kube)
        for label, root in (("10 files", tiny), (mid, trees[mid])):
            dev_figures(bench, label, root, ns, kube, work / f"dev-{root.name}.log")


def _vs_kubectl_cp(
    bench: Bench, label: str, root: Path, ns: str, kube, timeout: float = 600
) -> None:
    """``kubectl cp`` of ``root`` into the pod its first push (already run) made, beside that
    push's sync time."""
    pod = _pod_of(kube, _name(root))
    dest = f"/tmp/kcp-{uuid.uuid4().hex[:6]}"
    peer = kubectl_cp(ns, root, pod, "py", dest, timeout=timeout)
    bench.figure(
        f"first full sync {label} files vs kubectl cp",
        bench.raw[f"push_{label}"]["sync_s"],
        peer=peer,
        peer_name="kubectl cp",
    )


def _pod_of(kube, component: str) -> str:
    pods = kube.pods(f"app.kubernetes.io/instance={component}")
    if not pods:
        raise RuntimeError(f"no pod of {component}")
    return pods[0].metadata.name


def _dev_main(root: Path, label: str, name: str, pushed: bool = False) -> None:
    """``doit dev`` on an existing tree in a namespace of its own; figures to ``NAME.json``.
    ``pushed``: after a first push of the tree there (the full run's case: doit dev starts
    from an index and a pod that hold the tree)."""
    bench = Bench(name)
    bench.note(f"pyodo from {_pyodo_source()}")
    with namespace("pyodo-bench-large") as (ns, kube):
        if pushed:
            first_push(bench, label, root, ns)
        dev_figures(bench, label, root, ns, kube, root.parent / f"dev-{root.name}.log")
    print(f"  -> {bench.write(machine())}")


def _steps_main(root: Path, edits: int = 4, gap: float = 3.0) -> None:
    """``doit dev -v`` on an existing tree with one edit every ``gap`` seconds (none waits for
    the previous one's restart): the content's arrival through the forward, and doit dev's
    own save->serving and reconcile step times (its log lines), printed."""
    name = _name(root)
    log = root.parent / f"steps-{root.name}.log"
    with namespace("pyodo-bench-large") as (ns, kube):
        dev = DevProcess(root, name, ns, kube, log, "-v")
        try:
            status = dev.wait_running(timeout=3600)
            time.sleep(5)
            url = status.ports[0].url + "/probe.txt"
            for i in range(1, edits + 1):
                text = f"probe {i} {uuid.uuid4().hex[:6]}"
                saved = time.monotonic()
                (root / "probe.txt").write_text(text + "\n")
                print(f"edit {i}: new content after {wait_answer(url, text, saved, 120):.3f} s")
                time.sleep(gap)
        finally:
            dev.stop()
    lines = log.read_text(errors="replace").splitlines()
    for line in lines:
        if re.search(r"reconcile #|save->serving", line):
            print(line[-200:])


def _pyodo_source() -> str:
    import pyodo_tasks

    return os.path.dirname(os.path.dirname(os.path.abspath(pyodo_tasks.__file__)))


def _memory_main(root: Path) -> None:
    """doit dev's two halves in one process without the cluster, and the RSS after each step:
    the client's scan, the controller's first full sync (the tar read and thrown away) and
    commit, the client's full scan once its watch is installed (here after the first sync,
    the order that costs most), then ``EDITS`` edits each rescanned by both (what the client
    and a sync do)."""
    from pyodo_tasks.core.rescan import Journal, LiveTree
    from pyodo_tasks.core.tarball import build_tar

    steps: list[tuple[str, float, float]] = []

    def step(what: str) -> None:
        pid = os.getpid()
        steps.append((what, _proc_mib(pid, "VmRSS"), _proc_mib(pid, "VmHWM")))
        print(f"{what:40} RSS {steps[-1][1]:7.1f} MiB  peak {steps[-1][2]:7.1f} MiB", flush=True)

    state = Path(tempfile.mkdtemp(prefix="pyodo-bench-memory-"))
    try:
        step("start")
        index = FileIndex(root, state_dir=state)
        journal = index.journal = Journal()
        client = LiveTree(index, journal)
        client.scan()
        client.digest()
        step("client: scan + digest")

        def sync() -> float:
            started = time.perf_counter()
            old = index.load()
            new = journal.scan(index, old)
            changes = index.diff(old, new)
            new.digest()
            for _ in build_tar(root, changes.to_send(), new):
                pass
            index.commit(new)
            return time.perf_counter() - started

        first = sync()
        step(f"controller: first full sync ({first:.1f} s)")
        journal.note(None)  # doit dev scans again once its watch is installed
        client.scan()
        step("client: the full scan once watching")
        for i in range(1, EDITS + 1):
            (root / "probe.txt").write_text(f"probe {i}\n")
            journal.note(["probe.txt"])
            client.update(["probe.txt"])
            client.digest()
            took = sync()
            step(f"edit {i}: client rescan + sync ({took * 1000:.0f} ms)")
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps({"steps": steps}))


def _index_main(labels: list[str]) -> None:
    """Only the index figures (no cluster): ``python -m benchmarks.large index [10k 100k 1M]``,
    written to ``benchmarks/results/large-index.json``."""
    bench = Bench("large-index")
    with _work() as work:
        for label in labels or ["10k", "100k", "1M"]:  # each deleted before the next is made
            shutil.rmtree(_tree(bench, work, label), ignore_errors=True)
            shutil.rmtree(work / f"git-{label}", ignore_errors=True)
            shutil.rmtree(work / f"git-{label}", ignore_errors=True)
    print(f"  -> {bench.write(machine())}")


def _first_sync_main(label: str) -> None:
    """``python -m benchmarks.large firstsync 1M``: the first full sync of a tree of small files
    through pyodo, then ``kubectl cp`` of the same tree into the same pod; the cluster up.
    Written to ``benchmarks/results/large-firstsync-<label>.json``."""
    bench = Bench(f"large-firstsync-{label}")
    with _work() as work:
        root = _make_tree(bench, work, label)
        with namespace(f"pyodo-bench-sync-{label.lower()}") as (ns, kube):
            first_push(bench, label, root, ns)
            _vs_kubectl_cp(bench, label, root, ns, kube, timeout=3600)
    print(f"  -> {bench.write(machine())}")


if __name__ == "__main__" and sys.argv[1:2] == ["firstsync"]:
    _first_sync_main(sys.argv[2])
elif __name__ == "__main__" and sys.argv[1:2] == ["index"]:
    _index_main(sys.argv[2:])
elif __name__ == "__main__" and sys.argv[1:2] == ["tree"]:
    small_tree(Path(sys.argv[3]), int(sys.argv[2]))
    _component(Path(sys.argv[3]))
elif __name__ == "__main__" and sys.argv[1:2] in (["dev"], ["dev-after-push"]):
    _dev_main(Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[1] == "dev-after-push")
elif __name__ == "__main__" and sys.argv[1:2] == ["steps"]:
    _steps_main(Path(sys.argv[2]))
elif __name__ == "__main__" and sys.argv[1:2] == ["memory"]:
    _memory_main(Path(sys.argv[2]))
elif __name__ == "__main__" and sys.argv[1:2] == ["push"]:
    _push_main(Path(sys.argv[2]), sys.argv[3])
elif __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    _watch_main(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "paths")
