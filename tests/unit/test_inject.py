"""The inject layout's pure logic: the pod it renders, the probe-then-upload exchange, the layout
setting and its ``auto`` decision, and the pod states that name its fixes. No cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from pyodo_tasks.core import inject, podstate
from pyodo_tasks.core.component import Component
from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core.inject import Injected, ensure_runtime, layout_settings
from pyodo_tasks.core.kube import ExecResult
from pyodo_tasks.core.render import SPEC_HASH_ANNOTATION, RenderContext, render
from pyodo_tasks.errors import (
    ClusterError,
    ConfigError,
    InitImageUnavailable,
    RuntimeDeliveryError,
)
from pyodo_tasks.runtime import bundle, contract
from tests.fakes.apps import offline_component, write_app
from tests.fakes.kube import FakeKube, container_status, make_pod

FIXTURES = Path(__file__).parents[2] / "fixtures" / "devfiles"
INJECT = RenderContext(namespace="dev", layout=contract.LAYOUT_INJECT, runtime="abc")
FAKE_BINARY = b"\x7fELF-fake-supervisor"


def _template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    return deployment["spec"]["template"]


def _nodejs(ctx: RenderContext) -> list[dict[str, Any]]:
    return render(load_devfile(FIXTURES / "registry-nodejs.yaml", environ={}), ctx)


# -- the rendered pod --------------------------------------------------------------------------
def test_inject_pod_has_no_init_image_and_waits_for_the_runtime() -> None:
    template = _template(_nodejs(INJECT))
    spec = template["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["copy-files-to-volume"]
    assert all(c["image"] != contract.INIT_REF for c in spec["initContainers"])
    (app,) = spec["containers"]
    assert app["command"] == list(contract.INJECT_WAIT_COMMAND)
    assert {"name": "odo-shared-data", "mountPath": contract.ODO_MOUNT} in app["volumeMounts"]
    assert {"name": "odo-shared-data", "emptyDir": {}} in spec["volumes"]
    assert template["metadata"]["annotations"][contract.RUNTIME_ANNOTATION] == "abc"


def test_default_layout_is_the_seeds_pod_with_the_init_image() -> None:
    template = _template(_nodejs(RenderContext(namespace="dev", runtime="abc")))
    spec = template["spec"]
    assert [c["name"] for c in spec["initContainers"]] == [
        "copy-supervisord",
        "copy-files-to-volume",
    ]
    assert spec["initContainers"][0]["image"] == contract.INIT_REF
    assert spec["containers"][0]["command"] == list(contract.APP_CONTAINER_COMMAND)
    assert contract.RUNTIME_ANNOTATION not in template["metadata"]["annotations"]


def test_the_init_layout_uses_the_given_init_image() -> None:
    ctx = RenderContext(namespace="dev", init_image="registry.example/pyodo/init:9")
    (first, _) = _template(_nodejs(ctx))["spec"]["initContainers"]
    assert (first["name"], first["image"]) == ("copy-supervisord", "registry.example/pyodo/init:9")


def test_a_sidecar_only_commands_target_is_kept_alive_with_its_own_sh() -> None:
    devfile = load_devfile(FIXTURES / "features" / "sidecar-overrides.yaml", environ={})
    template = _template(render(devfile, INJECT))
    containers = {c["name"]: c for c in template["spec"]["containers"]}
    lint = containers["lint"]
    assert lint["command"][:2] == ["/bin/sh", "-c"]
    assert "busybox" not in " ".join(lint["command"])
    assert "odo-shared-data" not in {m["name"] for m in lint["volumeMounts"]}
    assert containers["db"]["command"] == ["python3", "-m", "http.server", "5432"]
    assert containers["runtime"]["command"] == list(contract.INJECT_WAIT_COMMAND)
    # pod-overrides' annotations merge with the runtime's, neither replaces the other
    annotations = template["metadata"]["annotations"]
    assert annotations["team"] == "pyodo"
    assert annotations[contract.RUNTIME_ANNOTATION] == "abc"


def test_another_runtime_digest_rolls_the_inject_pod() -> None:
    def stamped(ctx: RenderContext) -> str:
        return _template(_nodejs(ctx))["metadata"]["annotations"][SPEC_HASH_ANNOTATION]

    a = stamped(INJECT)
    b = stamped(RenderContext(namespace="dev", layout=contract.LAYOUT_INJECT, runtime="def"))
    assert a != b
    assert a == stamped(INJECT), "stable for one digest"
    init = stamped(RenderContext(namespace="dev"))
    assert init not in (a, b), "switching layouts rolls the pod"
    assert init == stamped(RenderContext(namespace="dev", runtime="other")), (
        "the init layout's runtime comes from its image, not from the digest"
    )


# -- ensure_runtime: probe, then upload ----------------------------------------------------------
class FakeExec:
    """The app container's exec: answers from ``replies`` in order and records each call."""

    def __init__(self, *replies: ExecResult) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[str], bytes | None, float]] = []

    def __call__(
        self, args: list[str], *, input: bytes | None = None, timeout: float = 60.0
    ) -> ExecResult:
        self.calls.append((list(args), input, timeout))
        return self.replies.pop(0)


def _answer(stdout: str = "", returncode: int = 0, stderr: str = "") -> ExecResult:
    return ExecResult(("sh",), returncode, stdout.encode(), stderr.encode())


@pytest.fixture
def fake_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``bundle.supervisor_binary`` answering a small file; returns the archs asked for."""
    path = tmp_path / "supervisor"
    path.write_bytes(FAKE_BINARY)
    asked: list[str] = []

    def binary(arch: str) -> Path:
        asked.append(arch)
        return path

    monkeypatch.setattr(bundle, "supervisor_binary", binary)
    return asked


WHERE, IMAGE = "pod/app-1 container runtime", "example.invalid/app:1"


def _ensure(run: FakeExec, say: Callable[[str], None] | None = None) -> Injected:
    return ensure_runtime(run, WHERE, IMAGE, say)


def test_a_runtime_already_there_is_not_sent_again(fake_binary: list[str]) -> None:
    run = FakeExec(_answer("x86_64\npresent\n"))
    done = _ensure(run)
    assert done.sent == 0
    assert len(run.calls) == 1
    args, data, _ = run.calls[0]
    assert args == bundle.probe_argv() and data is None
    assert fake_binary == [], "no binary looked up"


def test_a_missing_runtime_is_uploaded_for_the_nodes_architecture(
    fake_binary: list[str],
) -> None:
    said: list[str] = []
    run = FakeExec(_answer("x86_64\n"), _answer("installed\n"))
    done = _ensure(run, said.append)
    assert len(run.calls) == 2
    args, data, _ = run.calls[1]
    assert args == bundle.install_argv()
    assert data is not None
    assert data.startswith(FAKE_BINARY) and data.endswith(bundle.TRAILER_MAGIC)
    assert fake_binary == ["amd64"]
    assert (done.sent, done.arch) == (len(data), "amd64")
    assert len(said) == 1 and WHERE in said[0] and "linux/amd64" in said[0]


def test_an_arm_node_gets_the_arm_binary(fake_binary: list[str]) -> None:
    run = FakeExec(_answer("aarch64\n"), _answer("installed\n"))
    assert _ensure(run).arch == "arm64"
    assert fake_binary == ["arm64"]


@pytest.mark.parametrize("code", [126, 127])
def test_an_image_without_sh_names_the_image_and_the_fix(fake_binary: list[str], code: int) -> None:
    run = FakeExec(_answer(returncode=code, stderr='exec: "/bin/sh": not found'))
    with pytest.raises(RuntimeDeliveryError) as caught:
        _ensure(run)
    message = str(caught.value)
    assert "/bin/sh" in message and "PYODO_IMAGE_<CONTAINER>" in message
    assert IMAGE in message and WHERE in message
    assert len(run.calls) == 1 and fake_binary == []


def test_an_image_without_sh_is_not_sent_to_the_init_layout(fake_binary: list[str]) -> None:
    run = FakeExec(_answer(returncode=127, stderr='exec: "/bin/sh": not found'))
    with pytest.raises(RuntimeDeliveryError) as caught:
        _ensure(run)
    assert "PYODO_LAYOUT=init" not in str(caught.value)
    assert contract.COPY_FILES_TO_VOLUME_COMMAND[0] == "/bin/sh"


def test_a_failing_probe_shows_its_output(fake_binary: list[str]) -> None:
    run = FakeExec(_answer(returncode=1, stderr="container not running"))
    with pytest.raises(RuntimeDeliveryError, match=r"exit 1.*container not running"):
        _ensure(run)


@pytest.mark.parametrize("machine", ["riscv64", "s390x", "unknown-machine"])
def test_a_node_architecture_without_a_binary_is_named(
    fake_binary: list[str], machine: str
) -> None:
    run = FakeExec(_answer(f"{machine}\n"))
    with pytest.raises(RuntimeDeliveryError, match=machine) as caught:
        _ensure(run)
    assert "PYODO_LAYOUT" in str(caught.value)
    assert len(run.calls) == 1 and fake_binary == []


@pytest.mark.parametrize(
    ("words", "named"),
    [("no-cat", "cat"), ("no-chmod", "chmod"), ("no-cat\nno-chmod", "cat or chmod")],
)
def test_an_image_without_cat_or_chmod_is_named(
    fake_binary: list[str], words: str, named: str
) -> None:
    run = FakeExec(_answer(f"x86_64\n{words}\n"))
    with pytest.raises(RuntimeDeliveryError, match=f"has no {named}:") as caught:
        _ensure(run)
    assert IMAGE in str(caught.value)
    assert len(run.calls) == 1


def test_an_unwritable_odo_mount_is_named(fake_binary: list[str]) -> None:
    run = FakeExec(_answer("x86_64\nodo-not-writable\n"))
    with pytest.raises(RuntimeDeliveryError, match=f"{contract.ODO_MOUNT} is not writable"):
        _ensure(run)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1, "pyodo install: unpacking"), (90, "writing the upload failed"), (91, "chmod failed")],
)
def test_a_failed_install_shows_its_output(fake_binary: list[str], code: int, reason: str) -> None:
    run = FakeExec(
        _answer("x86_64\n"),
        _answer(returncode=code, stderr="pyodo install: unpacking into /opt/odo: disk full"),
    )
    with pytest.raises(RuntimeDeliveryError) as caught:
        _ensure(run)
    message = str(caught.value)
    assert f"exit {code}" in message
    assert reason in message
    assert "disk full" in message


# -- the layout setting ------------------------------------------------------------------------
def test_layout_options_win_over_the_environment() -> None:
    options: dict[str, Any] = {"layout": "init", "init_image": "opt/init:1", "debug": True}
    environ = {"PYODO_LAYOUT": "inject", "PYODO_INIT_IMAGE": "env/init:1"}
    assert layout_settings(options, environ) == ("init", "opt/init:1")
    assert options == {"debug": True}, "popped: the rest goes to RenderContext"


def test_layout_comes_from_the_environment_without_options() -> None:
    environ = {"PYODO_LAYOUT": "inject", "PYODO_INIT_IMAGE": "env/init:1"}
    assert layout_settings({}, environ) == ("inject", "env/init:1")


def test_layout_is_read_like_the_plugin_reads_it_case_and_spaces_aside() -> None:
    assert layout_settings({}, {"PYODO_LAYOUT": " Inject "}) == ("inject", None)


def test_layout_defaults_to_auto_without_an_init_image() -> None:
    assert layout_settings({}, {}) == (inject.LAYOUT_AUTO, None)
    assert layout_settings({"layout": None}, {"PYODO_INIT_IMAGE": ""}) == ("auto", None)


@pytest.mark.parametrize("bad", ["sideload", "in ject", "init-image"])
def test_a_bad_layout_names_the_setting_and_the_choices(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"PYODO_LAYOUT.*auto, inject, init"):
        layout_settings({}, {"PYODO_LAYOUT": bad})


# -- Component.layout: auto decides once -------------------------------------------------------
@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_app(tmp_path)


class NoNodesKube(FakeKube):
    """A cluster whose nodes must not be asked."""

    def node_images(self) -> list[set[str]] | None:
        raise AssertionError("the nodes were asked")


def test_auto_picks_init_where_every_node_has_the_init_image_and_remembers(
    source: Path, tmp_path: Path
) -> None:
    kube = FakeKube()
    kube.node_image_list = [{contract.INIT_REF, "other"}, {contract.INIT_REF}]
    first = offline_component(source, tmp_path / "state", kube)
    assert first.layout() == contract.LAYOUT_INIT
    assert first.state.get("layout") == contract.LAYOUT_INIT
    assert first.context.layout == contract.LAYOUT_INIT
    second = offline_component(source, tmp_path / "state", NoNodesKube())
    assert second.layout() == contract.LAYOUT_INIT, "from the state file, no node asked"


@pytest.mark.parametrize("live", [contract.LAYOUT_INIT, contract.LAYOUT_INJECT])
def test_auto_keeps_the_layout_of_the_live_deployment_another_checkout_pushed(
    source: Path, tmp_path: Path, live: str
) -> None:
    kube = FakeKube()
    kube.node_image_list = None if live == contract.LAYOUT_INIT else [{contract.INIT_REF}]
    pusher = offline_component(source, tmp_path / "theirs", kube, PYODO_LAYOUT=live)
    pusher.apply()
    ours = offline_component(source, tmp_path / "ours", kube)
    assert ours.layout() == live, "the live Deployment's layout, whatever the nodes say"
    assert ours.spec_hash() == pusher.spec_hash(), "so nothing is re-applied or rolled"


@pytest.mark.parametrize(
    "nodes",
    [None, [], [{contract.INIT_REF}, {"docker.io/library/node:20"}]],
    ids=["nodes-not-listable", "no-nodes", "one-node-lacks-it"],
)
def test_auto_picks_inject_where_the_init_image_may_be_missing(
    source: Path, tmp_path: Path, nodes: list[set[str]] | None
) -> None:
    kube = FakeKube()
    kube.node_image_list = nodes
    component = offline_component(source, tmp_path / "state", kube)
    assert component.layout() == contract.LAYOUT_INJECT
    assert component.state.get("layout") == contract.LAYOUT_INJECT
    template = _template(component.render())
    assert template["spec"]["containers"][0]["command"] == list(contract.INJECT_WAIT_COMMAND)
    assert template["metadata"]["annotations"][contract.RUNTIME_ANNOTATION] == (
        component.context.runtime
    )
    assert component.context.runtime, "the runtime digest"


def test_an_init_image_picks_init_without_asking_the_nodes(source: Path, tmp_path: Path) -> None:
    component = offline_component(
        source, tmp_path / "state", NoNodesKube(), PYODO_INIT_IMAGE="reg.example/init:1"
    )
    assert component.layout() == contract.LAYOUT_INIT
    assert component.context.init_image == "reg.example/init:1"
    (first, _) = _template(component.render())["spec"]["initContainers"]
    assert first["image"] == "reg.example/init:1"


def test_an_explicit_layout_is_used_as_given(source: Path, tmp_path: Path) -> None:
    inject_one = offline_component(source, tmp_path / "s1", NoNodesKube(), PYODO_LAYOUT="inject")
    assert inject_one.layout() == contract.LAYOUT_INJECT
    assert inject_one.state.get("layout") is None, "nothing to remember"
    init_one = offline_component(source, tmp_path / "s2", NoNodesKube(), PYODO_LAYOUT="init")
    assert init_one.layout() == contract.LAYOUT_INIT
    assert init_one.context.init_image == contract.INIT_REF


def test_render_options_choose_the_layout_over_the_environment(
    source: Path, tmp_path: Path
) -> None:
    component = Component(
        source,
        kube=NoNodesKube(),
        state_dir=tmp_path / "state",
        environ={"PYODO_LAYOUT": "init"},
        render_options={"layout": "inject", "debug": True},
    )
    assert component.layout() == contract.LAYOUT_INJECT
    assert component.context.debug is True


def test_ensure_runtime_runs_once_per_container_instance(
    source: Path, tmp_path: Path, fake_binary: list[str]
) -> None:
    kube = FakeKube(auto_rollout=True)
    replies = iter(["x86_64\n", "installed\n"])
    kube.exec_handler = lambda pod, args, container, data: ExecResult(
        args, 0, next(replies).encode(), b""
    )
    component = offline_component(source, tmp_path / "state", kube, PYODO_LAYOUT="inject")
    component.apply()
    pod = component.wait_ready(timeout=1)
    component.ensure_runtime(pod)
    probe, install = kube.execs
    assert probe[1] == tuple(bundle.probe_argv()) and probe[2] == "runtime"
    assert install[1] == tuple(bundle.install_argv()) and install[3] is not None
    component.ensure_runtime(pod)
    assert len(kube.execs) == 2, "the state file says this container has it"


def test_ensure_runtime_does_nothing_in_the_init_layout(source: Path, tmp_path: Path) -> None:
    kube = FakeKube(auto_rollout=True)
    component = offline_component(source, tmp_path / "state", kube, PYODO_LAYOUT="init")
    component.apply()
    component.ensure_runtime(component.wait_ready(timeout=1))
    assert kube.execs == []


# -- pod states that name the layout's fixes ---------------------------------------------------
def test_an_init_image_that_cannot_be_pulled_names_the_settings() -> None:
    pulling = container_status("copy-supervisord", waiting="ErrImagePull", image=contract.INIT_REF)
    pod = make_pod("app-1", phase="Pending", init_containers=[pulling])
    with pytest.raises(ClusterError) as caught:
        podstate.check_pod(pod)
    message = str(caught.value)
    assert "pod/app-1 container copy-supervisord" in message
    assert "PYODO_INIT_IMAGE" in message and "PYODO_LAYOUT=inject" in message


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImageNeverPull"])
def test_every_pull_failure_of_the_init_image_names_the_settings(reason: str) -> None:
    pulling = container_status("copy-supervisord", waiting=reason, image=contract.INIT_REF)
    pod = make_pod("app-1", phase="Pending", init_containers=[pulling])
    with pytest.raises(ClusterError, match=rf"{reason}: .*PYODO_LAYOUT=inject"):
        podstate.check_pod(pod)


NO_SH = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    'exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown'
)


def _crashed_without_sh(message: str) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(
        name="runtime",
        image="gcr.io/distroless/nodejs20",
        image_id="",
        ready=False,
        restart_count=3,
        state=k8s.V1ContainerState(
            waiting=k8s.V1ContainerStateWaiting(reason="CrashLoopBackOff", message="back-off")
        ),
        last_state=k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(
                exit_code=128, reason="StartError", message=message
            )
        ),
    )


def test_an_app_image_without_sh_names_the_fix() -> None:
    pod = make_pod("app-1", containers=[_crashed_without_sh(NO_SH)])
    with pytest.raises(RuntimeDeliveryError) as caught:
        podstate.check_pod(pod)
    message = str(caught.value)
    assert "/bin/sh" in message and "PYODO_IMAGE_<CONTAINER>" in message
    assert "gcr.io/distroless/nodejs20" in message
    assert "pod/app-1 container runtime" in message


def test_a_crash_for_another_reason_is_not_blamed_on_sh() -> None:
    pod = make_pod("app-1", containers=[_crashed_without_sh("exit status 1")])
    with pytest.raises(ClusterError, match="CrashLoopBackOff"):
        podstate.check_pod(pod)


def test_auto_switches_to_inject_when_the_init_image_cannot_be_pulled_after_all(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nodes list images with a lag: auto may pick init for an image just removed. The pull
    failure then switches the target to inject and re-applies, instead of failing the push."""
    kube = FakeKube()
    component = offline_component(source, tmp_path / "state", kube)
    assert component.layout() == contract.LAYOUT_INIT
    component.apply()
    calls: list[str] = []

    def wait(timeout: float, poll: float) -> str:
        calls.append(component.spec.context.layout)
        if len(calls) == 1:
            raise InitImageUnavailable("pod/x container copy-supervisord: ErrImagePull")
        return "pod"

    monkeypatch.setattr(component.pods, "_wait_ready", wait)
    assert component.wait_ready() == "pod"
    assert calls == [contract.LAYOUT_INIT, contract.LAYOUT_INJECT]
    assert component.state.get("layout") == contract.LAYOUT_INJECT
    live = kube.get("Deployment", component.name)
    assert live is not None
    assert [c["name"] for c in live["spec"]["template"]["spec"]["initContainers"]] == [
        "copy-files-to-volume"
    ], "the inject layout's pod was applied"


@pytest.mark.parametrize("environ", [{"PYODO_LAYOUT": "init"}, {"PYODO_INIT_IMAGE": "reg/i:1"}])
def test_an_init_layout_asked_for_is_not_switched(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    component = offline_component(source, tmp_path / "state", FakeKube(), **environ)

    def wait(timeout: float, poll: float) -> str:
        raise InitImageUnavailable("pod/x container copy-supervisord: ErrImagePull")

    monkeypatch.setattr(component.pods, "_wait_ready", wait)
    with pytest.raises(InitImageUnavailable):
        component.wait_ready()
    assert component.layout() == contract.LAYOUT_INIT
