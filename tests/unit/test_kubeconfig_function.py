"""KubeconfigFunction's real handler: tokens, kubeconfigs, named errors, nothing secret logged."""

from __future__ import annotations

import base64
import io
import json
import logging
from datetime import UTC, datetime

import boto3
import pytest
from eksops.errors import ClusterNotFoundError, InvalidInputError
from eksops.local.clusters import create_cluster
from eksops.local.handlers import LambdaContext, handler
from moto import mock_aws


@pytest.fixture
def cluster(aws_env):
    with mock_aws():
        yield create_cluster("demo", "us-west-2")


@pytest.fixture
def invoke():
    function = handler("kubeconfig")
    return lambda event: function(event, LambdaContext("KubeconfigFunction"))


@pytest.fixture
def logs(invoke):
    """What the function logs: Powertools keeps one handler per service for the process, bound
    to the stream of its first creation, so it is pointed at a buffer here."""
    (powertools_handler,) = logging.getLogger("eksops").handlers
    buffer = io.StringIO()
    previous = powertools_handler.setStream(buffer)
    yield buffer
    powertools_handler.setStream(previous)


def test_token_format(cluster, invoke, logs, capsys) -> None:
    result = invoke({"clusterName": "demo", "format": "token"})
    assert set(result) == {"clusterName", "region", "expirationTimestamp", "token"}
    assert result["region"] == "us-west-2"
    assert result["token"].startswith("k8s-aws-v1.")
    expires = datetime.fromisoformat(result["expirationTimestamp"])
    assert 13 * 60 < (expires - datetime.now(UTC)).total_seconds() <= 14 * 60
    output = logs.getvalue() + capsys.readouterr().out  # logs, then EMF metrics on stdout
    assert '"cluster":"demo"' in output
    assert '"TokensIssued":[1.0]' in output
    assert "k8s-aws-v1" not in output


def test_kubeconfig_format(cluster, invoke, logs, capsys) -> None:
    result = invoke({"clusterName": "demo", "region": "us-west-2", "format": "kubeconfig"})
    document = result["kubeconfig"]
    assert document["current-context"] == cluster["arn"]
    (entry,) = document["clusters"]
    assert entry["cluster"]["server"] == cluster["endpoint"]
    assert entry["cluster"]["certificate-authority-data"] == cluster["certificateAuthority"]["data"]
    (user,) = document["users"]
    assert user["user"]["token"].startswith("k8s-aws-v1.")
    json.dumps(result)  # a Lambda result must serialise
    assert '"format":"kubeconfig"' in logs.getvalue()
    assert "k8s-aws-v1" not in logs.getvalue() + capsys.readouterr().out


def test_cross_account_role_is_assumed(cluster, invoke) -> None:
    role = boto3.client("iam").create_role(RoleName="target", AssumeRolePolicyDocument="{}")
    result = invoke({"clusterName": "demo", "roleArn": role["Role"]["Arn"], "format": "token"})
    body = result["token"].removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert "X-Amz-Credential=ASIA" in url  # temporary credentials of the assumed role
    assert "X-Amz-Security-Token=" in url


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"format": "token"}, "clusterName"),
        ({"clusterName": "demo", "format": "yaml"}, "format"),
        ({"clusterName": "demo"}, "format"),
        ({"clusterName": "demo", "format": "token", "clustername": "typo"}, "clustername"),
        ({"clusterName": 7, "format": "token"}, "clusterName"),
        ({"clusterName": "bad name", "format": "token"}, "cluster name"),
        ({"clusterName": "demo", "roleArn": "arn:aws:iam::1:role/x", "format": "token"}, "role"),
        ("not an object", "event"),
    ],
)
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_bad_input_is_a_named_error(aws_env, invoke, event, field) -> None:
    with pytest.raises(InvalidInputError) as caught:
        invoke(event)
    # Lambda reports type(exc).__name__ as errorType: Step Functions sees eksops.InvalidInput
    assert type(caught.value).__name__ == "eksops.InvalidInput"
    assert field in str(caught.value)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_cluster_is_a_named_error(cluster, invoke) -> None:
    with pytest.raises(ClusterNotFoundError) as caught:
        invoke({"clusterName": "absent", "format": "kubeconfig"})
    assert type(caught.value).__name__ == "eksops.ClusterNotFound"
    assert "absent" in str(caught.value)
