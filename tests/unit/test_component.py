"""The push workflow's pure logic, driven through the one in-memory ``Kube`` fake.

What the cluster does (pods really starting, files really landing) is tested in
``tests/cluster``; here: the pod-state rules, the state file, what a push decides to send and
build, the errors it raises, endpoints and the debug report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from pyodo_tasks.core import podstate
from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import ExecResult
from pyodo_tasks.errors import ClusterError, CommandError, ConfigError, SyncError, WaitTimeout
from tests.fakes.apps import app_devfile, offline_component, write_app
from tests.fakes.kube import FakeKube, container_status, make_pod

DEVFILE = app_devfile(
    "{name: http, targetPort: 3000}",
    "{name: admin, targetPort: 9000, exposure: none}",
    "{name: grpc, targetPort: 5000, protocol: tcp}",
)
SELECTOR = "app.kubernetes.io/instance=app"
LABELS = {"app.kubernetes.io/instance": "app", "app.kubernetes.io/managed-by": "pyodo"}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_app(tmp_path, DEVFILE, {"server.js": "console.log('hi')\n"})


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube(auto_rollout=True)


@pytest.fixture
def component(source: Path, kube: FakeKube, tmp_path: Path) -> Component:
    return offline_component(source, tmp_path / "state", kube)


def commands(kube: FakeKube) -> list[str]:
    return [" ".join(argv[:3]) for _, argv, _, _ in kube.execs]


# -- pod-state rules ---------------------------------------------------------------------------
def deployment(component: Component, kube: FakeKube) -> None:
    kube.auto_rollout = False
    for obj in component.render():
        kube.apply(obj)


def test_ready_when_the_rollout_is_complete(component: Component, kube: FakeKube) -> None:
    component.apply()
    pod = component.wait_ready(timeout=1)
    assert pod.metadata.name == "app-pod"


def test_waiting_for_a_missing_deployment_is_bounded_and_names_it(component: Component) -> None:
    with pytest.raises(WaitTimeout, match=r"component app to become ready.*Deployment/app does"):
        component.wait_ready(timeout=0.05, poll=0.01)


@pytest.mark.parametrize(
    ("reason", "fix"),
    [
        ("ErrImagePull", "PYODO_IMAGE_<CONTAINER>"),
        ("ImagePullBackOff", "load it into the cluster"),
        ("InvalidImageName", "components\\[\\].container.image"),
        ("CrashLoopBackOff", "see its logs"),
        ("CreateContainerConfigError", "missing Secret or ConfigMap"),
    ],
)
def test_a_state_that_will_not_fix_itself_fails_at_once_naming_the_fix(
    component: Component, kube: FakeKube, reason: str, fix: str
) -> None:
    deployment(component, kube)
    waiting = container_status("runtime", waiting=reason, image="localhost/app:1")
    kube.add_pod(make_pod("app-1", LABELS, phase="Pending", containers=[waiting]))
    with pytest.raises(ClusterError, match=rf"pod/app-1 container runtime .*{reason}.*{fix}"):
        component.wait_ready(timeout=30)


def test_a_failed_init_container_of_the_pod_contract_is_fatal(
    component: Component, kube: FakeKube
) -> None:
    deployment(component, kube)
    failed = container_status("copy-supervisord", terminated=(2, "Error"), message="no space")
    kube.add_pod(make_pod("app-1", LABELS, phase="Pending", init_containers=[failed]))
    with pytest.raises(ClusterError, match="init container copy-supervisord exited 2: no space"):
        component.wait_ready(timeout=30)


def test_progress_deadline_exceeded_is_fatal(component: Component, kube: FakeKube) -> None:
    deployment(component, kube)
    kube.objects[("ns", "Deployment", "app")]["status"] = {
        "conditions": [{"reason": "ProgressDeadlineExceeded", "message": "too slow"}]
    }
    with pytest.raises(ClusterError, match="Deployment/app: too slow"):
        component.wait_ready(timeout=30)


def test_rollout_states_say_what_is_pending() -> None:
    spec = {"spec": {"replicas": 1}, "metadata": {"generation": 2}}
    assert "spec update to be observed" in str(
        podstate.rollout_state("app", {**spec, "status": {"observedGeneration": 1}}, [])
    )
    status = {"observedGeneration": 2, "updatedReplicas": 0}
    assert podstate.rollout_state("app", {**spec, "status": status}, []) == "0 of 1 pods updated"
    status = {"observedGeneration": 2, "updatedReplicas": 1, "replicas": 2}
    assert podstate.rollout_state("app", {**spec, "status": status}, []) == (
        "old pod still terminating"
    )
    status = {"observedGeneration": 2, "updatedReplicas": 1, "replicas": 1}
    unscheduled = make_pod(
        "app-1", phase="Pending", conditions=[("PodScheduled", "False", "0/1 nodes available")]
    )
    assert podstate.rollout_state("app", {**spec, "status": status}, [unscheduled]) == (
        "pod/app-1 PodScheduled: 0/1 nodes available"
    )
    creating = make_pod(
        "app-2", phase="Pending", containers=[container_status("runtime", waiting="Pulling")]
    )
    assert podstate.pending_pod_state([creating]) == "pod/app-2 container runtime: Pulling"
    assert podstate.pending_pod_state([make_pod("app-3", phase="Pending")]) == (
        "pod/app-3 phase Pending"
    )
    assert podstate.pending_pod_state([make_pod("gone", deleting=True)]) == "no pod yet"


def test_the_newest_running_pod_not_being_deleted_is_the_components_pod(
    component: Component, kube: FakeKube
) -> None:
    kube.add_pod(make_pod("old", LABELS, created=1))
    kube.add_pod(make_pod("new", LABELS, created=2))
    kube.add_pod(make_pod("newest-but-deleting", LABELS, created=3, deleting=True))
    kube.add_pod(make_pod("newest-but-pending", LABELS, created=4, phase="Pending"))
    assert component.pod_name() == "new"


def test_no_running_pod_says_push_first(component: Component) -> None:
    with pytest.raises(ClusterError, match="component app has no running pod in ns: push it"):
        component.pod()


def test_container_instance_changes_when_the_container_restarts() -> None:
    first = make_pod("p", uid="u1", containers=[container_status("runtime", container_id="c1")])
    again = make_pod("p", uid="u1", containers=[container_status("runtime", container_id="c2")])
    assert podstate.container_instance(first, "runtime") == "u1/c1"
    assert podstate.container_instance(again, "runtime") == "u1/c2"
    assert podstate.container_instance(first, "other") == "u1/"


def test_describe_container_covers_every_state() -> None:
    assert podstate.describe_container(container_status("a")) == "running"
    assert podstate.describe_container(container_status("a", waiting="Pulling")) == (
        "waiting Pulling"
    )
    done = container_status("a", terminated=(137, "OOMKilled"))
    assert podstate.describe_container(done) == "terminated OOMKilled (137)"
    assert podstate.describe_container(container_status("a", running=False)) == "unknown"


# -- push: apply, sync, build ------------------------------------------------------------------
def test_first_push_applies_sends_everything_and_builds(
    component: Component, kube: FakeKube
) -> None:
    result = component.push(timeout=1)
    assert result.applied == ("PersistentVolumeClaim/app-s2idata", "Service/app", "Deployment/app")
    assert result.built and result.pod == "app-pod"
    assert set(result.sync.changes.to_send()) == {"devfile.yaml", "server.js"}
    assert commands(kube)[0] == "mkdir -p /projects"
    assert commands(kube)[1] == "tar -xf -"
    assert commands(kube)[2] == "/opt/odo/bin/assemble-and-restart"


def test_a_second_push_with_nothing_changed_writes_and_builds_nothing(
    component: Component, kube: FakeKube
) -> None:
    component.push(timeout=1)
    kube.execs.clear()
    applies = sum(1 for method, _ in kube.calls if method == "apply")
    result = component.push(timeout=1)
    assert result.applied == () and not result.built and not result.sync.changes
    assert kube.execs == []
    assert sum(1 for method, _ in kube.calls if method == "apply") == applies


def test_an_edit_sends_only_the_edited_file_then_builds(
    component: Component, kube: FakeKube, source: Path
) -> None:
    component.push(timeout=1)
    kube.execs.clear()
    (source / "server.js").write_text("console.log('edited')\n")
    result = component.push(timeout=1)
    assert result.sync.changes.to_send() == ("server.js",)
    assert not result.sync.changes.full
    assert result.built
    assert commands(kube)[0] == "tar -xf -"


def test_a_restarted_container_gets_everything_again(component: Component, kube: FakeKube) -> None:
    component.push(timeout=1)
    pod = kube.pod_objects[("ns", "app-pod")]
    pod.status.container_statuses[0].container_id = "containerd://restarted"
    kube.execs.clear()
    result = component.push(timeout=1)
    assert result.sync.changes.full and result.built


def test_a_deleted_file_is_removed_in_the_container(
    component: Component, kube: FakeKube, source: Path
) -> None:
    component.push(timeout=1)
    kube.execs.clear()
    (source / "server.js").unlink()
    component.push(timeout=1)
    assert commands(kube)[0].startswith("rm -rf --")


def test_no_tar_in_the_image_says_so_and_keeps_the_index(
    component: Component, kube: FakeKube
) -> None:
    component.apply()
    kube.exec_handler = lambda pod, argv, container, data: ExecResult(
        argv, 127 if argv[0] == "tar" else 0, b"", b"tar: not found"
    )
    with pytest.raises(SyncError, match=r"image localhost/app:1 has no 'tar'"):
        component.push(timeout=1)
    kube.exec_handler = lambda pod, argv, container, data: ExecResult(argv, 0, b"", b"")
    assert component.push(timeout=1).sync.changes.full  # nothing was committed


def test_a_read_only_source_dir_names_the_setting_to_change(
    component: Component, kube: FakeKube
) -> None:
    component.apply()
    kube.exec_handler = lambda pod, argv, container, data: ExecResult(
        argv, 2, b"", b"tar: /projects: Cannot open: Read-only file system"
    )
    with pytest.raises(SyncError, match=r"/projects is not writable.*sourceMapping"):
        component.push(timeout=1)


def test_a_failed_build_raises_with_its_output_and_is_built_again_next_time(
    component: Component, kube: FakeKube
) -> None:
    def handler(pod: str, argv: tuple[str, ...], container: str | None, data: bytes | None):
        failing = "assemble-and-restart" in " ".join(argv)
        return ExecResult(argv, 1 if failing else 0, b"npm ERR! boom\n" if failing else b"", b"")

    kube.exec_handler = handler
    lines: list[str] = []
    with pytest.raises(CommandError, match="assemble-and-restart exited 1") as info:
        component.push(output=lines.append, timeout=1)
    assert "npm ERR! boom" in str(info.value)
    assert "npm ERR! boom" in lines
    kube.exec_handler = lambda pod, argv, container, data: ExecResult(argv, 0, b"", b"")
    again = component.push(timeout=1)
    assert not again.sync.changes and again.built  # synced before, but never built


def test_the_cluster_refusing_an_apply_is_a_cluster_error_with_its_status(
    component: Component, kube: FakeKube
) -> None:
    kube.fail("apply", ApiException(status=422, reason="Unprocessable Entity"))
    with pytest.raises(ClusterError) as info:
        component.push(timeout=1)
    assert info.value.status == 422 and not info.value.retryable


def test_state_survives_a_new_component_object(
    component: Component, kube: FakeKube, source: Path, tmp_path: Path
) -> None:
    component.push(timeout=1)
    again = offline_component(source, tmp_path / "state", kube)
    kube.execs.clear()
    assert not again.push(timeout=1).built
    assert kube.execs == []


# -- using the running component ---------------------------------------------------------------
def test_endpoints_default_to_the_first_exposed_one(component: Component) -> None:
    assert component.endpoint_spec().name == "http"
    assert component.endpoint_spec("admin").target_port == 9000
    assert component.service_url() == "http://app.ns.svc:3000"
    assert component.service_url("grpc").endswith(".svc:5000")
    with pytest.raises(ConfigError, match=r"no endpoint 'nope' \(have: http, admin, grpc\)"):
        component.endpoint_spec("nope")


def test_exec_and_logs_go_to_the_app_container(component: Component, kube: FakeKube) -> None:
    component.push(timeout=1)
    kube.exec_handler = lambda pod, argv, container, data: ExecResult(argv, 0, b"out", b"")
    assert component.exec(["ls"]).stdout == b"out"
    assert kube.execs[-1][:3] == ("app-pod", ("ls",), "runtime")
    kube.log_text["app-pod"] = "one\ntwo\nthree"
    assert component.logs(tail_lines=2) == "two\nthree"


def test_the_debug_report_shows_pods_events_and_the_log_tail(
    component: Component, kube: FakeKube
) -> None:
    component.push(timeout=1)
    kube.add_event("app-pod", "BackOff", "restarting failed container")
    kube.log_text["app-pod"] = "listening on 3000"
    report = component.debug_report()
    assert "component app in fake-ctx/ns" in report
    assert "pod/app-pod: Running" in report
    assert "runtime: running, restarts 0" in report
    assert "Warning BackOff Pod/app-pod: restarting failed container" in report
    assert report.endswith("log tail of runtime:\nlistening on 3000")


def test_the_debug_report_says_what_it_could_not_read(component: Component, kube: FakeKube) -> None:
    kube.fail("pods", ConnectionRefusedError(111, "Connection refused"))
    report = component.debug_report()
    assert "(could not read more: list pods" in report
    assert "did not answer" in report


def test_delete_waits_until_the_objects_are_gone_and_forgets_the_state(
    component: Component, kube: FakeKube
) -> None:
    component.push(timeout=1)
    assert component.state.path.exists()
    gone = component.delete(timeout=1)
    assert "Deployment/app" in gone
    assert not component.state.path.exists()
    assert kube.list_labelled(SELECTOR) == []


def test_delete_of_objects_that_never_go_is_bounded_and_names_them(
    component: Component, kube: FakeKube
) -> None:
    component.push(timeout=1)
    kube.stuck = True
    with pytest.raises(WaitTimeout, match=r"component app objects to be deleted.*Deployment/app"):
        component.delete(timeout=0.05)


SIDECAR_DEVFILE = """\
schemaVersion: 2.2.0
metadata: {name: app}
components:
  - name: runtime
    container: {image: localhost/app:1}
  - name: lint
    container: {image: localhost/lint:1}
commands:
  - id: run
    exec: {component: runtime, commandLine: node server.js, group: {kind: run}}
  - id: check
    exec: {component: lint, commandLine: make lint, group: {kind: build}}
  - id: flush
    exec: {component: lint, commandLine: make flush}
events: {preStop: [flush]}
"""


def test_sidecar_steps_and_pre_stop_run_by_sh_in_their_own_container(
    source: Path, kube: FakeKube, tmp_path: Path
) -> None:
    (source / "devfile.yaml").write_text(SIDECAR_DEVFILE)
    component = Component(source, kube=kube, state_dir=tmp_path / "s", environ={})
    component.apply()
    pod = component.wait_ready(timeout=1).metadata.name
    said: list[str] = []
    component.run_sidecar_steps("build", pod, said.append, timeout=5)
    component.pre_stop(timeout=5)
    ran = [
        (container, argv[:2], argv[2].rsplit("&& ", 1)[1]) for _, argv, container, _ in kube.execs
    ]
    assert ran == [("lint", ("sh", "-c"), "make lint"), ("lint", ("sh", "-c"), "make flush")]
    assert said[0].startswith("[pyodo] build in lint: ")

    kube.exec_handler = lambda pod, argv, container, data: ExecResult(argv, 2, b"", b"no rule")
    with pytest.raises(CommandError, match=f"build of component app in pod/{pod}"):
        component.run_sidecar_steps("build", pod, said.append, timeout=5)
    component.pre_stop(timeout=5)  # a failing preStop step is logged, never raised


@pytest.mark.parametrize(("environ", "by_stat"), [({}, True), ({"PYODO_INDEX": "walk"}, False)])
def test_pyodo_index_walk_reaches_the_workspace(
    source: Path, kube: FakeKube, tmp_path: Path, environ: dict[str, str], by_stat: bool
) -> None:
    component = Component(source, kube=kube, state_dir=tmp_path / "s", environ=environ)
    assert component.workspace.by_stat is by_stat
