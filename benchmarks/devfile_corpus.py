"""How many devfiles of a public corpus pyodo loads, renders and could push.

    python benchmarks/devfile_corpus.py CORPUS_DIR [CORPUS_DIR ...] [--registry DIR_OR_URL]
        [--image REF] [--dry-run-apply] [--list]

A corpus is any directory: every ``*.yaml``/``*.yml`` under it whose top level has a
``schemaVersion`` counts as one devfile. Per corpus it prints three counts:

- **load**: :func:`load_devfile` accepts it (parents by registry id resolved through
  ``--registry``, as ``PYODO_DEVFILE_REGISTRY`` would);
- **render**: :func:`render` turns it into objects;
- **push-ready**: with every container's image replaced by a local one (``--image``, default the
  nodejs builder) it renders, and with ``--dry-run-apply`` the API server of the current
  kubeconfig accepts every object in a server-side dry-run apply (no pod is started);
- **deployed** (``--deploy``): really applied with the local images, the pod became ready
  within ``--deploy-timeout`` seconds, and delete removed it. ``--latest`` keeps only the
  highest version of each registry stack (``stacks/<id>/<version>/``) for this stage.

``--list`` prints, for each devfile refused, the stage and the one-line reason. Keep corpora
outside the repository: they are other people's files.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import logging
import re
import sys
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import yaml

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core import render as render_module
from pyodo_tasks.core.render import RenderContext, render
from pyodo_tasks.errors import PyodoError
from pyodo_tasks.runtime import contract

NAMESPACE = f"pyodo-corpus-{uuid.uuid4().hex[:6]}"
LOAD_PARAMS = inspect.signature(load_devfile).parameters


def devfiles(corpus: Path) -> list[Path]:
    """Every YAML file under ``corpus`` that looks like a devfile (top-level schemaVersion)."""
    found = []
    for path in sorted([*corpus.rglob("*.yaml"), *corpus.rglob("*.yml")]):
        text = path.read_text(encoding="utf-8", errors="replace")
        if not re.search(r"^schemaVersion:", text, re.MULTILINE):
            continue
        try:
            head = yaml.safe_load(text)
        except yaml.YAMLError:
            head = None  # broken YAML that claims to be a devfile: the loader must say so
        if head is None or (isinstance(head, dict) and "schemaVersion" in head):
            found.append(path)
    return found


def dry_run_apply(objects: list[dict[str, Any]]) -> None:
    """Server-side apply each object with ``dryRun=All``: the API server validates, nothing runs."""
    from kubernetes import config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    from urllib3.exceptions import HTTPError

    api = config.new_client_from_config()
    dynamic = DynamicClient(api)
    try:
        for obj in objects:
            try:
                resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            except ResourceNotFoundError as exc:
                raise PyodoError(
                    f"the cluster serves no {obj['kind']} in {obj['apiVersion']}"
                ) from exc
            try:
                resource.server_side_apply(
                    body=obj,
                    name=obj["metadata"]["name"],
                    namespace=NAMESPACE if resource.namespaced else None,
                    field_manager="pyodo-corpus",
                    force_conflicts=True,
                    dry_run="All",
                )
            except ApiException as exc:
                raise PyodoError(f"{obj['kind']}/{obj['metadata']['name']}: {exc.reason}") from exc
            except HTTPError as exc:
                raise PyodoError(f"the cluster did not answer: {exc}") from exc
    finally:
        api.close()


def _namespace(create: bool) -> None:
    """The dry-run target namespace (a dry run still needs it to exist), labelled for gc."""
    from pyodo_tasks.core.gc import run_labels
    from pyodo_tasks.core.kube import Kube, Target

    with Kube(Target.from_env()) as kube:
        if create:
            kube.ensure_namespace(NAMESPACE, run_labels("corpus", 3600))
        else:
            kube.delete_namespace(NAMESPACE)


def measure(path: Path, image: str, apply: bool, registry: str | None) -> tuple[str, str]:
    """The last stage a devfile passed (``load``/``render``/``push``) or the refusal."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            # ``registry`` is newer than some revisions this script measures ("before").
            extra = {"registry": registry} if "registry" in LOAD_PARAMS else {}
            devfile = load_devfile(path, environ={}, **extra)
        except PyodoError as exc:
            return "refused-load", str(exc)
        except Exception as exc:  # the corpus exists to find crashes: report, don't stop
            return "crash-load", f"{type(exc).__name__}: {exc}"
        ctx = RenderContext(namespace=NAMESPACE)
        try:
            render(devfile, ctx)
        except PyodoError as exc:
            return "refused-render", str(exc)
        except Exception as exc:
            return "crash-render", f"{type(exc).__name__}: {exc}"
        try:
            local = devfile.with_images({c.name: image for c in devfile.containers})
            objects = render(local, ctx)
            decided = getattr(render_module, "check_commands_decided", None)
            if decided is not None:  # a push refuses a group it needs left undecided
                decided(local, ctx)
            if apply:
                dry_run_apply(objects)
        except PyodoError as exc:
            return "refused-push", str(exc)
        except Exception as exc:
            return "crash-push", f"{type(exc).__name__}: {exc}"
    return "push", ""


def deploy(path: Path, image: str, registry: str | None, state: Path, timeout: float) -> str:
    """Apply for real with local images, wait for the pod, delete: "" or why it failed."""
    from pyodo_tasks.core.component import Component
    from pyodo_tasks.core.devfile.registry import REGISTRY_ENV
    from pyodo_tasks.core.kube import Target

    environ = {REGISTRY_ENV: registry} if registry else {}
    devfile = load_devfile(path, environ=environ)
    overrides = {c.name: image for c in devfile.containers}
    target = Target.from_env(namespace=NAMESPACE)
    try:
        with Component(
            path, target, image_overrides=overrides, environ=environ, state_dir=state
        ) as component:
            try:
                component.apply(force=True)
                component.wait_ready(timeout=timeout)
            finally:
                component.delete(timeout=120)
    except PyodoError as exc:
        return str(exc).splitlines()[0][:300]
    return ""


def _progress(wanted: bool, path: Path, stage: str, why: str) -> None:
    """One line per devfile on stderr as it is measured (a long --deploy run shows progress)."""
    if wanted:
        print(f"  {stage}: {path}{': ' + why if why else ''}", file=sys.stderr, flush=True)


def latest_only(files: list[Path]) -> list[Path]:
    """Keep, per ``<stack>/<version>/devfile.yaml``, only the highest version."""
    best: dict[Path, Path] = {}
    others = []
    for path in files:
        version = path.parent.name
        if path.name == "devfile.yaml" and version[:1].isdigit():
            stack = path.parent.parent
            key = tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
            have = best.get(stack)
            if have is None or key > tuple(
                int(p) if p.isdigit() else 0 for p in have.parent.name.split(".")
            ):
                best[stack] = path
        else:
            others.append(path)
    return sorted([*best.values(), *others])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--registry", help="registries for parent devfiles (URLs or dirs)")
    parser.add_argument("--image", default=contract.BUILDER_REFS["builder-nodejs"])
    parser.add_argument("--dry-run-apply", action="store_true")
    parser.add_argument("--list", action="store_true", help="list every refusal")
    parser.add_argument("--deploy", action="store_true", help="really deploy (see above)")
    parser.add_argument("--deploy-timeout", type=float, default=120.0)
    parser.add_argument("--latest", action="store_true", help="deploy latest stack versions")
    args = parser.parse_args(argv)
    logging.getLogger("pyodo_tasks").setLevel(logging.ERROR)  # notes: counted, not printed
    push = "push-ready (dry-run apply)" if args.dry_run_apply else "push-ready"
    print(f"| corpus | devfiles | load | render | {push} | deployed / tried | crashes |")
    print("|---|---|---|---|---|---|---|")
    refusals: list[tuple[Path, str, str]] = []
    cluster = args.dry_run_apply or args.deploy
    if cluster:
        _namespace(create=True)
    with tempfile.TemporaryDirectory() as state:
        for corpus in args.corpora:
            files = devfiles(corpus)
            to_deploy = set(latest_only(files) if args.latest else files)
            stages: collections.Counter[str] = collections.Counter()
            for path in files:
                stage, why = measure(path, args.image, args.dry_run_apply, args.registry)
                stages[stage] += 1
                if stage != "push":
                    refusals.append((path, stage, why))
                    _progress(args.list, path, stage, why)
                elif args.deploy and path in to_deploy:
                    why = deploy(path, args.image, args.registry, Path(state), args.deploy_timeout)
                    stages["deploy-tried"] += 1
                    stages["deployed"] += not why
                    if why:
                        refusals.append((path, "refused-deploy", why))
                    _progress(args.list, path, "refused-deploy" if why else "deployed", why)
            push = stages["push"]
            rendered = push + stages["refused-push"] + stages["crash-push"]
            loaded = rendered + stages["refused-render"] + stages["crash-render"]
            crashes = sum(n for s, n in stages.items() if s.startswith("crash"))
            deployed = f"{stages['deployed']} / {stages['deploy-tried']}" if args.deploy else "-"
            print(
                f"| {corpus} | {len(files)} | {loaded} | {rendered} | {push} | {deployed} "
                f"| {crashes} |",
                flush=True,
            )
    if cluster:
        _namespace(create=False)
    if args.list:
        print()
        for path, stage, why in refusals:
            print(f"- {stage}: {path}: {why.replace(str(path) + ': ', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
