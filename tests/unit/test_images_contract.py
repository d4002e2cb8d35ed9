"""The renderer/init-image contract: constants agree with the shipped scripts and config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.sources import INIT_SOURCE_DIR
from pyodo_tasks.testbed.images.build import PACKAGE_DIR

STAGED_BINARIES = {"bin/tini", "bin/busybox", "bin/supervisor"}  # added by stage_init_context
SCRIPTS = sorted((INIT_SOURCE_DIR / "bin").iterdir()) + sorted(
    (INIT_SOURCE_DIR / "language-scripts").glob("*/*")
)
S2I_SCRIPTS = sorted((PACKAGE_DIR / "s2i").glob("*/*"))


def _init_file(path_in_pod: str) -> str:
    assert path_in_pod.startswith(contract.ODO_MOUNT + "/"), path_in_pod
    return path_in_pod.removeprefix(contract.ODO_MOUNT + "/")


def _exists_in_init(rel: str) -> bool:
    return rel in STAGED_BINARIES or (INIT_SOURCE_DIR / rel).is_file()


def test_exact_commands() -> None:
    assert contract.COPY_SUPERVISORD_COMMAND == [
        "/opt/odo-init/bin/busybox",
        "cp",
        "-a",
        "/opt/odo-init/.",
        "/opt/odo/",
    ]
    assert contract.APP_CONTAINER_COMMAND == [
        "/opt/odo/bin/tini",
        "-s",
        "--",
        "/opt/odo/bin/supervisor",
        "-c",
        "/opt/odo/conf/supervisor.conf",
    ]
    assert contract.COPY_FILES_TO_VOLUME_COMMAND[:2] == ["/bin/sh", "-c"]
    assert contract.ASSEMBLE_AND_RESTART_COMMAND == ["/opt/odo/bin/assemble-and-restart"]
    assert contract.CTL_COMMAND == ["/opt/odo/bin/ctl"]


def test_commands_point_at_shipped_files() -> None:
    for arg in contract.APP_CONTAINER_COMMAND + contract.ASSEMBLE_AND_RESTART_COMMAND:
        if arg.startswith("/"):
            assert _exists_in_init(_init_file(arg)), arg
    init_bin = contract.COPY_SUPERVISORD_COMMAND[0]
    assert init_bin.startswith(contract.INIT_CONTENT_DIR + "/")
    assert init_bin.removeprefix(contract.INIT_CONTENT_DIR + "/") in STAGED_BINARIES


def test_supervisor_conf_points_at_shipped_files() -> None:
    conf = {}
    for line in (INIT_SOURCE_DIR / "conf" / "supervisor.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            conf[key] = value
    assert conf["autostart"] == "false"  # odo: no run before the first assemble-and-restart
    assert _exists_in_init(_init_file(conf["program"]))
    assert _exists_in_init(_init_file(conf["setup"]))
    assert conf["socket"].startswith(contract.ODO_MOUNT + "/")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_init_scripts_are_busybox_sh_and_executable(script: Path) -> None:
    assert script.read_text().startswith("#!/opt/odo/bin/busybox sh\n")
    assert script.stat().st_mode & 0o111


@pytest.mark.parametrize("script", SCRIPTS + S2I_SCRIPTS, ids=lambda p: p.parent.name + p.name)
def test_scripts_parse_as_posix_sh(script: Path) -> None:
    shell = shutil.which("dash") or "/bin/sh"
    proc = subprocess.run([shell, "-n", str(script)], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()


def test_every_contract_variable_is_read_by_a_script() -> None:
    text = "".join(p.read_text() for p in SCRIPTS)
    for name in contract.SCRIPT_ENV_VARS:
        assert name in text, name
    assert contract.DEFAULT_SRC in text and contract.DEFAULT_S2I_SCRIPTS in text


def test_s2i_scripts_exist_for_every_builder() -> None:
    for name in contract.BUILDER_REFS:
        lang = name.removeprefix("builder-")
        for script in ("assemble", "run"):
            path = PACKAGE_DIR / "s2i" / lang / script
            assert path.is_file() and path.stat().st_mode & 0o111, path


def _copy_files_script(mnt: Path, app_root: Path) -> list[str]:
    argv = list(contract.COPY_FILES_TO_VOLUME_COMMAND)
    argv[2] = (
        argv[2]
        .replace(contract.APP_ROOT_INIT_MOUNT, str(mnt))
        .replace(contract.APP_ROOT, str(app_root))
    )
    return argv


def test_copy_files_to_volume_copies_once(tmp_path: Path) -> None:
    app_root, mnt = tmp_path / "app-root", tmp_path / "mnt"
    (app_root / "src").mkdir(parents=True)
    (app_root / "src" / "a.txt").write_text("from image")
    (app_root / "bin").mkdir()
    (app_root / "bin" / "tool").write_text("x")
    (app_root / "bin" / "tool").chmod(0o750)
    mnt.mkdir()
    (mnt / "lost+found").mkdir()  # a fresh ext4 PVC is not empty
    argv = _copy_files_script(mnt, app_root)
    subprocess.run(argv, check=True, timeout=30)
    assert (mnt / "src" / "a.txt").read_text() == "from image"
    assert (mnt / "bin" / "tool").stat().st_mode & 0o777 == 0o750
    assert (mnt / contract.APP_ROOT_MARKER).exists()
    # the developer's build output on a reused PVC survives a new pod
    (mnt / "src" / "a.txt").write_text("built by developer")
    out = subprocess.run(argv, check=True, timeout=30, capture_output=True, text=True)
    assert "already initialised" in out.stdout
    assert (mnt / "src" / "a.txt").read_text() == "built by developer"
