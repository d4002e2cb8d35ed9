"""The one reconcile function, driven with a fake component: every failure becomes status."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3

from pyodo_tasks.core.component import SyncResult
from pyodo_tasks.core.delivery import Delivery
from pyodo_tasks.core.devfile import Endpoint
from pyodo_tasks.core.index import Changes
from pyodo_tasks.core.kube import translate
from pyodo_tasks.dev.controller import Controller
from pyodo_tasks.dev.display import PlainDisplay
from pyodo_tasks.dev.events import Event, EventQueue
from pyodo_tasks.dev.state import Spec, State, Status, spec_name, status_name
from pyodo_tasks.errors import ClusterError, CommandError, DevfileError
from tests.fakes.kube import FakeKube

GOOD = "metadata: {name: app}\n"


class DevKube(FakeKube):
    """The shared fake cluster, read the way the dev loop's tests need: spec and statuses."""

    @property
    def status_writes(self) -> list[Status]:
        return [
            Status.from_data(args[0]["data"])
            for method, args in self.calls
            if method == "apply" and args[0]["metadata"]["name"] == status_name("app")
        ]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if hasattr(self, "gets"):
            self.gets.append(name)
        return super().get(kind, name, namespace)

    def set_spec(self, spec: Spec) -> None:
        self.objects[("ns", "ConfigMap", spec_name("app"))] = {
            "kind": "ConfigMap",
            "metadata": {"name": spec_name("app"), "namespace": "ns"},
            "data": spec.to_data(),
        }

    @property
    def status(self) -> Status:
        return self.status_writes[-1]


class FakeComponent:
    """Records what the controller asked for; ``changes`` is what the next sync finds."""

    def __init__(self, kube: DevKube, port: int = 3000, protocol: str = "http") -> None:
        self.kube = kube
        self.name = "app"
        self.context = SimpleNamespace(labels={"pyodo.dev/run-id": "r"}, debug=False)
        endpoint = Endpoint("http", port, protocol=protocol)
        self.devfile = SimpleNamespace(
            containers=[SimpleNamespace(name="runtime", endpoints=[endpoint])], path="devfile.yaml"
        )
        self.calls: list[str] = []
        self.changes = Changes(created=("a.js",), full=True)
        self.built: str | None = None
        self.build_error: CommandError | None = None
        self.pod_uid = "uid-1"
        self.sync_error: Exception | None = None

    def apply(self) -> tuple[str, ...]:
        self.calls.append("apply")
        return ()

    def pod(self) -> Any:
        return SimpleNamespace(
            metadata=SimpleNamespace(uid=self.pod_uid, name=f"app-{self.pod_uid}")
        )

    def pod_name(self) -> str:
        return self.pod().metadata.name

    def wait_ready(self, timeout: float) -> Any:
        self.calls.append("wait")
        return self.pod()

    def sync(self, output: Any = None) -> SyncResult:
        self.calls.append("sync")
        if self.sync_error is not None:
            raise self.sync_error
        changes, self.changes = self.changes, Changes()
        return SyncResult(changes, self.pod_name(), f"{self.pod_uid}:tree", 10)

    def build_uptodate(self, digest: str) -> bool:
        return self.built == digest

    def mark_built(self, digest: str) -> None:
        self.built = digest

    def build(self, output: Any = None, timeout: float = 0) -> None:
        self.calls.append("build")
        if self.build_error is not None:
            raise self.build_error

    def deliver(
        self,
        output: Any = None,
        *,
        pod: Any = None,
        build: Any = None,
        on_synced: Any = None,
        on_serving: Any = None,
        timeout: float = 0,
    ) -> Delivery:
        """The real one's contract over the fakes above: sync, decide, build, mark."""
        result = self.sync(output)
        wanted = build(result) if callable(build) else bool(build)
        if wanted:
            if on_synced is not None:
                on_synced(result)
            self.build(output, timeout)
            self.mark_built(result.digest)
        return Delivery(result, built=wanted)


class FakeForwarder:
    """Stands in for PortForwarder: unit tests open no sockets. Port 0 means "pick one"."""

    next_port = 41000

    def __init__(self, kube: Any, pod: Any, remote_port: int, *, local_port: int = 0) -> None:
        if not local_port:
            FakeForwarder.next_port += 1
            local_port = FakeForwarder.next_port
        self.host, self.local_port, self.remote_port = "127.0.0.1", local_port, remote_port
        self.pod = pod
        self.running = False

    def start(self) -> FakeForwarder:
        self.running = True
        return self

    def stop(self) -> None:
        self.running = False


@pytest.fixture(autouse=True)
def fake_forwarder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pyodo_tasks.dev.forwards.PortForwarder", FakeForwarder)


@pytest.fixture
def kube() -> DevKube:
    kube = DevKube()
    kube.set_spec(Spec(GOOD, "d1", 1))
    return kube


def make_controller(kube: DevKube, component: FakeComponent, make=None) -> Controller:
    return Controller(
        component,  # type: ignore[arg-type]
        make_component=make or (lambda: component),
        queue=EventQueue(),
        display=PlainDisplay(io.StringIO()),
        devfile_digest=Spec(GOOD, "", 0).devfile_digest,
    )


def test_first_reconcile_walks_the_seed_steps_and_forwards_every_endpoint(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    states = [s.state for s in kube.status_writes]
    assert states == [
        State.WAIT_DEPLOYMENT,
        State.POD_RUNNING,
        State.FILES_SYNCED,
        State.RUN_COMMAND_RUNNING,
    ]
    final = kube.status
    assert final.pod == "app-uid-1" and final.observed_generation == 1
    assert final.last_sync.startswith("1 created")
    assert [(p.name, p.container_port) for p in final.ports] == [("http", 3000)]
    assert final.ports[0].local_port > 0
    forwarder = controller._forwards.running["http"]
    assert forwarder.pod() == "app-uid-1", "the pod is looked up per connection"
    assert component.calls == ["apply", "wait", "sync", "build"]
    labels = kube.objects[("ns", "ConfigMap", status_name("app"))]["metadata"]["labels"]
    assert labels["pyodo.dev/role"] == "status" and labels["pyodo.dev/run-id"] == "r"


def test_the_echo_of_an_already_reconciled_spec_does_nothing(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        component.calls.clear()
        controller.reconcile([Event("spec", generation=1)])
        assert component.calls == []
        controller.reconcile([Event("spec", generation=1), Event("pod", "modified pod/x")])
        assert component.calls == ["apply", "wait", "sync"], "a pod event is always looked at"
    finally:
        controller.close()


def test_nothing_changed_means_no_build_and_no_status_write(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        writes = len(kube.status_writes)
        controller.reconcile([Event("pod", "modified pod/x")])
        assert "build" not in component.calls[4:]
        assert len(kube.status_writes) == writes
    finally:
        controller.close()


def test_invalid_devfile_reports_the_field_and_keeps_the_last_good_component(kube) -> None:
    component = FakeComponent(kube)

    def broken() -> FakeComponent:
        raise DevfileError("devfile.yaml", "components[0].container.image", "is required")

    controller = make_controller(kube, component, make=broken)
    try:
        controller.reconcile([Event("start")])
        port = kube.status.ports[0].local_port
        component.calls.clear()
        kube.set_spec(Spec("metadata: {name: app\n", "d2", 2))
        controller.reconcile([Event("spec", generation=2)])
        status = kube.status
        assert status.state is State.ERROR
        assert "components[0].container.image: is required" in status.message
        assert "\n" not in status.message
        assert component.calls == [], "nothing from a bad devfile is applied or synced"
        assert controller.component is component
        assert status.ports[0].local_port == port, "the app stays forwarded"
    finally:
        controller.close()


def test_fixed_devfile_swaps_in_the_new_component_on_the_same_local_port(kube) -> None:
    first = FakeComponent(kube)
    second = FakeComponent(kube)
    controller = make_controller(kube, first, make=lambda: second)
    try:
        controller.reconcile([Event("start")])
        port = kube.status.ports[0].local_port
        kube.set_spec(Spec(GOOD + "# fixed\n", "d2", 2))
        controller.reconcile([Event("spec", generation=2)])
        assert controller.component is second
        assert kube.status.state is State.RUN_COMMAND_RUNNING
        assert kube.status.ports[0].local_port == port
    finally:
        controller.close()


def test_changed_target_port_is_forwarded_from_the_same_local_port(kube) -> None:
    first = FakeComponent(kube, port=3000)
    second = FakeComponent(kube, port=8080)
    controller = make_controller(kube, first, make=lambda: second)
    try:
        controller.reconcile([Event("start")])
        port = kube.status.ports[0].local_port
        kube.set_spec(Spec(GOOD + "# port\n", "d2", 2))
        controller.reconcile([Event("spec", generation=2)])
        assert [(p.local_port, p.container_port) for p in kube.status.ports] == [(port, 8080)]
    finally:
        controller.close()


def test_failed_build_shows_the_log_tail_and_is_not_retried_until_an_edit(kube) -> None:
    component = FakeComponent(kube)
    component.build_error = CommandError(
        ["assemble-and-restart"], 1, "step 1\nSyntaxError: Unexpected token ';'\n", "pod/app"
    )
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        status = kube.status
        assert status.state is State.ERROR
        assert status.message.startswith("build failed: assemble-and-restart exited 1")
        assert "SyntaxError: Unexpected token ';'" in status.message
        component.calls.clear()
        controller.reconcile([Event("pod", "modified pod/x")])
        assert "build" not in component.calls
        assert kube.status.state is State.ERROR
        component.build_error = None
        component.changes = Changes(modified=("a.js",))
        kube.set_spec(Spec(GOOD, "d3", 2))
        controller.reconcile([Event("spec", generation=2)])
        assert "build" in component.calls
        assert kube.status.state is State.RUN_COMMAND_RUNNING
    finally:
        controller.close()


def test_cluster_failure_becomes_error_status_and_a_bounded_retry(kube) -> None:
    component = FakeComponent(kube)
    component.sync_error = ClusterError("component app has no running pod in ns")
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        assert kube.status.state is State.ERROR
        assert "no running pod" in kube.status.message
        delayed = controller.queue._delayed
        assert [e.kind for _, e in delayed] == ["retry"]
        component.sync_error = None
        controller.reconcile([Event("retry")])
        assert kube.status.state is State.RUN_COMMAND_RUNNING
        assert controller.queue._delayed == [], "success cancels the pending retry"
    finally:
        controller.close()


def test_a_deleted_spec_is_republished_not_reconciled(kube) -> None:
    component = FakeComponent(kube)
    republished: list[bool] = []
    controller = make_controller(kube, component)
    controller.republish = lambda: republished.append(True)
    del kube.objects[("ns", "ConfigMap", spec_name("app"))]
    try:
        controller.reconcile([Event("spec-deleted")])
    finally:
        controller.close()
    assert republished == [True]
    assert component.calls == []


def test_a_new_pod_is_synced_and_built_again(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        component.pod_uid = "uid-2"
        component.changes = Changes(created=("a.js",), full=True)
        controller.reconcile([Event("pod", "deleted pod/app-uid-1")])
        assert kube.status.pod == "app-uid-2"
        assert kube.status.state is State.RUN_COMMAND_RUNNING
        assert component.calls.count("build") == 2
    finally:
        controller.close()


def test_stopping_records_that_nothing_is_forwarded_any_more(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    controller.stopped()
    assert kube.status.ports == ()
    assert "not running" in kube.status.message
    assert kube.status.state is State.RUN_COMMAND_RUNNING


def test_an_unreachable_api_server_becomes_error_status_not_a_crash(kube) -> None:
    component = FakeComponent(kube)
    refused = urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    # What the Kube boundary makes of the client's failure (the component calls it).
    component.sync_error = translate(
        urllib3.exceptions.MaxRetryError(None, "/api", refused), "list pods"
    )
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    assert kube.status.state is State.ERROR
    assert "unreachable ([Errno 111] Connection refused)" in kube.status.message
    assert [e.kind for _, e in controller.queue._delayed] == ["retry"]


def test_a_status_write_that_cannot_reach_the_cluster_is_reported_not_raised(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    out = io.StringIO()
    controller.display = PlainDisplay(out)

    kube.fail("apply", ConnectionRefusedError(111, "Connection refused"))
    controller.stopped()
    assert "could not write the status" in out.getvalue()


def test_an_edit_on_the_current_pod_reads_nothing_back_but_a_pod_event_checks_everything(
    kube,
) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    component.calls.clear()
    component.changes = Changes(modified=("a.js",))
    spec = Spec(GOOD, "d2", 2)
    kube.set_spec(spec)
    reads = kube.gets = []  # type: ignore[attr-defined]
    controller.reconcile([Event("spec", generation=2, spec=spec, saved_at=1.0)])
    # the spec came with the event, the devfile is the one checked last time, the pod is the
    # one reconciled last time: no apply check, no pod read, no rollout wait, no spec read
    assert component.calls == ["sync", "build"]
    assert reads == []
    assert kube.status.state is State.RUN_COMMAND_RUNNING
    assert kube.status.observed_generation == 2
    component.calls.clear()
    controller.reconcile([Event("pod", "modified pod/app-uid-1")])
    assert component.calls == ["apply", "wait", "sync"]


def test_a_spec_event_without_the_spec_reads_it(kube) -> None:
    component = FakeComponent(kube)
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    kube.set_spec(Spec(GOOD, "d3", 3))
    component.changes = Changes(modified=("a.js",))
    controller.reconcile([Event("spec", generation=3)])
    assert kube.status.observed_generation == 3


def test_an_unexpected_exception_is_shown_and_retried_not_fatal(kube) -> None:
    component = FakeComponent(kube)
    component.sync_error = AttributeError("'NoneType' object has no attribute 'decode'")
    controller = make_controller(kube, component)
    controller.reconcile([Event("start")])
    assert kube.status.state is State.ERROR
    assert kube.status.message.startswith("pyodo bug: AttributeError")
    assert [e.kind for _, e in controller.queue._delayed] == ["retry"]


def test_an_https_declared_endpoint_is_shown_with_the_scheme_the_app_speaks(
    kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []

    def plain(url: str, endpoint: Endpoint, timeout: float, **_: object) -> str:
        probed.append(url)
        return "http" + url[len("https") :]

    monkeypatch.setattr("pyodo_tasks.dev.schemes.probe_scheme", plain)
    component = FakeComponent(kube, protocol="https")
    controller = make_controller(kube, component)
    try:
        controller.reconcile([Event("start")])
        (event,) = controller.queue.get(timeout=10)
        assert event.kind == "probed"
        assert probed == [kube.status.ports[0].url], "probed once the app serves, as declared"
        controller.reconcile([event])
        port = kube.status.ports[0]
        assert port.url == f"http://127.0.0.1:{port.local_port}/"
        assert kube.status.state is State.RUN_COMMAND_RUNNING
        assert component.calls == ["apply", "wait", "sync", "build"], "no reconcile work"
        controller.reconcile([Event("pod", "modified pod/x")])
        assert kube.status.ports[0].scheme == "http", "the decision holds across reconciles"
        assert len(probed) == 1
    finally:
        controller.close()


def test_a_plain_http_endpoint_is_never_probed(kube, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> str:
        raise AssertionError("probed a plain endpoint")

    monkeypatch.setattr("pyodo_tasks.dev.schemes.probe_scheme", never)
    controller = make_controller(kube, FakeComponent(kube))
    try:
        controller.reconcile([Event("start")])
        assert controller.queue.get(timeout=0.2) == []
    finally:
        controller.close()
