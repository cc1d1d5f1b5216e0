"""Input of CreateClusterStateMachine (contract field names), validated before anything changes.

Static checks live here; the checks that need AWS (the subnets' AZs, an existing cluster that
differs) belong to the workflow's validate and plan steps.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from eksops.models.base import EventModel, TargetAccountInput
from eksops.models.fields import (
    CLUSTER_NAME_PATTERN,
    IAM_ROLE_PATTERN,
    REGION_PATTERN,
    SUBNET_PATTERN,
    check_tags,
)
from eksops.models.join_nodegroup import NodegroupSpec
from eksops.models.setup_irsa import IrsaSpec

ACCESS_POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
DEFAULT_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
# ASCII classes: pydantic-core's regex engine expands \w to all of Unicode (a huge automaton)
_IAM_PRINCIPAL = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$"
_KMS_KEY = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9_/+=,.@-]+$"
_SECURITY_GROUP = r"^sg-[0-9a-f]{8,17}$"
_CIDR = r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"

LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
AuthenticationMode = Literal["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"]


class Vpc(EventModel):
    subnet_ids: Annotated[list[Annotated[str, Field(pattern=SUBNET_PATTERN)]], Field(min_length=2)]
    """Subnets for the control plane's network interfaces, in at least two AZs (checked)."""
    security_group_ids: list[Annotated[str, Field(pattern=_SECURITY_GROUP)]] = []
    """Extra security groups for the control plane's network interfaces."""
    endpoint_public_access: bool = True
    """Whether the Kubernetes API is reachable from the internet."""
    endpoint_private_access: bool = False
    """Whether the Kubernetes API is reachable from within the VPC."""
    public_access_cidrs: list[Annotated[str, Field(pattern=_CIDR)]] | None = None
    """CIDR blocks allowed to reach the public endpoint (default: EKS's 0.0.0.0/0)."""

    @model_validator(mode="after")
    def _reachable(self) -> Vpc:
        if not (self.endpoint_public_access or self.endpoint_private_access):
            raise ValueError("the API endpoint needs public or private access (or both)")
        if self.public_access_cidrs is not None and not self.endpoint_public_access:
            raise ValueError("publicAccessCidrs applies only with endpointPublicAccess")
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise ValueError("subnetIds lists a subnet twice")
        return self


class Admin(EventModel):
    principal_arn: Annotated[str, Field(pattern=_IAM_PRINCIPAL)]
    """IAM role or user that administers the cluster."""
    policy: str = DEFAULT_ADMIN_POLICY
    """EKS access policy, by name or ARN (default AmazonEKSClusterAdminPolicy); in CONFIG_MAP mode
    the principal is mapped in aws-auth instead."""

    @field_validator("policy")
    @classmethod
    def _policy_name_or_arn(cls, value: str) -> str:
        name = value.removeprefix(ACCESS_POLICY_PREFIX)
        if not re.fullmatch(r"Amazon[A-Za-z0-9]+Policy", name):
            raise ValueError(f"{value!r} is not an EKS access policy name or ARN")
        return name

    @property
    def policy_arn(self) -> str:
        return ACCESS_POLICY_PREFIX + self.policy


class Addon(EventModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
    """Add-on name, e.g. vpc-cni, coredns, kube-proxy, eks-pod-identity-agent."""
    version: Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")] | None = None
    """Add-on version (default: the default version for the cluster's Kubernetes version)."""


class CreateClusterInput(TargetAccountInput):
    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)]
    """EKS cluster name (1-100 letters, digits, - and _)."""
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.\d{2}$")]
    """Kubernetes minor version, e.g. "1.31"."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""
    role_arn: Annotated[str, Field(pattern=IAM_ROLE_PATTERN)] | None = None
    """Cluster IAM role (default: eksops ensures <clusterName>-cluster-role with
    AmazonEKSClusterPolicy)."""
    vpc: Vpc
    """Networking of the control plane."""
    authentication_mode: AuthenticationMode = "API_AND_CONFIG_MAP"
    """How the cluster maps IAM principals: access entries (API), the aws-auth ConfigMap
    (CONFIG_MAP) or both."""
    admins: list[Admin] = []
    """IAM principals given administrative (or the named) access."""
    logging: list[LogType] = []
    """Control plane log types sent to CloudWatch Logs."""
    secrets_kms_key_arn: Annotated[str, Field(pattern=_KMS_KEY)] | None = None
    """KMS key for envelope encryption of Kubernetes secrets."""
    addons: list[Addon] = []
    """EKS add-ons to install."""
    nodegroups: list[NodegroupSpec] = []
    """Node groups to join, each a JoinNodegroupStateMachine input (clusterName, region and
    targetRoleArn come from the cluster), run as nested executions once the cluster is ready."""
    irsa: list[IrsaSpec] = []
    """ServiceAccounts to give IAM roles (IRSA or EKS Pod Identity), each a SetupIrsaStateMachine
    input (clusterName, region and targetRoleArn come from the cluster), run as nested executions
    once the cluster is ready."""
    tags: dict[str, str] = {}
    """Tags for the cluster and everything eksops creates for it."""
    rollback_on_failure: bool = False
    """On failure, delete exactly what this execution created (never adopted resources)."""
    dry_run: bool = False
    """Return the plan (every mutating call, in order) and change nothing."""

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return check_tags(tags)

    @model_validator(mode="after")
    def _unique(self) -> CreateClusterInput:
        for what, values in (
            ("admins", [a.principal_arn for a in self.admins]),
            ("addons", [a.name for a in self.addons]),
            ("logging", list(self.logging)),
        ):
            if len(set(values)) != len(values):
                raise ValueError(f"{what} lists the same entry twice")
        return self

    @property
    def cluster_role_name(self) -> str:
        """The role eksops ensures when no roleArn is given (within IAM's 64 characters)."""
        return f"{self.cluster_name[:51]}-cluster-role"
