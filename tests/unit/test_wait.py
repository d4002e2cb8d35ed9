"""The engine's one wait: bounded, ends early on failure, names what it waited for."""

from __future__ import annotations

import time

import pytest

from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterError, WaitTimeout


class Clock:
    """A clock the pause advances: no real sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_returns_the_first_value_the_probe_gives() -> None:
    answers = iter([(None, "starting"), (None, "still"), ("ready", "done")])
    clock = Clock()
    assert wait_for(lambda: next(answers), "x", 10, 1, pause=clock.pause, clock=clock) == "ready"
    assert clock.pauses == [1, 1]


def test_times_out_naming_what_it_waited_for_and_the_last_state() -> None:
    clock = Clock()
    states = iter(f"state {n}" for n in range(100))
    with pytest.raises(WaitTimeout) as info:
        wait_for(lambda: (None, next(states)), "pod/x to run", 3, 1, pause=clock.pause, clock=clock)
    assert str(info.value) == "timed out after 3s waiting for pod/x to run; last seen: state 3"
    assert info.value.what == "pod/x to run" and info.value.last_state == "state 3"


def test_never_pauses_past_the_deadline() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout):
        wait_for(lambda: (None, ""), "x", 2.5, 1, pause=clock.pause, clock=clock)
    assert clock.pauses == [1, 1, 0.5]


def test_a_probe_or_check_may_end_the_wait_early() -> None:
    def fatal() -> tuple[None, str]:
        raise ClusterError("ErrImagePull")

    with pytest.raises(ClusterError, match="ErrImagePull"):
        wait_for(fatal, "x", 60)

    def died() -> None:
        raise ClusterError("the daemon died")

    clock = Clock()
    with pytest.raises(ClusterError, match="died"):
        wait_for(lambda: (None, ""), "x", 60, check=died, pause=clock.pause, clock=clock)
    assert clock.pauses == []


def test_a_watch_pause_the_user_may_not_watch_falls_back_to_sleeping() -> None:
    from kubernetes.client.exceptions import ApiException

    from pyodo_tasks.core.kube.watch import ChangePause

    def forbidden(*args: object, **kwargs: object) -> None:
        raise ApiException(status=403, reason="Forbidden")

    pause = ChangePause(forbidden, "ns", label_selector="a=b")
    started = time.monotonic()
    pause(0.05)
    assert pause.sleeping
    pause(0.05)
    assert time.monotonic() - started >= 0.1
