"""SetupIrsa's input: the documented defaults, and every invalid input a named error that names
the field."""

from __future__ import annotations

from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.models.base import STARTED_BY_KEY, parse_event
from eksops.models.setup_irsa import DEFAULT_AUDIENCE, INLINE_POLICY_LIMIT, SetupIrsaInput

MINIMAL: dict[str, Any] = {"clusterName": "prod", "namespace": "apps", "serviceAccount": "api"}
POLICY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def parse(**fields: Any) -> SetupIrsaInput:
    return parse_event(SetupIrsaInput, {**MINIMAL, **fields})


def test_defaults() -> None:
    request = parse()
    assert request.mode == "irsa"
    assert request.audience == DEFAULT_AUDIENCE == "sts.amazonaws.com"
    assert request.create_service_account is True
    assert request.restart_workloads is False
    assert request.policy_arns == []
    assert request.role_name is None
    assert request.creator("arn:aws:states:x") == "arn:aws:states:x"


def test_a_parent_execution_is_the_creator() -> None:
    parent = "arn:aws:states:eu-west-1:123456789012:execution:CreateCluster:run"
    request = parse(**{STARTED_BY_KEY: parent})
    assert request.creator("arn:aws:states:own") == parent
    again = parse_event(SetupIrsaInput, request.model_dump(by_alias=True))
    assert again == request, "steps pass the normalized request on"


_S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"namespace": "Apps"}, "namespace"),
        ({"namespace": "a" * 64}, "namespace"),
        ({"serviceAccount": "api_v2"}, "serviceAccount"),
        ({"roleName": "has space"}, "roleName"),
        ({"roleName": "r" * 65}, "roleName"),
        ({"policyArns": ["AmazonS3ReadOnlyAccess"]}, "policyArns"),
        ({"policyArns": [POLICY, POLICY]}, "policyArns lists a policy twice"),
        ({"inlinePolicy": {"Version": "2012-10-17"}}, "inlinePolicy"),
        ({"inlinePolicy": {"Statement": [{"Sid": "x" * INLINE_POLICY_LIMIT}]}}, "inlinePolicy"),
        ({"inlinePolicy": {"Statement": [{"Action": "s3:*", "Resource": "*"}]}}, "Effect"),
        ({"inlinePolicy": {"Statement": [{"Effect": "Allow", "Resource": "*"}]}}, "Action"),
        ({"inlinePolicy": {"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}}, "Resource"),
        (
            {"inlinePolicy": {"Statement": {**_S3, "Principal": "*"}}},
            "an identity policy has no Principal",
        ),
        ({"mode": "kiam"}, "mode"),
        ({"mode": "pod-identity", "audience": "vault"}, "audience: only for mode irsa"),
        ({"createServiceAccount": "yes"}, "createServiceAccount"),
        ({"serviceAcount": "typo"}, "serviceAcount"),
        ({STARTED_BY_KEY: "someone"}, STARTED_BY_KEY),
    ],
)
def test_invalid_input_names_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        parse(**fields)


def test_the_cluster_is_required() -> None:
    with pytest.raises(InvalidInputError, match="clusterName"):
        parse_event(SetupIrsaInput, {"namespace": "apps", "serviceAccount": "api"})


def test_a_service_account_name_may_have_dots_and_an_inline_policy_a_single_statement() -> None:
    request = parse(
        serviceAccount="api.v2",
        inlinePolicy={"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}},
    )
    assert request.service_account == "api.v2"
