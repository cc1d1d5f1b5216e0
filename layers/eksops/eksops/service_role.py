"""IAM roles an AWS service assumes (the cluster role, the node role): the one given, or one
eksops ensures under its path with the managed policies the service needs.

An existing role of eksops's name is adopted only if it can serve; one eksops made that lacks a
policy (an earlier attempt stopped half-way) is finished; anything else is a named conflict,
left unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG, IAM_PATH, iam_tags, tag_map

ROLE_NAME_LIMIT = 64  # IAM's
# what a service's trust allows: tagging lets EKS pass session tags (Pod Identity needs it)
SERVICE_ACTIONS = ("sts:AssumeRole", "sts:TagSession")
_INVALID_ROLE_CHARS = re.compile(r"[^A-Za-z0-9+=,.@_-]")


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


def bounded_role_name(head: str, suffix: str) -> str:
    """``head + suffix`` as an IAM role name: within IAM's 64 characters and charset; when
    shortened or cleaned, an 8-hex sha256 of the whole keeps distinct inputs distinct (and the
    shortened head never ends in a separator)."""
    clean = _INVALID_ROLE_CHARS.sub("-", head)
    if clean == head and len(head) + len(suffix) <= ROLE_NAME_LIMIT:
        return head + suffix
    digest = hashlib.sha256(f"{head}{suffix}".encode()).hexdigest()[:8]
    room = ROLE_NAME_LIMIT - len(suffix) - len(digest) - 1
    return f"{clean[:room].rstrip('-.')}-{digest}{suffix}"


def trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": list(SERVICE_ACTIONS),
            }
        ],
    }


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def policy_document(value: Any) -> dict[str, Any]:
    # IAM returns policy documents URL-encoded; boto3 decodes some of them into dicts
    return value if isinstance(value, dict) else json.loads(unquote(value))


def trusts_service(
    role: dict[str, Any], service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)
) -> bool:
    """Whether one Allow statement of the role's trust lets ``service`` do all of ``actions``."""
    statements = policy_document(role["AssumeRolePolicyDocument"]).get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:  # IAM allows one
        principals = (statement.get("Principal") or {}).get("Service", [])
        principals = [principals] if isinstance(principals, str) else principals
        allowed = statement.get("Action", [])
        allowed = [allowed] if isinstance(allowed, str) else allowed
        if (
            statement.get("Effect") == "Allow"
            and service in principals
            and all(action in allowed for action in actions)
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


@dataclass(frozen=True)
class RoleState:
    """An eksops-named role as it stands: what ensuring it would attach, and why it cannot
    serve. Both ``ensure_role`` and the dry-run plan read it, so they cannot disagree."""

    role: dict[str, Any] | None  # None: not made yet
    missing: list[str]  # policy ARNs to attach (to a role eksops made for this cluster)
    problems: list[str]  # why the role cannot serve ([] when it can)


def inspect_role(iam: Any, spec: RoleSpec, cluster_name: str, partition: str) -> RoleState:
    wanted = [managed_policy_arn(partition, name) for name in spec.policies]
    role = get_role(iam, spec.name)
    if role is None:
        return RoleState(None, wanted, [])
    owner = tag_map(role.get("Tags", [])).get(CLUSTER_TAG)
    if owner not in (None, cluster_name):  # deleting that cluster would delete the role
        return RoleState(role, [], [f"role {role['Arn']} is eksops's for cluster {owner}"])
    policies = attached_policies(iam, spec.name)
    # one eksops made for this cluster, whose earlier attempt stopped before attaching: finish
    missing = [arn for arn in wanted if arn not in policies] if owner == cluster_name else []
    problems = role_conflicts(role, policies | set(missing), spec, partition)
    return RoleState(role, missing, problems)


def ensure_role(
    iam: Any, spec: RoleSpec, cluster_name: str, tags: dict[str, str], partition: str
) -> tuple[dict[str, Any], list[str]]:
    """The role of ``spec`` (created with ``tags`` if missing, policies attached to one eksops
    made), and why it cannot serve ([] when it can; then nothing was changed)."""
    state = inspect_role(iam, spec, cluster_name, partition)
    role = state.role
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
    if state.problems:
        return role, state.problems
    for arn in state.missing:
        iam.attach_role_policy(RoleName=spec.name, PolicyArn=arn)
    return role, []


def created_by(role: dict[str, Any], execution_id: str) -> bool:
    return tag_map(role.get("Tags", [])).get(CREATED_BY_TAG) == execution_id
