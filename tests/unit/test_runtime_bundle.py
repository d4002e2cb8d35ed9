"""The inject layout's upload: the scripts' tar, the trailer the supervisor reads back, the
runtime digest, and which supervisor binary is used (shipped, cached, or none without Go).

Pure logic except the tests marked ``host``: those build the real supervisor with Go and run its
``install`` and ``init`` modes on this machine (no container, no cluster).
"""

from __future__ import annotations

import io
import os
import platform
import shutil
import socket
import stat
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyodo_tasks.errors import RuntimeDeliveryError
from pyodo_tasks.runtime import binaries, bundle, sources
from pyodo_tasks.runtime.bundle import TRAILER_MAGIC, scripts_tar, upload
from pyodo_tasks.runtime.contract import RUNTIME_MARKER_PREFIX
from pyodo_tasks.runtime.sources import runtime_digest

FAKE_BINARY = b"\x7fELF-not-really-a-supervisor\x00\x01\x02"


def _members() -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(scripts_tar())) as tar:
        for info in tar.getmembers():
            data = b""
            if info.isfile():
                extracted = tar.extractfile(info)
                assert extracted is not None
                data = extracted.read()
            found[info.name] = (info, data)
    return found


@pytest.fixture
def fake_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``bundle.supervisor_binary`` answering a small file, so no Go build is needed."""
    path = tmp_path / "fake-supervisor"
    path.write_bytes(FAKE_BINARY)
    monkeypatch.setattr(bundle, "supervisor_binary", lambda arch: path)
    return path


# -- the scripts' tar --------------------------------------------------------------------------
def test_scripts_are_executable_and_run_by_the_images_own_sh() -> None:
    members = _members()
    scripts = {
        name: (info, data)
        for name, (info, data) in members.items()
        if info.isfile() and name.split("/")[0] in ("bin", "language-scripts")
    }
    assert {"bin/run", "bin/ctl", "bin/assemble-and-restart", "bin/agent"} <= set(scripts)
    assert "language-scripts/nodejs/debug" in scripts
    for name, (info, data) in scripts.items():
        assert info.mode == 0o755, name
        first_line = data.split(b"\n", 1)[0]
        assert first_line == b"#!/bin/sh", f"{name}: {first_line!r}"


def test_configuration_is_not_executable() -> None:
    info, data = _members()["conf/supervisor.conf"]
    assert info.mode == 0o644
    assert b"program = /opt/odo/bin/run" in data


def test_the_tar_holds_every_init_file_with_its_content(tmp_path: Path) -> None:
    members = _members()
    files = {name for name, (info, _) in members.items() if info.isfile()}
    expected = {
        p.relative_to(sources.INIT_SOURCE_DIR).as_posix()
        for p in sources.INIT_SOURCE_DIR.rglob("*")
        if p.is_file()
    }
    assert files == expected
    _, conf = members["conf/supervisor.conf"]
    assert conf == (sources.INIT_SOURCE_DIR / "conf" / "supervisor.conf").read_bytes()
    for info, _ in members.values():
        assert (info.mtime, info.uid, info.gid) == (0, 0, 0), info.name


def test_the_tar_is_the_same_bytes_every_time() -> None:
    first = scripts_tar()
    scripts_tar.cache_clear()
    try:
        assert scripts_tar() == first
    finally:
        scripts_tar.cache_clear()


# -- the upload --------------------------------------------------------------------------------
def test_upload_is_binary_then_tar_then_its_length_then_the_magic(fake_binary: Path) -> None:
    data = upload("amd64")
    tar = scripts_tar()
    assert data.endswith(TRAILER_MAGIC)
    (length,) = struct.unpack("<Q", data[-16:-8])
    assert length == len(tar)
    assert data[-16 - length : -16] == tar
    assert data[: -16 - length] == FAKE_BINARY
    assert len(data) == len(FAKE_BINARY) + len(tar) + 16


def test_probe_and_install_pass_the_digest_as_an_argument() -> None:
    for argv in (bundle.probe_argv(), bundle.install_argv()):
        assert argv[:2] == ["/bin/sh", "-c"]
        assert argv[-1] == runtime_digest()
        assert runtime_digest() not in argv[2], "never spliced into the script"


# -- the runtime digest ------------------------------------------------------------------------
@pytest.fixture
def runtime_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The runtime's sources copied to tmp and ``sources`` pointed at the copy."""
    root = tmp_path / "runtime"
    for part in ("init", "supervisor"):
        shutil.copytree(sources.RUNTIME_DIR / part, root / part)
    monkeypatch.setattr(sources, "RUNTIME_DIR", root)
    monkeypatch.setattr(sources, "INIT_SOURCE_DIR", root / "init")
    monkeypatch.setattr(sources, "SUPERVISOR_SOURCE_DIR", root / "supervisor")
    runtime_digest.cache_clear()
    yield root
    runtime_digest.cache_clear()


def test_a_copy_of_the_sources_has_the_same_digest(
    runtime_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = runtime_digest()
    real = Path(sources.__file__).resolve().parent
    monkeypatch.setattr(sources, "RUNTIME_DIR", real)
    monkeypatch.setattr(sources, "INIT_SOURCE_DIR", real / "init")
    monkeypatch.setattr(sources, "SUPERVISOR_SOURCE_DIR", real / "supervisor")
    runtime_digest.cache_clear()
    assert runtime_digest() == copied, "names relative to the runtime dir, and bytes"
    assert len(copied) == 16
    int(copied, 16)


@pytest.mark.parametrize(
    "edit", ["supervisor/main.go", "init/bin/run", "init/conf/supervisor.conf"]
)
def test_digest_changes_when_a_source_file_changes(runtime_copy: Path, edit: str) -> None:
    before = runtime_digest()
    path = runtime_copy / edit
    path.write_bytes(path.read_bytes() + b"\n# edited\n")
    assert runtime_digest() == before, "cached until cleared"
    runtime_digest.cache_clear()
    assert runtime_digest() != before


def test_digest_changes_when_a_file_is_added_or_renamed(runtime_copy: Path) -> None:
    before = runtime_digest()
    (runtime_copy / "init" / "bin" / "run").rename(runtime_copy / "init" / "bin" / "run2")
    runtime_digest.cache_clear()
    renamed = runtime_digest()
    assert renamed != before
    (runtime_copy / "init" / "bin" / "extra").write_text("#!/bin/sh\n")
    runtime_digest.cache_clear()
    assert runtime_digest() not in (before, renamed)


# -- which supervisor binary -------------------------------------------------------------------
@pytest.fixture
def no_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shipped binary, an empty cache, no Go: the returned dir is SHIPPED_DIR."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(binaries, "SHIPPED_DIR", shipped)
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(binaries, "find_go", lambda: None)
    return shipped


def _ship(shipped: Path, arch: str, digest: str) -> Path:
    binary = shipped / f"linux-{arch}" / "supervisor"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(FAKE_BINARY)
    (binary.parent / "digest").write_text(digest + "\n")
    return binary


def _cache(tmp_path: Path, arch: str) -> Path:
    cached = tmp_path / "cache" / "runtime" / runtime_digest() / f"linux-{arch}" / "supervisor"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached")
    return cached


def test_a_shipped_binary_of_these_sources_is_used(no_binaries: Path) -> None:
    binary = _ship(no_binaries, "arm64", runtime_digest())
    assert binaries.supervisor_binary("arm64") == binary


def test_a_shipped_binary_of_other_sources_is_ignored(no_binaries: Path, tmp_path: Path) -> None:
    _ship(no_binaries, "amd64", "0" * 16)
    cached = _cache(tmp_path, "amd64")
    assert binaries.supervisor_binary("amd64") == cached


def test_a_stale_shipped_binary_without_go_is_an_error(no_binaries: Path) -> None:
    _ship(no_binaries, "amd64", "0" * 16)
    with pytest.raises(RuntimeDeliveryError, match="linux/amd64"):
        binaries.supervisor_binary("amd64")


def test_the_cached_build_is_used_without_go(no_binaries: Path, tmp_path: Path) -> None:
    cached = _cache(tmp_path, "arm64")
    assert binaries.supervisor_binary("arm64") == cached


def test_no_binary_and_no_go_names_the_fixes(no_binaries: Path) -> None:
    with pytest.raises(RuntimeDeliveryError) as caught:
        binaries.supervisor_binary("amd64")
    message = str(caught.value)
    assert "linux/amd64" in message
    assert "Go" in message
    assert "PYODO_LAYOUT" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("arm64", "arm64"),
        ("amd64", "amd64"),
        (" X86_64\n", "amd64"),
        ("riscv64", None),
        ("s390x", None),
        ("", None),
    ],
)
def test_machine_words_map_to_go_architectures(machine: str, arch: str | None) -> None:
    assert binaries.go_arch(machine) == arch


# -- on this host: the real supervisor ---------------------------------------------------------
@pytest.fixture(scope="module")
def host_supervisor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = binaries.find_go()
    if go is None:
        pytest.skip("no Go on this machine")
    arch = binaries.go_arch(platform.machine())
    if arch is None:
        pytest.skip(f"pyodo has no supervisor for {platform.machine()}")
    out = tmp_path_factory.mktemp("supervisor") / "supervisor"
    binaries.build_supervisor(out, arch, go)
    return out


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, check=False)


@pytest.mark.host
def test_the_upload_installs_the_runtime_and_waits_for_the_supervisor(
    host_supervisor: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle, "supervisor_binary", lambda arch: host_supervisor)
    # a short directory: the supervisor's socket path must stay under 108 bytes
    work = Path(tmp_path_factory.mktemp("inst", numbered=True))
    dest = work / "odo"
    (dest / "run").mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock = dest / "run" / "supervisor.sock"
    assert len(os.fsencode(sock)) < 100
    listener.bind(os.fspath(sock))
    listener.listen(4)  # stands in for the supervisor the wait loop would start
    try:
        upload_file = work / "upload"
        upload_file.write_bytes(upload("amd64"))
        upload_file.chmod(0o700)
        done = _run([os.fspath(upload_file), "install", os.fspath(dest), "abc123"])
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "installed"
    supervisor = dest / "bin" / "supervisor"
    assert supervisor.read_bytes() == host_supervisor.read_bytes(), "the ELF part only"
    assert stat.S_IMODE(supervisor.stat().st_mode) == 0o755
    assert (dest / "bin" / "run").read_bytes().startswith(b"#!/bin/sh\n")
    assert os.access(dest / "bin" / "run", os.X_OK)
    assert (dest / "conf" / "supervisor.conf").is_file()
    assert (dest / f"{RUNTIME_MARKER_PREFIX}abc123").read_text() == "abc123\n"
    assert not (dest / "bin" / ".supervisor.tmp").exists()


@pytest.mark.host
def test_install_without_a_listening_supervisor_still_leaves_the_runtime(
    host_supervisor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing starts the supervisor here: install waits for it (bounded) and exits 3, but the
    files and the marker are there already."""
    monkeypatch.setattr(bundle, "supervisor_binary", lambda arch: host_supervisor)
    upload_file, dest = tmp_path / "upload", tmp_path / "dest"
    dest.mkdir()  # the pod's emptyDir
    upload_file.write_bytes(upload("amd64"))
    upload_file.chmod(0o700)
    done = _run([os.fspath(upload_file), "install", os.fspath(dest), "h1"])
    assert done.returncode == 3, done.stderr.decode()
    assert b"did not listen" in done.stderr
    assert (dest / "bin" / "run").is_file()
    assert (dest / "conf" / "supervisor.conf").is_file()
    assert os.access(dest / "bin" / "supervisor", os.X_OK)
    assert (dest / f"{RUNTIME_MARKER_PREFIX}h1").is_file()


@pytest.mark.host
def test_install_refuses_a_binary_that_is_not_an_upload(
    host_supervisor: Path, tmp_path: Path
) -> None:
    done = _run([os.fspath(host_supervisor), "install", os.fspath(tmp_path / "d"), "h"])
    assert done.returncode == 1
    assert b"not a pyodo upload" in done.stderr
    assert not (tmp_path / "d" / f"{RUNTIME_MARKER_PREFIX}h").exists()


@pytest.mark.host
@pytest.mark.parametrize(("script", "status"), [("exit 7", 7), ("exit 0", 0)])
def test_init_exits_with_the_commands_status(
    host_supervisor: Path, script: str, status: int
) -> None:
    done = _run([os.fspath(host_supervisor), "init", "--", "/bin/sh", "-c", script])
    assert done.returncode == status, done.stderr.decode()


@pytest.mark.host
@pytest.mark.parametrize("signum", [15, 9])
def test_init_reports_a_child_killed_by_a_signal_as_128_plus_n(
    host_supervisor: Path, signum: int
) -> None:
    done = _run([os.fspath(host_supervisor), "init", "--", "/bin/sh", "-c", f"kill -{signum} $$"])
    assert done.returncode == 128 + signum, done.stderr.decode()


@pytest.mark.host
def test_init_reports_a_command_it_cannot_start(host_supervisor: Path, tmp_path: Path) -> None:
    done = _run([os.fspath(host_supervisor), "init", "--", os.fspath(tmp_path / "missing")])
    assert done.returncode == 127
    assert b"cannot start" in done.stderr
