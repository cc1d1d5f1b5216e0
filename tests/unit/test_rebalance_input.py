"""RebalanceNodegroups inputs and the signals EventBridge delivers: what each stands for, and
the named errors of what does not fit. The execution names the signal router derives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.models.rebalance_nodegroups import rebalance_from_event
from eksops.rebalance_signals import MAX_NAME, execution_name, route

INSTANCE = "i-0123456789abcdef0"
DRAIN = {"clusterName": "prod", "instanceId": INSTANCE, "action": "drain"}


def ec2_event(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "7e8f9a0b-1c2d-3e4f-5a6b-7c8d9e0f1a2b",
        "detail-type": detail_type,
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-23T04:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:ec2:eu-west-1:123456789012:instance/{INSTANCE}"],
        "detail": detail,
    }


def test_a_direct_drain_needs_the_cluster_and_the_instance() -> None:
    request, signal = rebalance_from_event(
        {"clusterName": "prod", "instanceId": INSTANCE, "action": "drain"}
    )
    assert (request.cluster_name, request.instance_id, request.replace) == ("prod", INSTANCE, False)
    assert signal.kind == "direct"
    for bad, message in [
        ({"instanceId": INSTANCE, "action": "drain"}, "clusterName: Field required"),
        ({"clusterName": "prod", "action": "drain"}, "action drain needs instanceId"),
        (
            {"clusterName": "prod", "action": "rebalance-az", "instanceId": INSTANCE},
            "rebalance-az takes no instanceId",
        ),
        ({"clusterName": "prod", "action": "evacuate"}, "action"),
        ({"clusterName": "prod", "instanceId": "i-xyz", "action": "drain"}, "instanceId"),
        (
            {**DRAIN, "timeout": 5},
            "timeout: Extra inputs are not permitted",
        ),
        (
            {
                "clusterName": "prod",
                "instanceId": INSTANCE,
                "action": "drain",
                "drainTimeoutSeconds": 5,
            },
            "drainTimeoutSeconds",
        ),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            rebalance_from_event(bad)


@pytest.mark.parametrize(
    ("detail_type", "detail", "kind", "replace"),
    [
        (
            "EC2 Spot Instance Interruption Warning",
            {"instance-id": INSTANCE, "instance-action": "terminate"},
            "spot-interruption",
            False,
        ),
        (
            "EC2 Instance Rebalance Recommendation",
            {"instance-id": INSTANCE},
            "rebalance-recommendation",
            True,
        ),
        (
            "EC2 Instance State-change Notification",
            {"instance-id": INSTANCE, "state": "stopping"},
            "state-change",
            False,
        ),
    ],
)
def test_ec2_signals_drain_their_instance(detail_type, detail, kind, replace) -> None:
    request, signal = rebalance_from_event(ec2_event(detail_type, **detail))
    assert request.action == "drain"
    assert request.instance_id == INSTANCE
    assert request.cluster_name is None  # found from the instance's tags
    assert request.region == "eu-west-1"
    assert request.replace is replace
    assert (signal.kind, signal.time) == (kind, "2026-11-23T04:00:00Z")


def test_a_terminate_lifecycle_action_carries_what_completes_it() -> None:
    event = ec2_event("EC2 Instance-terminate Lifecycle Action")
    event["source"] = "aws.autoscaling"
    event["detail"] = {
        "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
        "AutoScalingGroupName": "eks-workers-1234",
        "LifecycleHookName": "drain",
        "EC2InstanceId": INSTANCE,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
    }
    request, signal = rebalance_from_event(event)
    assert request.instance_id == INSTANCE
    assert signal.lifecycle is not None
    assert signal.lifecycle.token == "87654321-4321-4321-4321-210987654321"
    assert (signal.lifecycle.group_name, signal.lifecycle.hook_name) == (
        "eks-workers-1234",
        "drain",
    )


def test_other_events_and_states_are_named_errors() -> None:
    with pytest.raises(InvalidInputError, match="only stopping and shutting-down drain"):
        rebalance_from_event(
            ec2_event(
                "EC2 Instance State-change Notification",
                **{"instance-id": INSTANCE, "state": "running"},
            )
        )
    with pytest.raises(InvalidInputError, match="does not act on the event"):
        rebalance_from_event(
            ec2_event("EC2 Instance Launch Successful", **{"instance-id": INSTANCE})
        )
    with pytest.raises(InvalidInputError, match="instanceId"):
        rebalance_from_event(ec2_event("EC2 Spot Instance Interruption Warning"))


def test_execution_names_are_derived_and_fit() -> None:
    assert execution_name("spot-interruption", INSTANCE) == f"spot-interruption-{INSTANCE}"
    long = execution_name("az-skew", "c" * 100, "20261123T0400")
    assert len(long) == MAX_NAME
    assert long != execution_name("az-skew", "c" * 99 + "d", "20261123T0400")


class FakeSfn:
    """Step Functions' StartExecution naming rules: a name is taken for good; the same name and
    input while running returns the running execution."""

    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self) -> None:
        self.started: dict[str, str] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        if name in self.started and self.started[name] != input:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.started[name] = input
        return {"executionArn": f"{stateMachineArn}:{name}"}


class FakeEks:
    def __init__(self, clusters: dict[str, dict[str, str]]) -> None:
        self.clusters = clusters

    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def get_paginator(self, name: str) -> Any:
        clusters = sorted(self.clusters)

        class Pages:
            def paginate(self) -> list[dict[str, Any]]:
                return [{"clusters": clusters}]

        return Pages()

    def describe_cluster(self, name: str) -> dict[str, Any]:
        return {"cluster": {"name": name, "tags": self.clusters[name]}}


ENV = {"REBALANCE_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:r"}


def test_a_signal_sent_twice_starts_one_execution() -> None:
    sfn = FakeSfn()
    first = ec2_event("EC2 Spot Instance Interruption Warning", **{"instance-id": INSTANCE})
    again = {**first, "id": "another-delivery-of-another-warning"}
    answers = [route(event, sfn, FakeEks({}), ENV) for event in (first, first, again)]
    assert [a["executions"][0]["name"] for a in answers] == [f"spot-interruption-{INSTANCE}"] * 3
    assert [a["executions"][0]["started"] for a in answers] == [True, True, False]
    assert len(sfn.started) == 1


def test_each_stop_of_an_instance_is_drained_once() -> None:
    sfn = FakeSfn()
    stop = ec2_event(
        "EC2 Instance State-change Notification", **{"instance-id": INSTANCE, "state": "stopping"}
    )
    stop["time"] = "2026-11-23T04:00:00Z"
    later = {**stop, "id": "the-next-stop", "time": "2026-11-24T09:30:15Z"}
    for event in (stop, {**stop, "id": "a-repeated-delivery"}, later):
        route(event, sfn, FakeEks({}), ENV)
    assert sorted(sfn.started) == [
        f"state-change-{INSTANCE}-20261123T040000Z",
        f"state-change-{INSTANCE}-20261124T093015Z",
    ]


def test_the_schedule_starts_one_skew_check_per_managed_cluster() -> None:
    sfn = FakeSfn()
    eks = FakeEks(
        {
            "made-by-eksops": {"eksops:cluster": "made-by-eksops"},
            "listed": {},
            "opted-out": {"eksops:cluster": "opted-out", "eksops/rebalance": "off"},
            "someone-elses": {},
        }
    )
    event = {
        "id": "s",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-11-23T04:00:00Z",
        "detail": {},
    }
    answer = route(event, sfn, eks, {**ENV, "REBALANCE_CLUSTER_NAMES": "listed"})
    assert sorted(sfn.started) == [
        "az-skew-listed-20261123T0400",
        "az-skew-made-by-eksops-20261123T0400",
    ]
    assert json.loads(sfn.started["az-skew-listed-20261123T0400"]) == {
        "clusterName": "listed",
        "action": "rebalance-az",
    }
    assert answer["signal"] == "schedule"


def test_each_terminate_hook_of_an_instance_gets_its_own_execution() -> None:
    sfn = FakeSfn()
    for hook in ("Terminate-LC-Hook", "eksops-drain", "eksops-drain"):
        event = ec2_event("EC2 Instance-terminate Lifecycle Action")
        event["source"] = "aws.autoscaling"
        event["detail"] = {
            "LifecycleActionToken": f"token-of-{hook}",
            "AutoScalingGroupName": "eks-workers",
            "LifecycleHookName": hook,
            "EC2InstanceId": INSTANCE,
        }
        route(event, sfn, FakeEks({}), ENV)
    assert sorted(sfn.started) == [
        f"terminate-lifecycle-action-{INSTANCE}-Terminate-LC-Hook",
        f"terminate-lifecycle-action-{INSTANCE}-eksops-drain",
    ]


def test_names_step_functions_refuses_are_replaced_and_kept_distinct() -> None:
    slashed = execution_name("terminate-lifecycle-action", INSTANCE, "team/drain")
    underscored = execution_name("terminate-lifecycle-action", INSTANCE, "team_drain")
    assert "/" not in slashed
    assert slashed != underscored
    assert len(slashed) <= MAX_NAME


def test_only_the_stack_s_lifecycle_hooks_are_completed() -> None:
    from eksops.models.rebalance_nodegroups import LifecycleAction, Signal
    from eksops.rebalance_steps import _hook_not_ours

    def signal(hook: str) -> Signal:
        action = LifecycleAction(group_name="g", hook_name=hook, token="t")
        return Signal(kind="terminate-lifecycle-action", lifecycle=action)

    assert _hook_not_ours(signal("eksops-drain"), {}) is None  # the default
    assert "Terminate-LC-Hook is not one eksops completes" in (
        _hook_not_ours(signal("Terminate-LC-Hook"), {}) or ""
    )
    listed = {"DRAIN_LIFECYCLE_HOOK_NAMES": "ours, theirs"}
    assert _hook_not_ours(signal("theirs"), listed) is None
    assert _hook_not_ours(Signal(kind="spot-interruption"), {}) is None


def test_each_signal_gets_its_drain_budget() -> None:
    from eksops.models.rebalance_nodegroups import RebalanceInput, Signal
    from eksops.rebalance_steps import _budget

    plain = RebalanceInput(cluster_name="prod", instance_id=INSTANCE, action="drain")
    told = plain.model_copy(update={"drain_timeout_seconds": 1200})
    stack = {"DRAIN_TIMEOUT_SECONDS": "900"}
    # EC2 reclaims a Spot instance 2 minutes after its warning; a stopping one is going now
    for kind in ("spot-interruption", "state-change"):
        assert _budget(told, Signal(kind=kind), stack) == 90
    for kind in ("rebalance-recommendation", "terminate-lifecycle-action", "direct"):
        assert _budget(plain, Signal(kind=kind), {}) == 600  # the default
        assert _budget(plain, Signal(kind=kind), stack) == 900  # the stack's
        assert _budget(told, Signal(kind=kind), stack) == 1200  # the input's
