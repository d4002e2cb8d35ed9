"""docker-archive writer: a tiny rootfs becomes an archive docker/ctr/kind can load."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.images.archive import (
    FileEntry,
    ImageConfig,
    host_architecture,
    tar_directory,
    write_docker_archive,
    write_layer,
)


def _tiny_rootfs(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    (root / "bin" / "hello").chmod(0o755)
    (root / "bin" / "hi").symlink_to("hello")
    os.link(root / "bin" / "hello", root / "bin" / "hello-hardlink")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hi\n")
    (root / "dev").mkdir()
    (root / "dev" / "junk").write_text("device stand-in")
    (root / "proc").mkdir()


def _read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_tar_directory_keeps_links_and_modes_and_empties_dev(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _tiny_rootfs(root)
    layer = tmp_path / "layer.tar"
    tar_directory(root, layer)
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar}
    assert members["bin/hello"].mode & 0o777 == 0o755
    assert members["bin/hi"].issym() and members["bin/hi"].linkname == "hello"
    link = members["bin/hello-hardlink"]
    other = members["bin/hello"]
    # one of the pair is stored as a hard link to the other
    assert link.islnk() or other.islnk()
    assert "dev" in members and members["dev"].isdir()
    assert "dev/junk" not in members
    assert "proc" in members
    assert all(m.uname == "" and m.gname == "" for m in members.values())
    assert not any(name.startswith(("/", "./")) for name in members)


def test_docker_archive_structure(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _tiny_rootfs(root)
    base = tmp_path / "base.tar"
    tar_directory(root, base)
    top = tmp_path / "top.tar"
    write_layer(
        top,
        [
            FileEntry("opt", is_dir=True, mode=0o755),
            FileEntry("opt/run", data=b"#!/bin/sh\n", mode=0o755),
            FileEntry("opt/link", link_target="run"),
        ],
    )
    config = ImageConfig(
        env=("PATH=/bin", "HOME=/opt"),
        cmd=("/opt/run",),
        working_dir="/opt",
        labels={"io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i"},
    )
    out = tmp_path / "image.tar"
    image_id = write_docker_archive(out, "localhost/pyodo/tiny:1", [base, top], config)

    files = _read_archive(out)
    manifest = json.loads(files["manifest.json"])
    assert len(manifest) == 1
    entry = manifest[0]
    assert entry["RepoTags"] == ["localhost/pyodo/tiny:1"]
    assert len(entry["Layers"]) == 2
    config_bytes = files[entry["Config"]]
    assert image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert entry["Config"] == image_id.removeprefix("sha256:") + ".json"
    doc = json.loads(config_bytes)
    assert doc["os"] == "linux"
    assert doc["architecture"] == host_architecture()
    assert doc["rootfs"]["type"] == "layers"
    expected = ["sha256:" + hashlib.sha256(files[name]).hexdigest() for name in entry["Layers"]]
    assert doc["rootfs"]["diff_ids"] == expected
    assert files[entry["Layers"][0]] == base.read_bytes()
    assert len(doc["history"]) == 2
    assert doc["config"]["Env"] == ["PATH=/bin", "HOME=/opt"]
    assert doc["config"]["Cmd"] == ["/opt/run"]
    assert doc["config"]["WorkingDir"] == "/opt"
    assert doc["config"]["Labels"]["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"
    assert not list(tmp_path.glob("*.part"))

    with tarfile.open(top) as tar:
        members = {m.name: m for m in tar}
    assert members["opt/run"].mode == 0o755
    assert members["opt/link"].issym()


def test_archive_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    layer = tmp_path / "l.tar"
    write_layer(layer, [FileEntry("a", data=b"1")])
    out = tmp_path / "img.tar"
    out.write_text("stale")
    write_docker_archive(out, "localhost/x:1", [layer], ImageConfig())
    assert "manifest.json" in _read_archive(out)


def test_archive_rejects_bad_input(tmp_path: Path) -> None:
    layer = tmp_path / "l.tar"
    write_layer(layer, [FileEntry("a", data=b"1")])
    with pytest.raises(ClusterSetupError, match="no layers"):
        write_docker_archive(tmp_path / "o.tar", "localhost/x:1", [], ImageConfig())
    with pytest.raises(ClusterSetupError, match="needs a tag"):
        write_docker_archive(tmp_path / "o.tar", "localhost:5000/x", [layer], ImageConfig())
    assert not (tmp_path / "o.tar").exists()


def test_image_config_json_omits_unset() -> None:
    cfg = ImageConfig(entrypoint=("/pause",), user="65535:65535").to_json()
    assert cfg["Entrypoint"] == ["/pause"]
    assert cfg["User"] == "65535:65535"
    assert "Cmd" not in cfg and "Labels" not in cfg
