"""The node's network on this host: the pod bridge that carries the node address, and the NAT
that lets pods and the apiserver reach daemons which listen on loopback only.

Why: every daemon of the local cluster listens on 127.0.0.1, so nothing of it is reachable from
another machine (an apiserver on ``*:6443`` answers anonymous ``/version`` to the whole LAN).
Two things still need an address that is not loopback, because Kubernetes refuses loopback
there: the kubelet's node IP (``nodeIP can't be loopback address``) and the ``kubernetes``
Service's endpoint, which is the apiserver's advertised address (Endpoints validation: ``may
not be in the loopback range``). Both use the pod bridge's gateway address
(:attr:`Network.node_ip`), which only pods and this host reach, and nothing listens on it:

- The bridge is created with that address before the kubelet starts (the kubelet checks that its
  node IP is on an interface). The CNI bridge plugin finds it with the very gateway address it
  would set and leaves it alone.
- ``PYODO-FROM-PODS`` (nat, from PREROUTING on the bridge) sends pods' connections to the
  ``kubernetes`` Service (10.96.0.1:443) or to the advertised endpoint (node IP:6443) to
  127.0.0.1:6443; ``route_localnet`` on the bridge lets the kernel route them there.
- ``PYODO-FROM-HOST`` (nat, from OUTPUT) does the same for this host's own connections, and
  sends the apiserver's connections to the kubelet (node IP:10250: exec, logs, port-forward) to
  127.0.0.1:10250.

A connection is NATed once, by the first DNAT rule it meets. kube-proxy's ``KUBE-SERVICES`` would
send 10.96.0.1:443 to the advertised endpoint, node IP:6443, where nothing listens, so our jumps
must come before kube-proxy's. kube-proxy inserts its jumps at the top only when they are missing
(``EnsureRule(Prepend)`` checks first) and never moves them, so :func:`put_jumps_first`, run once
after kube-proxy's first sync, keeps ours in front. ``down`` removes the chains (``PYODO-*``,
:mod:`.hostclean`) and the bridge with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.testbed import hostclean
from pyodo_tasks.testbed.layout import LOOPBACK, Network

__all__ = [
    "FROM_HOST",
    "FROM_PODS",
    "Jump",
    "ensure_bridge",
    "install",
    "jumps",
    "jumps_first",
    "kube_proxy_synced",
    "put_jumps_first",
    "rules",
]

FROM_PODS = "PYODO-FROM-PODS"
FROM_HOST = "PYODO-FROM-HOST"
_TABLE = "nat"
#: More copies of one jump than anything would ever have added.
_MAX_COPIES = 10
_WHAT = "routing pods and the apiserver to the loopback-only listeners"


@dataclass(frozen=True)
class Jump:
    """A jump from a built-in nat chain (``parent``) into one of ours, with its match."""

    parent: str
    match: tuple[str, ...]
    chain: str

    def args(self) -> list[str]:
        return [*self.match, "-j", self.chain]


def _dnat(dest: str, port: int, to_port: int) -> list[str]:
    return [
        *("-d", f"{dest}/32", "-p", "tcp", "-m", "tcp", "--dport", str(port)),
        *("-j", "DNAT", "--to-destination", f"{LOOPBACK}:{to_port}"),
    ]


def rules(net: Network) -> dict[str, list[list[str]]]:
    """Our nat chains and their rules (``iptables -A <chain>`` arguments), by chain."""
    to_api = [
        _dnat(net.api_service_ip, 443, net.api_port),
        _dnat(net.node_ip, net.api_port, net.api_port),
    ]
    return {
        FROM_PODS: to_api,
        FROM_HOST: [*to_api, _dnat(net.node_ip, net.kubelet_port, net.kubelet_port)],
    }


def jumps(net: Network) -> list[Jump]:
    """Where our chains are entered: pods' traffic arrives on the bridge, the host's is OUTPUT."""
    return [
        Jump("PREROUTING", ("-i", net.bridge), FROM_PODS),
        Jump("OUTPUT", (), FROM_HOST),
    ]


def _iptables(args: list[str], check: bool = True) -> host.Result:
    return host.run(
        ["iptables", "-w", "5", "-t", _TABLE, *args], timeout=60, what=_WHAT, check=check
    )


def ensure_bridge(net: Network) -> None:
    """The pod bridge, up, with the node address, and routing to loopback allowed on it."""
    if not Path(f"/sys/class/net/{net.bridge}").exists():
        _ip(["link", "add", "name", net.bridge, "type", "bridge"])
    _ip(["addr", "replace", net.bridge_address, "dev", net.bridge])
    _ip(["link", "set", net.bridge, "up"])
    # Gone with the link on ``down``: nothing to restore.
    hostclean.write_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1")


def _ip(args: list[str]) -> None:
    host.run(["ip", *args], timeout=30, what=f"setting up the pod bridge ({' '.join(args)})")


def install(net: Network) -> None:
    """Create (or refill) our chains and jump into them from the top of their parents."""
    existing = hostclean.list_chains("iptables", _TABLE)
    for chain, chain_rules in rules(net).items():
        _iptables(["-F" if chain in existing else "-N", chain])
        for rule in chain_rules:
            _iptables(["-A", chain, *rule])
    for jump in jumps(net):
        if _iptables(["-C", jump.parent, *jump.args()], check=False).returncode != 0:
            _iptables(["-I", jump.parent, "1", *jump.args()])


def _first_targets(parent: str) -> list[str]:
    """The jump targets of ``parent``'s rules, in order."""
    lines = _iptables(["-S", parent]).stdout.splitlines()
    return [hostclean.target_of(line) or "" for line in lines if line.startswith("-A ")]


def jumps_first(net: Network) -> bool:
    """True when each of our jumps is the first rule of its parent chain."""
    return all(_first_targets(j.parent)[:1] == [j.chain] for j in jumps(net))


def put_jumps_first(net: Network) -> None:
    """Move each of our jumps to the top of its parent (where kube-proxy put its own above)."""
    for jump in jumps(net):
        if _first_targets(jump.parent)[:1] == [jump.chain]:
            continue
        for _ in range(_MAX_COPIES):  # every copy, never looping forever
            if _iptables(["-D", jump.parent, *jump.args()], check=False).returncode != 0:
                break
        _iptables(["-I", jump.parent, "1", *jump.args()])


def kube_proxy_synced() -> bool:
    """True once kube-proxy has jumped to its Service rules from both parents of ours."""
    return all("KUBE-SERVICES" in _first_targets(parent) for parent in ("PREROUTING", "OUTPUT"))
