"""`doit push` on the real cluster: what a developer does all day, for each example.

Each test module works on a scratch copy of an example (edits never touch the repo) in a
namespace of its own, labelled for gc and deleted at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.core.kube.quick import quick_pods
from tests import commands

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]


@dataclass
class Example:
    name: str
    source: str  # the file whose text we edit
    old: str
    new: str
    answer: str


EXAMPLES = {
    "nodejs": Example(
        "nodejs",
        "greeting.js",
        "pyodo (Node.js)",
        "pyodo (Node.js), edited",
        "Hello from pyodo (Node.js)",
    ),
    "python": Example(
        "python",
        "greeting.py",
        "pyodo (Python)",
        "pyodo (Python), edited",
        "Hello from pyodo (Python)",
    ),
    "java": Example(
        "java",
        "src/demo/Greeting.java",
        "pyodo (Java)",
        "pyodo (Java), edited",
        "Hello from pyodo (Java)",
    ),
}


@dataclass
class Pushed:
    """A scratch copy of an example, pushed once, with helpers to drive doit in it."""

    example: Example
    path: Path
    namespace: str
    kubeconfig: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        env.pop("PYODO_NAMESPACE", None)
        return env

    def doit(
        self, *args: str, check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # The task option, as a user types it: doit hands it to the named task only, so this
        # also proves the whole graph (create_resources ... copy) honours it.
        argv = (*args, "--namespace", self.namespace)
        env = {**self.env(), **(extra_env or {})}
        proc = commands.doit(self.path, *argv, env=env, timeout=900)
        if check and proc.returncode != 0:
            pytest.fail(
                f"doit {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def component(self) -> Component:
        target = Target(kubeconfig=str(self.kubeconfig), namespace=self.namespace)
        return Component(self.path, target, environ={})

    def get(self, url: str) -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode().strip()


def wait_for_answer(
    component: Component, pushed: Pushed, expected: str, timeout: float = 60
) -> str:
    """The app restarts asynchronously after a build: poll its answer (bounded)."""
    url = component.endpoint()
    deadline = time.monotonic() + timeout
    answer = ""
    while time.monotonic() < deadline:
        try:
            answer = pushed.get(url)
        except OSError:
            answer = ""
        if answer == expected:
            return answer
        time.sleep(0.5)
    return answer


@contextmanager
def scratch_copy(cluster_info: Any, path: Path, example: Example, purpose: str) -> Iterator[Pushed]:
    """A copy of ``example`` at ``path`` (edits never touch the repo) and a namespace of its
    own, ``pyodo-test-<purpose>-<random>``, labelled for gc and deleted at the end; not pushed."""
    shutil.copytree(ROOT / "examples" / example.name, path, ignore=shutil.ignore_patterns(".pyodo"))
    namespace = f"pyodo-test-{purpose}-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"{purpose}-{namespace}", 3600))
    try:
        yield Pushed(example, path, namespace, cluster_info.kubeconfig)
    finally:
        kube.delete_namespace(namespace)
        kube.close()


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def pushed(request: pytest.FixtureRequest, cluster_info, tmp_path_factory) -> Iterator[Pushed]:
    example = EXAMPLES[request.param]
    path = tmp_path_factory.mktemp(example.name) / example.name
    with scratch_copy(cluster_info, path, example, example.name) as pushed:
        pushed.doit("push")
        yield pushed


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_push_serves_the_app(pushed: Pushed) -> None:
    with pushed.component() as component:
        assert wait_for_answer(component, pushed, pushed.example.answer) == pushed.example.answer


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_pod_is_the_seeds_pod(pushed: Pushed) -> None:
    with pushed.component() as component:
        check_seed_pod(component)


def check_seed_pod(component: Component) -> None:
    pod = component.pod()
    assert [c.name for c in pod.spec.init_containers] == [
        "copy-supervisord",
        "copy-files-to-volume",
    ]
    claims = {
        v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
    assert f"{component.name}-s2idata" in claims
    pid1 = component.exec(["cat", "/proc/1/cmdline"], check=True).stdout.split(b"\0")[0]
    assert pid1.endswith(b"tini"), "an init reaps orphans as PID 1"
    assert component.exec(["test", "-d", "/opt/odo/bin"]).returncode == 0


def running_status(component: Component, timeout: float = 30) -> str:
    """``ctl status`` once it says RUNNING: a push returns when the restarted app serves, and the
    supervisor confirms RUNNING only after its startsecs (the agent's "done at serving")."""
    deadline = time.monotonic() + timeout
    while True:
        result = component.exec(["/opt/odo/bin/ctl", "status"])
        if result.returncode == 0 or time.monotonic() > deadline:
            return result.check_returncode("the supervisor to report RUNNING").text
        time.sleep(0.2)


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_nothing_changed_push_makes_no_write_and_no_build(pushed: Pushed) -> None:
    with pushed.component() as component:
        check_noop_push(pushed, component)


def check_noop_push(pushed: Pushed, component: Component) -> None:
    before = component.kube.get("Deployment", component.name)
    status_before = running_status(component)
    out = pushed.doit("push").stdout
    # doit marks up-to-date tasks with "--": nothing applied, copied or built
    for task in ("create_resources", "copy", "assemble_and_restart"):
        assert re.search(rf"^-- {task}", out, re.M), out
    after = component.kube.get("Deployment", component.name)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert component.exec(["/opt/odo/bin/ctl", "status"], check=True).text == status_before


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_nothing_changed_push_answers_without_loading_the_kubernetes_client(pushed: Pushed) -> None:
    # The no-op push's one check is a pod list made with the standard library (core/kube/quick):
    # importing the official client alone costs more than the whole push should.
    proc = pushed.doit("push", extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert re.search(r"^-- copy", proc.stdout, re.M), proc.stdout
    assert "kubernetes" not in proc.stderr, "the no-op push imported the Kubernetes client"


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_quick_pod_list_reads_like_the_clients(pushed: Pushed) -> None:
    with pushed.component() as component:
        quick = quick_pods(component.target, component.selector)
        full = component.kube.pods(component.selector)
    assert quick is not None, "the kubeconfig's entry should be readable without the client"
    assert [(p.metadata.name, p.metadata.uid, p.status.phase) for p in quick] == [
        (p.metadata.name, p.metadata.uid, p.status.phase) for p in full
    ]
    assert [p.metadata.annotations for p in quick] == [p.metadata.annotations for p in full]
    assert [p.metadata.creation_timestamp for p in quick] == [
        p.metadata.creation_timestamp for p in full
    ]

    def containers(pods: list[Any]) -> list[list[tuple[Any, ...]]]:
        return [
            [(c.name, c.container_id, c.ready, bool(c.state.running)) for c in statuses]
            for statuses in (p.status.container_statuses for p in pods)
        ]

    assert containers(quick) == containers(full)


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_edit_then_push_serves_the_new_answer(pushed: Pushed) -> None:
    example = pushed.example
    source = pushed.path / example.source
    source.write_text(source.read_text().replace(example.old, example.new))
    with pushed.component() as component:
        pod_before = component.pod().metadata.uid
        out = pushed.doit("push").stdout
        assert "1 modified" in out, out
        expected = example.answer.replace(example.old, example.new)
        assert wait_for_answer(component, pushed, expected) == expected
        assert component.pod().metadata.uid == pod_before, "sync and restart, not a new pod"


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_edit_push_streams_to_the_agent_without_loading_the_kubernetes_client(
    pushed: Pushed,
) -> None:
    # A one-shot push of an edit needs the pod list and the agent's exec stream, both opened
    # from the kubeconfig without the official client (core/kube/quick).
    example = pushed.example
    source = pushed.path / example.source
    text = source.read_text()
    edited = example.answer.replace(example.old, example.new)
    if example.new in text:  # an earlier test's edit is there: take it back
        source.write_text(text.replace(example.new, example.old))
        expected = example.answer
    else:
        source.write_text(text.replace(example.old, example.new))
        expected = edited
    proc = pushed.doit("push", extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "1 modified" in proc.stdout, proc.stdout
    assert "kubernetes" not in proc.stderr, "the edit's push imported the Kubernetes client"
    with pushed.component() as component:
        assert wait_for_answer(component, pushed, expected) == expected


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_deleted_and_renamed_files_follow_in_the_container(pushed: Pushed) -> None:
    (pushed.path / "notes.txt").write_text("draft\n")
    (pushed.path / "old-name.txt").write_text("keep me\n")
    pushed.doit("push")
    (pushed.path / "notes.txt").unlink()
    (pushed.path / "old-name.txt").rename(pushed.path / "new-name.txt")
    out = pushed.doit("push").stdout
    assert "1 deleted" in out and "1 renamed" in out, out
    with pushed.component() as component:
        src = component.devfile.source_dir
        assert component.exec(["test", "-e", f"{src}/notes.txt"]).returncode == 1
        assert component.exec(["test", "-e", f"{src}/old-name.txt"]).returncode == 1
        assert component.exec(["cat", f"{src}/new-name.txt"], check=True).text == "keep me\n"


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_killed_app_is_restarted_by_the_supervisor_in_the_same_pod(pushed: Pushed) -> None:
    with pushed.component() as component:
        check_supervisor_restart(pushed, component)


def check_supervisor_restart(pushed: Pushed, component: Component) -> None:
    pod = component.pod().metadata.uid
    status = running_status(component)
    # what the app says now (earlier tests edit the source, and may take the edit back)
    source = (pushed.path / pushed.example.source).read_text()
    expected = pushed.example.answer
    if pushed.example.new in source:
        expected = expected.replace(pushed.example.old, pushed.example.new)
    pid = re.search(r"pid=(\d+)", status).group(1)
    # minbase images have no /bin/kill: use the shell's builtin, pid passed as an argument
    component.exec(["sh", "-c", 'kill -9 "$1"', "sh", pid], check=True)
    deadline = time.monotonic() + 60
    new_pid = pid
    while time.monotonic() < deadline:
        status = component.exec(["/opt/odo/bin/ctl", "status"]).text
        match = re.search(r"RUNNING pid=(\d+)", status)
        if match and match.group(1) != pid:
            new_pid = match.group(1)
            break
        time.sleep(0.5)
    assert new_pid != pid, f"app not restarted: {status}"
    assert component.pod().metadata.uid == pod
    assert wait_for_answer(component, pushed, expected) == expected


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_failed_build_fails_the_push_and_keeps_the_edit(pushed: Pushed) -> None:
    if pushed.example.name == "python":
        broken = "def greeting(:\n"
    elif pushed.example.name == "java":
        broken = "package demo; final class Greeting { static String text() { return } }\n"
    else:
        broken = "exports.greeting = () => ;\n"
    source = pushed.path / pushed.example.source
    good = source.read_text()
    source.write_text(broken)
    failed = pushed.doit("push", check=False)
    assert failed.returncode != 0
    assert "assemble-and-restart" in failed.stderr + failed.stdout
    source.write_text(good)
    pushed.doit("push")
    with pushed.component() as component:
        src = component.devfile.source_dir
        remote = component.exec(["cat", f"{src}/{pushed.example.source}"], check=True).text
    assert remote == good


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_doit_verify_passes_in_sync_and_names_a_file_changed_in_the_container(
    pushed: Pushed,
) -> None:
    out = pushed.doit("verify").stdout
    assert re.search(r"^verified \d+ synced files in pod/\S+ in ", out, re.M), out
    source = pushed.example.source
    size = (pushed.path / source).stat().st_size
    with pushed.component() as component:
        remote = f"{component.devfile.source_dir}/{source}"
        # Behind pyodo's back: the local file and the index do not change.
        component.exec(["sh", "-c", 'printf "// edited" >> "$1"', "sh", remote], check=True)
        try:
            failed = pushed.doit("verify", check=False)
            assert failed.returncode == 1
            said = failed.stdout + failed.stderr
            assert f"{source} (differs)" in said, said
            assert "1 of " in said and "differ from pyodo's index" in said
        finally:
            component.exec(["truncate", "-s", str(size), remote], check=True)
    assert pushed.doit("verify").returncode == 0  # restored: in sync again


@pytest.mark.kind(only={"pushed": "nodejs"})
def test_delete_leaves_no_labelled_object(pushed: Pushed, request: pytest.FixtureRequest) -> None:
    # Runs last in the module (definition order): deletes the component.
    with pushed.component() as component:
        pushed.doit("delete")
        selector = f"app.kubernetes.io/instance={component.name},app.kubernetes.io/managed-by=pyodo"
        assert component.kube.list_labelled(selector) == []
        assert component.kube.pods(component.selector) == []


@pytest.fixture
def scratch(cluster_info, tmp_path: Path) -> Iterator[Pushed]:
    """A scratch copy of examples/python in its own namespace, not pushed yet."""
    with scratch_copy(cluster_info, tmp_path / "python", EXAMPLES["python"], "scratch") as copy:
        yield copy


def test_delete_with_a_broken_devfile_deletes_the_component_by_its_labels(
    scratch: Pushed,
) -> None:
    scratch.doit("push")
    with scratch.component() as component:
        name, selector, kube = component.name, component.selector, component.kube
        assert kube.list_labelled(selector), "applied"
        devfile = scratch.path / "devfile.yaml"
        devfile.write_text(devfile.read_text().replace("components:", "components: [", 1))
        out = scratch.doit("delete").stdout
        assert f"deleting component {name}" in out and f"Deployment/{name}" in out, out
        assert kube.list_labelled(selector) == []
        assert kube.pods(selector) == []


def test_s2i_component_without_commands_runs_the_image_scripts(scratch: Pushed) -> None:
    devfile = scratch.path / "devfile.yaml"
    devfile.write_text(devfile.read_text().split("commands:")[0])
    out = scratch.doit("push").stdout
    assert "---> Assembled" in out, "the builder image's S2I assemble ran"
    with scratch.component() as component:
        assert wait_for_answer(component, scratch, scratch.example.answer) == scratch.example.answer
        served = component.exec(["test", "-f", "/opt/app-root/src/app.py"])
        assert served.returncode == 0, "S2I assemble put the sources in the app root"


def test_unwritable_source_dir_fails_with_a_clear_error(scratch: Pushed) -> None:
    # With exec commands the sources get their own volume at sourceMapping (odo's
    # odo-projects), which is always writable; an S2I devfile syncs into the image's own tree.
    devfile = scratch.path / "devfile.yaml"
    devfile.write_text(
        devfile.read_text()
        .split("commands:")[0]
        .replace("memoryLimit:", "sourceMapping: /sys/pyodo-src\n      memoryLimit:")
    )
    failed = scratch.doit("push", check=False)
    assert failed.returncode != 0
    message = failed.stdout + failed.stderr
    assert "/sys/pyodo-src is not writable" in message, message
    assert "sourceMapping" in message
    assert not list((scratch.path / ".pyodo").glob("index-*.json")), "index untouched"


def test_post_start_events_run_once_per_container(scratch: Pushed) -> None:
    devfile = scratch.path / "devfile.yaml"
    devfile.write_text(
        devfile.read_text()
        + "  - id: warm-up\n    exec:\n      component: py\n"
        + "      commandLine: echo started >> /tmp/post-start.log && test -f app.py\n"
        + "      workingDir: ${PROJECT_SOURCE}\n"
        + "events:\n  postStart: [warm-up]\n"
    )
    out = scratch.doit("push").stdout
    assert "[pyodo] postStart in py" in out, out
    (scratch.path / "greeting.py").write_text('def greeting() -> str:\n    return "again"\n')
    scratch.doit("push")
    with scratch.component() as component:
        log = component.exec(["cat", "/tmp/post-start.log"], check=True).text
    assert log == "started\n", "postStart ran once, after the sources arrived"


def test_hot_reload_capable_app_is_not_restarted_after_a_sync(scratch: Pushed) -> None:
    devfile = scratch.path / "devfile.yaml"
    devfile.write_text(
        devfile.read_text().replace(
            "      commandLine: python3 -u app.py\n",
            "      commandLine: python3 -u app.py\n      hotReloadCapable: true\n",
        )
    )
    scratch.doit("push")
    with scratch.component() as component:
        before = running_status(component)
        (scratch.path / "notes.txt").write_text("edited\n")
        out = scratch.doit("push").stdout
        assert "hotReloadCapable and running: not restarting" in out, out
        after = running_status(component)
    assert after == before, "same pid, no restart: the app reloads by itself"
