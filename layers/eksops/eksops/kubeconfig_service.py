"""What KubeconfigFunction does: a token, or a kubeconfig carrying one, for a cluster."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from eksops import kubeconfig
from eksops.aws_session import boto3_session
from eksops.eks_cluster import describe_endpoint
from eksops.eks_token import Clock, TokenRequest, mint_token, resolve_signer, utc_now
from eksops.models.kubeconfig import KubeconfigEvent
from eksops.sigv4 import Credentials

EksClientFactory = Callable[[Credentials, str], Any]


def _eks_client(credentials: Credentials, region: str) -> Any:
    return boto3_session(credentials, region).client("eks")


def issue(
    event: KubeconfigEvent,
    environ: Mapping[str, str] = os.environ,
    clock: Clock = utc_now,
    eks_client: EksClientFactory = _eks_client,
) -> dict[str, Any]:
    """The token and its expiry; with ``format: kubeconfig`` also a kubeconfig document whose
    user carries the token (so it stops working when the token expires)."""
    request = TokenRequest(
        event.cluster_name,
        region=event.region,
        role_arn=event.role_arn,
        external_id=event.external_id,
    )
    credentials, target = resolve_signer(request, environ)
    token = mint_token(request.cluster_name, credentials, target, clock())
    result: dict[str, Any] = {
        "clusterName": request.cluster_name,
        "region": target.region,
        "expirationTimestamp": token.expiration_timestamp,
    }
    if event.format == "token":
        result["token"] = token.token
    else:
        cluster = describe_endpoint(eks_client(credentials, target.region), request.cluster_name)
        result["kubeconfig"] = kubeconfig.document(
            cluster, kubeconfig.token_user(token), cluster.arn
        )
    return result
