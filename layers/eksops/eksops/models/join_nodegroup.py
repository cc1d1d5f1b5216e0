"""Input of JoinNodegroupStateMachine (contract field names), validated before anything changes.

One model for both kinds, so every field is documented in one schema; the kind decides which
fields apply, and a field of the other kind is an error rather than silently ignored. The checks
that need AWS (the subnets' AZs and VPC, the node role, the Auto Scaling group) belong to the
workflow's ValidateInput step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from eksops.models.base import EventModel, NestedWorkflowInput
from eksops.models.fields import (
    CLUSTER_NAME_PATTERN,
    IAM_ROLE_PATTERN,
    REGION_PATTERN,
    SUBNET_PATTERN,
    check_tags,
)

NODEGROUP_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,62}$"
DEFAULT_TIMEOUT_SECONDS = 25 * 60  # eksctl's default wait for node groups
_INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
_ASG_NAME = r"^[\x20-\x7e]{1,255}$"

Kind = Literal["managed", "self-managed"]
OsFamily = Literal["linux", "windows"]
AmiType = Literal[
    "AL2_x86_64",
    "AL2_x86_64_GPU",
    "AL2_ARM_64",
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "AL2023_x86_64_NEURON",
    "AL2023_x86_64_NVIDIA",
    "AL2023_ARM_64_NVIDIA",
    "BOTTLEROCKET_ARM_64",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64_NVIDIA",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "WINDOWS_CORE_2019_x86_64",
    "WINDOWS_FULL_2019_x86_64",
    "WINDOWS_CORE_2022_x86_64",
    "WINDOWS_FULL_2022_x86_64",
    "CUSTOM",
]
TaintEffect = Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]

# Fields that only a managed node group has; a self-managed input naming one is an error.
MANAGED_ONLY = (
    "name",
    "subnet_ids",
    "per_az",
    "instance_types",
    "capacity_type",
    "scaling",
    "labels",
    "taints",
    "ami_type",
    "launch_template",
    "autoscaler",
)
SELF_MANAGED_ONLY = ("auto_scaling_group_name", "os_family")


class Scaling(EventModel):
    """Size of each node group (per AZ with perAz), as EKS's scalingConfig."""

    min_size: Annotated[int, Field(ge=0)] = 1
    """Fewest nodes (EKS's default 1)."""
    max_size: Annotated[int, Field(ge=1)] = 2
    """Most nodes (EKS's default 2)."""
    desired_size: Annotated[int, Field(ge=0)] = 2
    """Nodes to start with (EKS's default 2); the Cluster Autoscaler changes it later, so an
    adopted node group may differ here without conflict."""

    @model_validator(mode="after")
    def _ordered(self) -> Scaling:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("needs minSize <= desiredSize <= maxSize")
        return self


class Taint(EventModel):
    key: Annotated[str, Field(pattern=_LABEL_KEY)]
    """Taint key."""
    value: Annotated[str, Field(pattern=_LABEL_VALUE)] | None = None
    """Taint value."""
    effect: TaintEffect
    """NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (EKS's spelling)."""


class LaunchTemplate(EventModel):
    id: Annotated[str, Field(pattern=r"^lt-[0-9a-f]{8,17}$")] | None = None
    """Launch template ID (give id or name)."""
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9()./_-]{3,128}$")] | None = None
    """Launch template name (give id or name)."""
    version: Annotated[str, Field(pattern=r"^(\d+|\$Latest|\$Default)$")] | None = None
    """Version (default: the template's default version)."""

    @model_validator(mode="after")
    def _one_reference(self) -> LaunchTemplate:
        if (self.id is None) == (self.name is None):
            raise ValueError("give exactly one of id and name")
        return self


class NodegroupSpec(NestedWorkflowInput):
    """A node group to join. Inside a CreateCluster input the cluster fields may be left out:
    they come from the cluster."""

    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)] | None = None
    """EKS cluster the nodes join."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""
    kind: Kind
    """managed: an EKS managed node group (one per AZ with perAz); self-managed: authorize the
    node role of instances you run yourself (an Auto Scaling group, Karpenter, ...)."""
    wait_for_nodes: bool = True
    """Wait until the expected Node objects are Ready (managed: desiredSize per node group;
    self-managed: the InService instances of autoScalingGroupName)."""
    timeout_seconds: Annotated[int, Field(ge=60, le=4 * 3600)] = DEFAULT_TIMEOUT_SECONDS
    """How long to wait for node groups and nodes, in all (default 1500, eksctl's 25 minutes)."""
    node_role_arn: Annotated[str, Field(pattern=IAM_ROLE_PATTERN)] | None = None
    """The nodes' IAM role. managed: default a role eksops ensures
    (eksops/<cluster>-<name>-node-role with AmazonEKSWorkerNodePolicy,
    AmazonEC2ContainerRegistryReadOnly and AmazonEKS_CNI_Policy); self-managed: required."""
    tags: dict[str, str] = {}
    """Tags for the node groups and the node role eksops creates."""

    # managed
    name: Annotated[str, Field(pattern=NODEGROUP_NAME_PATTERN)] | None = None
    """managed (required): node group name; with perAz each is named <name>-<az>."""
    subnet_ids: (
        Annotated[list[Annotated[str, Field(pattern=SUBNET_PATTERN)]], Field(min_length=1)] | None
    ) = None
    """managed (required): subnets for the nodes, in the cluster's VPC."""
    per_az: bool = False
    """managed: one node group per AZ of subnetIds (for EBS-backed workloads, with the Cluster
    Autoscaler's --balance-similar-node-groups); scaling applies to each."""
    instance_types: (
        Annotated[
            list[Annotated[str, Field(pattern=_INSTANCE_TYPE)]], Field(min_length=1, max_length=20)
        ]
        | None
    ) = None
    """managed: instance types (default EKS's t3.medium, or the launch template's)."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """managed: ON_DEMAND or SPOT."""
    scaling: Scaling = Scaling()
    """managed: size of each node group."""
    labels: dict[
        Annotated[str, Field(pattern=_LABEL_KEY)], Annotated[str, Field(pattern=_LABEL_VALUE)]
    ] = {}
    """managed: Kubernetes labels of the nodes."""
    taints: list[Taint] = []
    """managed: Kubernetes taints of the nodes."""
    ami_type: AmiType | None = None
    """managed: AMI type (default: EKS's for the cluster's version); WINDOWS_* makes Windows
    nodes."""
    launch_template: LaunchTemplate | None = None
    """managed: a launch template for the nodes."""
    autoscaler: bool = False
    """managed: tag the node groups for Cluster Autoscaler auto-discovery
    (k8s.io/cluster-autoscaler/enabled, k8s.io/cluster-autoscaler/<cluster>=owned)."""

    # self-managed
    auto_scaling_group_name: Annotated[str, Field(pattern=_ASG_NAME)] | None = None
    """self-managed: the Auto Scaling group whose instances to wait for (default: none, only
    authorize the node role)."""
    os_family: OsFamily = "linux"
    """self-managed: linux or windows (Windows nodes also need eks:kube-proxy-windows)."""

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return check_tags(tags)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> NodegroupSpec:
        # a field of the other kind counts when it differs from its default (steps pass the
        # request on with every field filled in)
        given = {
            name
            for name, field in type(self).model_fields.items()
            if getattr(self, name) != field.get_default(call_default_factory=True)
        }
        if self.kind == "managed":
            wrong = [f for f in SELF_MANAGED_ONLY if f in given]
            for required in ("name", "subnet_ids"):
                if getattr(self, required) is None:
                    raise ValueError(f"a managed node group needs {_camel(required)}")
        else:
            wrong = [f for f in MANAGED_ONLY if f in given]
            if self.node_role_arn is None:
                raise ValueError("self-managed nodes need nodeRoleArn")
        if wrong:
            fields = ", ".join(_camel(f) for f in wrong)
            raise ValueError(f"{fields}: not for kind {self.kind}")
        if self.subnet_ids and len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise ValueError("subnetIds lists a subnet twice")
        if self.autoscaler and len(self.tags) > 46:
            raise ValueError("tags: at most 46 with autoscaler (EKS allows 50; eksops adds 4)")
        if len({t.key + str(t.effect) for t in self.taints}) != len(self.taints):
            raise ValueError("taints lists the same key and effect twice")
        return self

    @property
    def windows(self) -> bool:
        if self.kind == "self-managed":
            return self.os_family == "windows"
        return (self.ami_type or "").startswith("WINDOWS_")


class JoinNodegroupInput(NodegroupSpec):
    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)]
    """EKS cluster the nodes join."""


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)
