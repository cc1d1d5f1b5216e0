"""EventBridge delivery in the offline account: moto's rules, AWS's targets.

moto matches ``PutEvents`` entries against rules but delivers only to CloudWatch Logs, archives,
SQS and event buses, synchronously, and ignores a target's ``Input`` and ``InputPath``.
:func:`install` adapts moto in-process (no file of moto is edited) so that, as in AWS:

- delivery is asynchronous: ``PutEvents`` returns once the matched (rule, target) pairs are
  queued; one background worker delivers them in order, and a failing target is logged and
  never raised into ``PutEvents`` nor stops the other targets;
- only ``ENABLED`` rules match, and a schedule-only rule (no ``EventPattern``) matches no
  ``PutEvents`` entry;
- a target gets ``Input`` (constant JSON) if set, else the ``InputPath`` part of the event, else
  the ``InputTransformer`` output, else the whole event in EventBridge's shape (``time`` ISO 8601,
  no moto-internal keys);
- a Step Functions state machine target starts an execution (``StartExecution``) with that
  input, after checking the target's ``RoleArn`` names an existing IAM role;
- a Lambda function target is invoked asynchronously (``InvocationType=Event``) with that
  payload;
- an event bus target, of this account or another, gets the event itself (its id, account,
  region, time and resources kept; moto put a new event of the bus's own account), when that
  bus's policy lets the sender's account put it: a statement for the account, or for ``*``
  (under an ``aws:PrincipalOrgID`` condition: offline there is no AWS Organizations, every
  account counts as the organization's), its ``events:source`` and ``events:detail-type``
  conditions holding;
- :func:`fire_schedule` delivers a scheduled rule's ``Scheduled Event`` now (moto has no clock
  that fires ``ScheduleExpression`` rules).

Other targets (logs, SQS, archives) keep moto's own delivery, now on the worker.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.events.models import Rule, events_backends

from eksops.errors import EksopsError

logger = logging.getLogger(__name__)

__all__ = [
    "DeliveryTimeoutError",
    "RuleNotFoundError",
    "fire_schedule",
    "install",
    "wait_for_deliveries",
]


class RuleNotFoundError(EksopsError):
    """No scheduled rule of that name on that event bus (missing, or it has no schedule)."""

    error_name = "eksops.RuleNotFound"


class DeliveryTimeoutError(EksopsError, TimeoutError):
    """Event deliveries were still queued or running when the wait ran out."""

    error_name = "eksops.DeliveryTimeout"


@dataclass(frozen=True)
class _Delivery:
    """One matched (rule, target) pair; ``event`` in moto's internal shape."""

    rule: Rule
    target: dict[str, Any]
    event: dict[str, Any]
    transform_input: bool


_QUEUE: queue.Queue[_Delivery] = queue.Queue()
_LOCK = threading.Lock()
_worker: threading.Thread | None = None
_moto_send_to_targets: Any = None


def install() -> None:
    """Adapt moto's EventBridge delivery as described in the module docstring. Idempotent."""
    global _moto_send_to_targets
    with _LOCK:
        if _moto_send_to_targets is not None:
            return
        _moto_send_to_targets = Rule.send_to_targets
        Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]


def fire_schedule(
    rule_name: str,
    event_bus: str = "default",
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str | None = None,
) -> int:
    """Deliver the ``Scheduled Event`` of a scheduled rule now, as its schedule would in AWS.

    ``region`` defaults to ``AWS_REGION`` / ``AWS_DEFAULT_REGION``. Returns the number of targets
    the event was queued for (0 for a disabled rule, which AWS does not fire). Raises
    :class:`RuleNotFoundError` for a missing rule or one without a ``ScheduleExpression``.
    """
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise RuleNotFoundError(f"rule {rule_name}: no region given and AWS_REGION is not set")
    bus = events_backends[account_id][region].event_buses.get(event_bus.split("/")[-1])
    rule = bus.rules.get(rule_name) if bus is not None else None
    if rule is None or not rule.scheduled_expression:
        what = "is not a scheduled rule" if rule is not None else "does not exist"
        raise RuleNotFoundError(
            f"rule {rule_name} on event bus {event_bus} ({account_id}, {region}) {what}"
        )
    if not _enabled(rule):
        return 0
    now = time.time()
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": now,
        "region": region,
        "resources": [rule.arn],
        "detail": {},
        "ingestion-time": now,
    }
    targets = list(rule.targets)
    _enqueue(rule, targets, event, transform_input=True)
    return len(targets)


def wait_for_deliveries(timeout: float) -> None:
    """Block until every queued delivery has been made (executions started, functions invoked);
    raise :class:`DeliveryTimeoutError` if that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with _QUEUE.all_tasks_done:
        while _QUEUE.unfinished_tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeliveryTimeoutError(
                    f"{_QUEUE.unfinished_tasks} event deliveries pending after {timeout}s"
                )
            _QUEUE.all_tasks_done.wait(remaining)


# -- matching and queueing (runs inside PutEvents) ---------------------------------------------


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """Replaces ``Rule.send_to_targets``: match now, deliver later (AWS: PutEvents is async)."""
    if not _enabled(self):
        return  # AWS: a DISABLED rule matches nothing
    if self.scheduled_expression and not self.event_pattern.get_pattern():
        return  # AWS: a schedule-only rule has no pattern, so it matches no PutEvents entry
    if not self.event_pattern.matches_event(original_event):
        return
    _enqueue(self, list(self.targets), dict(original_event), transform_input)


def _enabled(rule: Rule) -> bool:
    return str(rule.state).startswith("ENABLED")


def _enqueue(
    rule: Rule, targets: list[dict[str, Any]], event: dict[str, Any], transform_input: bool
) -> None:
    global _worker
    with _LOCK:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="eksops-events", daemon=True)
            _worker.start()
    for target in targets:
        _QUEUE.put(_Delivery(rule, copy.deepcopy(target), copy.deepcopy(event), transform_input))


# -- delivery (runs on the worker) -------------------------------------------------------------


def _work() -> None:
    while True:
        delivery = _QUEUE.get()
        try:
            _deliver(delivery)
        except Exception:
            # AWS: a failed invocation is counted (FailedInvocations), never reported to PutEvents
            logger.exception(
                "event %s: delivery to target %s of rule %s failed",
                delivery.event.get("id"),
                delivery.target.get("Id"),
                delivery.rule.name,
            )
        finally:
            _QUEUE.task_done()


def _deliver(delivery: _Delivery) -> None:
    arn = delivery.target["Arn"]
    parts = arn.split(":")
    service, account, region = parts[2], parts[4], parts[3]
    if service == "states" and parts[5] == "stateMachine":
        _start_execution(delivery, account, region)
    elif service == "lambda" and parts[5] == "function":
        _invoke_function(delivery, parts[6], parts[7] if len(parts) > 7 else None, account, region)
    elif service == "events" and parts[5].startswith("event-bus/"):
        _forward(delivery, parts[5].split("/", 1)[1], account, region)
    else:  # moto's own delivery for its supported targets, one target at a time
        single = copy.copy(delivery.rule)
        single.targets = [delivery.target]
        _moto_send_to_targets(single, delivery.event, delivery.transform_input)


def _start_execution(delivery: _Delivery, account: str, region: str) -> None:
    """AWS: EventBridge assumes the target's RoleArn and calls StartExecution with the input."""
    from moto.iam.models import iam_backends
    from moto.stepfunctions.responses import get_backend

    role_arn = delivery.target.get("RoleArn")
    if not role_arn:
        raise ValueError(f"target {delivery.target['Id']}: a state machine target needs RoleArn")
    iam_backends[role_arn.split(":")[4]][role_arn.split(":")[1]].get_role_by_arn(role_arn)
    sfn = get_backend(account, region)  # the ASL interpreter when execute_state_machine is on
    execution = sfn.start_execution(
        delivery.target["Arn"], str(uuid.uuid4()), _target_input(delivery)
    )
    logger.info("event %s started %s", delivery.event.get("id"), execution.execution_arn)


def _forward(delivery: _Delivery, bus_name: str, account: str, region: str) -> None:
    """AWS: the event itself goes to the target bus, where its rules match it, if the bus's
    policy admits the sender (its own account always is)."""
    from moto.events.models import events_backends

    bus = events_backends[account][region].describe_event_bus(bus_name)
    sender = delivery.event["account"]
    if sender != account and not _admits(bus.policy, delivery.event):
        raise PermissionError(
            f"event bus {bus.arn} does not let account {sender} put this event (its policy: "
            f"{bus.policy})"
        )
    for rule in list(bus.rules.values()):
        rule.send_to_targets(copy.deepcopy(delivery.event))


def _admits(policy: str | None, event: dict[str, Any]) -> bool:
    """Whether a statement of ``policy`` lets the event's account put it: the account, or ``*``
    (an ``aws:PrincipalOrgID`` condition holds for every account offline), with the
    ``events:source`` and ``events:detail-type`` conditions, if any, holding for the event."""
    account = event["account"]
    for statement in json.loads(policy or "{}").get("Statement", []):
        actions = statement.get("Action")
        if statement.get("Effect") != "Allow" or "events:PutEvents" not in (
            actions if isinstance(actions, list) else [actions]
        ):
            continue
        principal = statement.get("Principal")
        accounts = principal.get("AWS") if isinstance(principal, dict) else principal
        accounts = accounts if isinstance(accounts, list) else [accounts]
        if not any(str(a) in ("*", account, f"arn:aws:iam::{account}:root") for a in accounts):
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals", {})
        if all(
            event[field] in (equals[key] if isinstance(equals[key], list) else [equals[key]])
            for key, field in (("events:source", "source"), ("events:detail-type", "detail-type"))
            if key in equals
        ):
            return True
    return False


def _invoke_function(
    delivery: _Delivery, name: str, qualifier: str | None, account: str, region: str
) -> None:
    """AWS: EventBridge invokes Lambda asynchronously (InvocationType=Event) with the input."""
    from moto.awslambda.models import lambda_backends

    lambda_backends[account][region].invoke(
        name,
        qualifier,
        _target_input(delivery),
        headers={"x-amz-invocation-type": "Event"},
        response_headers={},
    )


# -- the input a target receives -----------------------------------------------------------------


def _target_input(delivery: _Delivery) -> str:
    """The text AWS sends the target: Input, else InputPath, else InputTransformer, else the
    event. (AWS's PutTargets accepts only one of the three; moto does not check.)"""
    target, event = delivery.target, _aws_event(delivery.event)
    given = [key for key in ("Input", "InputPath", "InputTransformer") if key in target]
    if len(given) > 1:
        logger.warning("target %s sets %s; AWS accepts only one", target["Id"], given)
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        found, value = _json_path(event, target["InputPath"])
        return json.dumps(value if found else None)
    if "InputTransformer" in target:
        return _transform(target["InputTransformer"], event, delivery)
    return json.dumps(event)


def _aws_event(event: dict[str, Any]) -> dict[str, Any]:
    """moto's event as EventBridge sends it: its keys in AWS's order, ``time`` ISO 8601."""
    return {
        "version": event.get("version", "0"),
        "id": event["id"],
        "detail-type": event["detail-type"],
        "source": event["source"],
        "account": event["account"],
        "time": _iso(event["time"]),
        "region": event["region"],
        "resources": event.get("resources", []),
        "detail": event.get("detail", {}),
    }


def _iso(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


def _json_path(document: Any, path: str) -> tuple[bool, Any]:
    """EventBridge's JSONPath subset: ``$``, dot notation, array indices, wildcards.
    Returns (found, value); a path with a wildcard yields the list of its matches."""
    if not path.startswith("$"):
        raise ValueError(f"unsupported JSONPath {path!r}")
    nodes, wildcard, position = [document], False, 1
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise ValueError(f"unsupported JSONPath {path!r}")
        position = step.end()
        key, index = step.groups()
        found: list[Any] = []
        for node in nodes:
            if key == "*" or index == "*":
                wildcard = True
                found.extend(node.values() if isinstance(node, dict) else node)
            elif key is not None and isinstance(node, dict) and key in node:
                found.append(node[key])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                found.append(node[int(index)])
        nodes = found
    if wildcard:
        return True, nodes
    return (True, nodes[0]) if nodes else (False, None)


_TEMPLATE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|<([A-Za-z0-9_.\-]+)>')
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _transform(transformer: dict[str, Any], event: dict[str, Any], delivery: _Delivery) -> str:
    """AWS's InputTransformer: InputPathsMap values are JSONPaths into the event; in a JSON
    template a placeholder outside quotes becomes the JSON value, inside quotes the raw text
    (not escaped, as in AWS); a template not starting with ``{`` or ``[`` is text. A path that
    matches nothing gives ``null`` (in quotes: nothing)."""
    paths: dict[str, str] = transformer.get("InputPathsMap") or {}
    values: dict[str, Any] = {}
    for name, path in paths.items():
        found, value = _json_path(event, path)
        if found:
            values[name] = value
    values.update(
        {
            "aws.events.rule-arn": delivery.rule.arn,
            "aws.events.rule-name": delivery.rule.name,
            "aws.events.event.ingestion-time": _iso(
                delivery.event.get("ingestion-time", event["time"])
            ),
            "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
            "aws.events.event.json": event,
        }
    )

    defined = set(paths) | set(values)

    def raw(match: re.Match[str]) -> str:
        if match.group(1) not in defined:
            return match.group(0)  # not a variable: left as written
        value = values.get(match.group(1))
        return value if isinstance(value, str) else "" if value is None else json.dumps(value)

    template: str = transformer["InputTemplate"]
    if not template.lstrip().startswith(("{", "[")):
        return _PLACEHOLDER.sub(raw, template)

    def token(match: re.Match[str]) -> str:
        if match.group(1) is None:  # a string literal: placeholders in it are raw text
            return _PLACEHOLDER.sub(raw, match.group(0))
        if match.group(1) not in defined:
            return match.group(0)
        return json.dumps(values.get(match.group(1)))

    return _TEMPLATE_TOKEN.sub(token, template)
