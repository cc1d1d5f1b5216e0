"""The offline account: template.yaml deployed on moto, real handlers, real ASL, schedules."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from eksops.local.account import OfflineAccount
from eksops.local.clusters import create_cluster
from eksops.local.control import OfflineAccountError, call

from tests.support import secret_scan

PROBE = Path(__file__).parent / "fixtures" / "token_probe" / "template.yaml"
DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def account():
    # One in-process account for the module; time runs 10x faster in Wait and Retry.
    with OfflineAccount(region="us-west-2", time_scale=0.1) as offline:
        yield offline


@pytest.fixture(scope="module")
def cluster(account: OfflineAccount) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in account.environment.items():
            patch.setenv(name, value)
        return create_cluster("demo", account.region)


@pytest.fixture(scope="module")
def probe(account: OfflineAccount) -> str:
    function_arn = account.client("lambda").get_function_configuration(
        FunctionName=account.resource("KubeconfigFunction")
    )["FunctionArn"]
    deployment = account.deploy(PROBE, "probe", {"KubeconfigFunctionArn": function_arn})
    assert deployment.status == "CREATE_COMPLETE"
    probe = deployment.resources["TokenProbeStateMachine"]
    secret_scan.exempt_state_machine(
        probe, "a probe of the engine calling KubeconfigFunction, which returns a token by contract"
    )
    return probe


def invoke(account: OfflineAccount, event: dict, **kwargs) -> dict:
    response = account.client("lambda").invoke(
        FunctionName=account.resource("KubeconfigFunction"),
        Payload=json.dumps(event).encode(),
        **kwargs,
    )
    payload = response["Payload"].read()
    response["Body"] = json.loads(payload) if payload else None  # none for InvocationType Event
    return response


def finished(account: OfflineAccount, execution_arn: str) -> dict:
    sfn = account.client("stepfunctions")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    pytest.fail(f"{execution_arn} still RUNNING after {DEADLINE_SECONDS}s")


def test_template_deployed_as_sam_would(account: OfflineAccount) -> None:
    assert account.deployment.status == "CREATE_COMPLETE"
    function = account.client("lambda").get_function(
        FunctionName=account.resource("KubeconfigFunction")
    )
    configuration = function["Configuration"]
    assert configuration["Runtime"] == "python3.13"
    assert configuration["Architectures"] == ["arm64"]
    assert configuration["TracingConfig"] == {"Mode": "Active"}
    assert configuration["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "eksops"
    (layer,) = configuration["Layers"]
    name, number = layer["Arn"].split(":")[-2:]
    version = account.client("lambda").get_layer_version(LayerName=name, VersionNumber=int(number))
    assert version["CompatibleArchitectures"] == ["arm64"]
    code = (
        account.client("s3")
        .get_object(Bucket="eksops-local-artifacts", Key="EksopsLayer.zip")["Body"]
        .read()
    )
    names = zipfile.ZipFile(io.BytesIO(code)).namelist()
    assert "python/eksops/eks_token.py" in names
    assert not [name for name in names if "__pycache__" in name]


def test_invoke_runs_the_real_handler_with_the_roles_credentials(account, cluster) -> None:
    response = invoke(account, {"clusterName": "demo", "format": "kubeconfig"})
    assert "FunctionError" not in response
    body = response["Body"]
    assert body["kubeconfig"]["clusters"][0]["cluster"]["server"] == cluster["endpoint"]
    token = body["kubeconfig"]["users"][0]["user"]["token"].removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    # signed for the offline STS, with the temporary credentials of the function's role
    assert url.startswith(f"{account.endpoint_url}/?Action=GetCallerIdentity")
    assert "X-Amz-Credential=ASIA" in url
    assert "X-Amz-Security-Token=" in url


def test_handler_errors_are_unhandled_function_errors(account) -> None:
    response = invoke(account, {"clusterName": "bad name", "format": "token"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "eksops.InvalidInput"
    assert "bad name" in response["Body"]["errorMessage"]
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId:" in logs
    assert "REPORT RequestId:" in logs


def test_workers_stay_warm_between_invocations(account, cluster) -> None:
    """Module state survives like a warm Lambda: Powertools sees one cold start only."""
    tails = [
        base64.b64decode(
            invoke(account, {"clusterName": "demo", "format": "token"}, LogType="Tail")["LogResult"]
        ).decode()
        for _ in range(2)
    ]
    assert '"cold_start":false' in tails[1]


def test_asynchronous_invocation_returns_at_once_and_runs(account, cluster) -> None:
    logs = account.client("logs")
    group = f"/aws/lambda/{account.resource('KubeconfigFunction')}"
    before = len(logs.describe_log_streams(logGroupName=group)["logStreams"])
    response = invoke(account, {"clusterName": "demo", "format": "token"}, InvocationType="Event")
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(logs.describe_log_streams(logGroupName=group)["logStreams"]) == before:
        assert time.monotonic() < deadline, "the asynchronous invocation never ran"
        time.sleep(0.2)


def test_state_machine_from_definition_uri_with_substitutions(account, cluster, probe) -> None:
    sfn = account.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=probe)["definition"]
    assert "${" not in definition
    assert account.resource("KubeconfigFunction") in definition
    started = time.monotonic()
    execution = sfn.start_execution(
        stateMachineArn=probe, input=json.dumps({"clusterName": "demo", "format": "token"})
    )
    result = finished(account, execution["executionArn"])
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["region"] == "us-west-2"
    # the 2 s Wait ran at time scale 0.1
    assert time.monotonic() - started < DEADLINE_SECONDS


def test_lambda_error_names_reach_catch(account, probe) -> None:
    sfn = account.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=probe, input=json.dumps({"clusterName": "x y", "format": "token"})
    )
    result = finished(account, execution["executionArn"])
    assert result["status"] == "SUCCEEDED"
    rejected = json.loads(result["output"])["rejected"]
    assert rejected["Error"] == "eksops.InvalidInput"
    assert json.loads(rejected["Cause"])["errorType"] == "eksops.InvalidInput"


def test_fire_schedule_starts_the_scheduled_target(account, cluster, probe) -> None:
    sfn = account.client("stepfunctions")
    before = sfn.list_executions(stateMachineArn=probe)["executions"]
    rule = account.client("cloudformation").describe_stack_resource(
        StackName="probe", LogicalResourceId="TokenProbeStateMachineHourly"
    )["StackResourceDetail"]["PhysicalResourceId"]
    answer = call(account.endpoint_url, "fire-schedule", {"rule": rule})
    assert answer == {"rule": rule, "targets": 1}
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(executions := sfn.list_executions(stateMachineArn=probe)["executions"]) == len(
        before
    ):
        assert time.monotonic() < deadline, "the schedule started nothing"
        time.sleep(0.2)
    newest = max(executions, key=lambda e: e["startDate"])
    described = sfn.describe_execution(executionArn=newest["executionArn"])
    assert json.loads(described["input"]) == {"clusterName": "demo", "format": "token"}


def test_fire_schedule_of_a_missing_rule_is_a_named_error(account) -> None:
    with pytest.raises(OfflineAccountError, match=r"eksops\.RuleNotFound"):
        call(account.endpoint_url, "fire-schedule", {"rule": "no-such-rule"})


def test_task_parameters_are_validated_like_aws(account) -> None:
    """A misspelt aws-sdk parameter fails the task, as AWS's model validation does."""
    sfn = account.client("stepfunctions")
    role = account.client("iam").create_role(RoleName="sdk-typo", AssumeRolePolicyDocument="{}")
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:eks:describeCluster",
                "Parameters": {"Nmae": "demo"},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="sdk-typo", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
    )["stateMachineArn"]
    result = finished(account, sfn.start_execution(stateMachineArn=machine)["executionArn"])
    assert result["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=result["executionArn"])["events"]
    failure = next(e for e in history if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert 'Unknown parameter in input: "Nmae"' in failure["cause"]  # botocore's own check
