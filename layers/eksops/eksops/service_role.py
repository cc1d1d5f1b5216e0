"""IAM roles an AWS service assumes (the cluster role, the node role): the one given, or one
eksops ensures under its path with the managed policies the service needs.

An existing role of eksops's name is adopted only if it can serve; one eksops made that lacks a
policy (an earlier attempt stopped half-way) is finished; anything else is a named conflict,
left unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG, IAM_PATH, iam_tags, tag_map


@dataclass(frozen=True)
class RoleSpec:
    """The role eksops ensures when none is given."""

    name: str
    service: str  # the principal that assumes it, e.g. eks.amazonaws.com
    policies: tuple[str, ...]  # AWS managed policy names
    description: str


@dataclass(frozen=True)
class ServiceRole:
    arn: str
    created: bool  # by the execution asking (a rollback deletes it)

    def result(self) -> dict[str, Any]:
        return {"roleArn": self.arn, "created": self.created}


def trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def policy_document(value: Any) -> dict[str, Any]:
    # IAM returns policy documents URL-encoded; boto3 decodes some of them into dicts
    return value if isinstance(value, dict) else json.loads(unquote(value))


def trusts_service(role: dict[str, Any], service: str) -> bool:
    statements = policy_document(role["AssumeRolePolicyDocument"]).get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:  # IAM allows one
        principals = (statement.get("Principal") or {}).get("Service", [])
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and service in principals
            and "sts:AssumeRole" in actions
        ):
            return True
    return False


def get_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def given_role(iam: Any, role_arn: str) -> dict[str, Any] | None:
    """The role of that exact ARN (path included), or None."""
    role = get_role(iam, role_arn.rsplit("/", 1)[1])
    return role if role is not None and role["Arn"] == role_arn else None


def attached_policies(iam: Any, name: str) -> set[str]:
    pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
    return {policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]}


def role_conflicts(
    role: dict[str, Any], policies: set[str], spec: RoleSpec, partition: str
) -> list[str]:
    """Why an existing role cannot serve as ``spec``."""
    problems = []
    if not trusts_service(role, spec.service):
        problems.append(f"role {role['Arn']} does not trust {spec.service}")
    problems += [
        f"role {role['Arn']} lacks {name}"
        for name in spec.policies
        if managed_policy_arn(partition, name) not in policies
    ]
    return problems


def ensure_role(
    iam: Any, spec: RoleSpec, cluster_name: str, tags: dict[str, str], partition: str
) -> tuple[dict[str, Any], list[str]]:
    """The role of ``spec`` (created with ``tags`` if missing, policies attached to one eksops
    made), and why it cannot serve ([] when it can)."""
    role = get_role(iam, spec.name)
    if role is None:
        try:
            role = iam.create_role(
                RoleName=spec.name,
                Path=IAM_PATH,
                AssumeRolePolicyDocument=json.dumps(trust_policy(spec.service)),
                Description=spec.description,
                Tags=iam_tags(tags),
            )["Role"]
        except iam.exceptions.EntityAlreadyExistsException:  # a concurrent run made it
            return ensure_role(iam, spec, cluster_name, tags, partition)
    policies = attached_policies(iam, spec.name)
    owner = tag_map(role.get("Tags", [])).get(CLUSTER_TAG)
    if owner not in (None, cluster_name):  # deleting that cluster would delete the role
        return role, [f"role {role['Arn']} is eksops's for cluster {owner}"]
    if owner == cluster_name:
        # eksops made it and an earlier attempt stopped before attaching: finish the job
        for name in spec.policies:
            arn = managed_policy_arn(partition, name)
            if arn not in policies:
                iam.attach_role_policy(RoleName=spec.name, PolicyArn=arn)
                policies.add(arn)
    return role, role_conflicts(role, policies, spec, partition)


def created_by(role: dict[str, Any], execution_id: str) -> bool:
    return tag_map(role.get("Tags", [])).get(CREATED_BY_TAG) == execution_id
