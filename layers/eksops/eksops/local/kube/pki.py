"""A cluster's own certificate authority and the serving certificate of its API endpoint.

EKS gives every cluster a CA; DescribeCluster returns its PEM, base64-encoded, as
``certificateAuthority.data`` and kubeconfigs carry it as ``certificate-authority-data``. The
offline account does the same per cluster, so clients verify TLS exactly as against EKS.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# EKS cluster CAs live ten years; the serving certificate is short-lived in EKS but the
# offline account may serve for days, so it gets a year.
CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=365)
# Clients' clocks may lag the certificate's birth by a little.
CLOCK_SKEW = timedelta(minutes=5)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(name: str, key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    subject = _name(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    # Go's TLS stack (kubectl) ignores the common name: the SANs are what it checks.
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    return (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


@dataclass(frozen=True)
class ClusterPki:
    """A cluster's CA (PEM) and the key pair its API endpoint serves with."""

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes = field(repr=False)

    @classmethod
    def generate(cls, cluster_name: str) -> ClusterPki:
        """A fresh CA named after the cluster, and a serving certificate for 127.0.0.1 and
        localhost that it signed."""
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _ca_certificate(f"{cluster_name} kubernetes CA", ca_key, now)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _server_certificate(ca, ca_key, server_key, now)
        return cls(
            ca_pem=ca.public_bytes(serialization.Encoding.PEM),
            server_cert_pem=server.public_bytes(serialization.Encoding.PEM),
            server_key_pem=server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    @property
    def ca_data(self) -> str:
        """The CA as EKS returns it in ``certificateAuthority.data``: base64 of the PEM."""
        return base64.b64encode(self.ca_pem).decode("ascii")

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting the serving certificate (chain: itself; clients
        hold the CA)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # The server speaks HTTP/1.1 only; Go clients would otherwise try h2.
        context.set_alpn_protocols(["http/1.1"])
        # ssl loads key material from files only; they live just long enough to be read.
        with tempfile.TemporaryDirectory(prefix="eksops-kube-tls-") as directory:
            cert_file = Path(directory) / "server.crt"
            key_file = Path(directory) / "server.key"
            cert_file.write_bytes(self.server_cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.server_key_pem)
            context.load_cert_chain(cert_file, key_file)
        return context
