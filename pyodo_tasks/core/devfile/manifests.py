"""Kubernetes and OpenShift components of a devfile: their manifests, inlined or fetched.

Why apart from the other components (:mod:`.components`): whether such a component is applied
with the pod depends on the commands (``deployByDefault`` as odo resolves it), so it is read
after them, and reading it means fetching a ``uri`` and parsing YAML documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pyodo_tasks.core.devfile.components import ComponentReader
from pyodo_tasks.core.devfile.model import (
    ApplyCommand,
    Command,
    CompositeCommand,
    KubernetesComponent,
)
from pyodo_tasks.core.devfile.registry import FetchError, fetch_uri

__all__ = ["ManifestReader"]


class ManifestReader(ComponentReader):
    """Reads the manifests of ``kubernetes``/``openshift`` components (endpoints as a
    container's)."""

    def kubernetes_components(
        self, manifests: Sequence[tuple], commands: Sequence[Command]
    ) -> tuple[KubernetesComponent, ...]:
        """Kubernetes/OpenShift components; ``deployByDefault`` resolved as odo resolves it."""
        applied = {c.component for c in commands if isinstance(c, ApplyCommand)}
        inner = self.inner_loop_applies(commands)
        found = []
        for name, raw, at in manifests:
            raw = self.mapping(raw, at, ("uri", "inlined", "deployByDefault", "endpoints"))
            explicit = raw.get("deployByDefault")
            deploy = (
                self.boolean(explicit, f"{at}.deployByDefault", False)
                if explicit is not None
                else name not in applied or name in inner
            )
            if "uri" in raw and "inlined" in raw:
                raise self.fail(at, "has both uri and inlined", "keep one")
            text = self.manifest_text(raw, at) if deploy else ""
            found.append(
                KubernetesComponent(
                    name=name,
                    objects=self.manifest_objects(text, at) if deploy else (),
                    deploy_by_default=deploy,
                    endpoints=self.endpoints(raw.get("endpoints"), f"{at}.endpoints"),
                )
            )
        return tuple(found)

    def inner_loop_applies(self, commands: Sequence[Command]) -> set[str]:
        """Components applied by an ``apply`` step of a build/run/debug composite: a push runs
        those commands, so their components are applied with the component."""
        by_id = {c.id: c for c in commands}
        found: set[str] = set()

        def walk(command: Command, seen: tuple[str, ...]) -> None:
            if isinstance(command, ApplyCommand):
                found.add(command.component)
            elif isinstance(command, CompositeCommand) and command.id not in seen:
                for child in command.commands:
                    if child in by_id:
                        walk(by_id[child], (*seen, command.id))

        for command in commands:
            if command.group in ("build", "run", "debug"):
                walk(command, ())
        return found

    def manifest_text(self, raw: Mapping[str, Any], at: str) -> str:
        if raw.get("inlined") is not None:
            return self.required(raw["inlined"], f"{at}.inlined")
        uri = self.required(raw.get("uri"), f"{at}.uri")
        try:
            fetched = fetch_uri(uri, str(self.file.parent))
        except FetchError as exc:
            raise self.fail(f"{at}.uri", exc.problem, exc.fix) from exc
        return self.substitute(fetched.text, f"{at}.uri")

    def manifest_objects(self, text: str, at: str) -> tuple[dict[str, Any], ...]:
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise self.fail(
                at, f"manifest is not valid YAML: {problem}", "fix the manifest"
            ) from exc
        except (ValueError, RecursionError) as exc:  # e.g. a date 2020-13-45; nesting too deep
            raise self.fail(at, "manifest is not valid YAML", "fix the manifest") from exc
        for i, doc in enumerate(docs):
            ok = isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")
            if (
                not ok
                or not isinstance(doc.get("metadata"), dict)
                or not doc["metadata"].get("name")
            ):
                raise self.fail(
                    f"{at}[{i}]",
                    "manifest object lacks apiVersion, kind or metadata.name",
                    "give every object all three",
                )
        return tuple(docs)
