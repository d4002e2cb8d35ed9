"""Connection failures the Kubernetes client lets through untranslated.

``Kube`` turns the API's *answers* (``ApiException``) into ``ClusterError``, but when the API
server is not there at all the client raises urllib3's ``MaxRetryError`` (or a bare ``OSError``)
— seen when the local cluster was restarted under a running ``doit dev``. A loop meant to run
all day must treat that like any other cluster error: report it, retry later, keep running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import urllib3

from pyodo_tasks.errors import ClusterError

__all__ = ["TRANSPORT_ERRORS", "reachable"]

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)
_REFUSED = "Failed to establish a new connection: "


@contextmanager
def reachable(doing: str) -> Iterator[None]:
    """Re-raise transport failures inside the block as a one-line :class:`ClusterError`."""
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        raise ClusterError(
            f"{doing}: the API server is unreachable ({short(exc)}); is the cluster up?"
        ) from exc


def short(exc: BaseException) -> str:
    """The useful end of urllib3's nested messages, e.g. ``[Errno 111] Connection refused``."""
    text = str(getattr(exc, "reason", None) or exc)
    if _REFUSED in text:
        text = text.split(_REFUSED, 1)[1].rstrip("')\" ")
    return text[:200]
