"""Every failure reaches the user as one line and exit status 1, through doit, the CLIs and
the reporting helpers; a traceback only under PYODO_DEBUG=1 or --verbose. No cluster needed:
each case fails before pyodo would contact one."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doit.exceptions import TaskFailed

from pyodo_tasks.errors import DevfileError
from pyodo_tasks.failures import cli_main, report, summary
from pyodo_tasks.tasks.guard import guard_action, guard_uptodate
from tests.commands import doit, run, user_environ

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "nodejs"
DEBUG_HINT = "(run with PYODO_DEBUG=1"


@pytest.fixture
def component(tmp_path: Path) -> Path:
    """A copy of the nodejs example: its dodo.py star-imports pyodo_tasks.dodo."""
    path = tmp_path / "app"
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns(".pyodo", ".doit.db*"))
    return path


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# -- doit: a broken devfile fails the push with one line --------------------------------------


def test_doit_push_with_a_devfile_that_is_not_utf8_prints_one_line(component: Path) -> None:
    devfile = component / "devfile.yaml"
    devfile.write_bytes(devfile.read_bytes().replace(b"nodejs-example", b"caf\xe9"))
    line = assert_one_line_failure(doit(component, "push"), "devfile.yaml: line 3", "not UTF-8")
    assert line.startswith("pyodo: ")


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


@pytest.mark.parametrize(
    ("make", "what"),
    [(_directory, "a directory"), (_fifo, "a named pipe"), (_symlink_loop, "a symlink loop")],
    ids=["directory", "fifo", "symlink-loop"],
)
def test_doit_push_with_a_devfile_that_is_not_a_regular_file_prints_one_line(
    component: Path, make, what: str
) -> None:
    devfile = component / "devfile.yaml"
    devfile.unlink()
    make(devfile)
    assert_one_line_failure(doit(component, "push"), "devfile.yaml", what)


@pytest.mark.parametrize(
    ("target", "what"),
    [("fifo", "a named pipe"), ("/dev/zero", "a device"), ("dir", "a directory")],
    ids=["fifo", "device", "directory"],
)
def test_a_parent_uri_naming_a_pipe_or_a_device_is_refused_at_once(
    component: Path, target: str, what: str
) -> None:
    """Reading a FIFO blocks until a writer comes, /dev/zero never ends: neither is read."""
    if target == "fifo":
        os.mkfifo(component / "parent.pipe")
        target = "parent.pipe"
    elif target == "dir":
        (component / "parent.d").mkdir()
        target = "parent.d"
    devfile = component / "devfile.yaml"
    devfile.write_text(f"parent:\n  uri: {target}\n" + devfile.read_text())
    line = assert_one_line_failure(doit(component, "push"), "parent.uri", target, what)
    assert line.startswith("pyodo: ")


def test_a_kubernetes_component_uri_naming_a_pipe_is_refused_at_once(component: Path) -> None:
    os.mkfifo(component / "manifest.yaml")
    devfile = component / "devfile.yaml"
    text = devfile.read_text().replace(
        "components:\n", "components:\n  - name: extra\n    kubernetes: {uri: manifest.yaml}\n", 1
    )
    devfile.write_text(text)
    assert_one_line_failure(
        doit(component, "push"), "kubernetes.uri", "manifest.yaml", "named pipe"
    )


def test_doit_dev_with_a_devfile_that_is_not_utf8_prints_one_line(component: Path) -> None:
    devfile = component / "devfile.yaml"
    devfile.write_bytes(devfile.read_bytes() + b"\xff")
    assert_one_line_failure(doit(component, "dev", "--seconds", "1"), "not UTF-8")


def test_doit_push_with_an_invalid_field_names_it(component: Path) -> None:
    devfile = component / "devfile.yaml"
    devfile.write_text(devfile.read_text().replace("targetPort: 3000", "targetPort: nope"))
    assert_one_line_failure(doit(component, "push"), "targetPort")


def test_doit_with_an_unusable_state_dir_fails_each_task_with_one_line(component: Path) -> None:
    (component / ".pyodo").write_text("not a directory")  # dodo.py's import cannot mkdir it
    assert_one_line_failure(doit(component, "push"), ".pyodo", "state directory")
    listing = doit(component, "list")
    assert listing.returncode == 0 and "push" in listing.stdout, "doit list keeps working"


def test_doit_push_with_a_broken_kubeconfig_prints_one_line(
    component: Path, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(b"apiVersion: v1\nclusters: [{name: caf\xe9}]\n")
    proc = doit(component, "push", env=user_environ(KUBECONFIG=str(kubeconfig)))
    assert_one_line_failure(proc, "kubeconfig", "not UTF-8")


# -- the guard every doit action goes through -------------------------------------------------


def boom() -> None:
    raise ValueError("boom\nsecond line")


def test_an_unexpected_error_in_a_task_is_a_one_line_bug_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYODO_DEBUG", raising=False)
    failure = guard_action(boom)()
    assert isinstance(failure, TaskFailed)
    assert failure.message.startswith("pyodo bug: ValueError: boom " + DEBUG_HINT)
    assert not failure.traceback


def test_pyodo_debug_attaches_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_DEBUG", "1")
    failure = guard_action(boom)()
    assert "Traceback" in "".join(failure.traceback) and "boom" in failure.get_msg()


def test_a_pyodo_error_in_a_task_is_its_message() -> None:
    def bad() -> None:
        raise DevfileError("devfile.yaml", "metadata.name", "missing", "add one")

    failure = guard_action(bad)()
    assert failure.message == "pyodo: devfile.yaml: metadata.name: missing (add one)"


def test_guarded_actions_keep_their_signature_for_doit_parameters() -> None:
    import inspect

    def logs(lines: int = 100) -> None:
        pass

    assert list(inspect.signature(guard_action(logs)).parameters) == ["lines"]


def test_a_failing_uptodate_check_means_run_the_task() -> None:
    assert guard_uptodate(boom)() is False
    assert guard_uptodate(False) is False


# -- CLIs --------------------------------------------------------------------------------------


def test_dev_cli_with_a_devfile_that_is_not_utf8_prints_one_line(component: Path) -> None:
    devfile = component / "devfile.yaml"
    devfile.write_bytes(b"\xff\xfe" + devfile.read_bytes())
    proc = run([sys.executable, "-m", "pyodo_tasks.dev", str(component)], component)
    assert_one_line_failure(proc, "not UTF-8")


def test_images_cli_failure_is_one_line(tmp_path: Path) -> None:
    proc = run([sys.executable, "-m", "pyodo_tasks.testbed.images", "paths", "nope"], tmp_path)
    assert_one_line_failure(proc, "pyodo: unknown image nope")


def test_cli_main_reports_a_bug_in_one_line_and_the_traceback_with_verbose(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYODO_DEBUG", raising=False)

    @cli_main
    def main(argv: list[str] | None = None) -> int:
        boom()
        return 0

    assert main([]) == 1
    err = capsys.readouterr().err
    assert err == (
        "pyodo bug: ValueError: boom (run with PYODO_DEBUG=1 or --verbose for the traceback)\n"
    )
    assert main(["--verbose"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("for the traceback)\n")


def test_ctrl_c_in_a_cli_exits_130_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @cli_main
    def main(argv: list[str] | None = None) -> int:
        raise KeyboardInterrupt

    assert main([]) == 130
    assert capsys.readouterr().err == "pyodo: interrupted\n"


def test_report_cuts_a_huge_message_to_one_short_line() -> None:
    out = io.StringIO()
    assert report(RuntimeError("x" * 10_000 + "\nmore"), stream=out) == 1
    (line,) = out.getvalue().splitlines()
    assert len(line) < 400 and line.startswith("pyodo bug: RuntimeError: xxx")
    assert summary(RuntimeError()) == (
        "pyodo bug: RuntimeError (run with PYODO_DEBUG=1 for the traceback)"
    )


def test_a_bug_in_a_loop_that_carries_on_is_one_warning_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from pyodo_tasks.failures import log_bug

    monkeypatch.delenv("PYODO_DEBUG", raising=False)
    logger = logging.getLogger("pyodo-test-loop")
    with caplog.at_level(logging.WARNING, logger="pyodo-test-loop"):
        try:
            boom()
        except ValueError as exc:
            line = log_bug(logger, "handling a batch", exc)
    assert line.startswith("pyodo bug: ValueError: boom (run with PYODO_DEBUG=1 or --verbose")
    (record,) = caplog.records
    assert record.getMessage() == f"handling a batch: {line}" and record.exc_info is None
    monkeypatch.setenv("PYODO_DEBUG", "1")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pyodo-test-loop"):
        try:
            boom()
        except ValueError as exc:
            log_bug(logger, "handling a batch", exc)
    assert caplog.records[0].exc_info is not None
