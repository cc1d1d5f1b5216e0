"""A private PKI and a threaded HTTPS server on 127.0.0.1 that plays a Kubernetes API server.

The server answers ``GET /version`` (and ``/version/``) with a complete VersionInfo document,
404 for anything else, and records every request's path and Authorization header, so tests can
check what a client sent. Nothing here depends on pytest: use ``serve(pki)`` as a context
manager, or ``start_server`` / ``RunningServer.stop``.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# What an API server answers; the Python client's VersionInfo model requires every field.
VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes

    @property
    def ca_data(self) -> str:
        """The CA as kubeconfig's certificate-authority-data (base64 PEM, as EKS returns it)."""
        return base64.b64encode(self.ca_pem).decode("ascii")


def make_pki(name: str) -> Pki:
    """A CA named ``<name> CA`` and a server certificate for 127.0.0.1 it signed."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(f"{name} CA", ca_key, f"{name} CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, f"{name} CA", ca_key, ca=False)
    return Pki(
        ca.public_bytes(serialization.Encoding.PEM),
        server.public_bytes(serialization.Encoding.PEM),
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class Request:
    path: str  # as sent, query string included
    authorization: str | None


@dataclass
class Server:
    """What a test sees of a running server: its URL and the requests it received, in order."""

    url: str
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def authorizations(self) -> list[str | None]:
        with self._lock:
            return [request.authorization for request in self.requests]

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]


@dataclass
class RunningServer:
    info: Server
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _handler(info: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            info.record(Request(self.path, self.headers.get("Authorization")))
            if urlsplit(self.path).path.rstrip("/") != "/version":
                self.send_error(404)
                return
            body = json.dumps(VERSION).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def start_server(pki: Pki) -> RunningServer:
    """Listen on an ephemeral port of 127.0.0.1 with ``pki``'s server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="tls-server-") as directory:
        cert_file = Path(directory) / "server.pem"
        key_file = Path(directory) / "server.key"
        cert_file.write_bytes(pki.server_cert_pem)
        key_file.write_bytes(pki.server_key_pem)
        context.load_cert_chain(cert_file, key_file)

    info = Server(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(info))
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    info.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return RunningServer(info, httpd, thread)


@contextlib.contextmanager
def serve(pki: Pki) -> Iterator[Server]:
    """A running server for the duration of the block."""
    running = start_server(pki)
    try:
        yield running.info
    finally:
        running.stop()
