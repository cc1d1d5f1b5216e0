"""The offline Kubernetes API server in unit tests: not listening, requests handled directly,
as an administrator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from eksops.eks_cluster import ClusterEndpoint
from eksops.eks_token import EksToken
from eksops.kubernetes_session import KubernetesSession
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


@contextmanager
def admin_api_client(server: KubeApiServer) -> Iterator[Any]:
    """The ``kubernetes`` client's ApiClient against ``server``, started for the block, through
    KubernetesSession as the administrator."""
    server.start()
    cluster = ClusterEndpoint(
        "unit",
        "arn:aws:eks:eu-west-1:111122223333:cluster/unit",
        server.endpoint,
        server.pki.ca_data,
    )
    token = EksToken("good", datetime.max.replace(tzinfo=UTC))
    try:
        with KubernetesSession(cluster, lambda: token) as session:
            api = session.api_client()
            yield api
            api.close()
    finally:
        server.stop()
