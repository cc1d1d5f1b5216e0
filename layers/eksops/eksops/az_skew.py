"""Evening out per-AZ managed node groups: which node groups form a family, how many nodes each
should have, and which nodes leave. Pure decisions over plain dicts (EKS ``DescribeNodegroup``
node groups, per-node facts, Kubernetes PVCs and PVs as JSON); no AWS or Kubernetes calls here.

A family is what JoinNodegroup makes with ``perAz``: node groups named ``<prefix>-<zone>``, one
per Availability Zone, alike apart from their zone. When their node counts drift apart (Spot
reclaims, the Cluster Autoscaler scaling one of them, a zone's outage), the workflow moves
nodes from the long groups to the short ones: it raises the short groups' desiredSize (surge),
then drains the chosen nodes of the long groups and terminates them with the desired capacity
decremented. The total stays the same; the fewest nodes move.

A node that runs a pod bound to a zonal volume (an EBS volume lives in one AZ) is never
chosen: its pod could only come back in the same zone, so removing the node does not move
capacity where the skew needs it, it squeezes the pod's zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from eksops.drain_plan import pod_key

# A node group's own zone label says nothing about its kind: the family's groups differ in it.
NODEGROUP_ZONE_LABELS = frozenset(
    {"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"}
)
# The keys a PersistentVolume's zone is written under: the well-known label (CSI drivers, and
# the in-tree EBS plugin since 1.17), the EBS CSI driver's own topology key, the deprecated one.
VOLUME_ZONE_KEYS = (
    "topology.kubernetes.io/zone",
    "topology.ebs.csi.aws.com/zone",
    "failure-domain.beta.kubernetes.io/zone",
)
HOSTNAME_KEY = "kubernetes.io/hostname"
MULTI_ZONE_SEPARATOR = "__"  # legacy zone labels list several zones as "a__b"
ACTIVE = "ACTIVE"
SHOWN_NODES = 5  # nodes named in one blocked reason; the rest counted


# --- families ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One node group of a family: its zone and scaling configuration."""

    nodegroup: str
    zone: str
    min_size: int
    max_size: int
    desired_size: int
    status: str | None = None

    def result(self) -> dict[str, Any]:
        return {
            "nodegroup": self.nodegroup,
            "zone": self.zone,
            "minSize": self.min_size,
            "maxSize": self.max_size,
            "desiredSize": self.desired_size,
        }


@dataclass(frozen=True)
class Family:
    """Node groups of one kind, one per zone (at least two), sorted by zone. ``labels``: theirs,
    without the zone labels."""

    name: str
    labels: Mapping[str, str]
    members: tuple[Member, ...]

    def result(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "labels": dict(self.labels),
            "nodegroups": [member.result() for member in self.members],
        }


@dataclass(frozen=True)
class Excluded:
    """A node group that is in no family, and why."""

    nodegroup: str
    reason: str

    def result(self) -> dict[str, str]:
        return {"nodegroup": self.nodegroup, "reason": self.reason}


def family_prefix(name: str, zone: str) -> str | None:
    """The name without its zone suffix: ``workers`` of ``workers-us-east-1a`` (JoinNodegroup's
    form, and eksctl's) or of ``workers-a`` (the zone's letter, a common hand-made form), when
    the suffix names ``zone``, the node group's own zone; None otherwise. Matching the node
    group's actual zone is what makes the short form safe: ``workers-b`` in us-east-1a is not
    read as a zone suffix."""
    suffixes = [f"-{zone}"]
    if zone[-1:].isalpha():
        suffixes.append(f"-{zone[-1]}")
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def kind_of(nodegroup: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], tuple[Any, ...]]:
    """What the members of a family share: labels (zone labels aside), taints, capacity type
    and instance types. A pod that tolerates one group's taint cannot move to a group without
    it, and moving nodes between Spot and On-Demand, or between instance types, changes what
    the capacity is rather than where it is."""
    labels = {
        key: value
        for key, value in (nodegroup.get("labels") or {}).items()
        if key not in NODEGROUP_ZONE_LABELS
    }
    taints = sorted(
        (taint.get("key", ""), taint.get("value") or "", taint.get("effect", ""))
        for taint in nodegroup.get("taints") or []
    )
    capacity = (nodegroup.get("capacityType"), *sorted(nodegroup.get("instanceTypes") or []))
    return tuple(sorted(labels.items())), (*taints, capacity)


def _member(nodegroup: Mapping[str, Any], zone: str) -> Member:
    scaling = nodegroup.get("scalingConfig") or {}
    return Member(
        nodegroup=nodegroup["nodegroupName"],
        zone=zone,
        min_size=int(scaling.get("minSize", 0)),
        max_size=int(scaling.get("maxSize", 0)),
        desired_size=int(scaling.get("desiredSize", 0)),
        status=nodegroup.get("status"),
    )


def group_families(
    nodegroups: Iterable[Mapping[str, Any]],
) -> tuple[list[Family], list[Excluded]]:
    """The families among ``nodegroups`` (by name, then labels) and the node groups in none
    (by name), with the reason. Each node group is a ``DescribeNodegroup`` ``nodegroup`` plus
    ``zones``: the Availability Zones of its subnets."""
    excluded: list[Excluded] = []
    candidates: dict[tuple[str, Any], list[tuple[Member, Mapping[str, Any]]]] = defaultdict(list)
    for nodegroup in nodegroups:
        name = nodegroup["nodegroupName"]
        zones = sorted(set(nodegroup.get("zones") or []))
        if not zones:
            excluded.append(Excluded(name, "no zone: its subnets' zones are unknown"))
            continue
        if len(zones) > 1:
            excluded.append(
                Excluded(
                    name,
                    f"spans {len(zones)} zones ({', '.join(zones)}): only node groups of one "
                    "zone each can be evened out",
                )
            )
            continue
        zone = zones[0]
        prefix = family_prefix(name, zone)
        if prefix is None:
            short = f" or <name>-{zone[-1]}" if zone[-1:].isalpha() else ""
            excluded.append(
                Excluded(name, f"its name does not end with its zone: <name>-{zone}{short}")
            )
            continue
        candidates[(prefix, kind_of(nodegroup))].append((_member(nodegroup, zone), nodegroup))

    kinds_of_prefix: dict[str, int] = defaultdict(int)
    for prefix, _ in candidates:
        kinds_of_prefix[prefix] += 1
    found = []
    for (prefix, (labels, _)), members in candidates.items():
        names = sorted(member.nodegroup for member, _ in members)
        by_zone: dict[str, list[str]] = defaultdict(list)
        for member, _ in members:
            by_zone[member.zone].append(member.nodegroup)
        shared = {zone: sorted(group) for zone, group in by_zone.items() if len(group) > 1}
        if len(members) == 1:
            why = (
                f"no other node group named {prefix}-<zone> has the same labels, taints, "
                "capacity type and instance types"
                if kinds_of_prefix[prefix] > 1
                else f"alone: no other node group named {prefix}-<zone>"
            )
            excluded.append(Excluded(names[0], why))
        elif shared:
            detail = "; ".join(f"{zone}: {', '.join(shared[zone])}" for zone in sorted(shared))
            excluded += [
                Excluded(name, f"family {prefix} has more than one node group in a zone ({detail})")
                for name in names
            ]
        else:
            ordered = sorted((member for member, _ in members), key=lambda m: m.zone)
            found.append(Family(prefix, dict(labels), tuple(ordered)))
    found.sort(key=lambda family: (family.name, sorted(family.labels.items())))
    excluded.sort(key=lambda entry: entry.nodegroup)
    return found, excluded


# --- targets -------------------------------------------------------------------------------------


class _Bounds(NamedTuple):
    name: str
    count: int
    low: int
    high: int


def _clamp(level: int, low: int, high: int) -> int:
    return min(max(level, low), high)


def _even_targets(groups: list[_Bounds]) -> dict[str, int]:
    """The most even node counts within each group's bounds that keep the total, with the
    fewest moves. Water-filling: every group gets ``level`` clamped into its bounds, for the
    highest level whose total fits; the nodes left over (fewer than the groups that could take
    one more) go one each to the groups with the most nodes now, as each of those is a node
    that need not move (ties: by name). Any other allocation of the
    "+1"s, or of the levels, is less even (a larger sum of squares) or moves more nodes.
    Needs ``low <= count <= high`` for every group (the current counts are a solution)."""
    total = sum(group.count for group in groups)

    def filled(level: int) -> int:
        return sum(_clamp(level, group.low, group.high) for group in groups)

    low, high = min(group.low for group in groups), max(group.high for group in groups)
    while low < high:  # the highest level in [low, high] whose fill fits the total
        middle = (low + high + 1) // 2
        if filled(middle) <= total:
            low = middle
        else:
            high = middle - 1
    level = low
    targets = {group.name: _clamp(level, group.low, group.high) for group in groups}
    room = [group for group in groups if group.low <= level < group.high]
    room.sort(key=lambda group: (-group.count, group.name))
    for group in room[: total - filled(level)]:
        targets[group.name] += 1
    return targets


# --- the plan ------------------------------------------------------------------------------------


class Removal(NamedTuple):
    """A node to drain and terminate (with the desired capacity decremented)."""

    nodegroup: str
    node: str
    instance_id: str

    def result(self) -> dict[str, str]:
        return {"nodegroup": self.nodegroup, "node": self.node, "instanceId": self.instance_id}


@dataclass(frozen=True)
class SkewPlan:
    """What evens out one family. ``surge``: node group -> its new desiredSize (the short groups);
    ``remove``: the nodes to take out of the long groups, by node group then in order of
    preference; ``moves``: how many nodes move (= removals = nodes the surge adds); ``before``
    and ``after``: nodes per zone; ``blocked``: why the plan is not as even as it could be, or
    why there is no plan (then nothing moves); ``deferred``: moves left to later runs by the
    cap on moves per run."""

    family: str
    before: Mapping[str, int]
    after: Mapping[str, int]
    surge: Mapping[str, int]
    remove: tuple[Removal, ...]
    moves: int
    blocked: tuple[str, ...] = ()
    deferred: int = 0

    def result(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "moves": self.moves,
            "before": dict(self.before),
            "after": dict(self.after),
            "surge": dict(self.surge),
            "remove": [removal.result() for removal in self.remove],
            "blocked": list(self.blocked),
            "deferred": self.deferred,
        }


def _removal_order(node: Mapping[str, Any]) -> tuple[bool, bool, int, str]:
    """Which node of a long group goes first: NotReady ones (they serve nothing), then cordoned
    ones (they take no new pods already), then the fewest pods to evict; by name at last."""
    return (bool(node["ready"]), not node.get("cordoned", False), int(node["pods"]), node["name"])


def _unchanged(family: Family, before: dict[str, int], blocked: list[str]) -> SkewPlan:
    return SkewPlan(family.name, before, dict(before), {}, (), 0, tuple(blocked))


def _preconditions(family: Family, nodes_of: Mapping[str, list[Mapping[str, Any]]]) -> list[str]:
    """What makes the counts untrustworthy for a plan: a node group EKS is changing, nodes that
    do not match desiredSize (scaling in progress, or instances that never became nodes), a
    node that is not in its node group's zone."""
    blocked = []
    for member in family.members:
        nodes = nodes_of[member.nodegroup]
        if member.status not in (None, ACTIVE):
            blocked.append(f"{member.nodegroup} is {member.status}, not {ACTIVE}")
        if len(nodes) != member.desired_size:
            blocked.append(
                f"{member.nodegroup} has {len(nodes)} nodes but desiredSize "
                f"{member.desired_size}: still scaling, or instances that did not join"
            )
        blocked += [
            f"node {node['name']} of {member.nodegroup} is in {node['zone']}, not {member.zone}"
            for node in nodes
            if node.get("zone") not in (None, member.zone)
        ]
    return blocked


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NODES])
    return shown + (f" and {len(names) - SHOWN_NODES} more" if len(names) > SHOWN_NODES else "")


def _capped(counts: dict[str, int], targets: dict[str, int], max_moves: int) -> dict[str, int]:
    """Targets ``max_moves`` moves along the way to ``targets``: each move from the group with
    the most nodes to remove to the one with the most to add (ties: by name), so a capped run
    leaves the family as even as that many moves can."""
    partial = dict(counts)
    for _ in range(max_moves):
        longs = [name for name in partial if partial[name] > targets[name]]
        shorts = [name for name in partial if partial[name] < targets[name]]
        if not longs or not shorts:
            break
        partial[min(longs, key=lambda name: (targets[name] - partial[name], name))] -= 1
        partial[min(shorts, key=lambda name: (partial[name] - targets[name], name))] += 1
    return partial


def plan(
    family: Family, nodes: Iterable[Mapping[str, Any]], max_moves: int | None = None
) -> SkewPlan:
    """The plan that evens out ``family``. ``nodes``: facts per node (``name``, ``instanceId``,
    ``zone``, ``nodegroup``, ``ready``, ``cordoned``, ``pods``: how many pods to evict,
    ``unmovablePods``: keys of its pods bound to zonal volumes); nodes of other node groups are
    ignored.

    Nothing moves when the groups' node counts differ by at most one, or when a precondition
    fails (``blocked`` says which). Otherwise the targets are the most even counts within each
    group's minSize and maxSize that keep the total (max - min <= 1 whenever the bounds allow),
    with the fewest moves; a group never loses a node that runs an unmovable pod, so such nodes
    hold their group at a floor, and ``blocked`` names them when that floor makes the plan less
    even. At most ``max_moves`` nodes move (the rest is ``deferred``). Deterministic: ties are
    broken by name.
    """
    nodes_of: dict[str, list[Mapping[str, Any]]] = {m.nodegroup: [] for m in family.members}
    for node in nodes:
        if node.get("nodegroup") in nodes_of:
            nodes_of[node["nodegroup"]].append(node)
    counts = {name: len(group_nodes) for name, group_nodes in nodes_of.items()}
    before = {member.zone: counts[member.nodegroup] for member in family.members}
    blocked = _preconditions(family, nodes_of)
    if blocked:
        return _unchanged(family, before, blocked)
    if max(counts.values()) - min(counts.values()) <= 1:
        return _unchanged(family, before, [])

    removable = {
        name: sorted((n for n in group_nodes if not n.get("unmovablePods")), key=_removal_order)
        for name, group_nodes in nodes_of.items()
    }

    def bounds(member: Member, floor: int) -> _Bounds:
        count = counts[member.nodegroup]
        # clamped so that the current count is always within: a group outside its own
        # scaling bounds (EKS does not allow it) is never moved further out
        return _Bounds(
            member.nodegroup,
            count,
            min(max(member.min_size, floor), count),
            max(member.max_size, count),
        )

    ideal = [bounds(member, 0) for member in family.members]
    held = [
        bounds(member, counts[member.nodegroup] - len(removable[member.nodegroup]))
        for member in family.members
    ]
    ideal_targets = _even_targets(ideal)
    targets = _even_targets(held)
    blocked = _bound_reasons(family, ideal_targets)
    blocked += _unmovable_reasons(family, nodes_of, ideal_targets, targets)
    wanted = sum(max(0, counts[name] - targets[name]) for name in counts)
    if max_moves is not None:
        targets = _capped(counts, targets, max_moves)

    remove = tuple(
        Removal(member.nodegroup, node["name"], node["instanceId"])
        for member in family.members
        for node in removable[member.nodegroup][
            : max(0, counts[member.nodegroup] - targets[member.nodegroup])
        ]
    )
    surge = {
        name: targets[name]
        for name in sorted(targets)
        if targets[name] > counts[name]  # counts == desiredSize (a precondition)
    }
    after = {member.zone: targets[member.nodegroup] for member in family.members}
    return SkewPlan(
        family.name,
        before,
        after,
        surge,
        remove,
        len(remove),
        tuple(blocked),
        deferred=wanted - len(remove),
    )


def _bound_reasons(family: Family, targets: dict[str, int]) -> list[str]:
    """Why the scaling bounds alone leave the family uneven: each group two or more nodes above
    the smallest that sits at its minSize, and each two or more below the largest that sits at
    its maxSize. (In the most even plan, any two groups that differ by two or more are held
    apart by one of these.)"""
    low, high = min(targets.values()), max(targets.values())
    if high - low <= 1:
        return []
    reasons = []
    for member in family.members:
        target = targets[member.nodegroup]
        if target >= low + 2 and target == member.min_size:
            reasons.append(f"{member.nodegroup}: minSize {member.min_size} keeps it at {target}")
        if target <= high - 2 and target == member.max_size:
            reasons.append(f"{member.nodegroup}: maxSize {member.max_size} keeps it at {target}")
    return reasons


def _unmovable_reasons(
    family: Family,
    nodes_of: Mapping[str, list[Mapping[str, Any]]],
    ideal: dict[str, int],
    targets: dict[str, int],
) -> list[str]:
    """The groups that keep more nodes than the bounds alone would, because of nodes running
    pods bound to volumes in their zone: those nodes, and their pods."""
    reasons = []
    for member in family.members:
        name = member.nodegroup
        if targets[name] <= ideal[name]:
            continue
        pinned = sorted(
            (n for n in nodes_of[name] if n.get("unmovablePods")), key=lambda n: n["name"]
        )
        described = [f"{n['name']} ({', '.join(sorted(n['unmovablePods']))})" for n in pinned]
        reasons.append(
            f"{name}: keeps {targets[name]} nodes, not {ideal[name]}: {len(pinned)} of them run "
            f"pods on volumes in {member.zone}, which cannot move to another zone: "
            + _listed(described)
        )
    return reasons


# --- pods that cannot leave their zone -----------------------------------------------------------


def _index_claims(pvcs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        ((pvc["metadata"].get("namespace") or "default"), pvc["metadata"]["name"]): pvc
        for pvc in pvcs
    }


def _index_volumes(pvs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {pv["metadata"]["name"]: pv for pv in pvs}


def _named_zones(value: str) -> list[str]:
    return value.split(MULTI_ZONE_SEPARATOR)


def volume_pinned(pv: Mapping[str, Any], zone: str) -> bool:
    """Whether the PersistentVolume can only be used in ``zone``: its node affinity requires a
    zone key ``In`` values that include ``zone``, or a hostname (a local volume: pinned to a
    node, hence to its zone); or a zone label names ``zone``; or it is an in-tree EBS volume
    whose ID names ``zone`` (``aws://<zone>/vol-...``) or that says nothing of its zone: an EBS
    volume is zonal, and one in use is in its node's zone."""
    labels = (pv.get("metadata") or {}).get("labels") or {}
    if any(zone in _named_zones(labels[key]) for key in VOLUME_ZONE_KEYS if key in labels):
        return True
    spec = pv.get("spec") or {}
    required = (spec.get("nodeAffinity") or {}).get("required") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expression in term.get("matchExpressions") or []:
            if expression.get("operator") != "In":
                continue
            key, values = expression.get("key"), expression.get("values") or []
            if key == HOSTNAME_KEY or (key in VOLUME_ZONE_KEYS and zone in values):
                return True
    ebs = spec.get("awsElasticBlockStore")
    if ebs is not None:
        volume_id = ebs.get("volumeID") or ""
        if volume_id.startswith("aws://") and volume_id.count("/") >= 3:
            named = volume_id.removeprefix("aws://").split("/", 1)[0]
            if named:
                return named == zone
        return not any(key in labels for key in VOLUME_ZONE_KEYS)
    return False


def _pinned(
    pod: Mapping[str, Any],
    claims: Mapping[tuple[str, str], Mapping[str, Any]],
    volumes: Mapping[str, Mapping[str, Any]],
    zone: str,
) -> bool:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("persistentVolumeClaim")
        if not source:
            # generic ephemeral volumes are left out on purpose: their claim is the pod's own,
            # deleted with it, and the new pod gets a new volume where it lands
            continue
        claim = claims.get((namespace, source["claimName"]))
        if claim is None:
            continue  # no claim, no volume: the pod cannot start anywhere; its zone holds nothing
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            continue  # unbound: it binds where the pod lands (WaitForFirstConsumer) or anywhere
        pv = volumes.get(volume_name)
        if pv is None or volume_pinned(pv, zone):
            return True  # a volume we cannot see may well be zonal: keep the pod where it is
    return False


def unmovable_pods(
    pods: Iterable[Mapping[str, Any]],
    pvcs: Iterable[Mapping[str, Any]],
    pvs: Iterable[Mapping[str, Any]],
    node_zones: Mapping[str, str],
) -> dict[str, list[str]]:
    """For each node of ``node_zones`` (node name -> zone) with any, the keys (``ns/name``,
    sorted) of its pods that are not ``movable``: the nodes' ``unmovablePods``."""
    claims, volumes = _index_claims(pvcs), _index_volumes(pvs)
    found: dict[str, list[str]] = defaultdict(list)
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in node_zones and _pinned(pod, claims, volumes, node_zones[node]):
            found[node].append(pod_key(pod))
    return {node: sorted(keys) for node, keys in sorted(found.items())}
