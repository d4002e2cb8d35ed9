"""Talking to the cluster: target resolution, server-side apply, exec, port-forward, waits.

Built on the official client. Two ApiClients per :class:`Kube`: the client's ``stream()`` swaps a
method on the ApiClient it is given (kubernetes-client/python#928), so streaming never shares a
client with REST calls.
"""

from .client import Kube
from .execs import ExecResult
from .portforward import PortForwarder
from .target import ResolvedTarget, Target

__all__ = ["ExecResult", "Kube", "PortForwarder", "ResolvedTarget", "Target"]
