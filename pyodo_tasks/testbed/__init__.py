"""The test bed: a local Kubernetes cluster built on this host, kind, and the images pyodo runs.

Host work as root (apt, iptables, sysctl, building Kubernetes from the Go module proxy); reached
from the rest of pyodo only through :func:`pyodo_tasks.cluster.get_provider` (``local``,
``kind``), which finds its providers as entry points (``pyodo.providers`` in ``pyproject.toml``).
Neither the engine nor ``pyodo_tasks.cluster`` imports it (import-linter contracts there).
"""
