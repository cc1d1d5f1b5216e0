"""The OIDC provider thumbprint: the SHA-1 of the root CA of the chain the issuer presents."""

from __future__ import annotations

import hashlib
import socket
import ssl
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eksops.oidc_thumbprint import chain_root_thumbprint, issuer_thumbprint

from tests.support.tls_server import make_pki, serve


def test_the_thumbprint_is_the_sha1_of_the_last_certificate_of_the_chain() -> None:
    leaf, root = b"leaf-der", b"root-der"
    assert chain_root_thumbprint([leaf, root]) == hashlib.sha1(root).hexdigest()
    assert len(chain_root_thumbprint([root])) == 40


def test_a_reachable_issuer_gives_its_root_ca_or_says_why_not() -> None:
    pki = make_pki("issuer")
    context = ssl.create_default_context(cadata=pki.ca_pem.decode())
    ca_der = x509.load_pem_x509_certificate(pki.ca_pem).public_bytes(Encoding.DER)
    with serve(pki) as server:
        found = issuer_thumbprint(server.url + "/id/ABC", context)
    if sys.version_info >= (3, 13):  # SSLSocket.get_verified_chain
        assert found.value == hashlib.sha1(ca_der).hexdigest()
        assert found.reason.startswith("root CA of 127.0.0.1:")
    else:
        assert found.value is None
        assert "needs 3.13" in found.reason


def test_an_untrusted_chain_gives_no_thumbprint() -> None:
    with serve(make_pki("stranger")) as server:
        found = issuer_thumbprint(server.url, ssl.create_default_context())
    assert found.value is None
    assert "unreachable" in found.reason
    assert "CERTIFICATE_VERIFY_FAILED" in found.reason


def test_an_unreachable_issuer_gives_no_thumbprint_and_the_reason() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    found = issuer_thumbprint(f"https://127.0.0.1:{port}/id/X", timeout=1)
    assert found.value is None
    assert found.reason.startswith(f"not computed: 127.0.0.1:{port} unreachable")
    assert found.result() == {"thumbprint": None, "thumbprintSource": found.reason}


@pytest.mark.parametrize("issuer", ["https://oidc.eks.invalid/id/X"])
def test_a_host_that_does_not_resolve_is_unreachable(issuer: str) -> None:
    assert "unreachable" in issuer_thumbprint(issuer, timeout=1).reason
