"""A fake cluster and engine for pytester runs: written as the inner ``conftest.py``.

It replaces what :mod:`pytest_pyodo.session` calls on the cluster (provider, ``Kube``,
``Component``, gc, the reachability probe) and appends every call as a JSON line to the file
named by ``PYODO_FAKE_LOG``, so the outer test can assert on what a session did, across xdist
worker processes too. Behaviour switches: ``PYODO_FAKE_FORBID=1`` makes namespace creation a 403
(the restricted user); a component directory holding a ``BROKEN`` file fails its push.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

import pytest_pyodo.session as session_mod
from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.kube import ExecResult
from pyodo_tasks.errors import ClusterError, CommandError

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


class FakeCore:
    def read_namespace(self, name: str) -> None:
        raise ApiException(status=404, reason="Not Found")

    def list_namespace(self, label_selector: str) -> SimpleNamespace:
        live: dict[str, dict] = {}
        for event in events():
            if event["event"] == "ensure_namespace":
                live[event["name"]] = event["labels"]
            elif event["event"] == "delete_namespace":
                live.pop(event["name"], None)
        key, _, value = label_selector.partition("=")
        items = [
            SimpleNamespace(metadata=SimpleNamespace(name=name))
            for name, labels in live.items()
            if labels.get(key) == value
        ]
        return SimpleNamespace(items=items)


class FakeKube:
    def __init__(self, target: object) -> None:
        self.target = target
        self.namespace = target.namespace  # type: ignore[attr-defined]
        self.core = FakeCore()
        self.api = None

    def __enter__(self) -> FakeKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> bool:
        if os.environ.get("PYODO_FAKE_FORBID"):
            try:
                raise ApiException(status=403, reason="Forbidden")
            except ApiException as exc:
                raise ClusterError(f"create namespace {name}: 403 Forbidden") from exc
        record("ensure_namespace", name=name, labels=labels)
        return True

    def delete_namespace(self, name: str) -> bool:
        record("delete_namespace", name=name)
        return True

    def delete_labelled(self, selector: str, namespace: str | None = None) -> list[str]:
        record("delete_labelled", selector=selector, namespace=namespace)
        return ["Deployment/fake"]

    def list_labelled(self, selector: str, namespace: str | None = None) -> list[dict]:
        return []


class FakeComponent:
    def __init__(self, path: Path, *, kube: FakeKube, **options: object) -> None:
        self.root = Path(path)
        self.name = self.root.name
        self.namespace = kube.namespace
        self.state_dir = options.get("state_dir") or self.root / ".pyodo"
        self.key = "fakekey"
        self.options = options
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
        if (self.root / "BROKEN").exists():
            raise CommandError(["assemble-and-restart"], 1, "npm ERR! boom", "pod/fake-pod")
        if output is not None:
            output("Syncing files into pod/fake-pod")
        return SimpleNamespace(pod="fake-pod")

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


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "get_provider", FakeProvider)
    monkeypatch.setattr(session_mod, "Kube", FakeKube)
    monkeypatch.setattr(session_mod, "Component", FakeComponent)
    monkeypatch.setattr(session_mod, "_probe", lambda kube, where: None)
    monkeypatch.setattr(session_mod, "collect", lambda kube: record("gc") or [])
    monkeypatch.setattr(session_mod, "cache_root", lambda: _log_path().parent)


def pytest_configure(config: pytest.Config) -> None:
    monkeypatch = pytest.MonkeyPatch()
    install(monkeypatch)
    config.add_cleanup(monkeypatch.undo)
