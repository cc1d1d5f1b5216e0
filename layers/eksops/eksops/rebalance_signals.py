"""EventBridge signals to RebalanceNodegroups executions, named after the instance and the signal
so that EventBridge's repeated deliveries, and repeated signals for one instance, start one
execution: Step Functions refuses (ExecutionAlreadyExists) or returns (same input, still
running) an execution of a name it has seen, and either counts as done.

A state change's name also carries its time: an instance that is stopped and started keeps its
ID, and each of its stops is drained.

The AZ-skew schedule starts one execution per cluster eksops manages, named after the cluster and
the scheduled minute."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eksops.eks_cluster import describe_cluster
from eksops.instance_mapping import unmanaged_reason
from eksops.models.rebalance_nodegroups import rebalance_from_event

STATE_MACHINE_VARIABLE = "REBALANCE_STATE_MACHINE_ARN"
SCHEDULED = "Scheduled Event"
MAX_NAME = 80  # Step Functions execution names


def execution_name(*parts: str) -> str:
    """``parts`` joined by dashes, characters Step Functions refuses in names (a hook name may
    have "/") replaced, shortened with a hash when over 80 characters or when anything was
    replaced (distinct parts stay distinct names)."""
    wanted = "-".join(parts)
    name = re.sub(r"[^A-Za-z0-9_.+=@-]", "_", wanted)
    if len(name) <= MAX_NAME and name == wanted:
        return name
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11]}-{digest}"


def _start(sfn: Any, state_machine_arn: str, name: str, payload: Any) -> dict[str, Any]:
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"name": name, "started": False}
    return {"name": name, "started": True, "executionArn": started["executionArn"]}


def managed_clusters(eks: Any, environ: Mapping[str, str]) -> list[str]:
    """The region's clusters eksops manages (created them, or the stack lists them; not opted
    out)."""
    names: list[str] = []
    for page in eks.get_paginator("list_clusters").paginate():
        names += page["clusters"]
    return [
        name
        for name in sorted(names)
        if unmanaged_reason(describe_cluster(eks, name), name, environ) is None
    ]


def route(
    event: dict[str, Any], sfn: Any, eks: Any, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """Start the executions an event stands for; a signal eksops does not act on is an
    InvalidInput error (the EventBridge rules match only those it does)."""
    state_machine_arn = environ[STATE_MACHINE_VARIABLE]
    if event.get("detail-type") == SCHEDULED and event.get("source") == "aws.events":
        minute = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        executions = [
            _start(
                sfn,
                state_machine_arn,
                execution_name("az-skew", cluster, minute.strftime("%Y%m%dT%H%M")),
                {"clusterName": cluster, "action": "rebalance-az"},
            )
            for cluster in managed_clusters(eks, environ)
        ]
        return {"signal": "schedule", "executions": executions}
    request, signal = rebalance_from_event(event, environ)
    # an instance leaving a group with several terminate hooks (EKS's and yours) has an action
    # per hook, each waiting for its own completion
    hook = [signal.lifecycle.hook_name] if signal.lifecycle else []
    # a state change happens once per transition, and its repeated deliveries carry its time;
    # an instance stopped and started keeps its ID, so its next stop needs a name of its own
    changed = signal.time if signal.kind == "state-change" else None
    when = [re.sub(r"[^0-9TZ]", "", changed)] if changed else []
    name = execution_name(signal.kind, request.instance_id or "", *hook, *when)
    return {"signal": signal.kind, "executions": [_start(sfn, state_machine_arn, name, event)]}
