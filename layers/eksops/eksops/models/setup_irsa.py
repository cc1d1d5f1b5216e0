"""Input of SetupIrsaStateMachine (contract field names), validated before anything changes.

Static checks live here; what needs AWS or the cluster (the issuer, an existing role's trust,
the ServiceAccount) belongs to the workflow's steps.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from eksops.models.base import NestedWorkflowInput
from eksops.models.fields import (
    CLUSTER_NAME_PATTERN,
    NAMESPACE_PATTERN,
    REGION_PATTERN,
    SERVICE_ACCOUNT_PATTERN,
)
from eksops.oidc_provider import STS_AUDIENCE

DEFAULT_AUDIENCE = STS_AUDIENCE
_ROLE_NAME = r"^[A-Za-z0-9+=,.@_-]{1,64}$"
_POLICY_ARN = r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[A-Za-z0-9+=,.@_/-]+$"
INLINE_POLICY_LIMIT = 10240  # IAM's limit for a role's inline policies, in characters

Mode = Literal["irsa", "pod-identity"]


class IrsaSpec(NestedWorkflowInput):
    """A ServiceAccount's IAM role. Inside a CreateCluster input the cluster fields may be left
    out: they come from the cluster."""

    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)] | None = None
    """EKS cluster of the ServiceAccount."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""
    namespace: Annotated[str, Field(pattern=NAMESPACE_PATTERN)]
    """Namespace of the ServiceAccount."""
    service_account: Annotated[str, Field(pattern=SERVICE_ACCOUNT_PATTERN, max_length=253)]
    """ServiceAccount name."""
    role_name: Annotated[str, Field(pattern=_ROLE_NAME)] | None = None
    """IAM role name (default: derived from cluster, namespace and ServiceAccount, within IAM's
    64 characters)."""
    policy_arns: list[Annotated[str, Field(pattern=_POLICY_ARN)]] = []
    """Managed policies to attach to the role."""
    inline_policy: dict[str, Any] | None = None
    """An IAM policy document put on the role as its inline policy."""
    create_service_account: bool = True
    """Create the ServiceAccount if missing (false: a missing one is reported, not created)."""
    mode: Mode = "irsa"
    """irsa: a web-identity trust on the cluster's OIDC provider and the role-arn annotation;
    pod-identity: an EKS Pod Identity association (trust pods.eks.amazonaws.com)."""
    audience: Annotated[str, Field(min_length=1, max_length=255)] = DEFAULT_AUDIENCE
    """irsa: the token audience the trust requires (and the OIDC provider's client ID)."""
    restart_workloads: bool = False
    """Rollout-restart the Deployments that use the ServiceAccount, so pods get credentials."""

    @field_validator("inline_policy")
    @classmethod
    def _policy_document(cls, document: dict[str, Any] | None) -> dict[str, Any] | None:
        if document is None:
            return None
        statements = document.get("Statement")
        if not isinstance(statements, (list, dict)) or not statements:
            raise ValueError("an IAM policy document needs a Statement")
        # what IAM's PutRolePolicy would refuse, caught before the role is touched
        for index, statement in enumerate(
            [statements] if isinstance(statements, dict) else statements
        ):
            if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
                raise ValueError(f"Statement[{index}] needs Effect Allow or Deny")
            if not ({"Action", "NotAction"} & statement.keys()):
                raise ValueError(f"Statement[{index}] needs Action or NotAction")
            if not ({"Resource", "NotResource"} & statement.keys()):
                raise ValueError(f"Statement[{index}] needs Resource or NotResource")
            if "Principal" in statement or "NotPrincipal" in statement:
                raise ValueError(f"Statement[{index}]: an identity policy has no Principal")
        if len(json.dumps(document, separators=(",", ":"))) > INLINE_POLICY_LIMIT:
            raise ValueError(f"over IAM's {INLINE_POLICY_LIMIT} characters for inline policies")
        return document

    @model_validator(mode="after")
    def _mode_fields(self) -> IrsaSpec:
        if self.mode == "pod-identity" and self.audience != DEFAULT_AUDIENCE:
            raise ValueError("audience: only for mode irsa (Pod Identity tokens have their own)")
        if len(set(self.policy_arns)) != len(self.policy_arns):
            raise ValueError("policyArns lists a policy twice")
        return self


class SetupIrsaInput(IrsaSpec):
    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)]
    """EKS cluster of the ServiceAccount."""
