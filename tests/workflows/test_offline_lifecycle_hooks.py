"""Auto Scaling terminate lifecycle hooks offline, as AWS runs them: the instance waits in
Terminating:Wait, Auto Scaling's event reaches EventBridge rules, heartbeats and
CompleteLifecycleAction by token or instance ID, the DefaultResult on timeout, AWS's errors; and
EKS managed node groups' own Terminate-LC-Hook, which EKS completes once it has drained the node.

Hook deadlines are read from a fake clock the tests move (``autoscaling_lifecycle.set_clock``);
the account's node reconciler is swapped for one the test drives.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
import yaml
from botocore.exceptions import ClientError
from eksops.local import autoscaling_lifecycle, eks, events
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.clusters import EKS_SERVICE_TRUST, service_trust
from eksops.local.eks import nodegroups
from eksops.local.nodes import NodeReconciler

REGION = "eu-west-1"
AMI = "ami-0e5b8f7d1c2a3b4c5"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
PASS_ONLY = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEADLINE_SECONDS = 20


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(region=REGION, template=None, eks_delay=0) as offline:
        yield offline


@pytest.fixture(scope="module")
def clock(account: OfflineAccount) -> Iterator[Clock]:
    fake = Clock()
    autoscaling_lifecycle.set_clock(fake)
    yield fake
    autoscaling_lifecycle.set_clock(None)


_CLIENTS: dict[str, object] = {}


def client(account: OfflineAccount, service: str):
    """boto3 clients are slow to make: one per service for the module."""
    if service not in _CLIENTS:
        _CLIENTS[service] = account.client(service)
    return _CLIENTS[service]


@pytest.fixture(scope="module")
def network(account: OfflineAccount) -> dict:
    ec2 = client(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    template = ec2.create_launch_template(
        LaunchTemplateName="workers",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    return {"subnets": subnets, "launch_template": template}


@pytest.fixture(scope="module")
def caught(account: OfflineAccount) -> str:
    """A state machine that an EventBridge rule starts with every terminate lifecycle action of
    groups named ``hooked-*``: its executions' inputs are the events as AWS delivers them."""
    iam, sfn = client(account, "iam"), client(account, "stepfunctions")
    trust = service_trust("events.amazonaws.com", "states.amazonaws.com")
    role = iam.create_role(RoleName="lifecycle-events", AssumeRolePolicyDocument=json.dumps(trust))
    arn = sfn.create_state_machine(
        name="lifecycle-events", definition=json.dumps(PASS_ONLY), roleArn=role["Role"]["Arn"]
    )["stateMachineArn"]
    pattern = {
        "source": ["aws.autoscaling"],
        "detail-type": [DETAIL_TYPE],
        "detail": {"AutoScalingGroupName": [{"prefix": "hooked-"}]},
    }
    rules = client(account, "events")
    rules.put_rule(Name="terminate-actions", EventPattern=json.dumps(pattern))
    rules.put_targets(
        Rule="terminate-actions",
        Targets=[{"Id": "sfn", "Arn": arn, "RoleArn": role["Role"]["Arn"]}],
    )
    return arn


def delivered(account: OfflineAccount, state_machine: str, group: str) -> list[dict]:
    """The terminate lifecycle events of ``group`` the rule delivered, oldest first."""
    events.wait_for_deliveries(DEADLINE_SECONDS)
    sfn = client(account, "stepfunctions")
    found = []
    for execution in sfn.list_executions(stateMachineArn=state_machine)["executions"]:
        event = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        if event["detail"]["AutoScalingGroupName"] == group:
            found.append(event)
    return sorted(found, key=lambda event: event["time"])


def make_group(
    account: OfflineAccount,
    network: dict,
    *,
    desired: int = 3,
    min_size: int = 0,
    hooked: bool = True,
    **hook: object,
) -> str:
    """A group of ``desired`` instances with a terminating hook named ``drain`` (300 s,
    CONTINUE unless ``hook`` says otherwise) when ``hooked``."""
    name = f"hooked-{uuid.uuid4().hex[:8]}"
    autoscaling = client(account, "autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=min_size,
        MaxSize=6,
        DesiredCapacity=desired,
        VPCZoneIdentifier=network["subnets"][0],
        LaunchTemplate={"LaunchTemplateId": network["launch_template"], "Version": "$Latest"},
    )
    if hooked:
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=name,
            LifecycleHookName="drain",
            LifecycleTransition=TERMINATING,
            **{"HeartbeatTimeout": 300, "DefaultResult": "CONTINUE", **hook},
        )
    return name


def group_of(account: OfflineAccount, name: str) -> dict:
    (group,) = client(account, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name]
    )["AutoScalingGroups"]
    return group


def states(account: OfflineAccount, name: str) -> dict[str, str]:
    return {i["InstanceId"]: i["LifecycleState"] for i in group_of(account, name)["Instances"]}


def waiting(account: OfflineAccount, name: str) -> list[str]:
    return [i for i, state in states(account, name).items() if state == "Terminating:Wait"]


def ec2_state(account: OfflineAccount, instance_id: str) -> str:
    reservations = client(account, "ec2").describe_instances(InstanceIds=[instance_id])
    return reservations["Reservations"][0]["Instances"][0]["State"]["Name"]


def error_of(caught_error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught_error.value.response["Error"]
    return error["Code"], error["Message"]


def complete(account: OfflineAccount, group: str, result: str = "CONTINUE", **which: str) -> None:
    client(account, "autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=group, LifecycleHookName="drain", LifecycleActionResult=result, **which
    )


# --- the wait and its event --------------------------------------------------------------------


def test_scale_in_waits_and_the_event_reaches_a_rule(account, network, clock, caught) -> None:
    group = make_group(account, network, NotificationMetadata='{"cluster": "demo"}')
    autoscaling = client(account, "autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)

    described = group_of(account, group)
    assert described["DesiredCapacity"] == 2
    (leaving,) = waiting(account, group)
    assert sorted(states(account, group).values()) == ["InService", "InService", "Terminating:Wait"]
    (instance,) = autoscaling.describe_auto_scaling_instances(InstanceIds=[leaving])[
        "AutoScalingInstances"
    ]
    assert (instance["AutoScalingGroupName"], instance["LifecycleState"]) == (
        group,
        "Terminating:Wait",
    )
    assert ec2_state(account, leaving) == "running"  # EC2 keeps it until the hook lets go

    (event,) = delivered(account, caught, group)
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert (event["source"], event["detail-type"]) == ("aws.autoscaling", DETAIL_TYPE)
    assert (event["account"], event["region"]) == (ACCOUNT_ID, REGION)
    assert event["resources"] == [described["AutoScalingGroupARN"]]
    token = event["detail"]["LifecycleActionToken"]
    assert UUID.match(token)
    assert event["detail"] == {
        "LifecycleActionToken": token,
        "AutoScalingGroupName": group,
        "LifecycleHookName": "drain",
        "EC2InstanceId": leaving,
        "LifecycleTransition": TERMINATING,
        "NotificationMetadata": '{"cluster": "demo"}',
        "Origin": "AutoScalingGroup",
        "Destination": "EC2",
    }

    # the token of the event completes the action: the instance goes, nothing replaces it
    complete(account, group, LifecycleActionToken=token)
    assert leaving not in states(account, group)
    assert sorted(states(account, group).values()) == ["InService", "InService"]
    assert ec2_state(account, leaving) == "terminated"
    assert group_of(account, group)["DesiredCapacity"] == 2
    with pytest.raises(ClientError) as again:
        complete(account, group, LifecycleActionToken=token)
    assert error_of(again) == (
        "ValidationError",
        f"No active Lifecycle Action found with token {token}",
    )


def test_update_auto_scaling_group_scales_in_through_the_hook(account, network, clock) -> None:
    group = make_group(account, network, desired=3)
    client(account, "autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group, MaxSize=4, DesiredCapacity=1
    )
    leaving = waiting(account, group)
    assert len(leaving) == 2
    assert sorted(states(account, group).values()).count("InService") == 1
    complete(account, group, InstanceId=leaving[0])
    assert waiting(account, group) == [leaving[1]]
    assert ec2_state(account, leaving[0]) == "terminated"
    assert ec2_state(account, leaving[1]) == "running"


def test_hooks_given_when_the_group_is_created(account, network, clock) -> None:
    name = f"hooked-{uuid.uuid4().hex[:8]}"
    autoscaling = client(account, "autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=2,
        VPCZoneIdentifier=network["subnets"][0],
        LaunchTemplate={"LaunchTemplateId": network["launch_template"], "Version": "$Latest"},
        LifecycleHookSpecificationList=[
            {"LifecycleHookName": "drain", "LifecycleTransition": TERMINATING}
        ],
    )
    (hook,) = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"]) == (3600, "ABANDON")  # AWS's
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    assert len(waiting(account, name)) == 1


def test_group_without_a_hook_terminates_at_once(account, network, clock) -> None:
    group = make_group(account, network, desired=2, hooked=False)
    client(account, "autoscaling").set_desired_capacity(
        AutoScalingGroupName=group, DesiredCapacity=1
    )
    assert list(states(account, group).values()) == ["InService"]


# --- heartbeats and timeouts -------------------------------------------------------------------


def test_heartbeat_restarts_the_timeout_and_the_default_result_then_applies(
    account, network, clock
) -> None:
    group = make_group(account, network, desired=2, HeartbeatTimeout=60, DefaultResult="ABANDON")
    autoscaling = client(account, "autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    (leaving,) = waiting(account, group)

    clock.now += 50
    autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, LifecycleHookName="drain", InstanceId=leaving
    )
    clock.now += 50  # 100 s since the wait began, 50 since the heartbeat
    assert waiting(account, group) == [leaving]
    assert ec2_state(account, leaving) == "running"

    clock.now += 11  # the heartbeat's 60 s have passed: ABANDON, which terminates too
    assert ec2_state(account, leaving) == "terminated"  # an EC2 request applies the timeout
    assert leaving not in states(account, group)
    with pytest.raises(ClientError) as late:
        autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=group, LifecycleHookName="drain", InstanceId=leaving
        )
    assert error_of(late) == (
        "ValidationError",
        f"No active Lifecycle Action found with instance ID {leaving}",
    )


def test_heartbeats_end_at_the_global_timeout(account, network, clock) -> None:
    group = make_group(account, network, desired=2, HeartbeatTimeout=30)
    autoscaling = client(account, "autoscaling")
    (hook,) = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    assert hook["GlobalTimeout"] == 3000  # 100 heartbeat timeouts (at most 48 hours)
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    (leaving,) = waiting(account, group)
    for _ in range(103):  # a heartbeat every 29 s keeps it waiting: the last at 2987 s
        clock.now += 29
        autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=group, LifecycleHookName="drain", InstanceId=leaving
        )
    clock.now += 12  # 2999 s: the last heartbeat's 30 s run on past the global timeout...
    assert waiting(account, group) == [leaving]
    clock.now += 1  # ...which ends the wait at 3000 s all the same
    assert waiting(account, group) == []
    assert ec2_state(account, leaving) == "terminated"


# --- TerminateInstanceInAutoScalingGroup -------------------------------------------------------


def test_terminate_instance_without_decrement_launches_a_replacement(
    account, network, clock
) -> None:
    group = make_group(account, network, desired=2, min_size=2)
    autoscaling = client(account, "autoscaling")
    victim = next(iter(states(account, group)))
    activity = autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=False
    )["Activity"]
    assert activity["Description"] == f"Terminating EC2 instance: {victim}"
    assert group_of(account, group)["DesiredCapacity"] == 2
    now = states(account, group)
    assert now[victim] == "Terminating:Wait"
    assert sorted(now.values()) == ["InService", "InService", "Terminating:Wait"]

    complete(account, group, "ABANDON", InstanceId=victim)
    assert sorted(states(account, group).values()) == ["InService", "InService"]
    assert ec2_state(account, victim) == "terminated"


def test_terminate_instance_with_decrement_and_its_errors(account, network, clock) -> None:
    group = make_group(account, network, desired=2, min_size=1)
    autoscaling = client(account, "autoscaling")
    first, second = states(account, group)
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=first, ShouldDecrementDesiredCapacity=True
    )
    assert group_of(account, group)["DesiredCapacity"] == 1
    assert states(account, group) == {first: "Terminating:Wait", second: "InService"}

    with pytest.raises(ClientError) as below_min:
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=second, ShouldDecrementDesiredCapacity=True
        )
    assert error_of(below_min) == (
        "ValidationError",
        "Currently, desiredSize equals minSize (1). Terminating instance without replacement "
        "will violate group's min size constraint. Either set shouldDecrementDesiredCapacity "
        "flag to false or lower group's min size.",
    )
    assert states(account, group)[second] == "InService"
    with pytest.raises(ClientError) as unknown:
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId="i-0123456789abcdef0", ShouldDecrementDesiredCapacity=False
        )
    assert error_of(unknown) == (
        "ValidationError",
        "Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0",
    )


# --- errors, several hooks, hook and group deletion --------------------------------------------


def test_completions_that_find_no_action(account, network, clock) -> None:
    group = make_group(account, network, desired=2)
    client(account, "autoscaling").set_desired_capacity(
        AutoScalingGroupName=group, DesiredCapacity=1
    )
    (leaving,) = waiting(account, group)
    (staying,) = [i for i in states(account, group) if i != leaving]
    token = str(uuid.uuid4())
    cases = [
        ({"LifecycleActionToken": token}, f"No active Lifecycle Action found with token {token}"),
        ({"InstanceId": staying}, f"No active Lifecycle Action found with instance ID {staying}"),
    ]
    for which, message in cases:
        with pytest.raises(ClientError) as refused:
            complete(account, group, **which)
        assert error_of(refused) == ("ValidationError", message)
    with pytest.raises(ClientError) as other_hook:
        client(account, "autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=group,
            LifecycleHookName="no-such-hook",
            LifecycleActionResult="CONTINUE",
            InstanceId=leaving,
        )
    assert error_of(other_hook) == (
        "ValidationError",
        f"No active Lifecycle Action found with instance ID {leaving}",
    )
    assert waiting(account, group) == [leaving]


def test_every_hook_must_let_go_unless_one_abandons(account, network, clock, caught) -> None:
    group = make_group(account, network, desired=3)
    autoscaling = client(account, "autoscaling")
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=group,
        LifecycleHookName="backup",
        LifecycleTransition=TERMINATING,
        HeartbeatTimeout=600,
    )
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    first, second = waiting(account, group)
    announced = delivered(account, caught, group)
    assert sorted(
        (e["detail"]["EC2InstanceId"], e["detail"]["LifecycleHookName"]) for e in announced
    ) == sorted((instance, hook) for instance in (first, second) for hook in ("backup", "drain"))
    assert len({e["detail"]["LifecycleActionToken"] for e in announced}) == 4

    complete(account, group, InstanceId=first)  # "drain" continues; "backup" still holds it
    assert first in waiting(account, group)
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=group,
        LifecycleHookName="backup",
        LifecycleActionResult="CONTINUE",
        InstanceId=first,
    )
    assert waiting(account, group) == [second]
    complete(account, group, "ABANDON", InstanceId=second)  # ends "backup"'s action too
    assert waiting(account, group) == []
    assert ec2_state(account, second) == "terminated"


def test_deleting_the_hook_or_the_group_lets_waiting_instances_go(account, network, clock) -> None:
    autoscaling = client(account, "autoscaling")
    group = make_group(account, network, desired=2)
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    (leaving,) = waiting(account, group)
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="drain")
    assert waiting(account, group) == []
    assert ec2_state(account, leaving) == "terminated"
    assert autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"] == []

    other = make_group(account, network, desired=2)
    autoscaling.set_desired_capacity(AutoScalingGroupName=other, DesiredCapacity=1)
    (leaving,) = waiting(account, other)
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=other)
    assert ec2_state(account, leaving) == "terminated"
    assert autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=other)["LifecycleHooks"] == []


def test_put_lifecycle_hook_keeps_what_an_update_leaves_out(account, network, clock) -> None:
    group = make_group(account, network, desired=0, NotificationMetadata="v1")
    autoscaling = client(account, "autoscaling")
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=group, LifecycleHookName="drain", HeartbeatTimeout=7200
    )
    assert autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"] == [
        {
            "LifecycleHookName": "drain",
            "AutoScalingGroupName": group,
            "LifecycleTransition": TERMINATING,
            "NotificationMetadata": "v1",
            "HeartbeatTimeout": 7200,
            "GlobalTimeout": 172800,  # 48 hours, less than 100 heartbeat timeouts
            "DefaultResult": "CONTINUE",
        }
    ]


# --- EKS managed node groups -------------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(account: OfflineAccount) -> Iterator[NodeReconciler]:
    """The test's node reconciler, and EKS draining through the clusters' API servers."""
    account._nodes.stop()
    reconciler = NodeReconciler(account._cluster_apis, 0.0)
    eks.set_node_join_check(reconciler.join_check)
    nodegroups.set_cluster_stores(
        lambda account_id, region, name: (
            account._cluster_apis.server(account_id, region, name).store
        )
    )
    yield reconciler
    nodegroups.set_cluster_stores(None)


@pytest.fixture(scope="module")
def managed(account: OfflineAccount, network: dict, nodes: NodeReconciler) -> dict:
    """A CONFIG_MAP cluster with a managed node group of 3 whose nodes have registered."""
    iam, eks_client = client(account, "iam"), client(account, "eks")
    cluster_role = iam.create_role(
        RoleName="hooks-cluster", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    node_role = iam.create_role(
        RoleName="hooks-nodes",
        AssumeRolePolicyDocument=json.dumps(service_trust("ec2.amazonaws.com")),
    )["Role"]["Arn"]
    eks_client.create_cluster(
        name="hooks",
        version="1.31",
        roleArn=cluster_role,
        resourcesVpcConfig={"subnetIds": network["subnets"]},
        accessConfig={"authenticationMode": "CONFIG_MAP"},
    )
    until(lambda: eks_client.describe_cluster(name="hooks")["cluster"]["status"] == "ACTIVE")
    created = eks_client.create_nodegroup(
        clusterName="hooks",
        nodegroupName="workers",
        subnets=network["subnets"],
        nodeRole=node_role,
        scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
    )["nodegroup"]
    until(lambda: nodegroup_status(account) == "ACTIVE")
    nodes.reconcile_once()
    store = account._cluster_apis.server(ACCOUNT_ID, REGION, "hooks").store
    assert yaml.safe_load(store.get("configmaps", "kube-system", "aws-auth")["data"]["mapRoles"])
    assert len(store.list("nodes")[0]) == 3
    return {"group": created["resources"]["autoScalingGroups"][0]["name"], "store": store}


def until(check) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"not within {DEADLINE_SECONDS}s")


def nodegroup_status(account: OfflineAccount) -> str:
    return client(account, "eks").describe_nodegroup(clusterName="hooks", nodegroupName="workers")[
        "nodegroup"
    ]["status"]


def node_of(store, instance_id: str) -> dict | None:
    for node in store.list("nodes")[0]:
        if node["spec"]["providerID"].endswith(f"/{instance_id}"):
            return node
    return None


def test_eks_puts_its_lifecycle_hooks_on_a_node_groups_group(account, managed) -> None:
    hooks = client(account, "autoscaling").describe_lifecycle_hooks(
        AutoScalingGroupName=managed["group"]
    )["LifecycleHooks"]
    assert sorted(
        (
            h["LifecycleHookName"],
            h["LifecycleTransition"],
            h["HeartbeatTimeout"],
            h["DefaultResult"],
        )
        for h in hooks
    ) == [
        ("Launch-LC-Hook", "autoscaling:EC2_INSTANCE_LAUNCHING", 1800, "CONTINUE"),
        ("Terminate-LC-Hook", TERMINATING, 1800, "CONTINUE"),
    ]


def test_eks_drains_a_managed_node_before_letting_its_instance_go(
    account, managed, nodes, clock
) -> None:
    store, group = managed["store"], managed["group"]
    until(lambda: nodegroup_status(account) == "ACTIVE")
    node_names = [
        node_of(store, instance)["metadata"]["name"] for instance in states(account, group)
    ]
    # a pod on every node, and a budget that lets none of them go
    for index, node in enumerate(node_names):
        store.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"web-{index}",
                    "namespace": "default",
                    "labels": {"app": "web"},
                },
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "web:1"}]},
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            },
        )
    store.create(
        "poddisruptionbudgets.policy",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    client(account, "eks").update_nodegroup_config(
        clusterName="hooks", nodegroupName="workers", scalingConfig={"desiredSize": 2}
    )
    (leaving,) = waiting(account, group)
    node = node_of(store, leaving)
    assert node["spec"]["unschedulable"] is True  # EKS cordoned it
    on_node = store.list("pods", None, field_selector=f"spec.nodeName={node['metadata']['name']}")
    assert len(on_node[0]) == 1  # the budget refused the eviction: the hook holds the instance
    assert ec2_state(account, leaving) == "running"

    store.delete("poddisruptionbudgets.policy", "default", "web")
    assert waiting(account, group) == []  # the next request: EKS evicts, then continues
    assert ec2_state(account, leaving) == "terminated"
    assert (
        store.list("pods", None, field_selector=f"spec.nodeName={node['metadata']['name']}")[0]
        == []
    )
    nodes.reconcile_once()
    assert node_of(store, leaving) is None  # the cloud controller deletes the Node
    assert len(store.list("nodes")[0]) == 2


def test_a_workflow_may_complete_eks_hook_while_eks_cannot_drain(account, managed, clock) -> None:
    """EKS's drain is blocked, and a handler of the group's events completes the action (as
    RebalanceNodegroups would after its own drain): the instance goes, EKS evicted nothing."""
    group = managed["group"]
    until(lambda: nodegroup_status(account) == "ACTIVE")
    victim = next(i for i, state in states(account, group).items() if state == "InService")
    store = managed["store"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db-0", "namespace": "default", "labels": {"app": "db"}},
        "spec": {"nodeName": node_of(store, victim)["metadata"]["name"], "containers": []},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    store.create("pods", pod)
    store.create(
        "poddisruptionbudgets.policy",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "db"}}},
        },
    )
    client(account, "autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=True
    )
    assert waiting(account, group) == [victim]
    client(account, "autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=group,
        LifecycleHookName="Terminate-LC-Hook",
        LifecycleActionResult="CONTINUE",
        InstanceId=victim,
    )
    assert ec2_state(account, victim) == "terminated"
    assert store.find("pods", "default", "db-0") is not None  # nothing evicted it
    # the decrement shows in the node group, as EKS reports its group's desired capacity
    scaling = client(account, "eks").describe_nodegroup(
        clusterName="hooks", nodegroupName="workers"
    )["nodegroup"]["scalingConfig"]
    assert scaling == {"minSize": 0, "maxSize": 4, "desiredSize": 1}
