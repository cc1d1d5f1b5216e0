"""The offline Kubernetes API server in unit tests: not listening, requests handled directly,
as an administrator."""

from __future__ import annotations

import json

from eksops.local.kube.identity import UserInfo
from eksops.local.kube.server import KubeApiServer, Response

ADMIN = UserInfo("admin", ("system:masters",))
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def admin_server() -> KubeApiServer:
    return KubeApiServer("unit", {"good": ADMIN}.get, lambda _user, _attributes: True)


def send(
    server: KubeApiServer,
    method: str,
    path: str,
    body: object = None,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> Response:
    """One request as the administrator; ``body`` as JSON, or bytes as they are."""
    headers = {"Authorization": "Bearer good", "Content-Type": content_type, "Accept": accept}
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return server.handle(method, path, headers, raw)
