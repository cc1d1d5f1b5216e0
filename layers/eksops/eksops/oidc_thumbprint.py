"""The thumbprint IAM records for an OIDC provider: the SHA-1 of the root CA certificate of the
chain the issuer's host presents (what eksctl and the IAM console compute).

IAM no longer needs it for issuers under CAs it trusts (EKS issuers are), so a thumbprint that
cannot be had is reported, not fatal: the host unreachable (no route from a private Lambda), or a
Python without ``SSLSocket.get_verified_chain`` (before 3.13; the Lambda runtime is 3.13).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Thumbprint:
    value: str | None  # 40 lowercase hex digits
    reason: str  # how it was had, or why not

    def result(self) -> dict[str, str | None]:
        return {"thumbprint": self.value, "thumbprintSource": self.reason}


def chain_root_thumbprint(chain: list[bytes]) -> str:
    """SHA-1 of the last certificate (DER) of a verified chain, leaf first: its root."""
    return hashlib.sha1(chain[-1]).hexdigest()  # noqa: S324 - IAM's format, not a security hash


def issuer_thumbprint(
    issuer: str,
    context: ssl.SSLContext | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Thumbprint:
    """The root CA thumbprint of ``issuer``'s TLS chain, verified against ``context``'s trust
    store (default: the system's)."""
    url = urlsplit(issuer)
    host, port = url.hostname or "", url.port or 443
    context = context or ssl.create_default_context()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            if not hasattr(tls, "get_verified_chain"):
                return Thumbprint(
                    None, "not computed: this Python cannot read a verified chain (needs 3.13)"
                )
            chain = tls.get_verified_chain()
    except (OSError, ssl.SSLError) as exc:  # DNS, refused, timeout, untrusted chain
        return Thumbprint(None, f"not computed: {host}:{port} unreachable ({exc})")
    return Thumbprint(chain_root_thumbprint(chain), f"root CA of {host}:{port}")
