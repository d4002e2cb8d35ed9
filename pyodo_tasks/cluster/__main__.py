"""``python -m pyodo_tasks.cluster up|down|status|kubeconfig [--restricted]|env``.

Every failure prints as one line and exits 1 (:func:`pyodo_tasks.failures.cli_main`); a bug's
traceback is shown with ``--verbose`` or ``PYODO_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType

from pyodo_tasks.cluster import PROVIDERS, get_provider
from pyodo_tasks.cluster.provider import Provider
from pyodo_tasks.failures import cli_main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyodo_tasks.cluster", description="Manage pyodo's Kubernetes test cluster."
    )
    parser.add_argument(
        "--provider",
        default=os.environ.get("PYODO_CLUSTER_PROVIDER", "local"),
        choices=PROVIDERS,
        help="default: $PYODO_CLUSTER_PROVIDER or local",
    )
    parser.add_argument(
        "--kubeconfig", dest="kubeconfig_path", help="kubeconfig provider: explicit kubeconfig file"
    )
    parser.add_argument("--context", help="kubeconfig provider: context to use")
    parser.add_argument("--name", help="kind provider: cluster name")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show the traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="create or reuse the cluster; returns when a pod can run")
    sub.add_parser("down", help="delete the cluster and what it left on the host")
    sub.add_parser("status", help="show whether the cluster and its parts run")
    kc = sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    kc.add_argument(
        "--restricted",
        action="store_true",
        help="print the namespace-restricted user's kubeconfig instead",
    )
    sub.add_parser("env", help="print `export KUBECONFIG=... PATH=...` lines for eval")
    return parser


def _provider(args: argparse.Namespace) -> Provider:
    options: dict[str, object] = {}
    if args.provider == "kubeconfig":
        options = {"kubeconfig": args.kubeconfig_path, "context": args.context}
    elif args.provider == "kind" and args.name:
        options = {"cluster_name": args.name}
    return get_provider(args.provider, **options)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    return _run(_parser().parse_args(argv))


@contextlib.contextmanager
def _stoppable() -> Iterator[None]:
    """SIGTERM and SIGINT end ``up``/``down`` through KeyboardInterrupt, so a failed ``up``'s
    clean-up runs (a killed CI job, ``timeout``, Ctrl-C) instead of leaving daemons behind.

    SIGINT is set explicitly: started in the background by a script it begins ignored.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    provider = _provider(args)
    if args.command in ("up", "down"):
        with _stoppable():
            return _up_or_down(provider, args.command)
    return _inspect(provider, args)


def _up_or_down(provider: Provider, command: str) -> int:
    if command == "up":
        start = time.monotonic()
        info = provider.up()
        print(
            f"cluster up in {time.monotonic() - start:.1f}s: context {info.context}, "
            f"kubeconfig {info.kubeconfig}",
            file=sys.stderr,
        )
        print(info.kubeconfig)
    else:
        provider.down()
        print("cluster down", file=sys.stderr)
    return 0


def _inspect(provider: Provider, args: argparse.Namespace) -> int:
    if args.command == "status":
        st = provider.status()
        print(
            f"{st.provider}: {'running' if st.running else 'not running'}"
            + (f" ({st.detail})" if st.detail else "")
        )
        for part, state in st.components.items():
            print(f"  {part}: {state}")
        return 0 if st.running else 3
    elif args.command == "kubeconfig":
        if args.restricted:
            path = getattr(provider, "restricted_kubeconfig", None)
            if path is None:
                print(
                    f"error: the {provider.name} provider has no restricted kubeconfig",
                    file=sys.stderr,
                )
                return 1
            print(path)
        else:
            print(provider.kubeconfig)
    elif args.command == "env":
        print(f"export KUBECONFIG={shlex.quote(str(provider.kubeconfig))}")
        kubectl = getattr(getattr(provider, "layout", None), "bin_dir", None)
        if kubectl is not None:
            print(f'export PATH={shlex.quote(str(kubectl))}:"$PATH"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
