"""The engine core: devfile model and parser, render, file index, tarball, the cluster boundary
(:mod:`.kube`), the pod contract, and :class:`~.component.Component` driving a push.

It imports nothing from the doit layer (``pyodo_tasks.tasks``), the dev loop (``.dev``), the
cluster providers (``.cluster``) or the test bed (``.testbed``), and never pytest; the
import-linter contracts in ``pyproject.toml`` check it. See ``docs/architecture.md``.
"""
