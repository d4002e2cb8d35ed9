"""containerd stopped for a few seconds and started again under ``doit dev``.

The app's container keeps running (its shim outlives containerd), but exec and port-forward go
through containerd: an edit saved meanwhile cannot be synced. Once containerd serves again the
loop's retry must sync and serve it, on the same local port, without a traceback.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos.daemons import containerd_answers, stopped
from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

OUTAGE_SECONDS = 5.0
RECOVERY_TIMEOUT = 120.0


def test_dev_serves_an_edit_saved_while_containerd_was_restarting(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    dev, first = bench.serving_dev()
    source = bench.path / "greeting.js"
    edited = "pyodo (Node.js) after containerd"

    with stopped("containerd", OUTAGE_SECONDS, containerd_answers()) as outage:
        time.sleep(1)
        source.write_text(source.read_text().replace("pyodo (Node.js)", edited))
    seconds = dev.wait_answer(f"Hello from {edited}", RECOVERY_TIMEOUT)
    status = dev.wait_status("RunCommandRunning again", running, 60)
    assert status.pod == first.pod, "the same pod: its containers outlived containerd"
    assert status.ports[0].local_port == first.ports[0].local_port

    figures = {
        "containerd_back_s": round(outage.serving_at - outage.started_at, 1),
        "edit_served_after_containerd_s": round(seconds, 1),
    }
    print(f"containerd stopped for {OUTAGE_SECONDS:g}s: {figures}")
    for name, value in figures.items():
        record_property(name, value)
    bench.stop_all()
    said = dev.log_tail(400)
    assert "Traceback" not in said
    # What the status line said meanwhile: the kubelet's 500, naming containerd's socket
    # (not "API server unreachable": it answered).
    assert "containerd.sock" in said and "API server unreachable" not in said, said
    bench.assert_nothing_left()
