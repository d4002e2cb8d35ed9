"""Generate the cluster's certificates with the openssl CLI (Debian's, list arguments only).

The ``cryptography`` package is not a pyodo dependency, and openssl is on every Debian box.
ECDSA P-256 keys: generated in milliseconds, so PKI is simply regenerated on every ``up``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pyodo_tasks import host

CA_NAME = "ca"


@dataclass(frozen=True)
class CertSpec:
    """One leaf certificate: ``name`` is the file stem, ``cn``/``orgs`` the subject."""

    name: str
    cn: str
    orgs: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = True
    days: int = 365
    extra: dict[str, str] = field(default_factory=dict)

    def subject(self) -> str:
        parts = [f"/CN={self.cn}", *(f"/O={org}" for org in self.orgs)]
        return "".join(parts)

    def extensions(self) -> str:
        """The openssl extension section text for this certificate."""
        usages = [u for u, on in (("serverAuth", self.server), ("clientAuth", self.client)) if on]
        lines = [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            f"extendedKeyUsage = {', '.join(usages)}",
        ]
        sans = [f"DNS:{d}" for d in self.dns] + [f"IP:{ip}" for ip in self.ips]
        if sans:
            lines.append(f"subjectAltName = {', '.join(sans)}")
        return "\n".join(lines) + "\n"


def _openssl(args: list[str]) -> None:
    host.run(["openssl", *args], timeout=60, what="generating the cluster's certificates")


def _key(path: Path) -> None:
    _openssl(
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)]
    )
    path.chmod(0o600)


def make_ca(pki: Path, cn: str = "pyodo-cluster-ca") -> None:
    """Create ``ca.key``/``ca.crt`` (10 years) in ``pki``."""
    pki.mkdir(parents=True, exist_ok=True)
    key, crt = pki / f"{CA_NAME}.key", pki / f"{CA_NAME}.crt"
    _key(key)
    _openssl(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            str(key),
            "-subj",
            f"/CN={cn}",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out",
            str(crt),
        ]
    )


def issue(pki: Path, spec: CertSpec) -> tuple[Path, Path]:
    """Create ``<name>.key``/``<name>.crt`` signed by the CA in ``pki``; return their paths."""
    key, crt = pki / f"{spec.name}.key", pki / f"{spec.name}.crt"
    _key(key)
    with tempfile.TemporaryDirectory(prefix="pyodo-pki-") as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text(spec.extensions())
        _openssl(["req", "-new", "-key", str(key), "-subj", spec.subject(), "-out", str(csr)])
        _openssl(
            [
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(pki / f"{CA_NAME}.crt"),
                "-CAkey",
                str(pki / f"{CA_NAME}.key"),
                "-set_serial",
                _serial(),
                "-days",
                str(spec.days),
                "-extfile",
                str(ext),
                "-out",
                str(crt),
            ]
        )
    return key, crt


def _serial() -> str:
    import secrets

    return str(secrets.randbits(63))


def make_service_account_keys(pki: Path) -> None:
    """Create ``sa.key``/``sa.pub`` for signing service-account tokens."""
    _key(pki / "sa.key")
    _openssl(["pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")])


def cluster_cert_specs(node_name: str, node_ip: str, api_service_ip: str) -> list[CertSpec]:
    """Every leaf certificate the local cluster needs, by component."""
    api_dns = (
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        node_name,
    )
    return [
        CertSpec(
            "apiserver",
            "kube-apiserver",
            dns=api_dns,
            ips=("127.0.0.1", node_ip, api_service_ip),
            server=True,
            client=False,
        ),
        CertSpec(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", orgs=("system:masters",)
        ),
        CertSpec("admin", "pyodo-admin", orgs=("system:masters",)),
        CertSpec("restricted", "pyodo-restricted"),
        CertSpec("controller-manager", "system:kube-controller-manager"),
        CertSpec("scheduler", "system:kube-scheduler"),
        CertSpec("kube-proxy", "system:kube-proxy"),
        CertSpec("kubelet-client", f"system:node:{node_name}", orgs=("system:nodes",)),
        CertSpec(
            "kubelet",
            f"system:node:{node_name}",
            dns=(node_name, "localhost"),
            ips=("127.0.0.1", node_ip),
            server=True,
            client=False,
        ),
    ]


def generate(pki: Path, node_name: str, node_ip: str, api_service_ip: str) -> None:
    """Generate the CA, all leaf certificates and the service-account key pair."""
    make_ca(pki)
    for spec in cluster_cert_specs(node_name, node_ip, api_service_ip):
        issue(pki, spec)
    make_service_account_keys(pki)
