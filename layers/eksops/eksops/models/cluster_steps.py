"""What the cluster, node group and IRSA workflows' Lambda steps receive from their state
machines."""

from __future__ import annotations

from typing import Any

from eksops.models.base import EventModel
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.nodegroup_spec import PlannedNodegroup
from eksops.polling import Poll


class CreateClusterStep(EventModel):
    request: CreateClusterInput
    """The validated input (region filled in)."""
    execution_id: str
    """The execution's ARN: tags what it creates, so a rollback removes exactly that."""
    poll: Poll | None = None
    """Where the step's poll loop stands (steps that wait)."""
    role_arn: str | None = None
    """The cluster role (from the EnsureClusterRole step)."""
    cluster_created: bool = False
    """Whether this execution created the cluster (steps that treat new clusters differently)."""


class DeleteClusterStep(EventModel):
    request: DeleteClusterInput
    """The DeleteCluster input."""
    poll: Poll | None = None
    """Where the step's poll loop stands (steps that wait)."""


class JoinNodegroupStep(EventModel):
    request: JoinNodegroupInput
    """The validated input (region filled in)."""
    execution_id: str
    """The execution's ARN (what it creates is tagged with it, or with its parent's)."""
    nodegroups: list[PlannedNodegroup] = []
    """The managed node groups to create or adopt (from ValidateInput)."""
    role_arn: str | None = None
    """The node role (from EnsureNodeRole)."""
    poll: Poll | None = None
    """Where the wait budget stands (steps that wait)."""


class SetupIrsaStep(EventModel):
    request: SetupIrsaInput
    """The validated input (region and roleName filled in)."""
    execution_id: str
    """The execution's ARN (what it creates is tagged with it, or with its parent's)."""
    issuer: str | None = None
    """The cluster's OIDC issuer URL (from ValidateInput; mode irsa)."""
    provider: dict[str, Any] | None = None
    """The cluster's IAM OIDC provider, as EnsureOidcProvider reported it (mode irsa)."""
    role_arn: str | None = None
    """The ServiceAccount's role (from EnsureRole)."""
    poll: Poll | None = None
    """Where a poll loop stands (steps that wait)."""
