"""Spec and status round-trip through ConfigMap data, and reject what they cannot trust."""

from __future__ import annotations

import pytest

from pyodo_tasks.dev.state import (
    ROLE_LABEL,
    ForwardedPort,
    Spec,
    State,
    Status,
    configmap,
    spec_name,
    status_name,
)

PORT = ForwardedPort("http", "runtime", "127.0.0.1", 40123, 3000, "http", "/")


def test_spec_round_trips_through_configmap_data() -> None:
    spec = Spec(devfile="schemaVersion: 2.2.0\n", source_digest="abc", generation=4)
    data = spec.to_data()
    assert all(isinstance(v, str) for v in data.values())
    assert Spec.from_data(data) == spec


def test_devfile_digest_changes_with_the_text_only() -> None:
    a = Spec("x: 1\n", "d1", 1)
    assert a.devfile_digest == Spec("x: 1\n", "d2", 9).devfile_digest
    assert a.devfile_digest != Spec("x: 2\n", "d1", 1).devfile_digest


def test_status_round_trips_with_ports_as_json() -> None:
    status = Status(
        State.RUN_COMMAND_RUNNING,
        message="",
        ports=(PORT,),
        last_sync="1 created, 0 modified, 0 deleted, 0 renamed, 120 bytes",
        pod="app-abc",
        observed_generation=3,
        duration_ms=412,
        updated="2024-01-01T00:00:00Z",
    )
    data = status.to_data()
    assert data["state"] == "RunCommandRunning"
    assert '"localPort":40123' in data["ports"]
    back = Status.from_data(data)
    assert back == status
    assert back.duration_ms == 412 and back.updated == "2024-01-01T00:00:00Z"


def test_status_equality_ignores_timings_so_rewrites_can_be_skipped() -> None:
    a = Status(State.ERROR, "boom", duration_ms=1, updated="t1")
    assert a.same_as(Status(State.ERROR, "boom", duration_ms=999, updated="t2"))
    assert not a.same_as(Status(State.ERROR, "other"))
    assert not a.same_as(None)


def test_forwarded_port_urls_follow_the_protocol() -> None:
    assert PORT.url == "http://127.0.0.1:40123/"
    assert ForwardedPort("db", "c", "127.0.0.1", 5, 5432, "tcp").url == "127.0.0.1:5"
    assert ForwardedPort("s", "c", "127.0.0.1", 5, 443, "https", "/api").url == (
        "https://127.0.0.1:5/api"
    )


def test_a_probed_scheme_replaces_the_declared_one_and_round_trips() -> None:
    port = ForwardedPort("s", "c", "127.0.0.1", 5, 8080, "https", "/", scheme="http")
    assert port.url == "http://127.0.0.1:5/"
    status = Status(State.RUN_COMMAND_RUNNING, ports=(port,))
    assert Status.from_data(status.to_data()).ports == (port,)


@pytest.mark.parametrize(
    "data, problem",
    [
        (None, "no data"),
        ({}, "no data"),
        ({"format": "99", "state": "Error"}, "unsupported format"),
        ({"format": "1", "state": "Exploded"}, "unknown state"),
        ({"format": "1", "state": "Error", "ports": "{"}, "not JSON"),
        ({"format": "1", "state": "Error", "ports": "{}", "observedGeneration": "0"}, "list"),
        ({"format": "1", "state": "Error", "ports": "[{}]", "observedGeneration": "0"}, "port"),
        ({"format": "1", "state": "Error", "observedGeneration": "x"}, "integer"),
    ],
)
def test_malformed_status_data_is_rejected_with_the_reason(data, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Status.from_data(data)


def test_malformed_spec_data_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"devfile\.yaml"):
        Spec.from_data({"format": "1", "sourceDigest": "d", "generation": "1"})
    with pytest.raises(ValueError, match="generation"):
        Spec.from_data({"format": "1", "devfile.yaml": "", "sourceDigest": "d"})


def test_configmaps_carry_the_component_labels_and_their_role() -> None:
    obj = configmap(spec_name("app"), "app", "ns", "spec", {"a": "b"}, {"pyodo.dev/run-id": "r1"})
    labels = obj["metadata"]["labels"]
    assert obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "app-pyodo-spec"
    assert labels["app.kubernetes.io/instance"] == "app"
    assert labels["app.kubernetes.io/managed-by"] == "pyodo"
    assert labels[ROLE_LABEL] == "spec"
    assert labels["pyodo.dev/run-id"] == "r1"
    assert status_name("app") == "app-pyodo-status"
