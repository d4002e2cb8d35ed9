"""The API server stopped for 10 s, then started again, under ``doit dev`` and an open
``doit forward``.

Port-forwards go through the API server, so while it is down neither forward can carry a
connection; once it is back both must answer again without being restarted, neither may print a
traceback, and each says what happened in one line (the forward per refused connection, the
dev loop in its status line). An edit saved during the outage is served once it is over.
"""

from __future__ import annotations

import re
import time

import pytest

from benchmarks.devloop import answer
from tests.chaos.daemons import api_answers, stopped
from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import ANSWER, running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

OUTAGE_SECONDS = 10.0
START_TIMEOUT = 180.0
#: Bound on both forwards answering again once the API server serves.
RECOVERY_TIMEOUT = 60.0


def forwarded_url(log_text: str) -> str | None:
    match = re.search(r"^Forwarding http: (http://\S+)", log_text, re.M)
    return match.group(1) if match else None


def wait_until(what: str, ok, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not ok():
        assert time.monotonic() - started < timeout, f"timed out after {timeout:g}s: {what}"
        time.sleep(0.2)
    return time.monotonic()


def test_dev_and_forward_answer_again_after_the_api_server_was_stopped_for_10s(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    dev = bench.dev()
    dev_url = dev.wait_status("RunCommandRunning", running, START_TIMEOUT).ports[0].url
    forward_log = bench.path.parent / "forward.log"
    bench.spawn(bench.doit_argv("forward"), log=forward_log)
    wait_until("doit forward's URL", lambda: forwarded_url(forward_log.read_text()), 60)
    forward_url = forwarded_url(forward_log.read_text())
    assert forward_url is not None
    wait_until("both forwards answer", lambda: answer(dev_url) == answer(forward_url) == ANSWER, 30)
    source = bench.path / "greeting.js"
    edited = ANSWER.replace("pyodo (Node.js)", "pyodo (Node.js) after the outage")

    with stopped("kube-apiserver", OUTAGE_SECONDS, api_answers(bench.kube)) as outage:
        time.sleep(1)
        assert answer(forward_url) == "", "a forward cannot carry a connection now"
        source.write_text(source.read_text().replace("pyodo (Node.js)", edited[11:]))
    forward_back = wait_until(
        "doit forward answers", lambda: answer(forward_url) == edited, RECOVERY_TIMEOUT
    )
    dev_back = wait_until("doit dev's forward answers", lambda: answer(dev_url) == edited, 60)
    dev.wait_status("RunCommandRunning again", running, 60)

    figures = {
        "apiserver_back_s": round(outage.serving_at - outage.started_at, 1),
        "forward_answers_after_apiserver_s": round(forward_back - outage.serving_at, 1),
        "dev_serves_the_edit_after_apiserver_s": round(dev_back - outage.serving_at, 1),
    }
    print(f"API server outage of {OUTAGE_SECONDS:g}s: {figures}")
    for name, value in figures.items():
        record_property(name, value)
    assert forward_url is not None and answer(forward_url) == edited
    bench.stop_all()
    dev_said, forward_said = dev.log_tail(400), forward_log.read_text()
    for said in (dev_said, forward_said):
        assert "Traceback" not in said and "NoneType" not in said, said
    assert "did not answer" in forward_said, forward_said
    assert "did not answer" in dev_said, dev_said
    bench.assert_nothing_left()
