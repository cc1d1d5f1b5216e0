"""SetupIrsa's decisions beyond the trust statement: the role ensured in IAM (moto), the subjects
a trust admits, the verification's propagation polls, which Deployments run as a ServiceAccount,
and the annotations each mode wants."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eksops.irsa_role import ensure_irsa_role, inline_policy_name
from eksops.irsa_trust import pod_identity_statement, subjects_allowed, web_identity_statement
from eksops.irsa_verification import PROPAGATION_WAIT_SECONDS, _again
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.ownership import CREATED_BY_TAG, creation_tags
from eksops.service_account_binding import _uses, wanted_annotations
from eksops.service_role import policy_document
from moto import mock_aws

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
HOST = ISSUER.removeprefix("https://")
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:SetupIrsa:one"


def request(**fields: Any) -> SetupIrsaInput:
    data = {"clusterName": "prod", "namespace": "apps", "serviceAccount": "web", **fields}
    data.setdefault("roleName", "prod-apps-web-irsa")
    return SetupIrsaInput.model_validate(data)


def statement(namespace: str = "apps", name: str = "web") -> dict[str, Any]:
    return web_identity_statement(PROVIDER, ISSUER, namespace, name)


@pytest.fixture
def iam() -> Iterator[Any]:
    with mock_aws():
        import boto3

        yield boto3.client("iam", region_name="eu-west-1")


def ensure(iam: Any, binding: SetupIrsaInput, trusted: dict[str, Any] | None = None) -> Any:
    tags = creation_tags(binding.cluster_name, EXECUTION, {})
    return ensure_irsa_role(iam, binding, trusted or statement(), tags, EXECUTION, ISSUER, PROVIDER)


def trust_of(iam: Any, name: str) -> dict[str, Any]:
    return policy_document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])


def test_a_new_role_lives_under_eksops_path_tagged_with_its_creator(iam) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    policy = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps(document))
    arn = policy["Policy"]["Arn"]
    role = ensure(iam, request(policyArns=[arn]))
    assert role.arn == "arn:aws:iam::123456789012:role/eksops/irsa/prod-apps-web-irsa"
    assert role.created is True
    assert role.attached == [arn]
    assert ensure(iam, request(policyArns=[arn])).attached == []
    assert trust_of(iam, "prod-apps-web-irsa")["Statement"] == [statement()]
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="prod-apps-web-irsa")["Tags"]}
    assert tags[CREATED_BY_TAG] == EXECUTION


def test_an_existing_role_keeps_statements_policies_and_inline_policies(iam) -> None:
    other = statement("batch", "worker")
    iam.create_role(
        RoleName="shared",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [other]}),
    )
    iam.put_role_policy(
        RoleName="shared",
        PolicyName="theirs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    inline = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
    }
    role = ensure(iam, request(roleName="shared", inlinePolicy=inline))
    assert role.created is False
    assert role.trust_updated is True
    assert trust_of(iam, "shared")["Statement"] == [other, statement()]
    assert role.inline_policy == inline_policy_name(request()) == "eksops-apps-web"
    assert sorted(iam.list_role_policies(RoleName="shared")["PolicyNames"]) == [
        "eksops-apps-web",
        "theirs",
    ]
    assert role.warnings == []

    again = ensure(iam, request(roleName="shared", inlinePolicy=inline))
    assert (again.trust_updated, again.attached) == (False, [])
    assert len(trust_of(iam, "shared")["Statement"]) == 2


def test_the_role_s_other_web_identity_statements_are_linted(iam) -> None:
    sloppy = statement()
    sloppy["Sid"] = "Old"
    sloppy["Condition"] = {"StringLike": {f"{HOST}:sub": "system:serviceaccount:apps:*"}}
    iam.create_role(
        RoleName="sloppy",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [sloppy]}),
    )
    role = ensure(iam, request(roleName="sloppy"))
    assert any('statement "Old": wildcard subject' in w for w in role.warnings), role.warnings
    assert any('statement "Old": no :aud condition' in w for w in role.warnings), role.warnings


def test_pod_identity_roles_are_not_linted_for_web_identity(iam) -> None:
    binding = request(mode="pod-identity", roleName="pods")
    role = ensure_irsa_role(iam, binding, pod_identity_statement(), {}, EXECUTION, None, None)
    assert role.warnings == []
    assert trust_of(iam, "pods")["Statement"] == [pod_identity_statement()]


def test_subjects_allowed_reads_positive_sub_conditions_of_the_provider_only() -> None:
    denied = statement("x", "y") | {"Effect": "Deny"}
    elsewhere = web_identity_statement(PROVIDER + "0", ISSUER, "z", "z")
    negated = statement() | {
        "Condition": {"StringNotEquals": {f"{HOST}:sub": "system:serviceaccount:a:b"}}
    }
    document = {"Statement": [statement(), denied, elsewhere, negated]}
    assert subjects_allowed(document, PROVIDER) == {"system:serviceaccount:apps:web"}


def test_a_refusal_is_polled_again_until_iam_has_had_time_to_propagate() -> None:
    verdict = _again(None, "refused")
    polls = 0
    while verdict.poll is not None:
        polls += 1
        assert verdict.verified is False
        assert verdict.poll.seconds > 0
        verdict = _again(verdict.poll, "refused")
    assert verdict.reason == "refused"
    assert polls * 10 >= PROPAGATION_WAIT_SECONDS
    assert polls < 10


@pytest.mark.parametrize(
    ("pod", "service_account", "uses"),
    [
        ({"serviceAccountName": "web"}, "web", True),
        ({"serviceAccount": "web"}, "web", True),  # the deprecated field
        ({}, "default", True),
        ({}, "web", False),
        ({"serviceAccountName": "other"}, "web", False),
    ],
)
def test_which_deployments_run_as_the_service_account(pod, service_account, uses) -> None:
    deployment = {"spec": {"template": {"spec": pod}}}
    assert _uses(deployment, service_account) is uses


def test_irsa_annotates_with_the_role_and_regional_sts_pod_identity_not_at_all() -> None:
    role = "arn:aws:iam::123456789012:role/eksops/r"
    assert wanted_annotations(request(), role) == {
        "eks.amazonaws.com/role-arn": role,
        "eks.amazonaws.com/sts-regional-endpoints": "true",
        "eks.amazonaws.com/audience": None,  # the default: a stale custom one is removed
    }
    assert wanted_annotations(request(audience="vault"), role)["eks.amazonaws.com/audience"] == (
        "vault"
    )
    assert wanted_annotations(request(mode="pod-identity"), role) == {}
