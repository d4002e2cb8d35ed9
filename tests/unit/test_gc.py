from pyodo_tasks.core.gc import EXPIRES_LABEL, RUN_ID_LABEL, _expired, run_labels


def test_run_labels_carry_run_id_and_expiry() -> None:
    labels = run_labels("abc", 3600, now=1000)
    assert labels[RUN_ID_LABEL] == "abc"
    assert labels[EXPIRES_LABEL] == "4600"
    assert labels["app.kubernetes.io/managed-by"] == "pyodo"


def test_only_past_expiry_is_collected() -> None:
    assert _expired({EXPIRES_LABEL: "999"}, now=1000)
    assert not _expired({EXPIRES_LABEL: "1001"}, now=1000)
    assert not _expired({}, now=1000)
    assert not _expired({EXPIRES_LABEL: "soon"}, now=1000)


def test_the_doit_gc_task_always_runs_against_its_target(monkeypatch) -> None:
    from pyodo_tasks.core.kube import Target
    from pyodo_tasks.tasks.gc import gc_task

    target = Target(context="c", namespace="ns")
    task = gc_task(target)
    assert (task["uptodate"], task["verbosity"]) == ([False], 2)
    assert task["actions"][0][1] == [target]
    monkeypatch.setenv("PYODO_CONTEXT", "from-env")
    assert gc_task()["actions"][0][1] == [Target(context="from-env")]
