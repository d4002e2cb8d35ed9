"""``doit delete`` with a devfile that no longer loads: the component is found by the name its
state records (or the directory's) and deleted by its labels. The in-memory fake stands in for
the cluster here; ``tests/cluster/test_push_real.py`` deletes a real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.teardown import orphan_of, state_key
from pyodo_tasks.tasks import ComponentTasks
from tests.fakes.kube import FakeKube

DEVFILE = """\
schemaVersion: 2.2.0
metadata: {name: shop-api}
components:
  - name: runtime
    container:
      image: localhost/app:1
      endpoints: [{name: http, targetPort: 3000}]
  - name: settings
    kubernetes:
      inlined: |
        {apiVersion: v1, kind: ConfigMap, metadata: {name: shop-settings}, data: {a: b}}
"""
SELECTOR = "app.kubernetes.io/instance=shop-api"


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube(auto_rollout=True)


@pytest.fixture
def applied(tmp_path: Path, kube: FakeKube) -> Path:
    """A component directory whose component was applied, then its devfile broken."""
    root = tmp_path / "my dir"
    root.mkdir()
    (root / "devfile.yaml").write_text(DEVFILE)
    Component(root, kube=kube, environ={}).apply()
    (root / "devfile.yaml").write_text("schemaVersion: 2.2.0\ncomponents: [oops\n")
    return root


def delete(root: Path, kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pyodo_tasks.core.kube.client.Kube", lambda target: kube)
    ComponentTasks(root, target=kube.target)._delete()  # type: ignore[arg-type]


def test_delete_with_a_broken_devfile_deletes_by_the_name_the_state_recorded(
    applied: Path, kube: FakeKube, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert kube.list_labelled(SELECTOR), "applied"
    assert kube.get("ConfigMap", "shop-settings") is not None
    delete(applied, kube, monkeypatch)
    out = capsys.readouterr().out
    assert "The devfile does not load" in out and "deleting component shop-api" in out
    assert "Deployment/shop-api" in out and "ConfigMap/shop-settings" in out
    assert kube.list_labelled(SELECTOR) == []
    assert kube.get("ConfigMap", "shop-settings") is None, "labelled Kubernetes components too"
    assert list((applied / ".pyodo").glob("*.json")) == [], "its state is forgotten"


def test_the_state_of_another_target_is_not_taken_for_this_ones(applied: Path) -> None:
    orphan = orphan_of(applied, applied / ".pyodo", "other-ctx", "ns")
    assert orphan.name == "my-dir", "falls back to the directory name, made valid"
    assert "directory name 'my dir'" in orphan.source
    assert orphan.state_files == ()
    here = orphan_of(applied, applied / ".pyodo", "fake-ctx", "ns")
    assert here.name == "shop-api"
    key = state_key("fake-ctx", "ns", "shop-api")
    assert [p.name for p in here.state_files] == [f"state-{key}.json"]


def test_without_state_the_directory_name_is_the_component_name(
    tmp_path: Path, kube: FakeKube, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root = tmp_path / "shop-api"
    root.mkdir()
    (root / "devfile.yaml").write_text(DEVFILE)
    Component(root, kube=kube, environ={}, state_dir=tmp_path / "elsewhere").apply()
    (root / "devfile.yaml").write_bytes(b"\xff\xfe")
    delete(root, kube, monkeypatch)
    assert "named by the directory name 'shop-api'" in capsys.readouterr().out
    assert kube.list_labelled(SELECTOR) == []


def test_delete_with_a_good_devfile_is_unchanged(
    tmp_path: Path, kube: FakeKube, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "devfile.yaml").write_text(DEVFILE)
    Component(root, kube=kube, environ={}).apply()
    monkeypatch.setattr("pyodo_tasks.core.kube.client.Kube", lambda target: kube)
    tasks = ComponentTasks(root, target=kube.target)  # type: ignore[arg-type]
    tasks._delete()
    out = capsys.readouterr().out
    assert "does not load" not in out and "Deployment/shop-api" in out
