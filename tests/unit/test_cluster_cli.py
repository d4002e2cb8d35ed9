"""``python -m pyodo_tasks.cluster``: signals end up/down through their clean-up path."""

from __future__ import annotations

import os
import signal

import pytest

from pyodo_tasks.cluster import __main__ as cli


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_up_or_down_raises_so_the_failed_up_cleans_up(sig: int) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt, match=signal.Signals(sig).name), cli._stoppable():
        os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) == before


def test_sigint_stops_up_even_when_the_process_started_with_it_ignored() -> None:
    # A script's background job starts with SIGINT ignored (FINDINGS); kill -INT must still work.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), cli._stoppable():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
