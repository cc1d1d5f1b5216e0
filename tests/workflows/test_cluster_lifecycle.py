"""CreateClusterStateMachine and DeleteClusterStateMachine on the offline account: the real ASL in
moto's interpreter, the real handlers in Lambda workers. Each test asserts on the AWS state the
executions leave and on their history; failures are injected into the Lambda runtime
(``OfflineAccount.inject_fault``) and mutating calls counted by the account's request recorder
(``OfflineAccount.recording``). Every test works on clusters of its own names, so the tests do
not depend on their order."""

from __future__ import annotations

import itertools
import json
import re
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eksops.cluster_role import CLUSTER_POLICY
from eksops.local import eks
from eksops.local.account import ApiCall, OfflineAccount
from eksops.local.clusters import EKS_SERVICE_TRUST, service_trust
from eksops.local.eks.addons import CATALOGUE
from eksops.local.eks.versions import OFFERED
from eksops.local.lambda_runtime import INJECTED_FAULT
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.fields import CLUSTER_NAME_PATTERN
from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG, IAM_PATH, tag_map
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lifecycle import (
    ClusterState,
    Execution,
    cluster_state,
    create,
    delete,
    describe_cluster,
    eventually,
    providers_of_issuer,
    vpc_subnets,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
VERSION = "1.31"
CLUSTER_POLICY_ARN = f"arn:aws:iam::aws:policy/{CLUSTER_POLICY}"
ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The Lambda Task states of CreateClusterStateMachine and the template function each invokes.
TASK_FUNCTIONS = {
    "ValidateInput": "ValidateClusterInputFunction",
    "PlanChanges": "PlanClusterChangesFunction",
    "EnsureClusterRole": "EnsureClusterRoleFunction",
    "CreateOrAdoptCluster": "CreateClusterFunction",
    "CheckClusterStatus": "CheckClusterStatusFunction",
    "EnsureOidcProvider": "EnsureOidcProviderFunction",
    "EnsureAddons": "EnsureAddonsFunction",
    "GrantAdminAccess": "GrantAdminAccessFunction",
}


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    # clusters and add-ons take 1 s to change; Wait states and Retry intervals run 50x faster
    with OfflineAccount(
        region=REGION, template=ROOT / "template.yaml", time_scale=0.02, eks_delay=1.0
    ) as offline:
        yield offline


@dataclass(frozen=True)
class Network:
    subnets: list[str]  # one VPC, two AZs: what EKS needs
    single_az: list[str]  # another VPC, both in one AZ
    elsewhere: list[str]  # a third VPC, two AZs
    security_group: str  # in the third VPC


@pytest.fixture(scope="module")
def network(account: OfflineAccount) -> Network:
    ec2 = account.client("ec2")

    def subnets(second_octet: int, zones: str) -> list[str]:
        return vpc_subnets(ec2, second_octet, zones, REGION)

    elsewhere = subnets(3, "ab")
    vpc = ec2.describe_subnets(SubnetIds=elsewhere[:1])["Subnets"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="elsewhere", Description="x", VpcId=vpc)
    return Network(subnets(1, "ab"), subnets(2, "aa"), elsewhere, group["GroupId"])


@pytest.fixture(scope="module")
def admin(account: OfflineAccount) -> str:
    """An IAM role of the account, to be the clusters' administrator."""
    trust = service_trust("ec2.amazonaws.com")
    return account.client("iam").create_role(
        RoleName="platform-admins", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]


@pytest.fixture(scope="module")
def creator(account: OfflineAccount) -> str:
    """The role the cluster steps run as: EKS gives the cluster's creator an access entry."""
    name = account.resource("ClusterLifecycleRole")
    return account.client("iam").get_role(RoleName=name)["Role"]["Arn"]


def cluster_input(name: str, network: Network, admin: str, **fields: Any) -> dict[str, Any]:
    return {
        "clusterName": name,
        "kubernetesVersion": VERSION,
        "vpc": {"subnetIds": network.subnets},
        "admins": [{"principalArn": admin}],
        "addons": [{"name": "vpc-cni"}],
        **fields,
    }


def mutations(calls: list[ApiCall]) -> list[str]:
    return [call.action for call in calls if call.mutating]


def assert_converged(
    account: OfflineAccount, name: str, admin: str, creator: str, network: Network
) -> ClusterState:
    """One ACTIVE cluster as the input asked, one eksops role with the cluster policy, one OIDC
    provider for its issuer, the vpc-cni add-on, the admin's and the creator's access entries."""
    state = cluster_state(account, name)
    cluster = state.cluster
    assert cluster is not None, f"no cluster {name}"
    assert cluster["status"] == "ACTIVE"
    assert cluster["version"] == VERSION
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(network.subnets)
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role{IAM_PATH}{name}-cluster-role"
    assert state.roles == (role_arn,)
    assert cluster["roleArn"] == role_arn
    iam = account.client("iam")
    attached = iam.list_attached_role_policies(RoleName=f"{name}-cluster-role")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [CLUSTER_POLICY_ARN]
    assert state.issuer
    assert len(state.providers) == 1
    assert providers_of_issuer(account, state.issuer) == list(state.providers)
    assert state.addons == {"vpc-cni": "ACTIVE"}
    assert state.access_entries == tuple(sorted({admin, creator}))
    policies = account.client("eks").list_associated_access_policies(
        clusterName=name, principalArn=admin
    )["associatedAccessPolicies"]
    assert [(p["policyArn"], p["accessScope"]["type"]) for p in policies] == [
        (ADMIN_POLICY_ARN, "cluster")
    ]
    return state


# -- 1, 2: the happy path and its re-run --------------------------------------------------------


@pytest.fixture(scope="module")
def ready_queue(account: OfflineAccount) -> str:
    """An SQS queue that an EventBridge rule feeds with eksops' Cluster Ready events."""
    queue = account.client("sqs").create_queue(QueueName="cluster-ready")["QueueUrl"]
    queue_arn = account.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    events = account.client("events")
    pattern = {"source": ["eksops"], "detail-type": ["Cluster Ready"]}
    events.put_rule(Name="cluster-ready", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="cluster-ready", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue


@pytest.fixture(scope="module")
def happy(account, network, admin, ready_queue) -> tuple[dict[str, Any], Execution]:
    request = cluster_input("happy", network, admin, tags={"team": "platform"})
    return request, create(account, "happy-1", request)


def ready_events(account: OfflineAccount, queue: str, execution_arn: str) -> list[dict[str, Any]]:
    """The Cluster Ready events of one execution that reached the queue so far."""
    sqs = account.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    events = [json.loads(message["Body"]) for message in messages]
    return [event for event in events if event["detail"]["executionArn"] == execution_arn]


def test_create_cluster_happy_path(account, network, admin, creator, ready_queue, happy) -> None:
    _, execution = happy
    assert execution.status == "SUCCEEDED", execution
    output = execution.output
    state = assert_converged(account, "happy", admin, creator, network)
    cluster = state.cluster
    assert output["clusterArn"] == cluster["arn"]
    assert output["endpoint"] == cluster["endpoint"]
    assert output["oidcIssuer"] == state.issuer
    assert output["oidcProviderArn"] == state.providers[0]
    assert output["nodegroups"] == []
    assert output["kubeconfigCommand"] == (
        f"eksops kubeconfig --cluster-name happy --region {REGION}"
    )
    assert [(a["name"], a["created"]) for a in output["addons"]] == [("vpc-cni", True)]
    assert [(a["principalArn"], a["created"]) for a in output["admins"]] == [(admin, True)]

    # everything eksops made is tagged as this cluster's and this execution's
    role = account.client("iam").get_role(RoleName="happy-cluster-role")["Role"]
    assert role["Path"] == IAM_PATH
    expected_tags = {CLUSTER_TAG: "happy", CREATED_BY_TAG: execution.arn, "team": "platform"}
    assert tag_map(role["Tags"]) == expected_tags
    assert cluster["tags"] == expected_tags
    provider_tags = account.client("iam").list_open_id_connect_provider_tags(
        OpenIDConnectProviderArn=state.providers[0]
    )["Tags"]
    assert tag_map(provider_tags) == expected_tags

    # Cluster Ready was emitted, and reached a subscriber through EventBridge
    assert execution.task_succeeded("EmitClusterReady")
    (event,) = eventually(
        lambda: ready_events(account, ready_queue, execution.arn), "the Cluster Ready event"
    )
    assert event["source"] == "eksops"
    assert event["detail-type"] == "Cluster Ready"
    assert event["detail"] == {
        "clusterName": "happy",
        "clusterArn": cluster["arn"],
        "region": REGION,
        "endpoint": cluster["endpoint"],
        "oidcIssuer": state.issuer,
        "oidcProviderArn": state.providers[0],
        "executionArn": execution.arn,
    }


def test_rerun_with_the_same_input_converges(account, network, admin, creator, happy) -> None:
    request, first = happy
    assert first.status == "SUCCEEDED", first
    before = assert_converged(account, "happy", admin, creator, network)

    with account.recording() as calls:
        again = create(account, "happy-2", request)

    assert again.status == "SUCCEEDED", again
    after = assert_converged(account, "happy", admin, creator, network)
    assert after == before
    assert again.output["oidcProviderArn"] == first.output["oidcProviderArn"]
    # found, not made: no CreateCluster or any other mutation but the Cluster Ready event
    assert again.output_of("EnsureClusterRole") == {"roleArn": before.roles[0], "created": False}
    assert again.output_of("CreateOrAdoptCluster")["created"] is False
    assert [a["created"] for a in again.output["addons"]] == [False]
    assert [a["created"] for a in again.output["admins"]] == [False]
    assert again.output_of("PlanChanges") == {
        "calls": [
            {
                "call": "events:PutEvents",
                "target": "eksops Cluster Ready",
                "why": "tell subscribers",
            }
        ]
    }
    assert sorted(mutations(calls)) == ["events:PutEvents", "states:StartExecution"]


# -- 3: a crash at every Lambda Task, then a re-run ---------------------------------------------


def test_every_lambda_task_is_covered() -> None:
    """The crash test below covers every Lambda Task of the ASL (new ones must be added)."""
    definition = json.loads((ROOT / "statemachines" / "create_cluster.asl.json").read_text())

    def tasks(states: dict[str, Any]) -> dict[str, str]:
        found = {}
        for name, state in states.items():
            if state["Type"] == "Task" and state["Resource"].endswith("FunctionArn}"):
                found[name] = state["Resource"][2:-1].removesuffix("Arn")
            for branch in state.get("Branches", []):
                found.update(tasks(branch["States"]))
            if "ItemProcessor" in state:
                found.update(tasks(state["ItemProcessor"]["States"]))
        return found

    assert tasks(definition["States"]) == TASK_FUNCTIONS


# What the step has done when its result is lost (None: nothing to see in AWS).
SIDE_EFFECTS = {
    "EnsureClusterRole": lambda state, admin: bool(state.roles),
    "CreateOrAdoptCluster": lambda state, admin: state.cluster is not None,
    "EnsureOidcProvider": lambda state, admin: bool(state.providers),
    "EnsureAddons": lambda state, admin: "vpc-cni" in state.addons,
    "GrantAdminAccess": lambda state, admin: admin in state.access_entries,
}


@pytest.mark.parametrize("state", list(TASK_FUNCTIONS))
def test_crash_after_a_step_then_rerun_converges(
    account, network, admin, creator, state: str
) -> None:
    name = f"crash-{state.lower()}"
    request = cluster_input(name, network, admin)
    account.inject_fault(TASK_FUNCTIONS[state], after=True)
    try:
        crashed = create(account, f"{name}-1", request)
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()

    assert crashed.status == "FAILED", crashed
    assert crashed.error == INJECTED_FAULT
    failed = [call for call in crashed.lambda_calls() if not call.succeeded]
    assert [(call.state, call.error) for call in failed] == [(state, INJECTED_FAULT)]
    if state in SIDE_EFFECTS:  # the step did its work before its answer was lost
        assert SIDE_EFFECTS[state](cluster_state(account, name), admin)

    rerun = create(account, f"{name}-2", request)
    assert rerun.status == "SUCCEEDED", rerun
    assert_converged(account, name, admin, creator, network)


# -- 4: a cluster that ends FAILED --------------------------------------------------------------


def test_failed_cluster_fails_the_execution_at_the_next_poll(account, network, admin) -> None:
    issue = {
        "code": "IamRoleNotFound",
        "message": "The cluster role cannot be assumed.",
        "resourceIds": [f"arn:aws:iam::{ACCOUNT_ID}:role/eksops/doomed-cluster-role"],
    }
    failed_at: list[float] = []

    def fail_doomed(cluster: Any) -> list[dict[str, Any]] | None:
        if cluster.name != "doomed":
            return None
        failed_at.append(time.time())
        return [issue]

    eks.set_cluster_failure(fail_doomed)
    try:
        execution = create(account, "doomed-1", cluster_input("doomed", network, admin))
    finally:
        eks.set_cluster_failure(None)

    assert execution.status == "FAILED", execution
    assert execution.error == "eksops.ClusterFailed"
    assert "IamRoleNotFound" in execution.cause
    assert "The cluster role cannot be assumed." in execution.cause
    cluster = describe_cluster(account, "doomed")
    assert cluster["status"] == "FAILED"
    assert [i["code"] for i in cluster["health"]["issues"]] == ["IamRoleNotFound"]
    # the polls that ended before the cluster failed saw it CREATING; the first to end after it
    # failed the execution
    (failure_time,) = failed_at
    polls = execution.calls_of("CheckClusterStatus")
    before = [poll for poll in polls if poll.ended < failure_time]
    after = [poll for poll in polls if poll.ended >= failure_time]
    assert before, "the poll loop never saw the cluster CREATING"
    assert all(poll.succeeded and poll.output["status"] == "CREATING" for poll in before)
    assert [(poll.succeeded, poll.error) for poll in after] == [(False, "eksops.ClusterFailed")]
    assert execution.states_entered()[-2:] == ["HandleFailure", "CreationFailed"]


# -- 5: invalid inputs fail ValidateInput and change nothing ------------------------------------

FIELDS = set(CreateClusterInput.model_json_schema(by_alias=True)["properties"])
VPC_FIELDS = {"subnetIds", "securityGroupIds", "endpointPublicAccess", "endpointPrivateAccess"}
VPC_FIELDS |= {"publicAccessCidrs"}
_names = itertools.count(1)
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=110)
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _text
)


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``path`` (dotted) set to ``value`` (``...``: removed)."""
    changed = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return changed


def invalid_inputs(base: dict[str, Any], network: Network) -> st.SearchStrategy:
    """(field the message must name, an input that is wrong there)."""
    known = set(network.subnets + network.single_az + network.elsewhere)
    missing_name = st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,30}", fullmatch=True).map(
        lambda n: f"missing-{n}"
    )
    not_of_type = {
        "clusterName": _json_scalars.filter(lambda v: not isinstance(v, str)),
        "kubernetesVersion": _json_scalars.filter(lambda v: not isinstance(v, str)),
        "dryRun": _json_scalars.filter(lambda v: not isinstance(v, bool)),
        "rollbackOnFailure": _json_scalars.filter(lambda v: not isinstance(v, bool)),
        "vpc": _json_scalars,
        "vpc.subnetIds": _json_scalars,
        "vpc.endpointPublicAccess": _json_scalars.filter(lambda v: not isinstance(v, bool)),
        "admins": _json_scalars,
        "addons": _json_scalars,
        "tags": _json_scalars,
        "logging": _json_scalars,
    }
    cases = [
        _text.filter(lambda s: not re.fullmatch(CLUSTER_NAME_PATTERN, s)).map(
            lambda s: ("clusterName", _with(base, "clusterName", s))
        ),
        st.permutations(network.single_az).map(
            lambda s: ("two Availability Zones", _with(base, "vpc.subnetIds", s))
        ),
        st.from_regex(r"subnet-[0-9a-f]{17}", fullmatch=True)
        .filter(lambda s: s not in known)
        .map(lambda s: ("vpc.subnetIds", _with(base, "vpc.subnetIds", [network.subnets[0], s]))),
        st.just(
            (
                "several VPCs",
                _with(base, "vpc.subnetIds", [network.subnets[0], network.elsewhere[1]]),
            )
        ),
        st.just(
            ("vpc.securityGroupIds", _with(base, "vpc.securityGroupIds", [network.security_group]))
        ),
        st.sampled_from(["vpc", "clusterName", "kubernetesVersion"]).map(
            lambda field: (field, _with(base, field, ...))
        ),
        st.sampled_from(sorted(not_of_type)).flatmap(
            lambda field: not_of_type[field].map(lambda v: (field, _with(base, field, v)))
        ),
        st.tuples(
            st.sampled_from(["", "vpc.", "admins.0.", "addons.0."]),
            st.text(string.ascii_letters, min_size=1, max_size=20).filter(
                lambda k: (
                    k not in FIELDS | VPC_FIELDS | {"name", "version", "principalArn", "policy"}
                )
            ),
            _json_scalars,
        ).map(lambda t: (t[0] + t[1], _with(base, t[0] + t[1], t[2]))),
        missing_name.map(
            lambda n: ("roleArn", {**base, "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{n}"})
        ),
        st.tuples(st.sampled_from(["role", "user"]), missing_name).map(
            lambda t: (
                "admins",
                _with(base, "admins.0.principalArn", f"arn:aws:iam::{ACCOUNT_ID}:{t[0]}/{t[1]}"),
            )
        ),
        st.integers(0, 99)
        .map(lambda minor: f"1.{minor:02d}")
        .filter(lambda v: v not in OFFERED)
        .map(lambda v: ("kubernetesVersion", {**base, "kubernetesVersion": v})),
        st.from_regex(r"[a-z][a-z0-9-]{2,30}", fullmatch=True)
        .filter(lambda a: a not in CATALOGUE)
        .map(lambda a: ("addons", {**base, "addons": [{"name": a}]})),
        st.just(("nodegroups", {**base, "nodegroups": [{"nodegroupName": "ng-1"}]})),
        st.just(
            (
                "admins",
                {
                    **base,
                    "authenticationMode": "CONFIG_MAP",
                    "admins": [{**base["admins"][0], "policy": "AmazonEKSViewPolicy"}],
                },
            )
        ),
        st.just(("tags", {**base, "tags": {"aws:owner": "me"}})),
    ]
    return st.one_of(cases)


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_invalid_input_fails_validation_and_changes_nothing(account, network, admin, data) -> None:
    base = cluster_input("valid-name", network, admin)
    field, request = data.draw(invalid_inputs(base, network), label="invalid input")

    with account.recording() as calls:
        execution = create(account, f"invalid-{next(_names):03d}", request)

    assert execution.status == "FAILED", execution
    assert execution.error == "eksops.InvalidInput"
    assert field in execution.error_message()
    assert execution.states_entered() == ["ValidateInput"]
    assert mutations(calls) == ["states:StartExecution"]  # only the test's own


# -- 6: dry run ---------------------------------------------------------------------------------


def test_dry_run_returns_the_plan_and_changes_nothing(account, network, admin) -> None:
    request = cluster_input("dry-run", network, admin, dryRun=True)

    with account.recording() as calls:
        execution = create(account, "dry-run-1", request)

    assert execution.status == "SUCCEEDED", execution
    output = execution.output
    assert output["dryRun"] is True
    assert (output["clusterName"], output["region"]) == ("dry-run", REGION)
    assert [step["call"] for step in output["plan"]] == [
        "iam:CreateRole",
        "iam:AttachRolePolicy",
        "eks:CreateCluster",
        "iam:CreateOpenIDConnectProvider",
        "eks:CreateAddon",
        "eks:CreateAccessEntry",
        "eks:AssociateAccessPolicy",
        "events:PutEvents",
    ]
    assert output["plan"][0]["target"] == "dry-run-cluster-role"
    assert mutations(calls) == ["states:StartExecution"]
    assert cluster_state(account, "dry-run") == ClusterState(None, (), (), {}, ())


# -- 7: rollbackOnFailure -----------------------------------------------------------------------


def test_rollback_deletes_what_the_execution_created(account, network, admin) -> None:
    request = cluster_input("rollback-new", network, admin, rollbackOnFailure=True)
    account.inject_fault("GrantAdminAccessFunction", after=True)
    try:
        with account.recording() as calls:
            execution = create(account, "rollback-new-1", request)
    finally:
        account.clear_faults()

    assert execution.status == "FAILED", execution
    assert execution.error == INJECTED_FAULT  # the original error, after the rollback
    assert "RollBack" in execution.states_entered()
    assert execution.task_succeeded("RollBack")
    made = mutations(calls)
    for action in ("iam:CreateRole", "eks:CreateCluster", "iam:CreateOpenIDConnectProvider"):
        assert action in made
    issuer = execution.output_of("EnsureOidcProvider")["oidcIssuer"]
    assert cluster_state(account, "rollback-new") == ClusterState(None, (), (), {}, ())
    assert providers_of_issuer(account, issuer) == []


def test_rollback_of_an_adopted_cluster_removes_only_the_new_addon(
    account, network, admin, creator
) -> None:
    request = cluster_input("rollback-adopted", network, admin)
    first = create(account, "rollback-adopted-1", request)
    assert first.status == "SUCCEEDED", first
    before = assert_converged(account, "rollback-adopted", admin, creator, network)

    more = {**request, "addons": [{"name": "vpc-cni"}, {"name": "coredns"}]}
    more["rollbackOnFailure"] = True
    # EnsureAddons makes coredns, then its answer is lost: the rollback must find it
    account.inject_fault("EnsureAddonsFunction", after=True)
    try:
        execution = create(account, "rollback-adopted-2", more)
    finally:
        account.clear_faults()

    assert execution.status == "FAILED", execution
    assert execution.error == INJECTED_FAULT
    assert execution.task_succeeded("RollBack")
    assert execution.output_of("CreateOrAdoptCluster")["created"] is False
    eks_client = account.client("eks")

    def coredns_gone() -> bool:
        return "coredns" not in eks_client.list_addons(clusterName="rollback-adopted")["addons"]

    eventually(coredns_gone, "the rollback's deletion of coredns")
    assert cluster_state(account, "rollback-adopted") == before


# -- 8: an existing cluster that differs --------------------------------------------------------


def test_cluster_that_differs_is_a_conflict_and_nothing_changes(account, network, admin) -> None:
    role = account.client("iam").create_role(
        RoleName="conflict-role", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    account.client("eks").create_cluster(
        name="conflict",
        version="1.30",
        roleArn=role,
        resourcesVpcConfig={"subnetIds": network.elsewhere},
    )
    before = cluster_state(account, "conflict")

    with account.recording() as calls:
        execution = create(account, "conflict-1", cluster_input("conflict", network, admin))

    assert execution.status == "FAILED", execution
    assert execution.error == "eksops.ClusterConflict"
    message = execution.error_message()
    assert "kubernetesVersion: the cluster has '1.30', the input asks for '1.31'" in message
    assert f"vpc.subnetIds: the cluster has {sorted(network.elsewhere)!r}" in message
    assert "nothing was changed" in message
    assert execution.states_entered()[-2:] == ["PlanChanges", "CreationFailed"]
    assert mutations(calls) == ["states:StartExecution"]
    after = cluster_state(account, "conflict")
    assert (after.cluster["version"], after.roles, after.addons) == ("1.30", (), {})
    assert after.cluster["resourcesVpcConfig"] == before.cluster["resourcesVpcConfig"]


# -- 9: DeleteCluster after a partial creation, and again ---------------------------------------


@pytest.mark.parametrize("state", ["CreateOrAdoptCluster", "EnsureOidcProvider"])
def test_delete_after_partial_creation_then_again(account, network, admin, state: str) -> None:
    name = f"partial-{state.lower()}"
    account.inject_fault(TASK_FUNCTIONS[state], after=True)
    try:
        crashed = create(account, f"{name}-1", cluster_input(name, network, admin))
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    partial = cluster_state(account, name)
    assert partial.cluster is not None
    assert len(partial.roles) == 1
    assert len(partial.providers) == (1 if state == "EnsureOidcProvider" else 0)

    deleted = delete(account, f"delete-{name}-1", name, REGION)
    assert deleted.status == "SUCCEEDED", deleted
    assert cluster_state(account, name) == ClusterState(None, (), (), {}, ())
    assert sorted(deleted.output["iam"]) == sorted(
        [f"IAM role {arn}" for arn in partial.roles]
        + [f"OIDC provider {arn}" for arn in partial.providers]
    )
    if partial.issuer:
        assert providers_of_issuer(account, partial.issuer) == []

    again = delete(account, f"delete-{name}-2", name, REGION)
    assert again.status == "SUCCEEDED", again
    assert again.output == {"clusterName": name, "deleted": True, "addonsAndAccess": [], "iam": []}
    assert cluster_state(account, name) == ClusterState(None, (), (), {}, ())
