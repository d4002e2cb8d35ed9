"""``doit dev`` save->serving: a one-line edit, then the forwarded port polled every 10 ms
until it answers the new text. The nodejs and python examples, >= 20 edits each."""

from __future__ import annotations

import time

from benchmarks.cluster import copy_example, namespace, scratch
from benchmarks.devloop import DevProcess, wait_answer
from benchmarks.runner import RESULTS, Bench

EXAMPLES = {
    # example: (component name, file, text in it, answer prefix)
    "nodejs": ("nodejs-example", "greeting.js", "pyodo (Node.js)", "Hello from "),
    "python": ("python-example", "greeting.py", "pyodo (Python)", "Hello from "),
}


def run(bench: Bench, quick: bool = False) -> None:
    edits = 5 if quick else 25
    samples: dict[str, list[float]] = {}
    for example, (name, filename, text, prefix) in EXAMPLES.items():
        with namespace() as (ns, kube), scratch("latency") as work:
            path = copy_example(example, work)
            dev = DevProcess(path, name, ns, kube, work / "dev.log")
            try:
                started = time.monotonic()
                status = dev.wait_running()
                bench.figure(f"{example}: first start to serving", time.monotonic() - started)
                url = status.ports[0].url
                wait_answer(url, f"{prefix}{text}", time.monotonic())
                source = path / filename
                original = source.read_text()
                got: list[float] = []
                reported: list[float] = []
                for i in range(edits):
                    new = f"{text} edit {i}"
                    saved = time.monotonic()
                    source.write_text(original.replace(text, new))
                    got.append(wait_answer(url, f"{prefix}{new}", saved))
                    time.sleep(0.6)  # the next save is a separate batch
                    last = dev.status()
                    ms = getattr(last, "serving_ms", 0) if last else 0
                    if ms:
                        reported.append(ms / 1000)
                samples[example] = got
                bench.latency(f"{example}: save->serving", got, "<= 0.35 s", "<= 0.6 s")
                if reported:
                    bench.latency(f"{example}: save->serving as the status reports it", reported)
            finally:
                dev.stop()
                bench.raw[f"{example}_log_tail"] = dev.tail(15)
    _plot(samples, bench)


def _plot(samples: dict[str, list[float]], bench: Bench) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        bench.note("matplotlib not installed (pip install -e '.[bench]'): no latency.png")
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    data = [[s * 1000 for s in v] for v in samples.values()]
    ax.boxplot(data, vert=False, showfliers=True)
    for row, values in enumerate(data, start=1):
        ax.scatter(values, [row] * len(values), s=10, alpha=0.6)
    ax.set_yticks(range(1, len(data) + 1), list(samples))
    ax.axvline(350, linestyle="--", linewidth=1, label="target p50 350 ms")
    ax.axvline(600, linestyle=":", linewidth=1, label="target p95 600 ms")
    ax.set_xlabel("save -> serving (ms)")
    ax.set_title("doit dev: one-line edit to the new answer")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latency.png"
    fig.savefig(out, dpi=110)
    bench.note(f"plot: {out}")
