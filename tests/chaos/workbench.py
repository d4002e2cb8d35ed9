"""A scratch component for the chaos cases, and the checks every case ends with.

A :class:`Workbench` is a copy of ``examples/nodejs`` with a generated tree of small files under
``data/``, in a namespace of its own (labelled for ``doit gc``, deleted at the end). It runs
``doit`` as a user does (a subprocess in the component's directory), and checks what a user
would be promised after a fault:

* converges: a settling ``doit push`` succeeds;
* nothing lost: every file of the local tree is in the container with the same content, and no
  file deleted locally is left there (checked with the container's own ``md5sum``, not pyodo's
  index), and ``doit verify`` passes;
* nothing left: ``doit delete`` leaves no object labelled by pyodo in the namespace, and no
  process started by the case (nor any process working in the component's directory) survives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import Status
from tests.cluster.test_dev_real import ANSWER, DevRun, running

ROOT = Path(__file__).parents[2]
MANAGED = "app.kubernetes.io/managed-by=pyodo"
#: The generated tree's directory, inside the component.
TREE = "data"
#: Bound on one doit command (a settling push of a whole tree takes about 10 s here).
DOIT_TIMEOUT = 180.0
#: ``doit dev --seconds``: a loop a case forgot to stop ends by itself.
DEV_SECONDS = 600
#: Bound on ``doit dev``'s first start (a new pod and PVC, a full sync).
DEV_START_TIMEOUT = 180.0


def write_file(path: Path, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{path.name} {rng.random()}\n" * rng.randint(5, 200))


def tree_files(root: Path) -> Iterator[Path]:
    for path in sorted((root / TREE).rglob("*")):
        if path.is_file():
            yield path


@dataclass
class Workbench:
    """One scratch component and the processes a case started in it."""

    path: Path
    namespace: str
    kubeconfig: Path
    kube: Kube
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        for var in ("PYODO_NAMESPACE", "PYODO_CONTEXT", "PYODO_KUBECONFIG", "PYODO_DEBUG"):
            env.pop(var, None)
        return env

    def doit_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "doit", *args, "--namespace", self.namespace]

    def doit(
        self, *args: str, check: bool = True, timeout: float = DOIT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.doit_argv(*args),
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"doit {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def spawn(self, argv: list[str], log: Path | None = None) -> subprocess.Popen[str]:
        """Start ``argv`` in the component's directory, in a session of its own (so a kill of
        its group reaches every process it made), output merged into one pipe, or appended to
        ``log`` for a long-running command nobody reads as it goes."""
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(log.open("a")) if log is not None else subprocess.PIPE
            proc = subprocess.Popen(
                argv,
                cwd=self.path,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def dev(self) -> DevRun:
        """``doit dev`` (bounded by ``--seconds``), its output in ``dev.log`` beside the tree."""
        log = self.path.parent / "dev.log"
        proc = self.spawn(self.doit_argv("dev", "--seconds", str(DEV_SECONDS)), log=log)
        return DevRun(self.path, self.namespace, self.kube, proc, log)  # type: ignore[arg-type]

    def serving_dev(self) -> tuple[DevRun, Status]:
        """``doit dev`` once it runs the app and the app answers through its forward."""
        dev = self.dev()
        status = dev.wait_status("RunCommandRunning", running, DEV_START_TIMEOUT)
        dev.wait_answer(ANSWER, 30)
        return dev, status

    def pushed_tree(self, files: int) -> None:
        """The generated tree of ``files`` files, pushed."""
        self.generate(files)
        self.doit("push")

    def component(self) -> Component:
        return Component(self.path, kube=self.kube, environ={})

    # The generated tree -------------------------------------------------------------------

    def generate(self, count: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        for i in range(count):
            write_file(self.path / TREE / f"d{i % 30:02d}" / f"f{i:05d}.txt", rng)

    def churn(self, rng: random.Random, modify: float = 1.0, moves: int = 20) -> None:
        """Delete, rename (content unchanged) and create ``moves`` files each; modify a share
        of the others."""
        files = list(tree_files(self.path))
        picked = rng.sample(files, 2 * moves)
        for path in picked[:moves]:
            path.unlink()
        for path in picked[moves:]:
            path.rename(path.with_name(f"r{rng.randrange(10**9)}-{path.name}"))
        rest = [p for p in files if p not in set(picked)]
        for path in rng.sample(rest, int(len(rest) * modify)):
            with path.open("a") as out:
                out.write(f"edit {rng.random()}\n")
        for _ in range(moves):
            write_file(self.path / TREE / f"n{rng.randrange(5)}" / f"c{rng.randrange(10**9)}", rng)

    def local_digests(self) -> dict[str, str]:
        return {
            p.relative_to(self.path).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in tree_files(self.path)
        }

    def remote_digests(self, settled: bool = True) -> dict[str, str]:
        """The container's files under the tree, by its own ``md5sum``.

        ``settled=False`` while a sync may be writing: a file renamed between ``find`` and
        ``md5sum`` (the agent writes each file beside its place, then renames it) is skipped.
        Settled, every file counts, the agent's own leftovers too.
        """
        script = 'cd "$1" && { [ ! -d "$2" ] || find "$2" -type f -exec md5sum {} +; }'
        if not settled:
            script += " 2>/dev/null; exit 0"
        with self.component() as component:
            result = component.exec(
                ["sh", "-c", script, "sh", component.devfile.source_dir, TREE], check=True
            )
        digests = {}
        for line in result.text.splitlines():
            digest, _, name = line.partition("  ")
            digests[name.removeprefix("./")] = digest
        return digests

    # The checks ---------------------------------------------------------------------------

    def assert_in_step(self) -> float:
        """A settling push converges, the container holds exactly the local tree, ``doit
        verify`` passes. Returns the settling push's seconds."""
        started = time.monotonic()
        self.doit("push")
        took = time.monotonic() - started
        local, remote = self.local_digests(), self.remote_digests()
        missing = sorted(set(local) - set(remote))
        stale = sorted(n for n in set(local) & set(remote) if local[n] != remote[n])
        extra = sorted(set(remote) - set(local))
        assert not (missing or stale or extra), (
            f"{len(missing)} missing, {len(stale)} stale, {len(extra)} left over in the "
            f"container: {(missing + stale + extra)[:5]}"
        )
        verified = self.doit("verify").stdout
        assert "verified" in verified, verified
        return took

    def assert_nothing_left(self) -> None:
        """``doit delete`` removes every labelled object; no process of the case survives."""
        self.stop_all()
        self.doit("delete")
        left = [
            f"{o['kind']}/{o['metadata']['name']}"
            for o in self.kube.list_labelled(MANAGED, self.namespace)
        ]
        assert left == [], f"left after doit delete: {left}"
        assert self.kube.pods(MANAGED) == [] or all(
            p.metadata.deletion_timestamp for p in self.kube.pods(MANAGED)
        ), "pods left after doit delete"
        assert processes_in(self.path) == [], "processes left in the component's directory"

    def stop_all(self) -> None:
        """End every process the case started that still runs (its whole session)."""
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    kill_session(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def kill_session(proc: subprocess.Popen[str]) -> None:
    """SIGKILL to the process's whole session (it was started as its leader): no cleanup."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def processes_in(path: Path) -> list[str]:
    """Live processes whose working directory is ``path`` or below it (``pid cmdline``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == path or path in cwd.parents:
            found.append(f"{entry.name} {cmd.strip()}")
    return found


def scratch_copy(dest: Path) -> Path:
    path = dest / "nodejs"
    shutil.copytree(ROOT / "examples" / "nodejs", path, ignore=shutil.ignore_patterns(".pyodo"))
    return path
