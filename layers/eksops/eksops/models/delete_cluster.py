"""Input of DeleteClusterStateMachine (contract field names)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from eksops.models.base import EventModel
from eksops.models.fields import CLUSTER_NAME_PATTERN, IAM_ROLE_PATTERN, REGION_PATTERN


class DeleteClusterInput(EventModel):
    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)]
    """EKS cluster to delete, with its node groups, add-ons, Pod Identity associations, access
    entries, and the OIDC provider and IAM roles eksops created for it."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""
    target_role_arn: Annotated[str, Field(pattern=IAM_ROLE_PATTERN)] | None = None
    """Role in the cluster's account that every step assumes (cross-account)."""
    created_by: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:states:")] | None = None
    """Only what this Step Functions execution created (how CreateCluster rolls back); by
    default everything of the cluster."""
