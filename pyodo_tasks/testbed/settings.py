"""The test bed's settings from the environment: the one module of ``testbed`` that reads
``PYODO_*`` variables (``tests/unit/test_settings_reads.py`` keeps it so).

Each function reads the environment when called (a test's ``monkeypatch.setenv`` takes effect at
once) and returns None when the variable is unset or empty; the caller owns the default.

=========================  ======================================================  ============
variable                   what it sets                                            read by
=========================  ======================================================  ============
``PYODO_CLUSTER_STATE``    the local cluster's state (default /var/lib/pyodo/…)    ``paths``
``PYODO_CLUSTER_RUN``      its sockets (default /run/pyodo)                        ``paths``
``PYODO_CLUSTER_DNS``      ``1``: the local cluster runs CoreDNS                   ``local``
``PYODO_DOCKER_DATA``      pyodo's dockerd data root (default /var/lib/pyodo/…)    ``engine``
``PYODO_KIND_IMAGE``       kind's node image (``pyodo``: the one built here)       ``kind``
``PYODO_DEBIAN_MIRROR``    the apt mirror the image builds download from           ``images``
=========================  ======================================================  ============

``PYODO_CACHE_DIR`` is every layer's (:func:`pyodo_tasks.paths.cache_root`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CLUSTER_DNS",
    "CLUSTER_RUN",
    "CLUSTER_STATE",
    "DEBIAN_MIRROR",
    "DOCKER_DATA",
    "KIND_IMAGE",
    "cluster_dns",
    "cluster_run",
    "cluster_state",
    "debian_mirror",
    "docker_data",
    "kind_image",
]

CLUSTER_STATE = "PYODO_CLUSTER_STATE"
CLUSTER_RUN = "PYODO_CLUSTER_RUN"
#: ``1`` gives the local cluster cluster DNS; off by default.
CLUSTER_DNS = "PYODO_CLUSTER_DNS"
DOCKER_DATA = "PYODO_DOCKER_DATA"
#: The node image kind boots (``pyodo`` = built here; unset = kind's).
KIND_IMAGE = "PYODO_KIND_IMAGE"
DEBIAN_MIRROR = "PYODO_DEBIAN_MIRROR"


def _value(name: str) -> str | None:
    return os.environ.get(name) or None


def _path(name: str) -> Path | None:
    value = _value(name)
    return Path(value) if value else None


def cluster_state() -> Path | None:
    """``$PYODO_CLUSTER_STATE``: where the local cluster keeps certs, etcd data, logs."""
    return _path(CLUSTER_STATE)


def cluster_run() -> Path | None:
    """``$PYODO_CLUSTER_RUN``: where the local cluster's sockets live."""
    return _path(CLUSTER_RUN)


def cluster_dns() -> bool:
    """``$PYODO_CLUSTER_DNS`` is ``1``: the local cluster boots CoreDNS."""
    return os.environ.get(CLUSTER_DNS) == "1"


def docker_data() -> Path | None:
    """``$PYODO_DOCKER_DATA``: the data root of the dockerd pyodo starts for kind."""
    return _path(DOCKER_DATA)


def kind_image() -> str | None:
    """``$PYODO_KIND_IMAGE``: the node image kind boots."""
    return _value(KIND_IMAGE)


def debian_mirror() -> str | None:
    """``$PYODO_DEBIAN_MIRROR``: the Debian mirror URL the image builds use."""
    return _value(DEBIAN_MIRROR)
