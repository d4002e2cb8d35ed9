"""Rendering: the seeds' pod, labelled objects, stable hashes. Pure, no cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core.render import SPEC_HASH_ANNOTATION, RenderContext, render
from pyodo_tasks.runtime import contract

FIXTURES = Path(__file__).parents[2] / "fixtures" / "devfiles"


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


@pytest.fixture
def nodejs() -> list[dict[str, Any]]:
    devfile = load_devfile(FIXTURES / "registry-nodejs.yaml", environ={})
    return render(devfile, RenderContext(namespace="dev", labels={"pyodo.dev/run": "r1"}))


def test_objects_come_in_apply_order(nodejs: list[dict[str, Any]]) -> None:
    assert [o["kind"] for o in nodejs] == ["PersistentVolumeClaim", "Service", "Deployment"]


def test_pod_has_the_seed_init_containers_and_volumes(nodejs: list[dict[str, Any]]) -> None:
    pod = by_kind(nodejs)["Deployment/nodejs"]["spec"]["template"]["spec"]
    first, second = pod["initContainers"]
    assert first["name"] == "copy-supervisord"
    assert first["command"] == list(contract.COPY_SUPERVISORD_COMMAND)
    assert first["volumeMounts"] == [{"name": "odo-shared-data", "mountPath": "/opt/odo"}]
    assert second["name"] == "copy-files-to-volume"
    assert second["image"] == "example.invalid/ubi8/nodejs-18:1-94"
    assert second["volumeMounts"] == [{"name": "nodejs-s2idata", "mountPath": "/mnt"}]
    (app,) = pod["containers"]
    assert app["command"] == list(contract.APP_CONTAINER_COMMAND)
    assert {"name": "odo-shared-data", "mountPath": "/opt/odo"} in app["volumeMounts"]
    assert {"name": "nodejs-s2idata", "mountPath": "/opt/app-root"} in app["volumeMounts"]
    assert {"name": "odo-shared-data", "emptyDir": {}} in pod["volumes"]
    assert "args" not in app, "the devfile's keep-alive args give way to the supervisor"


def test_app_env_carries_the_script_contract(nodejs: list[dict[str, Any]]) -> None:
    app = by_kind(nodejs)["Deployment/nodejs"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert env["PYODO_COMMAND_BUILD"] == "npm install"
    assert env["PYODO_COMMAND_RUN"] == "npm start"
    assert env["PYODO_COMMAND_RUN_WORKING_DIR"] == "/projects"
    assert env["PYODO_SRC"] == "/projects"
    assert env["DEBUG_PORT"] == "5858"


def test_service_exposes_only_reachable_endpoints(nodejs: list[dict[str, Any]]) -> None:
    service = by_kind(nodejs)["Service/nodejs"]
    assert [p["port"] for p in service["spec"]["ports"]] == [3000]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/instance": "nodejs",
        "app.kubernetes.io/managed-by": "pyodo",
    }


def test_every_object_is_labelled_and_hashed(nodejs: list[dict[str, Any]]) -> None:
    hashes = set()
    for obj in nodejs:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "pyodo"
        assert labels["app.kubernetes.io/instance"] == "nodejs"
        assert labels["pyodo.dev/run"] == "r1"
        assert obj["metadata"]["namespace"] == "dev"
        hashes.add(obj["metadata"]["annotations"][SPEC_HASH_ANNOTATION])
    assert len(hashes) == 1


def test_run_labels_neither_change_the_hash_nor_roll_the_pod() -> None:
    devfile = load_devfile(FIXTURES / "registry-nodejs.yaml", environ={})
    a = render(devfile, RenderContext(namespace="dev", labels={"pyodo.dev/run": "a"}))
    b = render(devfile, RenderContext(namespace="dev", labels={"pyodo.dev/run": "b"}))
    assert (
        a[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        == b[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )
    assert a[-1]["spec"]["template"] == b[-1]["spec"]["template"]


def test_devfile_change_changes_the_hash(tmp_path: Path) -> None:
    text = (FIXTURES / "registry-python.yaml").read_text()
    (tmp_path / "devfile.yaml").write_text(text)
    before = render(load_devfile(tmp_path, environ={}), RenderContext(namespace="dev"))
    (tmp_path / "devfile.yaml").write_text(text.replace("python app.py", "python main.py"))
    after = render(load_devfile(tmp_path, environ={}), RenderContext(namespace="dev"))
    assert (
        before[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        != after[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )


def test_volume_components_become_claims_and_mounts() -> None:
    devfile = load_devfile(FIXTURES / "registry-java-springboot.yaml", environ={})
    objects = by_kind(render(devfile, RenderContext(namespace="dev")))
    claim = objects["PersistentVolumeClaim/java-springboot-m2"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"
    app = objects["Deployment/java-springboot"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "vol-m2", "mountPath": "/home/user/.m2"} in app["volumeMounts"]
    assert app["resources"] == {"limits": {"memory": "768Mi"}}


def test_secret_env_goes_to_a_secret_not_the_pod_spec(tmp_path: Path) -> None:
    (tmp_path / "devfile.yaml").write_text(
        "schemaVersion: 2.2.0\nmetadata: {name: app}\ncomponents:\n"
        "  - name: web\n    attributes: {pyodo.dev/secret-env: [TOKEN]}\n"
        "    container: {image: img, env: [{name: TOKEN, value: s3cret}]}\n"
    )
    objects = render(load_devfile(tmp_path, environ={}), RenderContext(namespace="dev"))
    secret = by_kind(objects)["Secret/app-env"]
    assert secret["stringData"] == {"web.TOKEN": "s3cret"}
    deployment = by_kind(objects)["Deployment/app"]
    assert "s3cret" not in str(deployment)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "app-env", "key": "web.TOKEN"}},
    } in env


def test_sidecar_keeps_its_own_command(tmp_path: Path) -> None:
    (tmp_path / "devfile.yaml").write_text(
        "schemaVersion: 2.2.0\nmetadata: {name: app}\ncomponents:\n"
        "  - name: web\n    container: {image: img}\n"
        "  - name: cache\n    container: {image: redis, mountSources: false, command: [redis],"
        " args: [--port, '7000'], endpoints: [{name: redis, targetPort: 7000, protocol: tcp,"
        " exposure: internal}]}\n"
        "commands:\n  - id: run\n    exec: {component: web, commandLine: ./serve,"
        " group: {kind: run}}\n"
    )
    objects = by_kind(render(load_devfile(tmp_path, environ={}), RenderContext(namespace="d")))
    web, cache = objects["Deployment/app"]["spec"]["template"]["spec"]["containers"]
    assert web["command"] == list(contract.APP_CONTAINER_COMMAND)
    assert cache["command"] == ["redis"] and cache["args"] == ["--port", "7000"]
    assert objects["Service/app"]["spec"]["ports"][0]["port"] == 7000


def test_hash_of_rendered_objects_matches_the_stamped_hash() -> None:
    from pyodo_tasks.core.render import spec_hash

    devfile = load_devfile(FIXTURES / "registry-nodejs.yaml", environ={})
    objects = render(devfile, RenderContext(namespace="dev"))
    assert spec_hash(objects) == objects[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    # the pod carries it too, so one pod list tells whether the running pod is of this spec
    pod_meta = objects[-1]["spec"]["template"]["metadata"]
    assert pod_meta["annotations"][SPEC_HASH_ANNOTATION] == spec_hash(objects)


def test_hot_reload_capable_run_command_is_passed_to_the_scripts(tmp_path: Path) -> None:
    text = (
        (FIXTURES / "registry-python.yaml")
        .read_text()
        .replace(
            "      commandLine: 'python app.py'",
            "      commandLine: 'python app.py'\n      hotReloadCapable: true",
        )
    )
    (tmp_path / "devfile.yaml").write_text(text)
    objects = by_kind(render(load_devfile(tmp_path, environ={}), RenderContext(namespace="d")))
    app = objects["Deployment/python"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert env[contract.ENV_HOT_RELOAD] == "true"


@pytest.fixture
def sidecars() -> dict[str, Any]:
    devfile = load_devfile(FIXTURES / "features" / "sidecar-overrides.yaml", environ={})
    return by_kind(render(devfile, RenderContext(namespace="dev")))["Deployment/sidecars"]


def test_every_container_mounting_sources_shares_the_synced_files(sidecars: dict) -> None:
    pod = sidecars["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    mounts = {
        n: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for n, c in containers.items()
    }
    assert mounts["runtime"]["odo-projects"] == "/projects"
    assert mounts["lint"]["odo-projects"] == "/src", "one volume, each at its own sourceMapping"
    assert "odo-projects" not in mounts["db"]
    env = {e["name"]: e["value"] for e in containers["lint"]["env"]}
    assert env == {"PROJECTS_ROOT": "/src", "PROJECT_SOURCE": "/src"}
    assert {"name": "odo-projects", "emptyDir": {}} in pod["volumes"]


def test_exec_target_without_command_is_kept_alive_by_pyodo(sidecars: dict) -> None:
    containers = {c["name"]: c for c in sidecars["spec"]["template"]["spec"]["containers"]}
    assert containers["lint"]["command"][0] == "/opt/odo/bin/busybox"
    assert containers["db"]["command"] == ["python3", "-m", "http.server", "5432"]


def test_container_and_pod_overrides_are_merged(sidecars: dict) -> None:
    template = sidecars["spec"]["template"]
    runtime = template["spec"]["containers"][0]
    assert runtime["resources"]["limits"]["cpu"] == "500m"
    assert template["metadata"]["annotations"]["team"] == "pyodo"
    assert template["metadata"]["labels"]["app.kubernetes.io/instance"] == "sidecars"
    assert template["spec"]["serviceAccountName"] == "default"


def test_post_start_in_a_sidecar_runs_in_its_own_source_dir() -> None:
    devfile = load_devfile(FIXTURES / "features" / "sidecar-overrides.yaml", environ={})
    assert devfile.post_start_steps() == (("lint", "cd /src && ls $PROJECT_SOURCE"),)


def test_kubernetes_component_objects_are_labelled_with_the_component(tmp_path: Path) -> None:
    (tmp_path / "devfile.yaml").write_text(
        (FIXTURES / "registry-nodejs.yaml")
        .read_text()
        .replace(
            "components:\n",
            "components:\n  - name: settings\n    kubernetes:\n      inlined: |\n"
            "        apiVersion: v1\n        kind: ConfigMap\n"
            "        metadata: {name: app-settings}\n        data: {a: b}\n",
            1,
        )
    )
    objects = render(load_devfile(tmp_path, environ={}), RenderContext(namespace="dev"))
    assert [o["kind"] for o in objects][-2:] == ["ConfigMap", "Deployment"]
    cm = by_kind(objects)["ConfigMap/app-settings"]
    assert cm["metadata"]["namespace"] == "dev"
    assert cm["metadata"]["labels"]["pyodo.dev/component"] == "nodejs"
    assert cm["metadata"]["labels"]["pyodo.dev/kubernetes-component"] == "settings"
    assert "app.kubernetes.io/instance" not in cm["metadata"]["labels"], "not the pod selector"
