"""The first ``doit push`` of a fresh pod: the agent injected through exec against seed 000's
init container, on the same cluster, time and bytes (issue 17).

Each round pushes a fresh copy of the nodejs example into a fresh namespace (a new PVC, a new
pod) once per layout, alternating so that load drifts hit both alike; then one edit's push and a
no-op push in the injected pod, which must stay where the init layout's are. The init layout's
bytes are the init image, already on the node (pulled once per node, not per pod); the inject
layout's are the upload, sent once per pod.
"""

from __future__ import annotations

import os
import statistics

from benchmarks.cluster import copy_example, doit_push, namespace, scratch
from benchmarks.runner import Bench
from pyodo_tasks.runtime import bundle, contract
from pyodo_tasks.runtime.binaries import go_arch


def run(bench: Bench, quick: bool = False) -> None:
    rounds = 2 if quick else 5
    layouts = (contract.LAYOUT_INIT, contract.LAYOUT_INJECT)
    first: dict[str, list[float]] = {layout: [] for layout in layouts}
    edits: dict[str, list[float]] = {layout: [] for layout in layouts}
    noops: dict[str, list[float]] = {layout: [] for layout in layouts}
    with scratch("first-push") as work:
        for i in range(rounds):
            for layout in layouts:
                with namespace(f"pyodo-bench-{layout}") as (ns, _):
                    path = copy_example("nodejs", work / f"{layout}-{i}")
                    first[layout].append(doit_push(path, ns, layout))
                    source = path / "greeting.js"
                    source.write_text(source.read_text().replace("pyodo", f"pyodo {i}"))
                    edits[layout].append(doit_push(path, ns, layout))
                    noops[layout].append(doit_push(path, ns, layout))
    bench.raw.update(first=first, edits=edits, noops=noops)
    for what, samples in (("first push", first), ("one edit's push", edits), ("no-op push", noops)):
        init = statistics.median(samples[contract.LAYOUT_INIT])
        inject = statistics.median(samples[contract.LAYOUT_INJECT])
        bench.figure(f"{what}, agent injected (median)", inject, peer=init, peer_name="init")
    for layout in layouts:
        bench.latency(f"first push, {layout}", first[layout])
        bench.latency(f"one edit's push, {layout}", edits[layout])
        bench.latency(f"no-op push, {layout}", noops[layout], "<= 0.5 s")
    arch = go_arch(os.uname().machine) or "amd64"
    sent = len(bundle.upload(arch))
    bench.figure("bytes sent per new pod, inject", sent / 1024, "KiB")
    bench.note(
        "the init layout sends nothing per pod: its image (busybox, tini, the same supervisor) "
        "is on the node already; a registry pull would cost it once per node"
    )
