"""Host clean-up helpers that need no cluster."""

from __future__ import annotations

from pyodo_tasks.testbed import hostclean, kind


def test_mountinfo_unescape() -> None:
    assert hostclean._unescape(r"/var/lib/a\040b") == "/var/lib/a b"


def test_rule_target_parsing() -> None:
    assert hostclean._target(["-A", "FORWARD", "-j", "KUBE-FORWARD"]) == "KUBE-FORWARD"
    assert hostclean._target(["-A", "X", "-g", "CNI-1"]) == "CNI-1"
    assert hostclean._target(["-A", "X", "-s", "1.2.3.4"]) is None


def test_kind_pull_failure_detection() -> None:
    out = 'ERROR: failed to create cluster: failed to pull image "kindest/node:v1.34.0"'
    assert kind.is_image_pull_failure(out)
    assert not kind.is_image_pull_failure("ERROR: failed to create cluster: port in use")
    assert kind._pulled_image(out) == "kindest/node:v1.34.0"


def test_foreign_paths_removed_only_when_we_created_them(tmp_path, monkeypatch) -> None:
    ours = tmp_path / "state"
    ours.mkdir()
    created, existed = tmp_path / "created", tmp_path / "existed"
    (created / "sub").mkdir(parents=True)
    existed.mkdir()
    (existed / "theirs").write_text("x")
    (existed / "link-to-us").symlink_to(ours / "log")
    shared = tmp_path / "shared"
    (shared / "s").mkdir(parents=True)
    (shared / "busy").mkdir()
    (shared / "busy" / "sock").write_text("")
    monkeypatch.setattr(hostclean, "FOREIGN_PATHS", (created, existed))
    monkeypatch.setattr(hostclean, "SHARED_PATHS", (shared,))
    hostclean.remove_foreign_paths([str(existed)], [ours])
    assert not created.exists()
    assert (existed / "theirs").exists() and not (existed / "link-to-us").is_symlink()
    assert not (shared / "s").exists() and (shared / "busy" / "sock").exists()


def test_sysctls_restored_but_forwarding_kept_for_a_new_network_user(monkeypatch) -> None:
    written: dict[str, str] = {}
    now = {"net.ipv4.ip_forward": "1", "kernel.panic": "10", "vm.overcommit_memory": "0"}
    monkeypatch.setattr(hostclean, "read_sysctls", lambda: dict(now))
    monkeypatch.setattr(hostclean, "write_sysctl", lambda k, v: written.__setitem__(k, v))
    before = {"net.ipv4.ip_forward": "0", "kernel.panic": "1", "vm.overcommit_memory": "0"}
    hostclean.restore_sysctls(before, keep_forwarding=True)
    assert written == {"kernel.panic": "1"}
    hostclean.restore_sysctls(before, keep_forwarding=False)
    assert written == {"kernel.panic": "1", "net.ipv4.ip_forward": "0"}
