"""Recording figures: print each as it is measured, write ``results/<name>.json`` at the end.

Why one recorder for every benchmark: the issue's figures are read side by side (docs/
performance.md), so they must come from one run on one machine, each with its unit, its peer
(``kubectl cp``, ``git status``) and the ratio computed the same way everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    commit = ""
    with contextlib.suppress(OSError):
        commit = subprocess.run(
            ["git", "-C", str(RESULTS.parent.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    kubectl = shutil.which("kubectl")
    server = ""
    if kubectl:
        try:
            out = subprocess.run(
                [kubectl, "version", "-o", "json"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout
            server = json.loads(out or "{}").get("serverVersion", {}).get("gitVersion", "")
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    try:
        import websocket

        ws_version = websocket.__version__
    except ImportError:
        ws_version = ""
    try:
        import wsaccel  # noqa: F401

        masking = "wsaccel"
    except ImportError:
        masking = "pure Python"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kubernetes_server": server,
        "websocket_client": ws_version,
        "websocket_masking": masking,
        "load_avg_at_start": os.getloadavg()[0],
        "commit": commit,
    }


def loop_summary(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Iterations, failures and min/median/max of each timed step over the iterations that
    passed (the boot and kind loops report the same shape)."""
    ok = [r for r in rows if r["ok"]]
    out: dict[str, Any] = {"iterations": len(rows), "failures": len(rows) - len(ok)}
    for key in keys:
        values = [r[key] for r in ok]
        if values:
            out[key] = {
                "min": min(values),
                "median": round(statistics.median(values), 1),
                "max": max(values),
            }
    return out


def run_loop(
    iterations: int,
    iteration: Callable[[int], dict[str, Any]],
    passed_line: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """Run ``iteration(1..n)``, printing a line per row as it ends: ``passed_line(row)`` for a
    pass, else the step that failed and its error (the boot and kind loops' shared output)."""
    rows = []
    for number in range(1, iterations + 1):
        row = iteration(number)
        rows.append(row)
        if row["ok"]:
            print(f"{number:3d}  {passed_line(row)}  ok", flush=True)
            continue
        lines = row["error"].splitlines()
        print(f"{number:3d}  FAILED in {row['failed_in']}: {lines[0][:160]}", flush=True)
        for line in lines[1:]:
            print(f"       | {line}", flush=True)
    return rows


def write_loop(
    rows: list[dict[str, Any]], keys: Sequence[str], started: datetime, output: Path
) -> int:
    """Print the :func:`loop_summary`, write it with every row to ``output``; the exit status
    (1 when an iteration failed)."""
    summary = loop_summary(rows, keys)
    print(json.dumps(summary), flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {"started": started.isoformat(timespec="seconds"), "summary": summary, "runs": rows}
    output.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if summary["failures"] == 0 else 1


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figure:
    key: str
    value: float
    unit: str
    peer: float | None = None
    peer_name: str = ""
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Ours over the peer's: for a time, below 1 is faster; for a rate, above 1 is."""
        if self.peer is None or not self.peer:
            return None
        return self.value / self.peer

    def line(self) -> str:
        value = (
            f"{self.value:,.3f}".rstrip("0").rstrip(".")
            if self.unit == "s"
            else (f"{self.value:,.1f}")
        )
        text = f"  {self.key:46} {value:>10} {self.unit:6}"
        if self.peer is not None:
            peer = f"{self.peer:,.3f}" if self.unit == "s" else f"{self.peer:,.1f}"
            ratio = self.ratio
            text += f"  {self.peer_name} {peer}{self.unit}"
            if ratio is not None:
                text += f"  (= {ratio:.2f}x {self.peer_name})"
        if self.target:
            text += f"  [target {self.target}]"
        if self.note:
            text += f"  {self.note}"
        return text


@dataclass
class Bench:
    """One benchmark's figures and raw samples; :meth:`write` saves them."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def figure(self, key: str, value: float, unit: str = "s", **kw: Any) -> Figure:
        fig = Figure(key, value, unit, **kw)
        self.figures.append(fig)
        print(fig.line(), flush=True)
        return fig

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def latency(
        self, key: str, samples: Sequence[float], target_p50: str = "", target_p95: str = ""
    ) -> None:
        """p50/p95/min/max of a sample (seconds) as figures, samples kept raw."""
        self.raw[key] = [round(s, 4) for s in samples]
        if not samples:
            self.note(f"{key}: no samples")
            return
        self.figure(f"{key} p50", statistics.median(samples), target=target_p50)
        self.figure(f"{key} p95", percentile(samples, 95), target=target_p95)
        self.figure(f"{key} min", min(samples))
        self.figure(f"{key} max", max(samples))

    def write(self, info: dict[str, Any]) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        doc = {
            "name": self.name,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": round(time.monotonic() - self.started, 1),
            "machine": info,
            # load_avg_at_start is the run's; this is the 1-minute average as this one ended
            "load_avg_at_end": round(os.getloadavg()[0], 2),
            "figures": [
                {
                    "key": f.key,
                    "value": round(f.value, 4),
                    "unit": f.unit,
                    "peer": None if f.peer is None else round(f.peer, 4),
                    "peer_name": f.peer_name,
                    "ratio": None if f.ratio is None else round(f.ratio, 3),
                    "target": f.target,
                    "note": f.note,
                }
                for f in self.figures
            ],
            "notes": self.notes,
            "raw": self.raw,
        }
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return path
