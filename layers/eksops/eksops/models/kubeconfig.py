"""Input of KubeconfigFunction."""

from __future__ import annotations

from typing import Literal

from eksops.models.base import EventModel


class KubeconfigEvent(EventModel):
    """``{"clusterName", "region"?, "roleArn"?, "externalId"?,
    "format": "token" | "kubeconfig"}``"""

    cluster_name: str
    """EKS cluster name."""
    region: str | None = None
    """Region of the cluster (default: the function's region)."""
    role_arn: str | None = None
    """Role to assume first, e.g. in the cluster's account (must be in TargetRoleArns)."""
    external_id: str | None = None
    """External ID that roleArn's trust policy requires (sts:ExternalId), if any."""
    format: Literal["token", "kubeconfig"]
    """"token": the bearer token and its expiry; "kubeconfig": a kubeconfig carrying it."""
