"""The kind provider's command lines: the kind CLI and docker, against one Docker daemon.

The kind CLI is installed from the Go module proxy (``go install sigs.k8s.io/kind@<pinned>``)
into ``~/.cache/pyodo/bin``. The daemon (:mod:`pyodo_tasks.testbed.engine`) is the one that
answers, else pyodo's own from Debian's docker.io, started on first use; a query (which
clusters exist, ``down``, ``status``) never starts one (:meth:`KindCli.query_env`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterError, ClusterSetupError
from pyodo_tasks.testbed import engine as engines
from pyodo_tasks.testbed import paths
from pyodo_tasks.testbed.versions import KIND_VERSION


def ensure_kind(version: str = KIND_VERSION) -> Path:
    """Install the kind CLI at ``version`` (cached; a version stamp avoids reinstalling)."""
    bin_dir = paths.tool_bin_dir()
    binary, stamp = bin_dir / "kind", bin_dir / ".kind-version"
    if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == version:
        return binary
    bin_dir.mkdir(parents=True, exist_ok=True)
    try:
        host.run(
            ["go", "install", f"sigs.k8s.io/kind@{version}"],
            timeout=1200,
            what=f"installing the kind CLI {version} (go install)",
            env={"GOBIN": str(bin_dir), "CGO_ENABLED": "0"},
        )
    except host.HostCommandError as exc:
        raise ClusterSetupError(f"go install sigs.k8s.io/kind@{version} failed: {exc}") from exc
    if not binary.is_file():
        raise ClusterSetupError(f"go install sigs.k8s.io/kind@{version} did not write {binary}")
    stamp.write_text(version)
    return binary


class KindCli:
    """kind and docker commands against the engine; the caller reads each exit status."""

    def __init__(self) -> None:
        self._engine: engines.Engine | None = None

    def engine(self) -> engines.Engine:
        """The Docker daemon kind talks to, started if none answers."""
        if self._engine is None:
            self._engine = engines.ensure_engine()
        return self._engine

    def run(
        self, argv: list[str], timeout: float, env: dict[str, str] | None = None
    ) -> host.Result:
        """Run ``argv`` against the engine; the caller reads the exit status."""
        return host.run(
            argv,
            timeout=timeout,
            what=f"running {' '.join(argv[:3])}",
            env=env if env is not None else self.engine().env,
            check=False,
        )

    def kind(
        self, args: list[str], timeout: float = 900, env: dict[str, str] | None = None
    ) -> host.Result:
        return self.run([str(ensure_kind()), *args], timeout, env)

    def docker(self, args: list[str], timeout: float = 300) -> host.Result:
        return self.run(["docker", *args], timeout)

    def clusters(self, env: dict[str, str] | None = None) -> list[str]:
        """The kind clusters of the running engine; none when no engine runs (never starts one)."""
        if env is None:
            env = self.query_env()
            if env is None:
                return []
        proc = self.kind(["get", "clusters"], timeout=60, env=env)
        if proc.returncode != 0:
            raise ClusterError(f"kind get clusters failed: {proc.stderr.strip()[-300:]}")
        return [line.strip() for line in proc.stdout.splitlines() if line.strip()]

    def query_env(self) -> dict[str, str] | None:
        """DOCKER_HOST env of a daemon that runs now, or None (never starts one)."""
        if engines.engine_running():
            return engines.Engine(engines.own_host(), owned=True).env
        if os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists():
            return dict(os.environ)
        return None

    def stop_engine(self, env: dict[str, str]) -> None:
        """Stop pyodo's daemon (no kind cluster is left on it)."""
        # kind leaves its "kind" network (a host bridge) behind; our daemon goes with it.
        self.run(["docker", "network", "rm", "kind"], timeout=60, env=env)
        engines.stop_engine()
        self._engine = None  # the next command starts a new one
