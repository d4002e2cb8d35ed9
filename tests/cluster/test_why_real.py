"""`doit why PATH…` on the real cluster (issue 23): the Node.js example pushed once, then asked
about an ignored, a synced, a stale and a deleted path through the real command.

A scratch copy of the example (edits never touch the repo) with a ``*.log`` rule added to its
``.gitignore``, in a namespace of its own, labelled for gc and deleted at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target
from tests import commands

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]


class Pushed:
    """The scratch copy, pushed once; ``doit(...)`` runs doit in it against its namespace."""

    def __init__(self, path: Path, namespace: str, kubeconfig: Path) -> None:
        self.path, self.namespace, self.kubeconfig = path, namespace, kubeconfig

    def doit(self, task: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        env.pop("PYODO_NAMESPACE", None)
        return commands.doit(
            self.path, task, "--namespace", self.namespace, *args, env=env, timeout=900
        )


@pytest.fixture(scope="module")
def pushed(cluster_info: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    path = tmp_path_factory.mktemp("why") / "nodejs"
    shutil.copytree(ROOT / "examples" / "nodejs", path, ignore=shutil.ignore_patterns(".pyodo"))
    with (path / ".gitignore").open("a") as f:
        f.write("# logs stay here\n*.log\n")
    (path / "debug.log").write_text("noise\n")
    (path / "notes.txt").write_text("synced, then deleted here\n")
    namespace = f"pyodo-test-why-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"why-{namespace}", 3600))
    pushed = Pushed(path, namespace, cluster_info.kubeconfig)
    try:
        out = pushed.doit("push")
        assert out.returncode == 0, out.stdout + out.stderr
        yield pushed
    finally:
        kube.delete_namespace(namespace)
        kube.close()


def test_why_on_ignored_synced_stale_and_deleted_paths(pushed: Pushed) -> None:
    (pushed.path / "greeting.js").write_text("module.exports = 'edited, not pushed';\n")
    (pushed.path / "notes.txt").unlink()
    paths = ["debug.log", "server.js", "greeting.js", "notes.txt"]
    text = pushed.doit("why", *paths)
    assert text.returncode == 0, text.stdout + text.stderr
    out = text.stdout
    assert "debug.log: not synced: ignored by .gitignore:3 (*.log)" in out, out
    assert "server.js: in sync: the pod has this version" in out, out
    assert "greeting.js: changed here since the last sync: the next push sends it" in out, out
    assert "notes.txt: deleted here since the last sync" in out, out
    assert "last synced unknown" not in out and "last synced never" not in out, out

    doc = json.loads(pushed.doit("why", "--json", *paths).stdout)  # all of stdout
    states = {p["path"]: (p["local_state"], p["pod_state"]) for p in doc["paths"]}
    assert states == {
        "debug.log": ("ignored", "absent"),
        "server.js": ("same", "same"),
        "greeting.js": ("stale", "synced"),
        "notes.txt": ("deleted", "synced"),
    }
    assert doc["paths"][0]["rule"] == {"source": ".gitignore", "line": 3, "pattern": "*.log"}
    assert doc["pod"] and doc["synced_at_ns"]


def test_why_on_a_path_outside_is_one_line(pushed: Pushed) -> None:
    out = pushed.doit("why", "../elsewhere.js")
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "is not a path inside the component directory" in out.stderr
