"""``python -m pyodo_tasks.testbed.images build [NAME...]``: build (or reuse) image archives.

Prints one line per image, ``NAME REF PATH``, so scripts can ``ctr images import`` the paths.
``load [NAME...]`` also imports them into the running cluster (the provider's ``load_image``,
what ``up`` does for a healthy cluster), without restarting it: after a recipe changed, new pods
get the new image (running ones keep theirs).
Every failure is one line and exit status 1 (:func:`pyodo_tasks.failures.cli_main`).
"""

from __future__ import annotations

import argparse
import sys
import time

from pyodo_tasks.cluster import PROVIDERS, get_provider
from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import cli_main
from pyodo_tasks.testbed.images.build import IMAGE_NAMES, RECIPES, archive_path, ensure_images


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (1 with a one-line reason on failure)."""
    parser = argparse.ArgumentParser(prog="python -m pyodo_tasks.testbed.images")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show the traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the images that are not cached")
    build.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(IMAGE_NAMES)}")
    load = sub.add_parser("load", help="build, then import into the running cluster")
    load.add_argument("names", nargs="*", metavar="NAME")
    load.add_argument(
        "--provider",
        default="local",
        choices=PROVIDERS,
        help="the cluster to load into (default: local)",
    )
    paths = sub.add_parser("paths", help="print where each archive is or would be, no build")
    paths.add_argument("names", nargs="*", metavar="NAME")
    args = parser.parse_args(argv)
    names = args.names or list(IMAGE_NAMES)
    if args.command == "paths":
        for name in names:
            if name not in RECIPES:
                raise PyodoError(f"unknown image {name}; known: {', '.join(IMAGE_NAMES)}")
            print(name, RECIPES[name].ref, archive_path(RECIPES[name]))
        return 0
    started = time.monotonic()
    provider = get_provider(args.provider) if args.command == "load" else None
    for name, image in ensure_images(names).items():
        if provider is not None:
            provider.load_image(image)
        print(name, image.ref, image.path)
    print(f"[pyodo images] done in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
