"""``doit push`` as a user runs it: first deploy, no-op, and one edit until the new answer."""

from __future__ import annotations

import time

from benchmarks.cluster import copy_example, doit_push, namespace, scratch
from benchmarks.devloop import wait_answer
from benchmarks.runner import Bench
from pyodo_tasks.core.component import Component


def run(bench: Bench, quick: bool = False) -> None:
    rounds = 3 if quick else 7
    with namespace() as (ns, kube), scratch("push") as work:
        path = copy_example("nodejs", work)
        bench.figure("first doit push (new namespace)", doit_push(path, ns))
        noop = [doit_push(path, ns) for _ in range(rounds)]
        bench.latency("doit push, nothing changed", noop, "<= 0.5 s")
        component = Component(path, kube=kube, environ={})
        try:
            url = f"http://{component.forward().address}/"
            source = path / "greeting.js"
            original = source.read_text()
            edits: list[float] = []
            pushes: list[float] = []
            for i in range(rounds):
                new = f"pyodo (Node.js) push {i}"
                saved = time.monotonic()
                source.write_text(original.replace("pyodo (Node.js)", new))
                pushes.append(doit_push(path, ns))
                edits.append(wait_answer(url, f"Hello from {new}", saved))
            bench.latency("doit push, one edit: push returned", pushes)
            bench.latency("doit push, one edit: save to served", edits, "<= 1.0 s")
        finally:
            component.close()
