"""What a component asks of the cluster: its objects rendered, their hash, the apply, and how
pyodo's runtime reaches the pod (the layout).

The spec hash :func:`~.render.render` stamps on every object is the one test of "anything to
apply": equal to the live Deployment's, nothing is written (one read).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from pyodo_tasks.core.connection import Connection
from pyodo_tasks.core.devfile import Devfile
from pyodo_tasks.core.inject import LAYOUT_AUTO, layout_settings
from pyodo_tasks.core.render import (
    KUBERNETES_COMPONENT_LABEL,
    SPEC_HASH_ANNOTATION,
    RenderContext,
    check_commands_decided,
    render,
)
from pyodo_tasks.core.statefile import StateFile
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.sources import runtime_digest

__all__ = ["Spec"]

log = logging.getLogger(__name__)


class Spec:
    """The rendered objects of ``devfile`` for one target, and their apply.

    ``labels`` are added to every object (run id, expiry); ``render_options`` are the
    :class:`RenderContext` fields besides them, the layout settings included
    (:func:`.inject.layout_settings`). The state file remembers ``auto``'s layout and the name
    applied (for ``doit delete``).
    """

    def __init__(
        self,
        devfile: Devfile,
        connection: Connection,
        state: StateFile,
        environ: Mapping[str, str],
        labels: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.devfile = devfile
        self.name = devfile.name
        self.connection = connection
        self.state = state
        options = dict(render_options or {})
        self.layout_setting, init_image = layout_settings(options, environ)
        self._base_context = RenderContext(
            namespace=connection.namespace,
            labels=dict(labels or {}),
            init_image=init_image or contract.INIT_REF,
            **options,
        )
        self._init_image_given = init_image is not None
        self._context: RenderContext | None = None

    @property
    def context(self) -> RenderContext:
        """What shapes the objects besides the devfile, the layout decided (:meth:`layout`);
        the runtime's digest only where the inject layout puts it on the pod (hashing its
        sources is not the init layout's no-op push's to pay)."""
        if self._context is None:
            layout = self.layout()
            runtime = runtime_digest() if layout == contract.LAYOUT_INJECT else ""
            self._context = dataclasses.replace(self._base_context, layout=layout, runtime=runtime)
        return self._context

    def layout(self) -> str:
        """How the runtime reaches the pod: the setting; for ``auto`` the init containers when
        an init image is given, else the live Deployment's layout (pushed by another tool or
        checkout: reused, not rolled), else the init containers where every schedulable node
        has the init image (pyodo's own clusters), else ``inject``. ``auto``'s answer is kept
        in the state file, so a push with nothing to do asks nothing; a new target decides
        again."""
        if self.layout_setting != LAYOUT_AUTO:
            return self.layout_setting
        if self._init_image_given:
            return contract.LAYOUT_INIT
        remembered = self.state.get("layout")
        if remembered in contract.LAYOUTS:
            return str(remembered)
        chosen = self._live_layout() or self._nodes_layout()
        self.state.update(layout=chosen)
        return chosen

    def fall_back_to_inject(self) -> bool:
        """Under ``auto`` with no init image given: remember ``inject`` for this target and
        apply its objects (the Deployment rolls); False, changing nothing, otherwise."""
        if self.layout_setting != LAYOUT_AUTO or self._init_image_given:
            return False
        log.warning(
            "pyodo's init image %s cannot be pulled here: switching %s to the inject layout",
            self._base_context.init_image,
            self.name,
        )
        self.state.update(layout=contract.LAYOUT_INJECT)
        self._context = None
        self.apply()
        return True

    def _live_layout(self) -> str | None:
        deployment = self.connection.kube.get("Deployment", self.name)
        if deployment is None:
            return None
        pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
        names = {c.get("name") for c in pod.get("initContainers") or []}
        return contract.LAYOUT_INIT if "copy-supervisord" in names else contract.LAYOUT_INJECT

    def _nodes_layout(self) -> str:
        nodes = self.connection.kube.node_images()
        image = self._base_context.init_image
        has_it = bool(nodes) and all(image in names for names in nodes or [])
        return contract.LAYOUT_INIT if has_it else contract.LAYOUT_INJECT

    def render(self) -> list[dict[str, Any]]:
        return render(self.devfile, self.context)

    def owned_objects(self) -> list[dict[str, Any]]:
        """The rendered objects that carry the component's label: what a delete removes."""
        return [
            obj for obj in self.render() if KUBERNETES_COMPONENT_LABEL in obj["metadata"]["labels"]
        ]

    def spec_hash(self) -> str:
        """The hash :func:`render` stamps on every object (run labels excluded)."""
        return str(self.render()[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION])

    def live_spec_hash(self) -> str | None:
        """The spec hash on the live Deployment, or None when it does not exist."""
        deployment = self.connection.kube.get("Deployment", self.name)
        if deployment is None:
            return None
        return (deployment["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)

    def resources_uptodate(self) -> bool:
        """True when the live objects were applied from this exact spec (one read, no write)."""
        return self.live_spec_hash() == self.spec_hash()

    def apply(self, force: bool = False) -> tuple[str, ...]:
        """Apply the rendered objects if the spec changed; returns ``Kind/name`` applied."""
        check_commands_decided(self.devfile, self.context)
        if not force and self.resources_uptodate():
            return ()
        applied = []
        for obj in self.render():
            self.connection.kube.apply(obj)
            applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        # So that `doit delete` finds the objects even once the devfile no longer loads.
        self.state.update(name=self.name)
        return tuple(applied)
