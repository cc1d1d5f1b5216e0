"""CreateCluster and DeleteCluster executions on the offline account (started, followed to their
end, their history read), and the AWS state a cluster's lifecycle leaves behind."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from eksops.local.account import OfflineAccount
from eksops.ownership import CLUSTER_TAG, IAM_PATH, tag_map

# A first execution starts a cold worker per function (~40 s on a loaded 2-CPU machine); warm
# ones take a few seconds.
DEADLINE_SECONDS = 240
T = TypeVar("T")


@dataclass(frozen=True)
class LambdaCall:
    """One invocation of a Lambda Task, from the execution history."""

    state: str  # the Task state that made it
    function: str  # the function's name
    scheduled: float  # epoch seconds
    ended: float
    succeeded: bool
    output: Any = None  # parsed result when it succeeded
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class Execution:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)

    def error_message(self) -> str:
        """The Lambda error message in the execution's cause."""
        assert self.cause, self
        return json.loads(self.cause)["errorMessage"]

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if event["type"].endswith("StateEntered")
        ]

    def lambda_calls(self) -> list[LambdaCall]:
        """Every finished Lambda invocation, in the order they ended."""
        by_id = {event["id"]: event for event in self.history}

        def origin(event: dict[str, Any], kind: str) -> dict[str, Any]:
            while event["type"] != kind:
                event = by_id[event["previousEventId"]]
            return event

        calls = []
        for event in self.history:
            if event["type"] not in ("LambdaFunctionSucceeded", "LambdaFunctionFailed"):
                continue
            scheduled = origin(event, "LambdaFunctionScheduled")
            entered = by_id[scheduled["previousEventId"]]
            resource = scheduled["lambdaFunctionScheduledEventDetails"]["resource"]
            succeeded = event["type"] == "LambdaFunctionSucceeded"
            details = event.get(
                "lambdaFunctionSucceededEventDetails"
                if succeeded
                else "lambdaFunctionFailedEventDetails",
                {},
            )
            calls.append(
                LambdaCall(
                    state=entered["stateEnteredEventDetails"]["name"],
                    function=resource.split(":function:", 1)[1],
                    scheduled=scheduled["timestamp"].timestamp(),
                    ended=event["timestamp"].timestamp(),
                    succeeded=succeeded,
                    output=json.loads(details["output"]) if succeeded else None,
                    error=details.get("error"),
                    cause=details.get("cause"),
                )
            )
        return calls

    def calls_of(self, state: str) -> list[LambdaCall]:
        return [call for call in self.lambda_calls() if call.state == state]

    def output_of(self, state: str) -> Any:
        """The result of the state's last successful invocation."""
        (*_, last) = [call for call in self.calls_of(state) if call.succeeded]
        return last.output

    def task_succeeded(self, state: str) -> bool:
        """Whether a service-integration Task state (not Lambda) succeeded."""
        entered = None
        for event in self.history:
            if event["type"] == "TaskStateEntered":
                entered = event["stateEnteredEventDetails"]["name"]
            if event["type"] == "TaskSucceeded" and entered == state:
                return True
        return False


def vpc_subnets(ec2: Any, second_octet: int, zones: str, region: str) -> list[str]:
    """A new VPC 10.<second_octet>.0.0/16 with a subnet in each of ``zones`` of ``region``."""
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{second_octet}.{i}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]


def eventually(check: Callable[[], T], what: str, seconds: float = 60) -> T:
    """``check()``'s first truthy answer, polled for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {seconds} s")


def invoke_step(account: OfflineAccount, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One Lambda step of the deployed template called directly, as its state would; its
    result (a function error fails the test)."""
    answer = account.client("lambda").invoke(
        FunctionName=account.resource(function), Payload=json.dumps(event).encode()
    )
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    return result


def start(account: OfflineAccount, machine: str, name: str, request: dict[str, Any]) -> str:
    """Start an execution of a state machine of the template (its logical ID)."""
    return account.client("stepfunctions").start_execution(
        stateMachineArn=account.resource(machine), name=name, input=json.dumps(request)
    )["executionArn"]


def finish(account: OfflineAccount, arn: str) -> Execution:
    sfn = account.client("stepfunctions")
    described = eventually(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        f"the end of {arn}",
        DEADLINE_SECONDS,
    )
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    history = [event for page in pages for event in page["events"]]
    output = described.get("output")
    return Execution(
        arn=arn,
        status=described["status"],
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        history=history,
    )


def run(account: OfflineAccount, machine: str, name: str, request: dict[str, Any]) -> Execution:
    return finish(account, start(account, machine, name, request))


def create(account: OfflineAccount, name: str, request: dict[str, Any]) -> Execution:
    return run(account, "CreateClusterStateMachine", name, request)


def delete(account: OfflineAccount, name: str, cluster: str, region: str) -> Execution:
    request = {"clusterName": cluster, "region": region}
    return run(account, "DeleteClusterStateMachine", name, request)


@dataclass(frozen=True)
class ClusterState:
    """What exists of one cluster: the cluster, the IAM roles and OIDC providers tagged as
    eksops's for it, its add-ons and access entries."""

    cluster: dict[str, Any] | None
    roles: tuple[str, ...]  # ARNs under /eksops/
    providers: tuple[str, ...]  # ARNs
    addons: dict[str, str]  # name -> status
    access_entries: tuple[str, ...]  # principal ARNs

    @property
    def issuer(self) -> str | None:
        return ((self.cluster or {}).get("identity") or {}).get("oidc", {}).get("issuer")


def describe_cluster(account: OfflineAccount, name: str) -> dict[str, Any] | None:
    eks = account.client("eks")
    try:
        return eks.describe_cluster(name=name)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        return None


def eksops_roles(account: OfflineAccount, cluster: str) -> list[dict[str, Any]]:
    iam = account.client("iam")
    pages = iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH)
    return [
        role
        for page in pages
        for role in page["Roles"]
        if tag_map(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]).get(CLUSTER_TAG)
        == cluster
    ]


def tagged_providers(account: OfflineAccount, cluster: str) -> list[str]:
    iam = account.client("iam")
    return [
        provider["Arn"]
        for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        if tag_map(
            iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider["Arn"])["Tags"]
        ).get(CLUSTER_TAG)
        == cluster
    ]


def providers_of_issuer(account: OfflineAccount, issuer: str) -> list[str]:
    """Every OIDC provider of the account for ``issuer``, tagged or not."""
    suffix = ":oidc-provider/" + issuer.removeprefix("https://")
    providers = account.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return [p["Arn"] for p in providers if p["Arn"].endswith(suffix)]


def cluster_state(account: OfflineAccount, name: str) -> ClusterState:
    eks = account.client("eks")
    cluster = describe_cluster(account, name)
    addons: dict[str, str] = {}
    entries: list[str] = []
    if cluster is not None:
        for addon in eks.list_addons(clusterName=name)["addons"]:
            addons[addon] = eks.describe_addon(clusterName=name, addonName=addon)["addon"]["status"]
        if cluster["accessConfig"]["authenticationMode"] != "CONFIG_MAP":  # no entries there
            entries = eks.list_access_entries(clusterName=name)["accessEntries"]
    return ClusterState(
        cluster=cluster,
        roles=tuple(sorted(role["Arn"] for role in eksops_roles(account, name))),
        providers=tuple(sorted(tagged_providers(account, name))),
        addons=addons,
        access_entries=tuple(sorted(entries)),
    )
