"""The devfile model: real registry shapes load; every mistake names file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core.devfile import (
    DEFAULT_SOURCE_DIR,
    CompositeCommand,
    find_devfile,
    image_override_env_name,
    load_devfile,
)
from pyodo_tasks.errors import ConfigError, DevfileError

FIXTURES = Path(__file__).parents[1].parent / "fixtures" / "devfiles"

MINIMAL = """\
schemaVersion: 2.2.0
metadata: {name: demo}
components:
  - name: runtime
    container:
      image: localhost/pyodo/builder-nodejs:bookworm
      endpoints: [{name: http, targetPort: 8080}]
commands:
  - id: run
    exec: {component: runtime, commandLine: node server.js, group: {kind: run, isDefault: true}}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "devfile.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("registry-*.yaml")))
def test_registry_devfiles_load(name: str) -> None:
    devfile = load_devfile(FIXTURES / name, environ={})
    assert devfile.name
    assert devfile.app_container.endpoints
    assert devfile.default_command("run") is not None


def test_nodejs_registry_devfile_ignores_outer_loop_parts() -> None:
    devfile = load_devfile(FIXTURES / "registry-nodejs.yaml", environ={})
    assert [c.name for c in devfile.containers] == ["runtime"]
    assert devfile.shell_script("build") == ("npm install", DEFAULT_SOURCE_DIR)
    assert devfile.shell_script("run") == ("npm start", DEFAULT_SOURCE_DIR)
    deploy = devfile.command("deploy")
    assert isinstance(deploy, CompositeCommand)


def test_springboot_volume_mount_and_memory_limit_are_kept() -> None:
    devfile = load_devfile(FIXTURES / "registry-java-springboot.yaml", environ={})
    tools = devfile.container("tools")
    assert tools.memory_limit == "768Mi"
    assert tools.volume_mounts[0].path == "/home/user/.m2"
    assert devfile.volumes[0].size == "3Gi"


def test_exec_env_is_exported_in_the_build_script() -> None:
    devfile = load_devfile(FIXTURES / "registry-go.yaml", environ={})
    script, workdir = devfile.shell_script("build")
    assert "export GOPATH=/projects/.go" in script
    assert script.endswith("go build main.go)")
    assert workdir == DEFAULT_SOURCE_DIR


def test_find_devfile_accepts_directory_or_file(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    assert find_devfile(tmp_path) == tmp_path / "devfile.yaml"
    assert find_devfile(tmp_path / "devfile.yaml") == tmp_path / "devfile.yaml"


def test_missing_devfile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no devfile\.yaml found"):
        load_devfile(tmp_path)


def test_source_mapping_becomes_project_source(tmp_path: Path) -> None:
    text = MINIMAL.replace("endpoints:", "sourceMapping: /projects\n      endpoints:")
    text = text.replace(
        "commandLine: node server.js",
        "commandLine: node server.js, workingDir: '${PROJECT_SOURCE}/app'",
    )
    devfile = load_devfile(write(tmp_path, text), environ={})
    assert devfile.source_dir == "/projects"
    assert devfile.shell_script("run") == ("node server.js", "/projects/app")


def test_variables_are_substituted(tmp_path: Path) -> None:
    text = "variables: {IMG: localhost/x:1}\n" + MINIMAL.replace(
        "localhost/pyodo/builder-nodejs:bookworm", "'{{IMG}}'"
    )
    assert load_devfile(write(tmp_path, text), environ={}).app_container.image == "localhost/x:1"


@pytest.mark.parametrize("value", ["1", "[a, b]", "'text'"])
def test_variables_that_are_not_a_mapping_are_one_devfile_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(DevfileError, match=r"variables.*expected a mapping"):
        load_devfile(write(tmp_path, f"variables: {value}\n" + MINIMAL), environ={})


def test_undefined_variable_is_a_note_and_kept_as_written(tmp_path: Path) -> None:
    text = MINIMAL.replace("localhost/pyodo/builder-nodejs:bookworm", "'{{NOPE}}'")
    devfile = load_devfile(write(tmp_path, text), environ={})
    assert devfile.app_container.image == "{{NOPE}}"
    (note,) = devfile.notes
    assert "components[0].container.image" in note
    assert "undefined variable {{NOPE}}" in note


def test_image_override_by_argument_beats_environment(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    env = {image_override_env_name("runtime"): "localhost/from-env:1"}
    assert load_devfile(tmp_path, environ=env).app_container.image == "localhost/from-env:1"
    devfile = load_devfile(tmp_path, environ=env, image_overrides={"runtime": "localhost/arg:1"})
    assert devfile.app_container.image == "localhost/arg:1"


def test_image_override_lookup_is_asked_for_each_container_and_beats_environment(
    tmp_path: Path,
) -> None:
    write(tmp_path, MINIMAL)
    env = {image_override_env_name("runtime"): "localhost/from-env:1"}
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return {"runtime": "localhost/var:1"}.get(name)

    devfile = load_devfile(tmp_path, environ=env, image_overrides=lookup)
    assert devfile.app_container.image == "localhost/var:1"
    assert asked == ["runtime"]
    unset = load_devfile(tmp_path, environ=env, image_overrides=lambda name: "")
    assert unset.app_container.image == "localhost/from-env:1"


def test_image_override_for_unknown_container_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DevfileError, match="names no container component: web"):
        load_devfile(write(tmp_path, MINIMAL), environ={}, image_overrides={"web": "x"})


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (
            ("targetPort: 8080", "targetPort: 99999"),
            "components[0].container.endpoints[0].targetPort",
            "not a port number",
        ),
        (
            ("image: localhost", "imagee: localhost"),
            "components[0].container.imagee",
            "unknown field",
        ),
        (("kind: run", "kind: runn"), "commands[0].exec.group.kind", "not allowed"),
        (
            ("component: runtime", "component: web"),
            "commands[0].exec.component",
            "no container component 'web'",
        ),
        (("schemaVersion: 2.2.0", "schemaVersion: 1.0.0"), "schemaVersion", "not a 2.x"),
        (
            ("endpoints:", "memoryLimit: lots\n      endpoints:"),
            "components[0].container.memoryLimit",
            "not a Kubernetes quantity",
        ),
    ],
)
def test_invalid_field_fails_with_file_field_and_fix(
    tmp_path: Path, edit: tuple[str, str], field: str, message: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(*edit))
    with pytest.raises(DevfileError) as info:
        load_devfile(path, environ={})
    error = info.value
    assert error.field == field
    assert message in str(error)
    assert str(error).startswith(f"{tmp_path / 'devfile.yaml'}: {field}: ")
    assert error.fix, "every devfile error suggests a fix"
    assert "\n" not in str(error)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(DevfileError, match=r"line \d+: invalid YAML"):
        load_devfile(write(tmp_path, "schemaVersion: 2.2.0\nmetadata: [\n"), environ={})


def test_composite_cycle_is_rejected(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - id: a\n    composite: {commands: [b]}\n  - id: b\n    composite: {commands: [a]}\n"
    )
    with pytest.raises(DevfileError, match="includes itself"):
        load_devfile(write(tmp_path, text), environ={})


def test_composite_build_runs_steps_in_order(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - id: deps\n    exec: {component: runtime, commandLine: npm ci, workingDir: /w}\n"
        "  - id: compile\n    exec: {component: runtime, commandLine: npm run build}\n"
        "  - id: build\n    composite: {commands: [deps, compile], group: {kind: build}}\n"
    )
    script, _ = load_devfile(write(tmp_path, text), environ={}).shell_script("build")
    assert script == "(cd /w && npm ci) && (cd /projects && npm run build)"


def test_two_default_run_commands_are_rejected(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - id: run2\n    exec: {component: runtime, commandLine: x, "
        "group: {kind: run, isDefault: true}}\n"
    )
    with pytest.raises(DevfileError, match="several default run commands"):
        load_devfile(write(tmp_path, text), environ={})


def test_secret_env_is_marked_by_attribute(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  - name: runtime\n",
        "  - name: runtime\n    attributes: {pyodo.dev/secret-env: [TOKEN]}\n",
    ).replace(
        "endpoints:",
        "env: [{name: TOKEN, value: s3cret}, {name: MODE, value: dev}]\n      endpoints:",
    )
    env = {e.name: e for e in load_devfile(write(tmp_path, text), environ={}).app_container.env}
    assert env["TOKEN"].secret and not env["MODE"].secret


def test_s2i_component_without_commands_has_no_scripts(tmp_path: Path) -> None:
    text = MINIMAL.split("commands:")[0]
    devfile = load_devfile(write(tmp_path, text), environ={})
    assert devfile.shell_script("build") == ("", "")
    assert devfile.app_container.name == "runtime"


def test_post_start_events_become_steps_in_their_containers(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - id: init-db\n    exec: {component: runtime, commandLine: touch ready, "
        "workingDir: /data}\n"
        "events:\n  postStart: [init-db]\n"
    )
    devfile = load_devfile(write(tmp_path, text), environ={})
    assert devfile.post_start_steps() == (("runtime", "cd /data && touch ready"),)


def test_post_start_naming_an_unknown_command_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DevfileError, match="unknown command 'nope'"):
        load_devfile(write(tmp_path, MINIMAL + "events:\n  postStart: [nope]\n"), environ={})


def test_missing_name_comes_from_the_directory_made_valid(tmp_path: Path) -> None:
    directory = tmp_path / "My_App.v2"
    directory.mkdir()
    devfile = load_devfile(
        write(directory, MINIMAL.replace("metadata: {name: demo}", "")), environ={}
    )
    assert devfile.name == "my-app-v2"
    assert any("from the directory name" in n for n in devfile.notes)


@pytest.mark.parametrize(("raw", "valid"), [("Demo_App", "demo-app"), ("1demo", "c-1demo")])
def test_invalid_name_is_made_valid_and_said_once(tmp_path: Path, raw: str, valid: str) -> None:
    devfile = load_devfile(
        write(tmp_path, MINIMAL.replace("name: demo", f"name: {raw}")), environ={}
    )
    assert devfile.name == valid
    assert devfile.notes == (
        f"devfile.yaml: metadata.name: {raw!r} is not a valid name; using {valid!r}",
    )


def test_command_ids_are_case_insensitive(tmp_path: Path) -> None:
    text = MINIMAL.replace("id: run", "id: RunApp") + (
        "  - id: all\n    composite: {commands: [runApp]}\nevents: {postStart: [RUNAPP]}\n"
    )
    devfile = load_devfile(write(tmp_path, text), environ={})
    assert devfile.command("RUNAPP").id == "runapp"
    assert devfile.post_start == ("runapp",)


def test_dollar_variables_expand_in_working_dir(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "commandLine: node server.js",
        "commandLine: node server.js, workingDir: $PROJECT_SOURCE/app",
    ).replace("endpoints:", "env: [{name: SUB, value: web}]\n      endpoints:")
    assert load_devfile(write(tmp_path, text), environ={}).shell_script("run")[1] == "/projects/app"
    text = text.replace("$PROJECT_SOURCE/app", "'${PROJECTS_ROOT}/$SUB'")
    assert load_devfile(write(tmp_path, text), environ={}).shell_script("run")[1] == "/projects/web"


def test_s2i_devfile_without_commands_keeps_tmp_src(tmp_path: Path) -> None:
    text = MINIMAL.split("commands:")[0]
    assert load_devfile(write(tmp_path, text), environ={}).source_dir == "/tmp/src"


KUBE = """\
  - name: cm
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {greeting: '{{GREET}}'}
  - name: outer
    kubernetes:
      uri: missing.yaml
commands:
  - id: deploy
    apply: {component: outer}
"""


def test_kubernetes_components_follow_deploy_by_default(tmp_path: Path) -> None:
    text = "variables: {GREET: hi}\n" + MINIMAL.replace("commands:\n", KUBE)
    devfile = load_devfile(write(tmp_path, text), environ={})
    (cm,) = devfile.deployed_kubernetes
    assert cm.name == "cm"
    assert cm.objects[0]["data"] == {"greeting": "hi"}
    assert [k.name for k in devfile.kubernetes] == ["cm", "outer"], "outer: apply-only"


def test_container_overrides_attribute_is_kept(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  - name: runtime\n",
        "  - name: runtime\n    attributes:\n"
        "      container-overrides: {securityContext: {runAsUser: 1001}}\n"
        "      pod-overrides: {spec: {serviceAccountName: builder}}\n",
    )
    runtime = load_devfile(write(tmp_path, text), environ={}).app_container
    assert runtime.overrides == {"securityContext": {"runAsUser": 1001}}
    assert runtime.pod_overrides == {"spec": {"serviceAccountName": "builder"}}


def test_image_component_with_auto_build_is_one_line(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "commands:\n",
        "  - name: img\n"
        "    image: {imageName: my/app, autoBuild: true, dockerfile: {uri: Dockerfile}}\n"
        "commands:\n",
    )
    (note,) = load_devfile(write(tmp_path, text), environ={}).notes
    assert "components[1].image.autoBuild: pyodo builds no images; build my/app" in note


MULTI = """\
schemaVersion: 2.2.0
metadata: {name: multi}
components:
  - name: app
    container: {image: localhost/pyodo/builder-nodejs:bookworm}
  - name: tools
    container: {image: localhost/pyodo/builder-python:bookworm-debugpy, sourceMapping: /src}
commands:
  - id: gen
    exec: {component: tools, commandLine: make gen}
  - id: deps
    exec: {component: app, commandLine: npm ci}
  - id: lint
    exec: {component: app, commandLine: npm run lint}
  - id: checks
    composite: {commands: [deps, lint], parallel: true}
  - id: build
    composite: {commands: [gen, checks], group: {kind: build, isDefault: true}}
  - id: run
    exec: {component: app, commandLine: node server.js, group: {kind: run, isDefault: true}}
"""


def test_each_build_step_runs_in_its_own_container(tmp_path: Path) -> None:
    devfile = load_devfile(write(tmp_path, MULTI), environ={})
    assert devfile.app_container.name == "app"
    assert devfile.sidecar_runs("build") == (("tools", "cd /src && make gen", False),)
    script, _ = devfile.shell_script("build")
    assert "make gen" not in script


def test_parallel_composite_starts_steps_together_and_fails_if_one_fails(tmp_path: Path) -> None:
    script, _ = load_devfile(write(tmp_path, MULTI), environ={}).shell_script("build")
    assert script == (
        "{ (cd /projects && npm ci) & _pyodo_p1=$!; (cd /projects && npm run lint) & "
        '_pyodo_p2=$!; wait "$_pyodo_p1" && wait "$_pyodo_p2"; }'
    )


def test_apply_step_in_a_run_composite_deploys_its_kubernetes_component(tmp_path: Path) -> None:
    text = MINIMAL.replace("commands:\n", KUBE).replace("id: run\n", "id: start\n") + (
        "  - id: run\n    composite: {commands: [deploy, start], group: {kind: run}}\n"
    )
    text = text.replace("group: {kind: run, isDefault: true}", "")
    text = text.replace(
        "uri: missing.yaml", "inlined: '{apiVersion: v1, kind: ConfigMap, metadata: {name: o}}'"
    )
    devfile = load_devfile(write(tmp_path, "variables: {GREET: hi}\n" + text), environ={})
    assert [k.name for k in devfile.deployed_kubernetes] == ["cm", "outer"]
