"""Hub and spoke: the account an event or a request acts in (eksops.fleet), the target fields
every workflow input shares, and the per-account slots that bound remediation runs
(eksops.account_slots)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eksops import account_slots
from eksops.errors import AccountBusyError, InvalidInputError
from eksops.execution_status import Running
from eksops.fleet import account_of, member_target
from eksops.models.base import parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.models.prune_rules import PruneInput, RestoreInput, prune_input_from_event
from eksops.models.rebalance_nodegroups import RebalanceInput, rebalance_from_event
from eksops.models.setup_irsa import SetupIrsaInput

from tests.support.dynamodb import mocked_table

HUB, MEMBER = "123456789012", "111111111111"
ENVIRON = {
    "HUB_ACCOUNT_ID": HUB,
    "MEMBER_ROLE_ARN": "arn:aws:iam::{account}:role/eksops-member",
    "MEMBER_EXTERNAL_ID": "ext-0123",
}
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/eksops-member"
FIRST, SECOND, THIRD = "arn:exec:first", "arn:exec:second", "arn:exec:third"


def spot_warning(account: str) -> dict[str, Any]:
    return {
        "id": "e-1",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": account,
        "region": "eu-west-1",
        "time": "2026-11-23T08:00:00Z",
        "detail": {"instance-id": "i-0123456789abcdef0", "instance-action": "terminate"},
    }


def load_balancer_deleted(account: str) -> dict[str, Any]:
    return {
        "id": "e-2",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.elasticloadbalancing",
        "account": account,
        "region": "eu-west-1",
        "detail": {
            "eventSource": "elasticloadbalancing.amazonaws.com",
            "eventName": "DeleteLoadBalancer",
        },
    }


# --- which account ------------------------------------------------------------------------------


def test_a_member_event_acts_in_its_account_as_the_member_role() -> None:
    assert member_target(spot_warning(MEMBER), ENVIRON) == {
        "targetRoleArn": MEMBER_ROLE,
        "externalId": "ext-0123",
    }
    request, _ = rebalance_from_event(spot_warning(MEMBER), ENVIRON)
    assert (request.target_role_arn, request.external_id) == (MEMBER_ROLE, "ext-0123")
    pruned, _ = prune_input_from_event(load_balancer_deleted(MEMBER), ENVIRON)
    assert (pruned.target_role_arn, pruned.external_id) == (MEMBER_ROLE, "ext-0123")


def test_the_hubs_own_events_act_here() -> None:
    assert member_target(spot_warning(HUB), ENVIRON) == {}
    request, _ = rebalance_from_event(spot_warning(HUB), ENVIRON)
    assert request.target_role_arn is None
    # a stack with no member accounts (no organization) treats every event as its own
    assert member_target(spot_warning(MEMBER), {}) == {}


def test_no_external_id_when_the_stack_sets_none() -> None:
    environ = {**ENVIRON, "MEMBER_EXTERNAL_ID": ""}
    assert member_target(spot_warning(MEMBER), environ) == {"targetRoleArn": MEMBER_ROLE}


@pytest.mark.parametrize(
    ("account", "environ", "message"),
    [
        (MEMBER, {**ENVIRON, "MEMBER_ROLE_ARN": ""}, "no member role to act there"),
        ("not-an-account", ENVIRON, "not a 12-digit account ID"),
        (12, ENVIRON, "not a 12-digit account ID"),
        (MEMBER, {**ENVIRON, "HUB_ACCOUNT_ID": ""}, "does not know its own account"),
    ],
)
def test_a_member_event_the_stack_cannot_act_on_is_named(account, environ, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        member_target(spot_warning(account), environ)


def test_the_account_of_a_run() -> None:
    assert account_of(MEMBER_ROLE, ENVIRON) == MEMBER
    assert account_of(None, ENVIRON) == HUB


# --- the target fields of every workflow ---------------------------------------------------------

MODELS = (
    CreateClusterInput,
    DeleteClusterInput,
    JoinNodegroupInput,
    SetupIrsaInput,
    PruneInput,
    RestoreInput,
    RebalanceInput,
)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_workflow_takes_a_target_role_and_external_id(model) -> None:
    properties = model.model_json_schema(by_alias=True)["properties"]
    assert {"targetRoleArn", "externalId"} <= set(properties)
    assert properties["externalId"]["description"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"externalId": "ext-0123"}, "externalId is only used with targetRoleArn"),
        ({"targetRoleArn": MEMBER_ROLE, "externalId": "x"}, "externalId"),  # too short
        ({"targetRoleArn": MEMBER_ROLE, "externalId": "has space"}, "externalId"),
        ({"targetRoleArn": MEMBER_ROLE, "externalId": "é" * 4}, "externalId"),
    ],
)
def test_a_bad_external_id_is_named(fields, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_event(DeleteClusterInput, {"clusterName": "prod", **fields})


# --- slots ---------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[Any]:
    with mocked_table("slots", "account") as created:
        yield created


def running(*arns: str) -> Running:
    return lambda arn: arn in arns


def take(table: Any, execution: str, live: tuple[str, ...], limit: int = 2, at: Any = now) -> int:
    return account_slots.take(table, MEMBER, execution, limit, running(*live), at)


def test_runs_take_slots_up_to_the_limit(table) -> None:
    assert take(table, FIRST, ()) == 1
    assert take(table, SECOND, (FIRST,)) == 2
    with pytest.raises(AccountBusyError, match=f"account {MEMBER} has 2 .*{FIRST}, {SECOND}"):
        take(table, THIRD, (FIRST, SECOND))
    # other accounts have slots of their own
    assert account_slots.take(table, HUB, THIRD, 2, running(FIRST, SECOND), now) == 1


def test_a_rerun_keeps_its_slot(table) -> None:
    take(table, FIRST, ())
    take(table, SECOND, (FIRST,))
    assert take(table, FIRST, (FIRST, SECOND)) == 2  # a retried StartPrune, not a third slot


def test_a_holder_that_stopped_frees_its_slot(table) -> None:
    take(table, FIRST, ())
    take(table, SECOND, (FIRST,))
    assert take(table, THIRD, (SECOND,)) == 2  # FIRST failed, was stopped or ended
    item = table.get_item(Key={"account": MEMBER})["Item"]
    assert set(item["holders"]) == {SECOND, THIRD}


def test_a_holder_step_functions_does_not_know_yet_keeps_its_slot_for_a_while(table) -> None:
    unknown: Running = lambda arn: None  # noqa: E731
    account_slots.take(table, MEMBER, FIRST, 1, unknown, now)
    with pytest.raises(AccountBusyError):
        account_slots.take(table, MEMBER, SECOND, 1, unknown, lambda: now() + timedelta(minutes=4))
    later = lambda: now() + timedelta(minutes=6)  # noqa: E731
    assert account_slots.take(table, MEMBER, SECOND, 1, unknown, later) == 1


def test_two_runs_reading_the_same_slots_do_not_both_take_the_last(table) -> None:
    take(table, FIRST, (), limit=2)
    real_get = table.get_item
    reads = []

    def get_item(**kw: Any) -> Any:
        answer = real_get(**kw)
        if not reads:  # the other run writes between this run's read and its write
            reads.append(kw)
            account_slots.take(table, MEMBER, SECOND, 2, running(FIRST), now)
        return answer

    racing = type("Racing", (), {"get_item": staticmethod(get_item), "put_item": table.put_item})
    with pytest.raises(AccountBusyError, match="has 2"):
        account_slots.take(racing(), MEMBER, THIRD, 2, running(FIRST, SECOND), now)


def test_no_table_bounds_nothing() -> None:
    assert account_slots.take_for_run(MEMBER_ROLE, FIRST, {}) is None
