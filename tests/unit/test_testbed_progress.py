"""Progress output of long test-bed work when stderr is not a terminal (CI logs, pipes)."""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time

import pytest

from pyodo_tasks.testbed import gobuild
from pyodo_tasks.testbed.progress import Phase, Progress, as_progress, duration


def test_a_phase_prints_start_heartbeats_with_elapsed_expected_and_detail_and_its_time() -> None:
    out = io.StringIO()
    progress = Progress(out, heartbeat=0.1)
    with progress.phase("go build kubelet", expected=1290, basis="last build here") as phase:
        phase.update("12 packages compiled, now k8s.io/api/core/v1")
        time.sleep(0.45)
    lines = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\[ *\d+\.\ds\] go build kubelet \.\.\. \(expected ~21m30s, last build here\)", lines[0]
    )
    beats = [line for line in lines if "  ... " in line]
    assert len(beats) >= 2
    assert re.search(
        r"  \.\.\. go build kubelet: \d+\.\ds of ~21m30s - "
        r"12 packages compiled, now k8s\.io/api/core/v1$",
        beats[0],
    )
    assert re.fullmatch(r"\[ *\d+\.\ds\] go build kubelet: done in 0\.\ds", lines[-1])


def test_plain_output_is_never_silent_for_longer_than_the_heartbeat() -> None:
    stamps: list[float] = []
    progress = Progress(sink=lambda _line: stamps.append(time.monotonic()), heartbeat=0.1)
    with progress.phase("importing image localhost/pyodo/builder-java:1 (900 MiB)"):
        time.sleep(0.8)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 6
    assert max(gaps) < 0.1 + 0.3  # heartbeat plus the ticker's granularity and CI jitter


def test_a_phase_right_after_another_still_gets_heartbeats() -> None:
    # The first phase's ticker is still winding down when the second starts.
    out = io.StringIO()
    progress = Progress(out, heartbeat=0.1)
    with progress.phase("go mod tidy"):
        pass
    with progress.phase("go build Kubernetes v1.36.3 (6 commands)"):
        time.sleep(0.45)
    assert "  ... go build Kubernetes v1.36.3 (6 commands): " in out.getvalue()


def test_a_quiet_phase_prints_no_heartbeat_while_other_lines_flow() -> None:
    out = io.StringIO()
    progress = Progress(out, heartbeat=0.3)
    with progress.phase("debootstrap"):
        for i in range(6):
            progress.say(f"step {i}")
            time.sleep(0.05)
    assert "  ... " not in out.getvalue()


def test_a_failing_phase_says_how_long_it_ran_and_lets_the_error_through() -> None:
    out = io.StringIO()
    progress = Progress(out, heartbeat=5)
    with pytest.raises(RuntimeError), progress.phase("starting etcd"):
        raise RuntimeError("boom")
    assert out.getvalue().splitlines()[-1].endswith("starting etcd: failed after 0.0s")


def test_concurrent_phases_each_get_their_heartbeat() -> None:
    out = io.StringIO()
    progress = Progress(out, heartbeat=0.1)

    def build(name: str) -> None:
        with progress.phase(f"building image {name}"):
            time.sleep(0.35)

    threads = [threading.Thread(target=build, args=(n,)) for n in ("builder-java", "init")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = out.getvalue()
    assert "  ... building image builder-java: " in text
    assert "  ... building image init: " in text


def test_a_nested_phase_speaks_for_the_one_around_it() -> None:
    out = io.StringIO()
    progress = Progress(out, heartbeat=0.1)
    with progress.phase("building image builder-python"), progress.phase("debootstrap") as inner:
        inner.update("I: Unpacking dpkg...")
        time.sleep(0.35)
    text = out.getvalue()
    assert "  ... debootstrap: " in text and "I: Unpacking dpkg..." in text
    assert "  ... building image builder-python" not in text


def test_a_terminal_gets_the_same_lines_through_rich() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True, heartbeat=0.1)
    with progress.phase("go build kubectl", expected=60) as phase:
        phase.update("now k8s.io/kubectl/pkg/cmd")
        time.sleep(0.3)
    text = out.getvalue()
    assert "go build kubectl ... (expected ~1m00s)" in text
    assert "go build kubectl: done in 0." in text


def test_line_callbacks_and_none_become_reporters() -> None:
    seen: list[str] = []
    as_progress(seen.append)("hello")
    assert seen == ["hello"]
    reporter = Progress(io.StringIO())
    assert as_progress(reporter) is reporter
    assert isinstance(as_progress(None), Progress)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0.4s"),
        (9.96, "10s"),
        (59.6, "1m00s"),
        (75, "1m15s"),
        (1278, "21m18s"),
        (3725, "1h02m"),
    ],
)
def test_durations_read_short(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_go_output_becomes_what_is_being_fetched_or_compiled() -> None:
    phase = Phase("go build", None, "", time.monotonic)
    watch = gobuild._BuildWatcher(phase, "compiled")
    for line in ["internal/goarch", "k8s.io/api/core/v1", "# k8s.io/broken", "x.go:1: bad thing"]:
        watch(line)
    assert phase.detail == "2 packages compiled, now k8s.io/api/core/v1"
    tidy = gobuild._BuildWatcher(Phase("tidy", None, "", time.monotonic), "downloaded")
    tidy("go: downloading k8s.io/api v0.36.3")
    assert tidy.phase.detail == "1 modules downloaded, now k8s.io/api v0.36.3"


def test_the_expected_build_time_is_the_last_one_measured_here(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    assert gobuild.last_build_times() == {}
    old_stamp = tmp_path / "kubernetes" / "v1.36.3" / "bin" / gobuild.STAMP_NAME
    old_stamp.parent.mkdir(parents=True)
    old_stamp.write_text(json.dumps({"version": "v1.36.3", "seconds": 649.2}))
    assert gobuild.last_build_times() == {"build": 649.2}  # an older pyodo's stamp
    gobuild._record_build_times("v1.36.3", (40.04, 209), (1238.96, 2480))
    assert gobuild.last_build_times() == {"tidy": 40.0, "build": 1239.0}
    # Go's caches warm: the build only links. Not a figure for the next cold build.
    gobuild._record_build_times("v1.36.3", (0.6, 0), (34.4, 0))
    assert gobuild.last_build_times() == {"tidy": 40.0, "build": 1239.0}


def test_the_first_build_measured_counts_even_when_warm(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    gobuild._record_build_times("v1.36.3", (0.6, 0), (34.4, 3))
    assert gobuild.last_build_times() == {"tidy": 0.6, "build": 34.4}
