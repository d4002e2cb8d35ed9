"""The container's disk full (ENOSPC) during a sync, then space freed.

A real full disk, confined to one pod: a 256 KiB tmpfs mounted from the host in the app
container's mount namespace over the tree's directory in the sources (the rest of the node's
disk is shared with every other pod, and an emptyDir's ``sizeLimit`` evicts rather than fills).
The push that overflows it must fail with one line naming the cause, leave pyodo's index as it
was (so nothing is taken for synced), and the push after the tmpfs is grown must converge.
"""

from __future__ import annotations

import pytest

from tests.chaos.node import container_id, container_pids, in_mounts_of
from tests.chaos.workbench import TREE, Workbench

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

FILES = 300  # about 0.9 MB: four times the tmpfs


def test_a_full_disk_fails_the_push_in_one_line_and_the_push_after_space_is_freed_converges(
    bench: Workbench,
) -> None:
    bench.doit("push")
    with bench.component() as component:
        pod = component.pod().metadata.name
        target = f"{component.devfile.source_dir}/{TREE}"
        component.exec(["mkdir", "-p", target], check=True)
    pid = min(container_pids(container_id(bench.kube, pod)))
    in_mounts_of(pid, ["mount", "-t", "tmpfs", "-o", "size=256k", "pyodo-chaos-full", target])

    bench.generate(FILES)
    indexes = {p: p.read_bytes() for p in (bench.path / ".pyodo").glob("index*.json")}
    failed = bench.doit("push", check=False)
    said = failed.stdout + failed.stderr
    errors = [line for line in said.splitlines() if line.startswith("pyodo")]
    print(f"the push into a full disk said: {errors}")
    assert failed.returncode == 1 and len(errors) == 1, said
    assert "no space left on device" in errors[0].lower(), errors
    assert "Traceback" not in said
    assert indexes, "the first push wrote an index"
    assert {p: p.read_bytes() for p in indexes} == indexes, "the index was not advanced"

    in_mounts_of(pid, ["mount", "-o", "remount,size=64m", target])
    bench.assert_in_step()
    bench.assert_nothing_left()
