"""``python -m pyodo_tasks.demo [COMPONENT_DIR]``: the README's first command.

Uses the configured cluster (kubectl's rules), or boots the local one when none is configured;
pushes the component with ``doit push`` exactly as a user would (a separate process, through the
one host runner :func:`pyodo_tasks.host.run`, its output shown line by line); then forwards its
endpoint and prints what it answers.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.failures import cli_main


def _configured() -> bool:
    """True when kubectl's configuration names a cluster that answers."""
    try:
        with Kube(Target.from_env()) as kube:
            kube.version(timeout=5)
    except Exception:  # any failure means "not usable": fall back to the local cluster
        return False
    return True


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyodo_tasks.demo", description=__doc__)
    parser.add_argument("component", nargs="?", default="examples/nodejs")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show the traceback of an unexpected error"
    )
    args = parser.parse_args(argv)
    component_dir = Path(args.component).resolve()
    if not _configured():
        print("pyodo: no usable cluster configured; booting the local one", flush=True)
        from pyodo_tasks.cluster import get_provider

        info = get_provider("local").up()
        os.environ["KUBECONFIG"] = str(info.kubeconfig)
        if info.kubectl is not None:
            os.environ["PATH"] = f"{info.kubectl.parent}{os.pathsep}{os.environ['PATH']}"
    print(f"pyodo: doit push in {component_dir}", flush=True)
    pushed = host.run(
        [sys.executable, "-m", "doit", "-d", str(component_dir), "push"],
        timeout=1800,
        what="doit push",
        env={"PYTHONUNBUFFERED": "1"},  # its lines as they come, not when the pipe fills
        check=False,
        on_line=lambda line: print(line, flush=True),
    )
    if pushed.returncode != 0:
        print(f"pyodo: doit push failed (exit {pushed.returncode})", file=sys.stderr)
        return 1
    component = Component(component_dir)
    try:
        url = component.endpoint()
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = response.read().decode("utf-8", "replace").strip()
        print(f"pyodo: {component.name} answers at {url} (forwarded): {answer}")
        print(f"pyodo: in-cluster address: {component.service_url()}")
    finally:
        component.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
