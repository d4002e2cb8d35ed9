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
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import paths
from pyodo_tasks.testbed.progress import Phase, Progress, as_progress
from pyodo_tasks.testbed.versions import KUBE_COMMANDS, KUBERNETES_VERSION, staging_version

WRAPPER_MODULE = "pyodo.local/kubebuild"
STAMP_NAME = ".complete.json"
TIMES_NAME = "build-times.json"
#: A go command of the build may take this long before it is killed (a cold build on 2 busy
#: cores measured 21 min).
BUILD_TIMEOUT = 3600.0
#: Shown as the expected time of the first build on a machine: ``go build`` of the six
#: commands measured on 2 cores (docs/test-cluster.md).
TYPICAL_BUILD_SECONDS = 1240.0
#: A step that fetched or compiled at least this many modules/packages ran cold; its time is
#: kept as the next build's expected time (a cold build compiles a few thousand packages).
COLD_TIDY_MODULES = 50
COLD_BUILD_PACKAGES = 500
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


def _go(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    version: str,
    on_line: Callable[[str], None] | None = None,
    timeout: float = BUILD_TIMEOUT,
) -> None:
    """Run one ``go`` command, appending its output to ``log``; raise with the output's tail."""
    host.run(
        ["go", *args],
        timeout=timeout,
        what=f"building Kubernetes {version} (full log {log})",
        cwd=cwd,
        env=env,
        log=log,
        on_line=on_line or (lambda _line: None),
    )


def _kubernetes_go_mod(version: str, env: dict[str, str], workdir: Path) -> str:
    """Fetch k8s.io/kubernetes's go.mod through the configured module proxy."""
    try:
        result = host.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
            timeout=BUILD_TIMEOUT,
            what=f"downloading k8s.io/kubernetes@{version} from the Go module proxy",
            cwd=workdir,
            env=env,
        )
    except host.HostCommandError as exc:
        if exc.returncode == -1 and "not installed" in str(exc):
            raise ClusterSetupError(
                "the `go` command is not installed; install Go >= 1.24"
            ) from exc
        raise
    info = json.loads(result.stdout)
    return Path(info["GoMod"]).read_text()


def _times_file() -> Path:
    return paths.cache_root() / "kubernetes" / TIMES_NAME


def last_build_times() -> dict[str, float]:
    """Durations of the last cold Kubernetes build measured here (``tidy``, ``build``).

    A stamp of an older pyodo (one ``seconds`` for both steps) also counts.
    """
    try:
        data = json.loads(_times_file().read_text())
        return {k: float(data[k]) for k in ("tidy", "build") if k in data}
    except (OSError, ValueError, TypeError):
        pass
    for stamp in sorted((paths.cache_root() / "kubernetes").glob(f"*/bin/{STAMP_NAME}")):
        try:
            return {"build": float(json.loads(stamp.read_text())["seconds"])}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return {}


def _record_build_times(version: str, tidy: tuple[float, int], build: tuple[float, int]) -> None:
    """Keep each step's time (seconds, items it fetched or compiled) as the next expected one.

    Only a cold step counts: with Go's caches warm the build only links (34 s here, against
    10 min cold) and would make the next cold build's expected time a gross underestimate. The
    first measurement always counts.
    """
    try:
        record = json.loads(_times_file().read_text())
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    for step, (seconds, items), cold in (
        ("tidy", tidy, COLD_TIDY_MODULES),
        ("build", build, COLD_BUILD_PACKAGES),
    ):
        if items >= cold or step not in record:
            record[step] = round(seconds, 1)
            record[f"{step}_items"] = items
    record["version"] = version
    record["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    target = _times_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record))


class _BuildWatcher:
    """Turns ``go`` output lines into a phase detail: what is being fetched or compiled."""

    def __init__(self, phase: Phase, verb: str) -> None:
        self.phase = phase
        self.verb = verb
        self.count = 0

    def __call__(self, line: str) -> None:
        line = line.strip()
        if line.startswith("go: downloading "):
            self.count += 1
            self.phase.update(f"{self.count} modules {self.verb}, now {line[16:]}")
        elif line and " " not in line and not line.startswith("#"):  # go build -v: a package
            self.count += 1
            self.phase.update(f"{self.count} packages {self.verb}, now {line}")


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


def ensure_kube_binaries(
    version: str = KUBERNETES_VERSION, progress: Progress | Callable[[str], None] | None = None
) -> Path:
    """Build (or reuse) the Kubernetes binaries and return their directory.

    The build reports what it compiles, its elapsed time and the expected total from the last
    build measured here (recorded in ``~/.cache/pyodo/kubernetes/build-times.json``).
    """
    bin_dir = paths.kube_bin_dir(version)
    if binaries_complete(bin_dir, version, KUBE_COMMANDS):
        return bin_dir
    report = as_progress(progress)
    workdir = bin_dir.parent / "wrapper"
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / STAMP_NAME).unlink(missing_ok=True)
    log = bin_dir.parent / "build.log"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    report.say(
        f"Kubernetes {version} is not built yet; building {', '.join(KUBE_COMMANDS)} from the "
        f"Go module proxy (once; cached in {bin_dir}, log {log})"
    )
    with report.phase(f"downloading k8s.io/kubernetes@{version}"):
        go_mod = _kubernetes_go_mod(version, env, workdir)
    (workdir / "go.mod").write_text(render_go_mod(go_mod, version))
    (workdir / "go.sum").unlink(missing_ok=True)
    last = last_build_times()
    basis = "last build on this machine"
    started = time.monotonic()
    with report.phase("go mod tidy: resolving dependencies", last.get("tidy"), basis) as ph:
        fetched = _BuildWatcher(ph, "downloaded")
        _go(["mod", "tidy"], workdir, env, log, version, fetched)
    tidy = time.monotonic() - started
    expected, build_basis = last.get("build"), basis
    if expected is None:
        expected, build_basis = TYPICAL_BUILD_SECONDS, "typical on 2 cores"
    pkgs = [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBE_COMMANDS]
    what = f"go build Kubernetes {version} ({len(KUBE_COMMANDS)} commands)"
    build_started = time.monotonic()
    with report.phase(what, expected, build_basis) as ph:
        compiled = _BuildWatcher(ph, "compiled")
        _go(
            ["build", "-v", "-trimpath", "-ldflags", ldflags(version), "-o", f"{bin_dir}/", *pkgs],
            workdir,
            env,
            log,
            version,
            compiled,
        )
    build = time.monotonic() - build_started
    missing = [cmd for cmd in KUBE_COMMANDS if not (bin_dir / cmd).is_file()]
    if missing:
        raise ClusterSetupError(f"go build finished but did not produce {missing} in {bin_dir}")
    _record_build_times(version, (tidy, fetched.count), (build, compiled.count))
    stamp = {"version": version, "seconds": round(time.monotonic() - started, 1)}
    (bin_dir / STAMP_NAME).write_text(json.dumps(stamp))
    return bin_dir
