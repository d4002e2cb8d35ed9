"""A run's liveness record: whose process it names and when it counts as dead."""

from __future__ import annotations

import os
import subprocess
import sys

from pytest_pyodo.liveness import (
    ALIVE_UNTIL_LABEL,
    HOLDER_ANNOTATION,
    holder_alive,
    is_dead,
    process_identity,
    record_object,
)


def test_this_process_is_alive_and_a_finished_one_is_dead() -> None:
    assert holder_alive(process_identity()) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    child.wait()
    assert holder_alive(identity) is False


def test_a_reused_pid_is_not_the_same_process() -> None:
    boot, pid, _start = process_identity().split("/")
    assert holder_alive(f"{boot}/{pid}/1") is False


def test_a_process_of_another_boot_is_judged_by_its_renewal() -> None:
    record = record_object("r1", "ns", {}, "other-boot/1/1", now=1000.0)
    meta = record["metadata"]
    assert holder_alive(meta["annotations"][HOLDER_ANNOTATION]) is None
    until = int(meta["labels"][ALIVE_UNTIL_LABEL])
    assert not is_dead(meta, now=until - 1)
    assert is_dead(meta, now=until + 1)


def test_a_live_holder_keeps_an_unrenewed_record_alive() -> None:
    meta = record_object("r1", "ns", {}, process_identity(os.getpid()), now=0.0)["metadata"]
    assert not is_dead(meta, now=10**10)
