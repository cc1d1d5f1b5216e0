"""The managed node groups a JoinNodegroup input asks for: one, or one per AZ of its subnets;
CreateNodegroup's parameters; and how an existing node group differs (adopting one is only safe
when nothing that matters differs)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Annotated, Any

from pydantic import Field

from eksops.errors import InvalidInputError
from eksops.models.base import EventModel
from eksops.models.fields import SUBNET_PATTERN
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.ownership import creation_tags

NODEGROUP_NAME_LIMIT = 63
AUTOSCALER_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"
AUTOSCALER_CLUSTER_TAG = "k8s.io/cluster-autoscaler/{}"


class PlannedNodegroup(EventModel):
    """One node group to create or adopt (carried between the workflow's steps)."""

    name: str
    """Node group name (<name>-<az> with perAz)."""
    subnet_ids: list[Annotated[str, Field(pattern=SUBNET_PATTERN)]]
    """Its subnets."""
    availability_zone: str | None = None
    """Its AZ (perAz only)."""


def plan_nodegroups(
    request: JoinNodegroupInput, subnets: list[dict[str, Any]]
) -> list[PlannedNodegroup]:
    """One node group over every subnet, or one per AZ (sorted by AZ); ``subnets`` as
    DescribeSubnets returns them."""
    assert request.name is not None
    assert request.subnet_ids is not None
    if not request.per_az:
        return [PlannedNodegroup(name=request.name, subnet_ids=list(request.subnet_ids))]
    by_zone: dict[str, list[str]] = defaultdict(list)
    zones = {subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in subnets}
    for subnet_id in request.subnet_ids:
        by_zone[zones[subnet_id]].append(subnet_id)
    planned = []
    for zone in sorted(by_zone):
        name = f"{request.name}-{zone}"
        if len(name) > NODEGROUP_NAME_LIMIT:
            raise InvalidInputError(
                f"name: with perAz the node groups are named <name>-<az>, and {name!r} is over "
                f"EKS's {NODEGROUP_NAME_LIMIT} characters; use a shorter name"
            )
        planned.append(
            PlannedNodegroup(name=name, subnet_ids=by_zone[zone], availability_zone=zone)
        )
    return planned


def nodegroup_tags(request: JoinNodegroupInput, creator: str) -> dict[str, str]:
    tags = creation_tags(request.cluster_name, creator, request.tags)
    if request.autoscaler:
        tags[AUTOSCALER_ENABLED_TAG] = "true"
        tags[AUTOSCALER_CLUSTER_TAG.format(request.cluster_name)] = "owned"
    return tags


def _launch_template(request: JoinNodegroupInput) -> dict[str, str] | None:
    template = request.launch_template
    if template is None:
        return None
    spec = {"id": template.id} if template.id else {"name": template.name}
    if template.version:
        spec["version"] = template.version
    return {key: value for key, value in spec.items() if value is not None}


def create_parameters(
    request: JoinNodegroupInput, planned: PlannedNodegroup, node_role_arn: str, creator: str
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "clusterName": request.cluster_name,
        "nodegroupName": planned.name,
        "scalingConfig": request.scaling.model_dump(by_alias=True),
        "subnets": list(planned.subnet_ids),
        "nodeRole": node_role_arn,
        "capacityType": request.capacity_type,
        "labels": dict(request.labels),
        "taints": [taint.model_dump(exclude_none=True) for taint in request.taints],
        "tags": nodegroup_tags(request, creator),
        # a retried CreateNodegroup of the same execution is the same request, not a second one
        "clientRequestToken": hashlib.sha256(f"{creator} {planned.name}".encode()).hexdigest(),
    }
    if request.instance_types:
        parameters["instanceTypes"] = list(request.instance_types)
    if request.ami_type:
        parameters["amiType"] = request.ami_type
    if (template := _launch_template(request)) is not None:
        parameters["launchTemplate"] = template
    return parameters


def _taints(taints: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    return {(t["key"], t.get("value"), t["effect"]) for t in taints}


def differences(
    existing: dict[str, Any],
    request: JoinNodegroupInput,
    planned: PlannedNodegroup,
    node_role_arn: str,
) -> list[str]:
    """What of the request an existing node group does not match. desiredSize is left out: the
    Cluster Autoscaler changes it. Fields the request leaves to EKS's default are not compared."""
    wanted = create_parameters(request, planned, node_role_arn, creator="")
    problems = []
    name = planned.name

    def differ(what: str, have: Any, want: Any) -> None:
        if have != want:
            problems.append(f"{name} {what}: is {have!r}, the input asks for {want!r}")

    differ("nodeRole", existing.get("nodeRole"), node_role_arn)
    differ("subnets", sorted(existing.get("subnets", [])), sorted(wanted["subnets"]))
    differ("capacityType", existing.get("capacityType"), wanted["capacityType"])
    scaling = existing.get("scalingConfig") or {}
    for key in ("minSize", "maxSize"):
        differ(f"scalingConfig.{key}", scaling.get(key), wanted["scalingConfig"][key])
    differ("labels", existing.get("labels") or {}, wanted["labels"])
    differ("taints", _taints(existing.get("taints") or []), _taints(wanted["taints"]))
    for key in ("instanceTypes", "amiType"):
        if key in wanted:
            differ(key, existing.get(key), wanted[key])
    if "launchTemplate" in wanted:
        template = existing.get("launchTemplate") or {}
        for key, value in wanted["launchTemplate"].items():
            if key == "version" and value.startswith("$"):
                continue  # EKS records $Latest/$Default as the number they stood for
            differ(f"launchTemplate.{key}", template.get(key), value)
    return problems
