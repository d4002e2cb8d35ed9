"""``python -m pyodo_tasks.testbed.images build [NAME...]``: build (or reuse) image archives.

Prints one line per image, ``NAME REF PATH``, so scripts can ``ctr images import`` the paths.
Every failure is one line and exit status 1 (:func:`pyodo_tasks.failures.cli_main`).
"""

from __future__ import annotations

import argparse
import sys
import time

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
    for name, image in ensure_images(names).items():
        print(name, image.ref, image.path)
    print(f"[pyodo images] done in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
