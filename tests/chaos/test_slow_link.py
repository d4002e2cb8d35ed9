"""``doit push`` and ``doit verify`` over a slow and lossy link to the API server.

Through :class:`~tests.chaos.slowlink.SlowLink`: every chunk each way delayed, and every few
connections reset mid-response. Each command must end within its bound, either done or with
pyodo's one-line error (never a traceback, never a hang); pushes through the link then converge,
and the result is correct (checked over the direct link).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from tests.chaos.slowlink import SlowLink, kubeconfig_through
from tests.chaos.workbench import Workbench

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

FILES = 300
DELAY = 0.05
CUT_EVERY = 4
#: Bound on one command over the link (a push over the direct link takes about 10 s).
COMMAND_TIMEOUT = 180.0
ATTEMPTS = 4


def upstream(kubeconfig_text: str) -> tuple[str, int]:
    match = re.search(r"server: https://(127\.0\.0\.1):(\d+)", kubeconfig_text)
    if match is None:
        pytest.skip("the kubeconfig's API server is not on loopback")
    return match.group(1), int(match.group(2))


def test_push_over_a_slow_lossy_link_ends_in_bounded_time_and_converges(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    bench.generate(FILES)
    server = upstream(bench.kubeconfig.read_text())
    with SlowLink(server, DELAY, cut_every=CUT_EVERY) as link:
        slow = replace(
            bench,
            kubeconfig=kubeconfig_through(link, bench.kubeconfig, bench.path.parent / "slow.kc"),
            started=bench.started,
        )
        runs = []
        for _ in range(ATTEMPTS):
            started = time.monotonic()
            proc = slow.doit("push", check=False, timeout=COMMAND_TIMEOUT)
            said = proc.stdout + proc.stderr
            runs.append((proc.returncode, round(time.monotonic() - started, 1)))
            assert "Traceback" not in said, said
            if proc.returncode != 0:
                errors = [line for line in said.splitlines() if line.startswith("pyodo")]
                assert len(errors) == 1, said
            else:
                break
        verified = slow.doit("verify", check=False, timeout=COMMAND_TIMEOUT)
        said = verified.stdout + verified.stderr
        assert "Traceback" not in said
        assert (
            verified.returncode == 0
            or len([line for line in said.splitlines() if line.startswith("pyodo")]) == 1
        ), said
    print(
        f"over a {DELAY * 1000:g} ms link cutting every {CUT_EVERY}th connection: pushes "
        f"(exit, s) {runs}; {link.connections} connections, {link.cuts} cut"
    )
    record_property("slow_link_pushes", runs)
    assert runs[-1][0] == 0, f"no push over the link succeeded in {ATTEMPTS}: {runs}"
    bench.assert_in_step()
    bench.assert_nothing_left()
