"""Build the Kubernetes binaries from the Go module proxy.

No Debian, PyPI or npm package ships kube-apiserver or kubelet, but ``k8s.io/kubernetes`` is an
ordinary Go module. Its own go.mod replaces the 33 ``k8s.io/*`` staging modules with
``./staging/...`` directories, and replace directives of a dependency are ignored, so a small
wrapper module requires ``k8s.io/kubernetes`` and replaces each staging module with its published
``v0.<minor>.<patch>`` version. All commands are built in one ``go build -o DIR/`` so shared
packages compile once. A stamp file written after success makes later runs skip the build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import paths
from pyodo_tasks.testbed.versions import KUBE_COMMANDS, KUBERNETES_VERSION, staging_version

WRAPPER_MODULE = "pyodo.local/kubebuild"
STAMP_NAME = ".complete.json"
_STAGING_RE = re.compile(r"^\s*(k8s\.io/[\w.\-/]+)\s*=>\s*\./staging/", re.MULTILINE)
_GO_RE = re.compile(r"^go\s+(\S+)\s*$", re.MULTILINE)


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """Return the module paths the kubernetes go.mod replaces with ``./staging/...``."""
    return sorted(set(_STAGING_RE.findall(kubernetes_go_mod)))


def render_go_mod(kubernetes_go_mod: str, version: str = KUBERNETES_VERSION) -> str:
    """Render the wrapper go.mod for ``k8s.io/kubernetes@version``.

    The ``go`` line copies the kubernetes module's so the toolchain enforces the same language
    version; ``tool`` lines make ``go mod tidy`` resolve every command's imports.
    """
    modules = staging_modules(kubernetes_go_mod)
    if not modules:
        raise ClusterSetupError(
            f"k8s.io/kubernetes@{version} go.mod lists no ./staging replacements; "
            "the wrapper module recipe no longer fits this release"
        )
    go_match = _GO_RE.search(kubernetes_go_mod)
    go_line = go_match.group(1) if go_match else "1.24"
    staging = staging_version(version)
    lines = [
        f"module {WRAPPER_MODULE}",
        "",
        f"go {go_line}",
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "tool (",
        *[f"\tk8s.io/kubernetes/cmd/{cmd}" for cmd in KUBE_COMMANDS],
        ")",
        "",
        "replace (",
        *[f"\t{mod} => {mod} {staging}" for mod in modules],
        ")",
        "",
    ]
    return "\n".join(lines)


def ldflags(version: str = KUBERNETES_VERSION) -> str:
    """Return ``-ldflags`` that stamp the release version into the binaries.

    Without them the binaries report ``v0.0.0-master`` and the kubelet/apiserver version checks
    and ``kubectl version`` show nonsense.
    """
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{name}={value}" for name, value in values.items()]
    return " ".join(flags)


def _go(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    """Run one ``go`` command, appending its output to ``log``; raise with the log's tail."""
    with log.open("ab") as out:
        out.write(f"\n$ go {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.run(["go", *args], cwd=cwd, env=env, stdout=out, stderr=out, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise ClusterSetupError(
            f"go {args[0]} failed (exit {proc.returncode}) building Kubernetes "
            f"{KUBERNETES_VERSION}; full log {log}:\n" + "\n".join(tail)
        )


def _kubernetes_go_mod(version: str, env: dict[str, str], workdir: Path) -> str:
    """Fetch k8s.io/kubernetes's go.mod through the configured module proxy."""
    try:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ClusterSetupError("the `go` command is not installed; install Go >= 1.24") from exc
    if proc.returncode != 0:
        raise ClusterSetupError(
            f"cannot download k8s.io/kubernetes@{version} from the Go module proxy: "
            + (proc.stdout + proc.stderr).strip()[-500:]
        )
    info = json.loads(proc.stdout)
    return Path(info["GoMod"]).read_text()


def binaries_complete(bin_dir: Path, version: str, commands: Iterable[str]) -> bool:
    """True when the stamp says ``version`` was built and every binary is still there."""
    stamp = bin_dir / STAMP_NAME
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return data.get("version") == version and all(
        (bin_dir / cmd).is_file() and os.access(bin_dir / cmd, os.X_OK) for cmd in commands
    )


def ensure_kube_binaries(version: str = KUBERNETES_VERSION) -> Path:
    """Build (or reuse) the Kubernetes binaries and return their directory."""
    bin_dir = paths.kube_bin_dir(version)
    if binaries_complete(bin_dir, version, KUBE_COMMANDS):
        return bin_dir
    workdir = bin_dir.parent / "wrapper"
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / STAMP_NAME).unlink(missing_ok=True)
    log = bin_dir.parent / "build.log"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    (workdir / "go.mod").write_text(
        render_go_mod(_kubernetes_go_mod(version, env, workdir), version)
    )
    (workdir / "go.sum").unlink(missing_ok=True)
    started = time.monotonic()
    _go(["mod", "tidy"], workdir, env, log)
    pkgs = [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBE_COMMANDS]
    _go(
        ["build", "-trimpath", "-ldflags", ldflags(version), "-o", f"{bin_dir}/", *pkgs],
        workdir,
        env,
        log,
    )
    missing = [cmd for cmd in KUBE_COMMANDS if not (bin_dir / cmd).is_file()]
    if missing:
        raise ClusterSetupError(f"go build finished but did not produce {missing} in {bin_dir}")
    stamp = {"version": version, "seconds": round(time.monotonic() - started, 1)}
    (bin_dir / STAMP_NAME).write_text(json.dumps(stamp))
    return bin_dir
