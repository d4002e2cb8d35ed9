"""The push task graph, asserted as doit task dicts (no cluster)."""

from __future__ import annotations

from pathlib import Path

from pyodo_tasks.tasks import ComponentTasks
from tests.commands import doit

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "nodejs"


def tasks_by_name() -> dict[str, dict]:
    return {t["basename"]: t for t in ComponentTasks(EXAMPLE).tasks()}


def test_push_graph_is_a_chain_in_seed_order() -> None:
    tasks = tasks_by_name()
    assert tasks["wait_ready"]["task_dep"] == ["create_resources"]
    assert tasks["index"]["task_dep"] == ["wait_ready"]
    assert tasks["push"]["task_dep"] == ["assemble_and_restart"]
    # copy and build depend on their input task's *result*, so an unchanged result skips them
    assert tasks["copy"]["uptodate"][0].dep_name == "index"
    assert tasks["assemble_and_restart"]["uptodate"][0].dep_name == "copy"


def test_resources_depend_on_the_devfile_and_the_live_spec() -> None:
    task = tasks_by_name()["create_resources"]
    assert task["file_dep"] == [str(EXAMPLE / "devfile.yaml")]
    assert callable(task["uptodate"][0])


def test_listing_tasks_needs_no_cluster() -> None:
    tasks = ComponentTasks(EXAMPLE)
    list(tasks.tasks())
    assert "component" not in vars(tasks), "the cluster is contacted only when a task runs"


def test_every_task_has_a_doc() -> None:
    for name, task in tasks_by_name().items():
        assert task["doc"], name


def test_doit_list_in_an_example_shows_the_tasks(tmp_path: Path) -> None:
    out = doit(EXAMPLE, "list", timeout=60, check=True).stdout
    for name in ("push", "forward", "delete", "create_resources", "copy"):
        assert name in out


def test_target_options_are_read_from_the_command_line() -> None:
    from pyodo_tasks.tasks import target_options

    argv = ["push", "--namespace", "dev", "--context=kind-x", "--lines", "5"]
    assert target_options(argv) == {"namespace": "dev", "context": "kind-x"}
    assert target_options(["push"]) == {}


def test_user_facing_tasks_accept_the_target_options() -> None:
    tasks = tasks_by_name()
    for name in ("push", "forward", "delete", "logs", "verify", "dev"):
        options = {p["name"] for p in tasks[name].get("params", [])}
        assert {"namespace", "context", "kubeconfig"} <= options, name


def test_doit_help_push_documents_the_namespace_option() -> None:
    out = doit(EXAMPLE, "help", "push", timeout=60, check=True).stdout
    assert "--namespace" in out
