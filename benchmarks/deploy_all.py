"""Several components in one session: deployed one after the other vs at once (threads).

A session whose tests need several components deploys them all at its first deploy, one thread
each (``PyodoRun.deploy_all``). This measures what that saves: the same components deployed by
``PyodoRun.deploy`` one after the other, then by ``deploy_all``, each time into a fresh run
namespace (nothing reused: apply, pod start, full sync, build). The two ways alternate which
goes first, so image caches and a warming cluster favour neither.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from benchmarks.cluster import copy_example, scratch
from benchmarks.runner import Bench

SETS = {
    "2 components (nodejs, python)": ("nodejs", "python"),
    "3 components (nodejs, python, java)": ("nodejs", "python", "java"),
}


def deploy(work: Path, paths: list[Path], at_once: bool, tag: str) -> float:
    """Seconds from the first deploy to the last component ready, in a fresh run."""
    from pytest_pyodo.session import DeployRequest, PyodoRun
    from pytest_pyodo.settings import Settings

    kubeconfig = os.environ.get("KUBECONFIG")
    settings = Settings(cluster="kubeconfig", kubeconfig=Path(kubeconfig) if kubeconfig else None)
    run_id = f"b{tag}{int(time.time()) % 10**5}"
    state = work / run_id
    state.mkdir()
    run = PyodoRun(settings, run_id=run_id, state_dir=state)
    try:
        run.cluster()  # the cluster check and namespace are not what is compared
        started = time.monotonic()
        if at_once:
            handles = run.deploy_all([DeployRequest(p) for p in paths])
            failed = [str(h.error) for h in handles if h.error]
            if failed:
                raise RuntimeError(f"deploy failed: {failed}")
        else:
            for path in paths:
                run.deploy(path)
        return time.monotonic() - started
    finally:
        run.cleanup()


def run(bench: Bench, quick: bool = False) -> None:
    rounds = 1 if quick else 3
    sets = dict(list(SETS.items())[:1]) if quick else SETS
    with scratch("deploy-all") as work:
        for what, names in sets.items():
            home = work / "-".join(names)
            home.mkdir()
            paths = [copy_example(name, home) for name in names]
            serial: list[float] = []
            threads: list[float] = []
            for i in range(rounds):
                order = (False, True) if i % 2 == 0 else (True, False)
                for at_once in order:
                    took = deploy(work, paths, at_once, f"{len(names)}{i}{int(at_once)}")
                    (threads if at_once else serial).append(took)
            bench.raw[f"{what}, one after the other"] = [round(s, 3) for s in serial]
            bench.raw[f"{what}, at once"] = [round(s, 3) for s in threads]
            one, many = statistics.median(serial), statistics.median(threads)
            bench.figure(f"{what}, one after the other (p50)", one)
            bench.figure(f"{what}, at once (p50)", many, peer=one, peer_name="one after the other")
            bench.note(f"{what}: deploying at once saved {one - many:.1f}s of {one:.1f}s (p50)")
