"""The wrapper go.mod that builds Kubernetes from the module proxy (no network needed)."""

from __future__ import annotations

import json

import pytest

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import gobuild
from pyodo_tasks.testbed.versions import KUBE_COMMANDS, staging_version

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tgithub.com/spf13/cobra v1.10.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
)
"""


def test_staging_modules_are_the_dot_staging_replacements() -> None:
    assert gobuild.staging_modules(KUBERNETES_GO_MOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "k8s.io/component-base",
    ]


def test_render_replaces_each_staging_module_with_its_published_version() -> None:
    text = gobuild.render_go_mod(KUBERNETES_GO_MOD, "v1.36.3")
    assert "require k8s.io/kubernetes v1.36.3" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in text
    assert "\tk8s.io/component-base => k8s.io/component-base v0.36.3" in text
    assert "./staging" not in text
    assert "\ngo 1.26.0\n" in text
    for cmd in KUBE_COMMANDS:
        assert f"\tk8s.io/kubernetes/cmd/{cmd}\n" in text


def test_render_refuses_a_go_mod_without_staging_replacements() -> None:
    with pytest.raises(ClusterSetupError, match=r"no \./staging"):
        gobuild.render_go_mod("module k8s.io/kubernetes\n\ngo 1.26.0\n", "v1.36.3")


def test_staging_version_maps_minor_and_patch() -> None:
    assert staging_version("v1.36.3") == "v0.36.3"
    assert staging_version("v1.35.4") == "v0.35.4"


def test_ldflags_stamp_component_base_and_client_go() -> None:
    flags = gobuild.ldflags("v1.36.3")
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/component-base/version.gitMinor=36" in flags
    assert "-X k8s.io/client-go/pkg/version.gitVersion=v1.36.3" in flags
    assert flags.startswith("-s -w ")


def test_binaries_complete_needs_stamp_version_and_every_binary(tmp_path) -> None:
    assert not gobuild.binaries_complete(tmp_path, "v1.36.3", ["kubelet"])
    (tmp_path / gobuild.STAMP_NAME).write_text(json.dumps({"version": "v1.36.3"}))
    assert not gobuild.binaries_complete(tmp_path, "v1.36.3", ["kubelet"])
    binary = tmp_path / "kubelet"
    binary.write_text("")
    binary.chmod(0o755)
    assert gobuild.binaries_complete(tmp_path, "v1.36.3", ["kubelet"])
    assert not gobuild.binaries_complete(tmp_path, "v1.35.4", ["kubelet"])
