"""``python -m pyodo_tasks.dev [DIR]``: the same loop as ``doit dev``, without a dodo file.

Exit status: 0 after a normal stop (Ctrl-C, SIGTERM, ``--seconds``), 1 when pyodo could not
start (invalid devfile, unreachable cluster) or failed (one line; the traceback of an unexpected
error with ``--verbose`` or ``PYODO_DEBUG=1``), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pyodo_tasks.core.kube import Target
from pyodo_tasks.core.options import ComponentOptions
from pyodo_tasks.dev.session import run_dev
from pyodo_tasks.failures import cli_main


def _image(value: str) -> tuple[str, str]:
    container, sep, ref = value.partition("=")
    if not sep or not container or not ref:
        raise argparse.ArgumentTypeError(f"expected CONTAINER=IMAGE, got {value!r}")
    return container, ref


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pyodo_tasks.dev",
        description="Sync, build and forward a component on every save (odo dev).",
    )
    p.add_argument("path", nargs="?", default=".", help="component directory (default: .)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this many seconds")
    p.add_argument("--cleanup", action="store_true", help="delete the component on exit")
    p.add_argument(
        "--debug",
        action="store_true",
        help="run the devfile's debug command and forward its debug endpoint",
    )
    p.add_argument("--kubeconfig", help="kubeconfig file (default: PYODO_KUBECONFIG, KUBECONFIG)")
    p.add_argument("--context", help="kubeconfig context (default: PYODO_CONTEXT, current)")
    p.add_argument("--namespace", "-n", help="namespace (default: PYODO_NAMESPACE, context's)")
    p.add_argument(
        "--image",
        type=_image,
        action="append",
        default=[],
        metavar="CONTAINER=IMAGE",
        help="run a container component on another image (repeatable)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log the loop's decisions")
    return p


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # The client's wire logging is too chatty even for -v, and urllib3 warns about every retry
    # while the cluster is down: the loop reports that once, in the status.
    logging.getLogger("kubernetes").setLevel(logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.INFO if args.verbose else logging.ERROR)
    target = Target.from_env(
        kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace
    )
    options = ComponentOptions(target, dict(args.image), debug=args.debug)
    run_dev(args.path, options, seconds=args.seconds, cleanup=args.cleanup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
