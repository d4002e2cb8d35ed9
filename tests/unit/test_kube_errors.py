"""The one translation table: every client failure becomes a ClusterError with status/retryable."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError
from websocket import WebSocketBadStatusException, WebSocketConnectionClosedException

from pyodo_tasks.core.kube import translate, translated
from pyodo_tasks.errors import ClusterError


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(403, False), (404, False), (409, False), (422, False), (429, True), (500, True), (503, True)],
)
def test_an_api_refusal_keeps_its_status_and_says_if_a_retry_can_help(
    status: int, retryable: bool
) -> None:
    error = translate(ApiException(status=status, reason="Why"), "apply Deployment/app in ns")
    assert error.status == status
    assert error.retryable is retryable
    assert str(error).startswith(f"apply Deployment/app in ns: {status} Why")


def test_the_servers_message_wins_over_the_reason() -> None:
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = '{"message": "spec.replicas: Invalid value: -1"}'
    error = translate(exc, "apply Deployment/app")
    assert error.reason == "spec.replicas: Invalid value: -1"
    assert "spec.replicas: Invalid value: -1" in str(error)


def test_forbidden_names_the_missing_permission() -> None:
    error = translate(ApiException(status=403, reason="Forbidden"), "create namespace x")
    assert "lacks this permission" in str(error)


def test_no_answer_is_retryable_and_names_the_cause_briefly() -> None:
    refused = NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    error = translate(MaxRetryError(None, "/api", refused), "list pods")
    assert error.status is None and error.retryable
    assert "unreachable ([Errno 111] Connection refused)" in str(error)
    assert "python -m pyodo_tasks.cluster status" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        ReadTimeoutError(None, "/api", "Read timed out."),
    ],
)
def test_socket_and_urllib3_failures_are_the_same_no_answer(exc: Exception) -> None:
    error = translate(exc, "read pods")
    assert error.retryable and "did not answer" in str(error)


def test_a_refused_websocket_handshake_is_a_refusal_with_its_status() -> None:
    error = translate(WebSocketBadStatusException("Handshake status %d %s", 403, "Forbidden"), "x")
    assert error.status == 403 and not error.retryable


def test_a_dropped_websocket_is_a_lost_connection() -> None:
    error = translate(WebSocketConnectionClosedException("gone"), "exec tar in pod/p")
    assert str(error) == "exec tar in pod/p: connection lost: gone"
    assert error.retryable


def test_a_bad_kubeconfig_is_not_retryable() -> None:
    error = translate(ConfigException("Invalid kube-config file"), "/tmp/kc")
    assert not error.retryable and "Invalid kube-config file" in str(error)


def test_translated_keeps_the_cause_and_passes_pyodo_errors_through() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(ClusterError) as info, translated("doing"):
        raise refused
    assert info.value.__cause__ is refused
    mine = ClusterError("already translated", status=404)
    with pytest.raises(ClusterError) as info, translated("doing"):
        raise mine
    assert info.value is mine


def test_translated_leaves_bugs_alone() -> None:
    with pytest.raises(KeyError), translated("doing"):
        raise KeyError("a bug is not a cluster error")


def _hidden_by_the_clients_error_path(cause: Exception) -> AttributeError:
    """What the streaming client raises when no websocket opens: it re-raises ``cause`` as an
    ApiException(status=0), whose missing body its ``__call_api`` then fails to decode."""
    try:
        try:
            try:
                raise cause
            except Exception as e:
                raise ApiException(status=0, reason=str(e)) from None
        except ApiException as e:
            e.body.decode("utf-8")
    except AttributeError as hidden:
        return hidden
    raise AssertionError("the client's error path did not fail")


def test_a_stream_that_never_opened_says_why_not_the_clients_attribute_error() -> None:
    hidden = _hidden_by_the_clients_error_path(ConnectionRefusedError(111, "Connection refused"))
    error = translate(hidden, "port-forward to pod/p:3000")
    assert "decode" not in str(error) and "NoneType" not in str(error)
    assert "unreachable ([Errno 111] Connection refused)" in str(error)
    assert error.status is None and error.retryable


def test_a_refused_handshake_behind_the_wrappers_keeps_its_status_and_the_servers_words() -> None:
    refused = WebSocketBadStatusException(
        "Handshake status %d %s -+-+- %s -+-+- %s",
        500,
        "Internal Server Error",
        {"content-type": "text/plain"},
        b"rpc error: code = Unavailable desc = dial unix containerd.sock: connection refused",
    )
    error = translate(_hidden_by_the_clients_error_path(refused), "exec tar in pod/p")
    assert error.status == 500 and error.retryable
    assert str(error) == (
        "exec tar in pod/p: 500 rpc error: code = Unavailable desc = dial unix containerd.sock: "
        "connection refused"
    )
    assert "unreachable" not in str(error)


def test_an_api_exception_without_a_status_is_no_answer() -> None:
    error = translate(ApiException(status=0, reason="timed out"), "exec tar in pod/p")
    assert str(error).startswith("exec tar in pod/p: the cluster did not answer")
    assert error.status is None and error.retryable


def test_an_unrelated_attribute_error_stays_what_it_was() -> None:
    error = translate(AttributeError("no such thing"), "x")
    assert "no such thing" in str(error)


def test_refused_credentials_name_the_kubeconfig_they_came_from() -> None:
    error = translate(ApiException(status=401, reason="Unauthorized"), "list pods", "/home/u/kc")
    assert str(error) == (
        "list pods: 401 Unauthorized (the credentials in /home/u/kc were refused: expired or "
        "revoked; get new ones)"
    )
    assert not error.retryable
    handshake = WebSocketBadStatusException("Handshake status %d %s", 401, "Unauthorized")
    assert "/home/u/kc were refused" in str(translate(handshake, "exec tar", "/home/u/kc"))
