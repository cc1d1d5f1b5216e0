"""What the cluster and node group workflows' Lambda steps receive from their state machines."""

from __future__ import annotations

from eksops.models.base import EventModel
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
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
