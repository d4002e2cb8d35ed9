"""The inject layout on the real cluster: pyodo's agent put into a pod through exec, no init image.

A scratch copy of the nodejs example is pushed with ``PYODO_LAYOUT=inject`` (the layout ``auto``
picks on a cluster whose nodes lack pyodo's init image: see test_any_cluster_real.py for one that
never had it), in a namespace of its own, deleted at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import Target
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.sources import runtime_digest
from tests.cluster.test_push_real import (
    EXAMPLES,
    Pushed,
    running_status,
    scratch_copy,
    wait_for_answer,
)

pytestmark = pytest.mark.cluster

INJECT = {"PYODO_LAYOUT": "inject"}
NODEJS = EXAMPLES["nodejs"]


@pytest.fixture(scope="module")
def injected(cluster_info, tmp_path_factory) -> Iterator[Pushed]:
    path = tmp_path_factory.mktemp("inject") / "nodejs"
    with scratch_copy(cluster_info, path, NODEJS, "inject") as pushed:
        out = pushed.doit("push", extra_env=INJECT).stdout
        assert "Putting pyodo's agent into pod/" in out, out
        yield pushed


def component(pushed: Pushed) -> Component:
    target = Target(kubeconfig=str(pushed.kubeconfig), namespace=pushed.namespace)
    return Component(pushed.path, target, environ=INJECT)


@pytest.mark.kind
def test_injected_pod_has_no_init_image_and_serves(injected: Pushed) -> None:
    with component(injected) as comp:
        pod = comp.pod()
        assert [c.name for c in pod.spec.init_containers] == ["copy-files-to-volume"]
        images = {c.image for c in [*pod.spec.containers, *pod.spec.init_containers]}
        assert images == {"localhost/pyodo/builder-nodejs:bookworm"}, "only the app's image"
        assert pod.metadata.annotations[contract.RUNTIME_ANNOTATION] == runtime_digest()
        pid1 = comp.exec(["cat", "/proc/1/cmdline"], check=True).stdout.split(b"\0")
        assert pid1[:3] == [b"/opt/odo/bin/supervisor", b"init", b"--"], pid1
        marker = f"/opt/odo/{contract.RUNTIME_MARKER_PREFIX}{runtime_digest()}"
        assert comp.exec(["test", "-f", marker]).returncode == 0
        example = injected.example
        assert wait_for_answer(comp, injected, example.answer) == example.answer


@pytest.mark.kind
def test_injected_pod_takes_an_edit_and_a_noop_push_uploads_nothing(injected: Pushed) -> None:
    example = injected.example
    source = injected.path / example.source
    source.write_text(source.read_text().replace(example.old, example.new))
    try:
        out = injected.doit("push", extra_env=INJECT).stdout
        assert "Putting pyodo's agent" not in out, "the agent is sent once per pod"
        with component(injected) as comp:
            edited = example.answer.replace(example.old, example.new)
            assert wait_for_answer(comp, injected, edited) == edited
    finally:
        source.write_text(source.read_text().replace(example.new, example.old))
        injected.doit("push", extra_env=INJECT)


def test_injected_supervisor_restarts_a_killed_app_and_reaps_it(injected: Pushed) -> None:
    with component(injected) as comp:
        before = running_status(comp)
        pid = before.split("pid=")[1].split()[0]
        comp.exec(["sh", "-c", 'kill -9 "$1"', "sh", pid], check=True)
        deadline = time.monotonic() + 30
        status = before
        while time.monotonic() < deadline:
            status = comp.exec(["/opt/odo/bin/ctl", "status"]).text
            if status.startswith("RUNNING") and f"pid={pid} " not in status + " ":
                break
            time.sleep(0.3)
        assert status.startswith("RUNNING") and f"pid={pid} " not in status + " ", status
        zombies = comp.exec(["sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status || true"])
        assert zombies.text.strip() == "", "the init reaps what dies"
        answer = injected.example.answer
        assert wait_for_answer(comp, injected, answer) == answer


def test_doit_verify_passes_on_an_injected_pod(injected: Pushed) -> None:
    proc = injected.doit("verify", extra_env=INJECT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_distroless_image_is_one_line_naming_the_fix(cluster_info, tmp_path: Path) -> None:
    """An app image without /bin/sh (pyodo's pause image is one) cannot run the wait loop."""
    with scratch_copy(cluster_info, tmp_path / "nosh", NODEJS, "nosh") as pushed:
        env = {**INJECT, "PYODO_IMAGE_RUNTIME": contract.PAUSE_REF}
        proc = pushed.doit("push", extra_env=env, check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "pyodo:" in line]
    assert lines and "no /bin/sh" in lines[-1] and "PYODO_IMAGE_" in lines[-1], lines
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_read_only_root_filesystem_still_takes_the_agent(cluster_info, tmp_path: Path) -> None:
    """/opt/odo is an emptyDir and the sources go to /projects (another): a container whose
    root filesystem is read-only still gets the agent, builds and serves."""
    with scratch_copy(cluster_info, tmp_path / "ro", NODEJS, "ro") as pushed:
        devfile = pushed.path / "devfile.yaml"
        devfile.write_text(
            devfile.read_text().replace(
                "  - name: runtime\n",
                "  - name: runtime\n"
                "    attributes:\n"
                "      container-overrides: {securityContext: {readOnlyRootFilesystem: true}}\n",
            )
        )
        pushed.doit("push", extra_env=INJECT)
        with component(pushed) as comp:
            assert comp.exec(["touch", "/rootfs-probe"]).returncode != 0, "root is read-only"
            answer = pushed.example.answer
            assert wait_for_answer(comp, pushed, answer) == answer


def _pushed_says_and_starts_nothing(
    cluster_info, path: Path, name: str, devfile: Callable[[str], str]
) -> None:
    """Push a copy of the nodejs example with its devfile replaced by ``devfile(old_text)``:
    the push succeeds, says that nothing was started, and the app program stays STOPPED."""
    with scratch_copy(cluster_info, path, NODEJS, name) as pushed:
        devfile_path = pushed.path / "devfile.yaml"
        devfile_path.write_text(devfile(devfile_path.read_text()))
        out = pushed.doit("push", extra_env=INJECT).stdout
        assert "synced and built, nothing started" in out, out
        with component(pushed) as comp:
            assert comp.exec(["/opt/odo/bin/ctl", "status"]).text.strip() == "STOPPED"


def test_a_devfile_without_a_run_command_builds_says_so_and_starts_nothing(
    cluster_info, tmp_path: Path
) -> None:
    """Che-style devfiles list tasks, not a run command: the push builds and says that nothing
    was started, instead of failing on an S2I run script the image does not have."""
    _pushed_says_and_starts_nothing(
        cluster_info, tmp_path / "tasks", "norun", lambda text: text[: text.index("  - id: run\n")]
    )


GITLAB_SHAPED = (
    "schemaVersion: 2.2.0\n"
    "metadata: {name: gitlab-shaped}\n"
    "components:\n"
    "  - name: tooling-container\n"
    "    attributes: {gl/inject-editor: true}\n"
    "    container:\n"
    "      image: localhost/pyodo/builder-nodejs:bookworm\n"
    "      env: [{name: PYODO_S2I_SCRIPTS, value: /nonexistent}]\n"
    "      endpoints: [{name: http-3000, targetPort: 3000}]\n"
)


def test_a_devfile_without_commands_on_an_image_without_s2i_scripts_starts_nothing(
    cluster_info, tmp_path: Path
) -> None:
    """GitLab workspace devfiles have no command at all, and their images no S2I scripts
    (simulated here by pointing PYODO_S2I_SCRIPTS at nothing): the push syncs, says that
    nothing was started and succeeds, instead of failing on "nothing to run"."""
    _pushed_says_and_starts_nothing(
        cluster_info, tmp_path / "gitlab", "nocmd", lambda _text: GITLAB_SHAPED
    )
