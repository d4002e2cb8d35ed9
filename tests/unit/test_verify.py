"""The sync verifier's pure parts: parsing b2sum's output, the expected digests, the comparison."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.verify import (
    Mismatch,
    SyncMismatch,
    VerifyResult,
    compare,
    expected_digests,
    parse_b2sum,
)


def test_b2sum_zero_output_parses_odd_names(tmp_path: Path) -> None:
    (tmp_path / "a b").write_bytes(b"x")
    (tmp_path / "new\nline").write_bytes(b"y")
    out = subprocess.run(
        ["xargs", "-0", "b2sum", "-l", "128", "--zero", "--"],
        input=b"a b\0new\nline\0missing\0",
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert out.returncode == 123  # one path missing: the others are still hashed
    found = parse_b2sum(out.stdout)
    assert found == {
        "a b": hashlib.blake2b(b"x", digest_size=16).hexdigest(),
        "new\nline": hashlib.blake2b(b"y", digest_size=16).hexdigest(),
    }


def test_index_digests_are_what_b2sum_prints(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("console.log(1)\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "lib.js").write_text("exports.x = 1\n")
    (tmp_path / "link").symlink_to("app.js")
    snapshot = FileIndex(tmp_path, state_dir=tmp_path / ".pyodo").scan()
    expected, unverified = expected_digests(tmp_path, snapshot)
    assert unverified == [] and set(expected) == {"app.js", "sub/lib.js"}  # links, dirs: no
    out = subprocess.run(
        ["b2sum", "-l", "128", "--zero", "--", "app.js", "sub/lib.js"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    assert parse_b2sum(out.stdout) == expected


def test_a_file_changed_locally_since_the_index_is_unverified_not_a_mismatch(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.js").write_text("one\n")
    snapshot = FileIndex(tmp_path, state_dir=tmp_path / ".pyodo").scan()
    (tmp_path / "app.js").write_text("two, longer\n")
    expected, unverified = expected_digests(tmp_path, snapshot)
    assert expected == {} and unverified == ["app.js"]


def test_compare_names_changed_and_missing_files_sorted() -> None:
    expected = {"b.js": "11", "a.js": "22", "c.js": "33"}
    actual = {"a.js": "22", "b.js": "99"}
    assert compare(expected, actual) == (
        Mismatch("b.js", "differs"),
        Mismatch("c.js", "missing in the container"),
    )


def test_mismatch_error_lists_the_paths_and_the_fix() -> None:
    result = VerifyResult("pod-1", "/projects", 3, (Mismatch("server.js", "differs"),))
    message = str(SyncMismatch(result, "nodejs-example"))
    assert "1 of 3 synced files in pod/pod-1:/projects differ" in message
    assert "server.js (differs)" in message
    assert "delete the pod" in message
