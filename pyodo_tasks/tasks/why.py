"""The ``doit why PATH…`` task: :func:`pyodo_tasks.core.why.why`'s answer, formatted.

One block per path, the verdict first, then the facts behind it (the rule, the index entry,
the local file, the pod's copy, the last sync); ``--json`` prints the same as one JSON document.
Failures (a path outside the component) are reported by the guard every pyodo task goes
through (:mod:`pyodo_tasks.tasks.guard`): one line, exit status 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.index import Entry
from pyodo_tasks.core.why import LocalState, PathReport, PodState, WhyReport, relative_path, why
from pyodo_tasks.errors import ConfigError
from pyodo_tasks.tasks.params import TASK_PARAMS, TASK_POS_ARGS

if TYPE_CHECKING:
    from pyodo_tasks.tasks import ComponentTasks

__all__ = ["format_json", "format_text", "why_task"]

#: What each local state means for the next push (mypy checks the keys are states).
_VERDICT: dict[LocalState, str] = {
    "ignored": "not synced: ignored",
    "ignored-since": "ignored now, synced before: the next push removes it from the pod",
    "unsynced": "not synced yet: the next push sends it",
    "unknown": "not here and not in the index",
    "deleted": "deleted here since the last sync: the next push removes it from the pod",
    "same": "synced, unchanged since",
    "stale": "changed here since the last sync: the next push sends it",
}
#: What each pod state says of the pod's copy ("unknown" points at the report's note instead).
_POD: dict[PodState, str] = {
    "same": "same content as here",
    "synced": "the synced version (not this one)",
    "differs": "differs from here and from the index: changed in the container",
    "absent": "no such file",
    "unhashed": "not compared (a directory or a link)",
}


def why_task(tasks: ComponentTasks) -> dict[str, Any]:
    """``doit why [--json] PATH…`` for the component ``tasks`` is bound to."""

    def run(paths: list[str], as_json: bool) -> None:
        if not paths:
            raise ConfigError("doit why: name at least one path, e.g. `doit why server.js`")
        directory = tasks.path if tasks.path.is_dir() else tasks.path.parent
        for raw in paths:  # bad input first: before the devfile and the cluster are read
            relative_path(directory, raw)
        report = why(tasks.component, paths)
        try:
            print(format_json(report) if as_json else format_text(report), flush=True)
        except BrokenPipeError:  # `doit why … | head`: the reader had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    return {
        "basename": "why",
        "doc": "Why a path is (not) in the pod: ignore rule, index entry, pod's copy, last sync",
        "actions": [(run, [], {})],
        "params": TASK_PARAMS["why"],
        "pos_arg": TASK_POS_ARGS["why"],
        "uptodate": [False],
        "verbosity": 2,
    }


def _when(ns: int | None) -> str:
    if ns is None:
        return "unknown (an index written before pyodo recorded it)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9))


def _entry_text(entry: Entry | None, digest: str | None) -> str:
    if entry is None:
        return "none"
    if entry.stale:
        return f"{entry.kind}, stale (the last copy could not send it; the next push does)"
    head = f"file, {entry.size} bytes" if entry.kind == "file" else entry.kind
    text = f"{head}, mode {entry.mode:o}, mtime {_when(entry.mtime_ns)}"
    if entry.kind == "link":
        text += f", -> {entry.link_target}"
    return text + (f", b2sum {digest}" if digest else "")


def _rule_text(item: PathReport) -> str:
    ignore = item.ignore
    if ignore.rule is None:
        return "no rule matches: indexed" if item.local is not None else "no rule matches"
    verb = "ignored by" if ignore.ignored else "re-included by"
    if ignore.under is not None:
        return f"ignored: under {ignore.under}/, {verb} {ignore.rule}"
    return f"{verb} {ignore.rule}"


def _verdict(item: PathReport) -> str:
    text = _VERDICT[item.local_state]
    rule = item.ignore.rule
    if item.local_state == "ignored" and rule is not None:
        if rule.line is None:  # a fixed rule says it all
            return f"not synced: {rule.pattern}"
        text += f" by {rule.source}:{rule.line} ({rule.pattern})"
    if item.local_state == "same":
        if item.pod_state == "same":
            return "in sync: the pod has this version"
        if item.pod_state in ("differs", "absent"):
            return "synced, but the pod's copy " + (
                "differs (changed in the container)" if item.pod_state == "differs" else "is gone"
            )
    return text


def _block(report: WhyReport, item: PathReport) -> list[str]:
    if item.pod_state == "unknown":
        pod = "unknown (see the note above)"
    else:
        pod = _POD[item.pod_state]
        if item.pod_state == "synced" and item.local is None:
            pod = "the synced version"
        if item.pod_digest and item.pod_state != "same":
            pod += f", b2sum {item.pod_digest}"
    synced = _when(report.synced_at_ns) if item.entry is not None else "never (not in the index)"
    return [
        f"{item.path}: {_verdict(item)}",
        f"  rule    {_rule_text(item)}",
        f"  index   {_entry_text(item.entry, item.index_digest)}",
        f"  here    {_entry_text(item.local, item.local_digest) if item.local else 'no such path'}",
        f"  pod     {pod}",
        f"  synced  {synced}",
    ]


def format_text(report: WhyReport) -> str:
    """One block per path, the verdict on its first line; a note on the pod when it applies."""
    where = f"pod/{report.pod}:{report.dest}" if report.pod is not None else "no pod"
    synced = _when(report.synced_at_ns) if report.index_exists else "never"
    lines = [f"component {report.component}, {where}, last synced {synced}"]
    if report.pod_note:
        lines.append(f"note: {report.pod_note}")
    lines.append("")
    for item in report.paths:
        lines += [*_block(report, item), ""]
    return "\n".join(lines).rstrip("\n")


def _entry_json(entry: Entry | None) -> dict[str, Any] | None:
    return None if entry is None else entry._asdict()


def format_json(report: WhyReport) -> str:
    """The report as one JSON document (times in nanoseconds since the epoch)."""
    paths = [
        {
            "path": item.path,
            "ignored": item.ignore.ignored,
            "rule": None if item.ignore.rule is None else dataclasses.asdict(item.ignore.rule),
            "under": item.ignore.under,
            "index": _entry_json(item.entry),
            "local": _entry_json(item.local),
            "local_state": item.local_state,
            "pod_state": item.pod_state,
            "digests": {
                "local": item.local_digest,
                "index": item.index_digest,
                "pod": item.pod_digest,
            },
        }
        for item in report.paths
    ]
    doc = {
        "component": report.component,
        "index": str(report.index_path),
        "index_exists": report.index_exists,
        "synced_at_ns": report.synced_at_ns,
        "pod": report.pod,
        "dest": report.dest,
        "pod_note": report.pod_note,
        "paths": paths,
    }
    return json.dumps(doc, indent=1)
