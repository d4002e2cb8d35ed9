"""Wheel build hook: the in-pod supervisor/agent, built from its Go sources into the wheel.

Why: a user's ``pip install`` of the wheel must work on a cluster pyodo never loaded anything
into, without Go. ``build_py`` compiles ``pyodo_tasks/runtime/supervisor`` (stdlib only, static,
``CGO_ENABLED=0``) for linux/amd64 and linux/arm64 into ``pyodo_tasks/runtime/bin/linux-<arch>/``
next to a ``digest`` file naming the sources it came from (``runtime/binaries.py`` uses a shipped
binary only when that digest is the sources' own). Needs Go on PATH (or /usr/local/go);
``PYODO_WHEEL_WITHOUT_AGENT=1`` builds a wheel without binaries, which then builds them with Go
on first use. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ARCHITECTURES = ("amd64", "arm64")


def _runtime_digest() -> str:
    # runtime/sources.py is stdlib-only: loaded by path, as the build environment has no deps.
    path = HERE / "pyodo_tasks" / "runtime" / "sources.py"
    spec = importlib.util.spec_from_file_location("_pyodo_runtime_sources", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.runtime_digest())


def _go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None


class BuildWithAgent(build_py):
    """build_py, then the agent binaries into the build tree."""

    def run(self) -> None:
        # setuptools reuses build/lib across builds: a module removed from the source would
        # still be packed into the wheel.
        for package in ("pyodo_tasks", "pytest_pyodo"):
            shutil.rmtree(Path(self.build_lib) / package, ignore_errors=True)
        super().run()
        if os.environ.get("PYODO_WHEEL_WITHOUT_AGENT"):
            return
        go = _go()
        if go is None:
            raise SystemExit(
                "pyodo wheel: Go is needed to build the in-pod agent (install Go, or set "
                "PYODO_WHEEL_WITHOUT_AGENT=1 for a wheel that builds it on first use)"
            )
        digest = _runtime_digest()
        source = HERE / "pyodo_tasks" / "runtime" / "supervisor"
        shipped = Path(self.build_lib).resolve() / "pyodo_tasks" / "runtime" / "bin"
        for arch in ARCHITECTURES:
            out_dir = shipped / f"linux-{arch}"
            out_dir.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOARCH=arch)
            env.update(GOTOOLCHAIN="local", GOWORK="off", GOFLAGS="")
            subprocess.run(
                [
                    go,
                    "build",
                    "-trimpath",
                    "-buildvcs=false",
                    "-ldflags=-s -w",
                    "-o",
                    str(out_dir / "supervisor"),
                    ".",
                ],
                cwd=source,
                env=env,
                check=True,
                timeout=900,
            )
            (out_dir / "supervisor").chmod(0o755)
            (out_dir / "digest").write_text(digest + "\n")


setup(cmdclass={"build_py": BuildWithAgent})
