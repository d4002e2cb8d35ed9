"""The running local cluster as its admin reaches it: the apiserver over HTTPS, and kubectl.

Both use the admin's client certificate from the boot's PKI (:mod:`.localfiles`), so they work
from the moment the apiserver serves, before any kubeconfig is read by anyone else.
"""

from __future__ import annotations

import json

from pyodo_tasks import host
from pyodo_tasks.testbed import waits
from pyodo_tasks.testbed.layout import Layout


def api_get(lay: Layout, path: str) -> tuple[int, str]:
    """GET ``path`` from the apiserver as its admin: (status, body); 0 when unreachable."""
    return waits.https_get(
        lay.server_url + path,
        lay.pki / "ca.crt",
        lay.pki / "admin.crt",
        lay.pki / "admin.key",
        timeout=3,
    )


def node_state(lay: Layout) -> str:
    """``Ready``, else what keeps the node from it (one line, for a wait's detail)."""
    code, body = api_get(lay, f"/api/v1/nodes/{lay.node_name}")
    if code != 200:
        return f"not registered ({code})"
    try:
        conds = json.loads(body).get("status", {}).get("conditions", [])
    except ValueError:
        return "unreadable node object"
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if ready and ready.get("status") == "True":
        return "Ready"
    return f"NotReady: {(ready or {}).get('message', 'no Ready condition yet')}"[:200]


def kubectl(
    lay: Layout, args: list[str], stdin: str | None = None, check: bool = True
) -> host.Result:
    """The cluster's own kubectl with the admin kubeconfig."""
    argv = [
        str(lay.bin_dir / "kubectl"),
        f"--kubeconfig={lay.admin_kubeconfig}",
        f"--cache-dir={lay.state / 'kubectl-cache'}",  # not ~/.kube/cache
        *args,
    ]
    return host.run(
        argv, input=stdin, timeout=120, what=f"kubectl {' '.join(args[:2])}", check=check
    )
