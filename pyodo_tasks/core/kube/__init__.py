"""Talking to the cluster: target resolution, server-side apply, exec, port-forward, waits.

Built on the official client. Two ApiClients per :class:`Kube`: the client's ``stream()`` swaps a
method on the ApiClient it is given (kubernetes-client/python#928), so streaming never shares a
client with REST calls.
"""

from pyodo_tasks.core.kube.client import Kube
from pyodo_tasks.core.kube.execs import ExecResult
from pyodo_tasks.core.kube.portforward import PortForwarder
from pyodo_tasks.core.kube.target import ResolvedTarget, Target

__all__ = ["ExecResult", "Kube", "PortForwarder", "ResolvedTarget", "Target"]
