"""The Go binaries the kind node needs beyond the local cluster's: kubeadm, etcd 3.6, CoreDNS.

Why build them: kind bootstraps its node with kubeadm, and kubeadm v1.36 writes an etcd static pod
for etcd 3.6 (``--feature-gates=InitialCorruptCheck=true``, ``--watch-progress-notify-interval``,
``/livez``/``/readyz`` probes). Debian's etcd-server is 3.4.23, which rejects those flags and has
no such probe endpoints, so etcd is built from its published Go modules at the version kubeadm
names (``constants.DefaultEtcdVersion``). kubeadm is built in a copy of the Kubernetes wrapper
module (:mod:`pyodo_tasks.testbed.gobuild`) so it shares its resolved dependencies and the Go
build cache; only kubeadm's own packages compile.

CoreDNS is what kubeadm deploys as cluster DNS; no registry reachable here serves its image, so
it is built from ``github.com/coredns/coredns`` at the version kubeadm names
(``constants.CoreDNSVersion``), like etcd from a small wrapper module whose ``main`` imports only
the plugins listed in :data:`COREDNS_PLUGINS` (every plugin kubeadm's Corefile uses, and a few
common edits): upstream's full plugin set pulls in the AWS, Azure and Google Cloud SDKs, which
would multiply the build time on two cores for plugins no test cluster uses.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import gobuild, paths
from pyodo_tasks.testbed.images._system import find_go
from pyodo_tasks.testbed.versions import KUBERNETES_VERSION

__all__ = [
    "COREDNS_PLUGINS",
    "COREDNS_VERSION",
    "ETCD_VERSION",
    "coredns_binary_path",
    "coredns_go_mod",
    "coredns_main",
    "ensure_coredns",
    "ensure_etcd",
    "ensure_kubeadm",
    "etcd_binary_path",
    "etcd_go_mod",
]

#: etcd built for the node's etcd image: kubeadm v1.36's DefaultEtcdVersion (without "-0").
ETCD_VERSION = "v3.6.8"
#: The etcd modules the server needs at one version (their go.mod's ../ replaces are ignored
#: when they are dependencies, so the wrapper pins the published ones).
ETCD_MODULES = (
    "go.etcd.io/etcd/server/v3",
    "go.etcd.io/etcd/api/v3",
    "go.etcd.io/etcd/client/pkg/v3",
    "go.etcd.io/etcd/client/v3",
    "go.etcd.io/etcd/pkg/v3",
)
_ETCD_MAIN = """\
// Command etcd: etcd's own entry point (server/etcdmain), built by pyodo for kind node images.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""
#: CoreDNS built for the node's CoreDNS image: kubeadm v1.36's CoreDNSVersion.
COREDNS_VERSION = "v1.14.2"
COREDNS_MODULE = "github.com/coredns/coredns"
#: CoreDNS plugins compiled in (package names under ``plugin/``): kubeadm's Corefile needs
#: errors, health, ready, kubernetes, prometheus (package ``metrics``), forward, cache, loop,
#: reload and loadbalance; log, hosts, rewrite, template and whoami are the usual local edits.
COREDNS_PLUGINS = (
    "cache",
    "errors",
    "forward",
    "health",
    "hosts",
    "kubernetes",
    "loadbalance",
    "log",
    "loop",
    "metrics",
    "ready",
    "reload",
    "rewrite",
    "template",
    "whoami",
)
_BUILD_TIMEOUT = 2400.0


def _stamp_ok(binary: Path, version: str) -> bool:
    stamp = binary.with_name(f".{binary.name}.json")
    try:
        return binary.is_file() and json.loads(stamp.read_text()).get("version") == version
    except (OSError, ValueError):
        return False


def _write_stamp(binary: Path, version: str, started: float) -> None:
    stamp = binary.with_name(f".{binary.name}.json")
    stamp.write_text(json.dumps({"version": version, "seconds": round(time.monotonic() - started)}))


def _go_env() -> dict[str, str]:
    return {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off"}


def ensure_kubeadm(version: str = KUBERNETES_VERSION) -> Path:
    """kubeadm for ``version``, next to the other Kubernetes binaries (built once, cached)."""
    bin_dir = gobuild.ensure_kube_binaries(version)
    binary = bin_dir / "kubeadm"
    if _stamp_ok(binary, version):
        return binary
    started = time.monotonic()
    workdir = bin_dir.parent / "kubeadm-wrapper"
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("go.mod", "go.sum"):
        source = bin_dir.parent / "wrapper" / name
        if not source.is_file():
            raise ClusterSetupError(
                f"{source} is missing: the Kubernetes wrapper module was not built"
            )
        shutil.copyfile(source, workdir / name)
    host.run(
        [
            find_go(),
            "build",
            "-trimpath",
            "-ldflags",
            gobuild.ldflags(version),
            "-o",
            binary,
            "k8s.io/kubernetes/cmd/kubeadm",
        ],
        cwd=workdir,
        env=_go_env(),
        timeout=_BUILD_TIMEOUT,
        what=f"building kubeadm {version}",
    )
    _write_stamp(binary, version, started)
    return binary


def etcd_go_mod(version: str = ETCD_VERSION) -> str:
    """The wrapper module's go.mod: every etcd module pinned to ``version``."""
    go_mod = ["module pyodo.local/etcdbuild", "", "go 1.24", "", "require ("]
    go_mod += [f"\t{module} {version}" for module in ETCD_MODULES]
    return "\n".join([*go_mod, ")", ""])


def etcd_binary_path(version: str = ETCD_VERSION) -> Path:
    """Where :func:`ensure_etcd` puts (or has put) etcd ``version``."""
    return paths.cache_root() / "etcd" / version / "bin" / "etcd"


def _build_wrapper(
    name: str, version: str, binary: Path, go_mod: str, main_go: str, flags: str
) -> Path:
    """Build ``binary`` from a one-file wrapper module (``go mod tidy`` + ``go build``)."""
    if _stamp_ok(binary, version):
        return binary
    started = time.monotonic()
    workdir = binary.parent.parent / "wrapper"
    workdir.mkdir(parents=True, exist_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(go_mod)
    (workdir / "main.go").write_text(main_go)
    (workdir / "go.sum").unlink(missing_ok=True)
    go = find_go()
    env = _go_env()
    host.run(
        [go, "mod", "tidy"], cwd=workdir, env=env, timeout=900, what=f"resolving {name} {version}"
    )
    host.run(
        [go, "build", "-trimpath", "-ldflags", f"-s -w {flags}", "-o", binary, "."],
        cwd=workdir,
        env=env,
        timeout=_BUILD_TIMEOUT,
        what=f"building {name} {version}",
    )
    if not os.access(binary, os.X_OK):
        raise ClusterSetupError(f"go build did not produce {binary}")
    _write_stamp(binary, version, started)
    return binary


def ensure_etcd(version: str = ETCD_VERSION) -> Path:
    """A static etcd ``version`` binary built from the Go module proxy (cached)."""
    version_pkg = "go.etcd.io/etcd/api/v3/version"
    return _build_wrapper(
        "etcd",
        version,
        etcd_binary_path(version),
        etcd_go_mod(version),
        _ETCD_MAIN,
        f"-X {version_pkg}.GitSHA=pyodo-{version}",
    )


def coredns_go_mod(version: str = COREDNS_VERSION) -> str:
    """The CoreDNS wrapper module's go.mod (CoreDNS's own requirements decide the rest)."""
    return "\n".join(
        [
            "module pyodo.local/corednsbuild",
            "",
            "go 1.25.0",
            "",
            f"require {COREDNS_MODULE} {version}",
            "",
        ]
    )


def coredns_main(plugins: tuple[str, ...] = COREDNS_PLUGINS) -> str:
    """CoreDNS's ``main`` with only ``plugins`` registered (each plugin registers in init)."""
    imports = [f'\t_ "{COREDNS_MODULE}/plugin/{name}"' for name in sorted(plugins)]
    return "\n".join(
        [
            "// Command coredns: CoreDNS's own entry point with the plugins a test cluster uses,",
            "// built by pyodo for the kind node image and the local cluster.",
            "package main",
            "",
            "import (",
            f'\t"{COREDNS_MODULE}/coremain"',
            "",
            *imports,
            ")",
            "",
            "func main() { coremain.Run() }",
            "",
        ]
    )


def coredns_binary_path(version: str = COREDNS_VERSION) -> Path:
    """Where :func:`ensure_coredns` puts (or has put) CoreDNS ``version``."""
    return paths.cache_root() / "coredns" / version / "bin" / "coredns"


def ensure_coredns(version: str = COREDNS_VERSION) -> Path:
    """A static CoreDNS ``version`` binary built from the Go module proxy (cached)."""
    return _build_wrapper(
        "CoreDNS",
        version,
        coredns_binary_path(version),
        coredns_go_mod(version),
        coredns_main(),
        f"-X {COREDNS_MODULE}/coremain.GitCommit=pyodo-{version}",
    )
