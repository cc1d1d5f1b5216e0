"""Input of KubeconfigFunction."""

from __future__ import annotations

from typing import Literal

from eksops.models.base import EventModel


class KubeconfigEvent(EventModel):
    """``{"clusterName", "region"?, "roleArn"?, "format": "token" | "kubeconfig"}``"""

    cluster_name: str
    region: str | None = None
    role_arn: str | None = None
    format: Literal["token", "kubeconfig"]
