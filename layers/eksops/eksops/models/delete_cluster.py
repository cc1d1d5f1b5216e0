"""Input of DeleteClusterStateMachine (contract field names)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from eksops.models.base import TargetAccountInput
from eksops.models.fields import CLUSTER_NAME_PATTERN, REGION_PATTERN


class DeleteClusterInput(TargetAccountInput):
    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)]
    """EKS cluster to delete, with its node groups, add-ons, Pod Identity associations, access
    entries, and the OIDC provider and IAM roles eksops created for it."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""
    created_by: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:states:")] | None = None
    """Only what this Step Functions execution created (how CreateCluster rolls back); by
    default everything of the cluster."""
