"""The test bed: a local Kubernetes cluster built on this host, kind, and the images pyodo runs.

Host work as root (apt, iptables, sysctl, building Kubernetes from the Go module proxy); reached
from the rest of pyodo only through :func:`pyodo_tasks.cluster.get_provider` (``local``,
``kind``). The engine never imports it (import-linter contracts in ``pyproject.toml``).
"""
