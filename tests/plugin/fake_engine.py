"""A fake cluster and engine for pytester runs: written as the inner ``conftest.py``.

It gives the plugin's run an :class:`~pytest_pyodo.session.Engine` of fakes (a provider, the
shared in-memory ``Kube`` fake from ``tests/fakes``, a component that records its pushes) and
appends every call as a JSON line to the file named by ``PYODO_FAKE_LOG``, so the outer test
can assert on what a session did, across xdist worker processes too. Behaviour switches:
``PYODO_FAKE_FORBID=1`` makes namespace creation a 403 (the restricted user); a component
directory holding a ``BROKEN`` file fails its push, one holding ``BUG`` raises an error that is
not pyodo's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes import client as k8s

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.gc import EXPIRES_LABEL
from pyodo_tasks.core.kube import ExecResult, ResolvedTarget
from pyodo_tasks.errors import CommandError
from tests.fakes.kube import FakeKube

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: tester, user: {token: fake}}]
contexts: [{name: fake-ctx, context: {cluster: fake, user: tester, namespace: fallback-ns}}]
current-context: fake-ctx
"""


def _log_path() -> Path:
    return Path(os.environ["PYODO_FAKE_LOG"])


def record(event: str, **data: object) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), **data}, default=str)
    with _log_path().open("a") as out:
        out.write(line + "\n")


def events() -> list[dict]:
    path = _log_path()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class FakeProvider:
    def __init__(self, name: str, **options: object) -> None:
        self.name = name
        record("provider", name=name, **{k: v for k, v in options.items() if k != "progress"})

    def up(self) -> ClusterInfo:
        path = _log_path().parent / "fake.kubeconfig"
        path.write_text(KUBECONFIG)
        record("up", name=self.name)
        return ClusterInfo(self.name, "fake", path, "fake-ctx", "https://127.0.0.1:9")


class RecordingKube(FakeKube):
    """The shared in-memory fake cluster, recording what a session did to it in the log.

    Namespaces are read back from the log so that xdist workers and the controller (separate
    processes) see one cluster; objects are deleted at once and nothing is ever left.
    """

    def __init__(self, target: ResolvedTarget) -> None:
        super().__init__(target.namespace, context=target.context, kubeconfig=target.kubeconfig)
        self.forbid_namespaces = bool(os.environ.get("PYODO_FAKE_FORBID"))

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> bool:
        self._forbidden(f"create namespace {name}")
        record("ensure_namespace", name=name, labels=labels)
        return True

    def delete_namespace(self, name: str) -> bool:
        record("delete_namespace", name=name)
        return True

    def namespaces(self, selector: str) -> list[k8s.V1Namespace]:
        if EXPIRES_LABEL in selector:
            record("gc")  # the session's garbage collection pass
            return []
        live: dict[str, dict] = {}
        for event in events():
            if event["event"] == "ensure_namespace":
                live[event["name"]] = event["labels"]
            elif event["event"] == "delete_namespace":
                live.pop(event["name"], None)
        self.namespace_labels = live
        return super().namespaces(selector)

    def namespace_phase(self, name: str) -> str | None:
        return None  # deleted namespaces are gone at once

    def wait_namespace_gone(self, name: str, timeout: float, interval: float = 1.0) -> None:
        record("wait_namespace_gone", name=name)
        super().wait_namespace_gone(name, timeout, interval)

    def pods(self, selector: str, namespace: str | None = None) -> list[k8s.V1Pod]:
        """The component's one pod, in every namespace (only teardown lists pods here)."""
        record("pods", selector=selector, namespace=namespace)
        return [k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="fake-pod", namespace=namespace))]

    def delete_pod(self, name: str, namespace: str | None = None) -> bool:
        record("delete_pod", name=name, namespace=namespace)
        return True

    def delete_labelled(self, selector: str, namespace: str | None = None) -> list[str]:
        record("delete_labelled", selector=selector, namespace=namespace)
        return ["Deployment/fake"]


class FakeComponent:
    def __init__(self, path: Path, *, kube: RecordingKube, **options: object) -> None:
        self.root = Path(path)
        self.name = self.root.name
        self.namespace = kube.namespace
        self.state_dir = options.get("state_dir") or self.root / ".pyodo"
        self.key = "fakekey"
        self.options = options
        self.kube = kube
        self.target = kube.target
        self.devfile = SimpleNamespace(
            app_container=SimpleNamespace(name="runtime", image=f"fake/{self.name}:1", env=()),
            source_dir="/projects",
            name=self.name,
            path=self.root / "devfile.yaml",
            containers=(),  # no endpoints: --pyodo-debug says there is nothing to forward
        )
        record(
            "component",
            path=str(self.root),
            namespace=self.namespace,
            labels=options.get("labels"),
            image_overrides=options.get("image_overrides"),
            render_options=options.get("render_options"),
            state_dir=options.get("state_dir"),
        )

    def apply(self, force: bool = False) -> tuple[str, ...]:
        record("apply", path=str(self.root), force=force)
        return ()

    def push(self, output=None, timeout: float = 300.0) -> SimpleNamespace:
        record("push", path=str(self.root), namespace=self.namespace, timeout=timeout)
        if (self.root / "BUG").exists():  # an error pyodo did not mean: a bug
            raise RuntimeError("fake engine tripped\nsecond line")
        if (self.root / "BROKEN").exists():
            raise CommandError(["assemble-and-restart"], 1, "npm ERR! boom", "pod/fake-pod")
        if output is not None:
            output("Syncing files into pod/fake-pod")
        return SimpleNamespace(pod="fake-pod")

    def current_pod(self) -> None:
        """The fake cannot tell from one pod list: attaching waits for the rollout."""
        return None

    def wait_ready(self, timeout: float = 300.0) -> SimpleNamespace:
        record("wait_ready", path=str(self.root), namespace=self.namespace)
        return SimpleNamespace(metadata=SimpleNamespace(name="fake-pod"))

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        return f"http://127.0.0.1:9/{self.name}"

    def service_url(self, name: str | None = None) -> str:
        return f"http://{self.name}.{self.namespace}.svc:3000"

    def exec(self, args, **options: object) -> ExecResult:
        record("exec", args=list(args), **options)
        return ExecResult(tuple(args), 0, b"exec-out", b"")

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        return "fake log"

    def restart(self) -> None:
        record("restart", path=str(self.root))

    def debug_report(self, tail_lines: int = 50) -> str:
        return f"pod/{self.name}-pod: Running\nlog tail of runtime:\nFAKE-LOG-TAIL of {self.name}"

    def close(self) -> None:
        record("close", path=str(self.root))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Hand the plugin's run the fakes (after the plugin made its state)."""
    from pytest_pyodo.session import Engine
    from pytest_pyodo.state import STATE_KEY

    config.stash[STATE_KEY].engine = Engine(
        provider=FakeProvider,  # type: ignore[arg-type]
        kube=RecordingKube,
        component=FakeComponent,  # type: ignore[arg-type]
        verify=fake_verify,
    )


def fake_verify(component: FakeComponent, pod: object = None) -> SimpleNamespace:
    """Verification of the sync: a component directory holding ``STALE`` mismatches."""
    from pyodo_tasks.core.verify import Mismatch, SyncMismatch, VerifyResult

    record("verify", path=str(component.root), namespace=component.namespace)
    mismatches = (Mismatch("server.js", "differs"),) if (component.root / "STALE").exists() else ()
    result = VerifyResult("fake-pod", "/projects", 3, mismatches)
    if mismatches:
        raise SyncMismatch(result, component.name)
    return result
