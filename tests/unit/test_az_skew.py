"""The AZ skew decisions, without AWS: which per-AZ node groups form a family, the most even
node counts their bounds allow with the fewest moves (checked against a brute force over every
target vector), which nodes leave, what holds a plan back, and which pods cannot leave their
zone because of their volumes."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from typing import Any

import pytest
from eksops.az_skew import (
    SHOWN_NODES,
    Excluded,
    Family,
    Member,
    Removal,
    SkewPlan,
    family_prefix,
    group_families,
    plan,
    unmovable_pods,
    volume_pinned,
)

ACCOUNT = "123456789012"


def families(nodegroups: list[dict[str, Any]]) -> list[Family]:
    return group_families(nodegroups)[0]


def excluded(nodegroups: list[dict[str, Any]]) -> list[Excluded]:
    return group_families(nodegroups)[1]


def movable(pod: dict[str, Any], pvcs: list, pvs: list, zone: str) -> bool:
    """Whether unmovable_pods leaves ``pod``, run on a node of ``zone``, out."""
    placed = {**pod, "spec": {**pod.get("spec", {}), "nodeName": "node-1"}}
    return not unmovable_pods([placed], pvcs, pvs, {"node-1": zone})


ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
LABELS = {"role": "workers", "eks.amazonaws.com/capacityType": "ON_DEMAND"}


def nodegroup(
    name: str,
    zones: list[str],
    *,
    labels: dict[str, str] | None = None,
    sizes: tuple[int, int, int] = (0, 10, 3),
    taints: list[dict[str, str]] | None = None,
    status: str = "ACTIVE",
) -> dict[str, Any]:
    """A DescribeNodegroup ``nodegroup`` plus the ``zones`` of its subnets."""
    minimum, maximum, desired = sizes
    found: dict[str, Any] = {
        "nodegroupName": name,
        "nodegroupArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/prod/{name}/0a1b",
        "clusterName": "prod",
        "status": status,
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": minimum, "maxSize": maximum, "desiredSize": desired},
        "instanceTypes": ["m6i.large"],
        "subnets": [f"subnet-{zone}" for zone in zones],
        "labels": dict(LABELS if labels is None else labels),
        "zones": zones,
    }
    if taints is not None:
        found["taints"] = taints
    return found


def per_az(prefix: str = "workers", zones: tuple[str, ...] = ZONES[:3], **kwargs: Any) -> list:
    return [nodegroup(f"{prefix}-{zone}", [zone], **kwargs) for zone in zones]


# --- families ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "zone", "prefix"),
    [
        ("workers-us-east-1a", "us-east-1a", "workers"),
        ("workers-a", "us-east-1a", "workers"),
        ("general-purpose-eu-west-1c", "eu-west-1c", "general-purpose"),
        ("gpu-b", "us-east-1b", "gpu"),
        ("workers-b", "us-east-1a", None),  # the letter of another zone
        ("workers-us-east-1b", "us-east-1a", None),
        ("workers-1a", "us-east-1a", None),
        ("workersa", "us-east-1a", None),
        ("us-east-1a", "us-east-1a", None),
        ("-us-east-1a", "us-east-1a", None),
        ("-a", "us-east-1a", None),
        ("edge-us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-bos-wlz-1", "edge"),
        ("edge-1", "us-east-1-wl1-bos-wlz-1", None),  # no letter: no short form
    ],
)
def test_family_prefix(name: str, zone: str, prefix: str | None) -> None:
    assert family_prefix(name, zone) == prefix


def test_per_az_node_groups_form_a_family_sorted_by_zone() -> None:
    groups = per_az(zones=("us-east-1c", "us-east-1a", "us-east-1b"))
    groups[0]["scalingConfig"] = {"minSize": 1, "maxSize": 6, "desiredSize": 4}
    [family] = families(groups)
    assert family == Family(
        "workers",
        LABELS,
        (
            Member("workers-us-east-1a", "us-east-1a", 0, 10, 3, "ACTIVE"),
            Member("workers-us-east-1b", "us-east-1b", 0, 10, 3, "ACTIVE"),
            Member("workers-us-east-1c", "us-east-1c", 1, 6, 4, "ACTIVE"),
        ),
    )
    assert excluded(groups) == []
    assert family.result()["nodegroups"][2] == {
        "nodegroup": "workers-us-east-1c",
        "zone": "us-east-1c",
        "minSize": 1,
        "maxSize": 6,
        "desiredSize": 4,
    }
    assert json.loads(json.dumps(family.result()))["family"] == "workers"


def test_zone_labels_do_not_split_a_family_and_short_names_join_it() -> None:
    groups = [
        nodegroup("w-a", ["us-east-1a"], labels={**LABELS, "topology.kubernetes.io/zone": "a"}),
        nodegroup("w-us-east-1b", ["us-east-1b"], labels={**LABELS}),
        nodegroup(
            "w-c",
            ["us-east-1c"],
            labels={**LABELS, "failure-domain.beta.kubernetes.io/zone": "us-east-1c"},
        ),
    ]
    [family] = families(groups)
    assert [m.nodegroup for m in family.members] == ["w-a", "w-us-east-1b", "w-c"]
    assert family.labels == LABELS


def test_node_groups_outside_any_family_say_why() -> None:
    groups = [
        nodegroup("spread", ["us-east-1b", "us-east-1a", "us-east-1a"]),
        nodegroup("nowhere-us-east-1a", []),
        nodegroup("system", ["us-east-1a"]),
        nodegroup("batch-us-east-1a", ["us-east-1a"]),
        nodegroup("edge-1", ["us-east-1-wl1-bos-wlz-1"]),
        *per_az("workers"),
    ]
    found, left_out = group_families(groups)
    assert [f.name for f in found] == ["workers"]
    assert left_out == [
        Excluded("batch-us-east-1a", "alone: no other node group named batch-<zone>"),
        Excluded("edge-1", "its name does not end with its zone: <name>-us-east-1-wl1-bos-wlz-1"),
        Excluded("nowhere-us-east-1a", "no zone: its subnets' zones are unknown"),
        Excluded(
            "spread",
            "spans 2 zones (us-east-1a, us-east-1b): only node groups of one zone each can be "
            "evened out",
        ),
        Excluded("system", "its name does not end with its zone: <name>-us-east-1a or <name>-a"),
    ]
    assert excluded(groups) == left_out
    assert left_out[0].result() == {
        "nodegroup": "batch-us-east-1a",
        "reason": "alone: no other node group named batch-<zone>",
    }


def test_capacity_type_or_instance_types_that_differ_split_a_family() -> None:
    spot = nodegroup("w-us-east-1c", ["us-east-1c"])
    spot["capacityType"] = "SPOT"
    bigger = nodegroup("w-us-east-1d", ["us-east-1d"])
    bigger["instanceTypes"] = ["m6i.2xlarge"]
    found, left_out = group_families([*per_az("w", ZONES[:2]), spot, bigger])
    assert [(f.name, [m.zone for m in f.members]) for f in found] == [
        ("w", ["us-east-1a", "us-east-1b"]),
    ]
    assert [entry.nodegroup for entry in left_out] == ["w-us-east-1c", "w-us-east-1d"]


def test_labels_or_taints_that_differ_split_a_family() -> None:
    gpu = {**LABELS, "accelerator": "nvidia"}
    taint = [{"key": "dedicated", "value": "batch", "effect": "NO_SCHEDULE"}]
    groups = [
        *per_az("w", ZONES[:2]),
        nodegroup("w-us-east-1c", ["us-east-1c"], labels=gpu),
        *per_az("t", ZONES[:2], taints=taint),
        nodegroup("t-us-east-1c", ["us-east-1c"]),  # same labels, no taint
        nodegroup("t-us-east-1d", ["us-east-1d"], taints=list(reversed(taint))),
    ]
    found, left_out = group_families(groups)
    assert [(f.name, [m.zone for m in f.members]) for f in found] == [
        ("t", ["us-east-1a", "us-east-1b", "us-east-1d"]),
        ("w", ["us-east-1a", "us-east-1b"]),
    ]
    assert left_out == [
        Excluded(
            "t-us-east-1c",
            "no other node group named t-<zone> has the same labels, taints, capacity type "
            "and instance types",
        ),
        Excluded(
            "w-us-east-1c",
            "no other node group named w-<zone> has the same labels, taints, capacity type "
            "and instance types",
        ),
    ]


def test_two_node_groups_of_a_family_in_one_zone_leave_it_ambiguous() -> None:
    groups = [*per_az("w", ZONES[:2]), nodegroup("w-a", ["us-east-1a"])]
    found, left_out = group_families(groups)
    assert found == []
    reason = "family w has more than one node group in a zone (us-east-1a: w-a, w-us-east-1a)"
    assert left_out == [
        Excluded("w-a", reason),
        Excluded("w-us-east-1a", reason),
        Excluded("w-us-east-1b", reason),
    ]


def test_two_families_of_one_prefix_and_labels_sort_by_name_then_labels() -> None:
    other = {"role": "api"}
    groups = [*per_az("z", ZONES[:2]), *per_az("a", ZONES[:2], labels=other), *per_az("a")]
    assert [(f.name, dict(f.labels)) for f in families(groups)] == [
        ("a", LABELS),
        ("a", other),
        ("z", LABELS),
    ]


# --- the plan ------------------------------------------------------------------------------------


def node(
    name: str,
    group: str,
    zone: str,
    *,
    ready: bool = True,
    cordoned: bool = False,
    pods: int = 10,
    unmovable: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "instanceId": f"i-{name}",
        "zone": zone,
        "nodegroup": group,
        "ready": ready,
        "cordoned": cordoned,
        "pods": pods,
        "unmovablePods": list(unmovable),
    }


def fleet(
    counts: tuple[int, ...], bounds: list[tuple[int, int]] | None = None
) -> tuple[Family, list[dict[str, Any]]]:
    """A family of per-AZ groups w-<zone> with ``counts`` nodes (desiredSize equal), and the
    nodes, named <zone letter><n>: a1, a2, ... (pods: 10 each)."""
    bounds = bounds or [(0, 10)] * len(counts)
    groups = [
        nodegroup(f"w-{zone}", [zone], sizes=(low, high, count))
        for zone, count, (low, high) in zip(ZONES, counts, bounds, strict=False)
    ]
    [family] = families(groups)
    nodes = [
        node(f"{zone[-1]}{n}", f"w-{zone}", zone)
        for zone, count in zip(ZONES, counts, strict=False)
        for n in range(1, count + 1)
    ]
    return family, nodes


def by_name(nodes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [n for n in nodes if n["name"] == name]
    return found


def test_skew_5_1_0_becomes_2_2_2_in_3_moves_taking_the_cheapest_nodes() -> None:
    family, nodes = fleet((5, 1, 0))
    by_name(nodes, "a4").update(ready=False, pods=30)  # NotReady first, whatever its pods
    by_name(nodes, "a2").update(cordoned=True, pods=20)  # then cordoned
    by_name(nodes, "a5").update(pods=3)  # then the fewest pods...
    by_name(nodes, "a3").update(pods=3)  # ...by name at a tie
    by_name(nodes, "a1").update(pods=0, unmovablePods=["shop/db-0"])  # never
    result = plan(family, nodes)
    assert result == SkewPlan(
        family="w",
        before={"us-east-1a": 5, "us-east-1b": 1, "us-east-1c": 0},
        after={"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2},
        surge={"w-us-east-1b": 2, "w-us-east-1c": 2},
        remove=(
            Removal("w-us-east-1a", "a4", "i-a4"),
            Removal("w-us-east-1a", "a2", "i-a2"),
            Removal("w-us-east-1a", "a3", "i-a3"),
        ),
        moves=3,
        blocked=(),
    )
    assert result.result() == {
        "family": "w",
        "moves": 3,
        "before": {"us-east-1a": 5, "us-east-1b": 1, "us-east-1c": 0},
        "after": {"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2},
        "surge": {"w-us-east-1b": 2, "w-us-east-1c": 2},
        "remove": [
            {"nodegroup": "w-us-east-1a", "node": "a4", "instanceId": "i-a4"},
            {"nodegroup": "w-us-east-1a", "node": "a2", "instanceId": "i-a2"},
            {"nodegroup": "w-us-east-1a", "node": "a3", "instanceId": "i-a3"},
        ],
        "blocked": [],
        "deferred": 0,
    }
    assert json.loads(json.dumps(result.result())) == result.result()


@pytest.mark.parametrize(
    ("counts", "max_moves", "after", "deferred"),
    [
        ((9, 0, 0), 2, (7, 1, 1), 4),  # each move from the longest to the shortest
        ((9, 0, 0), 1, (8, 1, 0), 5),  # ties: by name (zone b before c)
        ((8, 4, 0), 3, (5, 4, 3), 1),  # all three to the emptiest zone
        ((5, 1, 0), 3, (2, 2, 2), 0),  # the cap not reached
        ((5, 1, 0), 10, (2, 2, 2), 0),
    ],
)
def test_a_cap_on_moves_goes_part_of_the_way_as_evenly_as_it_can(
    counts: tuple[int, ...], max_moves: int, after: tuple[int, ...], deferred: int
) -> None:
    family, nodes = fleet(counts)
    result = plan(family, nodes, max_moves)
    assert tuple(result.after.values()) == after
    assert result.moves == len(result.remove) == min(max_moves, result.moves + deferred)
    assert result.deferred == deferred
    grown = sum(size - before for size, before in zip(after, counts, strict=True) if size > before)
    assert grown == result.moves  # the surge adds as many nodes as are removed


@pytest.mark.parametrize("counts", [(3, 2, 3), (2, 2), (0, 1), (4, 4, 4, 4), (0, 0, 0)])
def test_nothing_moves_when_counts_differ_by_at_most_one(counts: tuple[int, ...]) -> None:
    family, nodes = fleet(counts)
    result = plan(family, nodes)
    assert (result.moves, result.surge, result.remove, result.blocked) == (0, {}, (), ())
    assert result.after == result.before == dict(zip(ZONES, counts, strict=False))


def test_the_plus_one_remainders_go_to_the_groups_with_the_most_nodes() -> None:
    family, nodes = fleet((7, 1, 0))
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 2}
    assert result.moves == 4  # 2/3/3 would take 5
    assert result.surge == {"w-us-east-1b": 3, "w-us-east-1c": 2}
    family, nodes = fleet((1, 0, 7))
    assert plan(family, nodes).after == {"us-east-1a": 3, "us-east-1b": 2, "us-east-1c": 3}


def test_ties_are_broken_by_name() -> None:
    family, nodes = fleet((5, 5, 0))  # one "+1" for two groups of 5 nodes: the first by name
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 4, "us-east-1b": 3, "us-east-1c": 3}
    assert [r.node for r in result.remove] == ["a1", "b1", "b2"]
    assert result.moves == 3


def test_the_plan_does_not_depend_on_the_order_of_the_nodes() -> None:
    family, nodes = fleet((6, 2, 1, 0))
    for n, found in enumerate(nodes):
        found["pods"] = n % 3
    expected = plan(family, nodes)
    shuffler = random.Random(7)
    for _ in range(20):
        shuffled = list(nodes)
        shuffler.shuffle(shuffled)
        assert plan(family, shuffled) == expected
    reversed_family = Family(family.name, family.labels, tuple(reversed(family.members)))
    assert plan(reversed_family, nodes).remove == expected.remove


def test_max_size_of_a_short_group_keeps_the_family_uneven() -> None:
    family, nodes = fleet((5, 1, 0), [(0, 10), (0, 10), (0, 1)])
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 3, "us-east-1b": 2, "us-east-1c": 1}
    assert result.moves == 2
    assert result.surge == {"w-us-east-1b": 2, "w-us-east-1c": 1}
    assert result.blocked == ("w-us-east-1c: maxSize 1 keeps it at 1",)


def test_min_size_of_a_long_group_keeps_the_family_uneven() -> None:
    family, nodes = fleet((5, 1, 0), [(4, 10), (0, 10), (0, 10)])
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 4, "us-east-1b": 1, "us-east-1c": 1}
    assert (result.moves, result.surge) == (1, {"w-us-east-1c": 1})
    assert result.blocked == ("w-us-east-1a: minSize 4 keeps it at 4",)


def test_bounds_can_leave_nothing_to_move() -> None:
    family, nodes = fleet((5, 1), [(5, 10), (0, 1)])
    result = plan(family, nodes)
    assert (result.moves, result.surge, result.remove) == (0, {}, ())
    assert result.after == result.before
    assert result.blocked == (
        "w-us-east-1a: minSize 5 keeps it at 5",
        "w-us-east-1b: maxSize 1 keeps it at 1",
    )


def test_nodes_with_unmovable_pods_are_never_chosen_even_when_not_ready() -> None:
    family, nodes = fleet((5, 1, 0))
    by_name(nodes, "a1").update(ready=False, unmovablePods=["shop/db-0"])
    by_name(nodes, "a2").update(pods=0, cordoned=True, unmovablePods=["shop/db-1"])
    result = plan(family, nodes)
    assert [r.node for r in result.remove] == ["a3", "a4", "a5"]
    assert result.after == {"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2}
    assert result.blocked == ()


def test_unmovable_pods_hold_their_group_and_the_plan_says_so() -> None:
    family, nodes = fleet((5, 1, 0))
    for name, pod in [("a1", "shop/db-0"), ("a2", "shop/db-1"), ("a3", "shop/db-2")]:
        by_name(nodes, name)["unmovablePods"] = [pod, "shop/cache-0"]
    by_name(nodes, "a4")["unmovablePods"] = ["shop/db-3"]
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 4, "us-east-1b": 1, "us-east-1c": 1}
    assert result.remove == (Removal("w-us-east-1a", "a5", "i-a5"),)
    assert (result.moves, result.surge) == (1, {"w-us-east-1c": 1})
    assert result.blocked == (
        "w-us-east-1a: keeps 4 nodes, not 2: 4 of them run pods on volumes in us-east-1a, which "
        "cannot move to another zone: a1 (shop/cache-0, shop/db-0), a2 (shop/cache-0, "
        "shop/db-1), a3 (shop/cache-0, shop/db-2), a4 (shop/db-3)",
    )


def test_the_blocked_reason_names_a_few_nodes_and_counts_the_rest() -> None:
    family, nodes = fleet((9, 0))
    for found in nodes[:8]:
        found["unmovablePods"] = [f"shop/{found['name']}-pod"]
    result = plan(family, nodes)
    assert result.after == {"us-east-1a": 8, "us-east-1b": 1}
    [reason] = result.blocked
    assert reason.startswith("w-us-east-1a: keeps 8 nodes, not 5: 8 of them run pods")
    assert reason.endswith(f"a5 (shop/a5-pod) and {8 - SHOWN_NODES} more")


def test_a_group_of_only_unmovable_nodes_keeps_them_all() -> None:
    family, nodes = fleet((4, 0))
    for found in nodes:
        found["unmovablePods"] = ["shop/x"]
    result = plan(family, nodes)
    assert (result.moves, result.remove, result.surge) == (0, (), {})
    assert len(result.blocked) == 1


def test_other_node_groups_nodes_are_ignored() -> None:
    family, nodes = fleet((3, 1))
    strangers = [node(f"s{n}", "system-us-east-1a", "us-east-1a") for n in range(5)]
    assert plan(family, [*strangers, *nodes]) == plan(family, nodes)
    assert plan(family, nodes).after == {"us-east-1a": 2, "us-east-1b": 2}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda family, nodes: nodes.pop(),
            "w-us-east-1b has 0 nodes but desiredSize 1: still scaling, or instances that did "
            "not join",
        ),
        (
            lambda family, nodes: nodes[0].update(zone="us-east-1b"),
            "node a1 of w-us-east-1a is in us-east-1b, not us-east-1a",
        ),
    ],
    ids=["scaling", "zone"],
)
def test_nothing_moves_when_the_counts_cannot_be_trusted(change: Any, reason: str) -> None:
    family, nodes = fleet((5, 1))
    change(family, nodes)
    result = plan(family, nodes)
    assert result.blocked == (reason,)
    assert (result.moves, result.surge, result.remove) == (0, {}, ())
    assert result.after == result.before


def test_nothing_moves_while_eks_changes_a_node_group() -> None:
    groups = per_az("w", ZONES[:2])
    groups[0]["scalingConfig"]["desiredSize"] = 5
    groups[1]["scalingConfig"]["desiredSize"] = 1
    groups[1]["status"] = "UPDATING"
    [family] = families(groups)
    nodes = [node(f"a{n}", "w-us-east-1a", "us-east-1a") for n in range(5)]
    nodes.append(node("b1", "w-us-east-1b", "us-east-1b"))
    result = plan(family, nodes)
    assert result.blocked == ("w-us-east-1b is UPDATING, not ACTIVE",)
    assert result.moves == 0
    del groups[1]["status"]  # a node group given without its status is taken as it is
    assert plan(families(groups)[0], nodes).moves == 2


# --- property: the fewest moves among the most even plans, checked by brute force ---------------


def brute_force(
    counts: list[int], bounds: list[tuple[int, int]], removable: list[int]
) -> tuple[int, int, bool]:
    """Over every target vector within the bounds that keeps the total and removes no more
    nodes from a group than it can lose: the least sum of squares (the most even), the fewest
    moves among those, and whether any vector differs by at most one."""
    total = sum(counts)
    best: tuple[int, int] | None = None
    flat = False
    for targets in itertools.product(*(range(low, high + 1) for low, high in bounds)):
        if sum(targets) != total:
            continue
        if any(c - t > r for c, t, r in zip(counts, targets, removable, strict=True)):
            continue
        moves = sum(max(0, c - t) for c, t in zip(counts, targets, strict=True))
        key = (sum(t * t for t in targets), moves)
        best = key if best is None else min(best, key)
        flat = flat or max(targets) - min(targets) <= 1
    assert best is not None, "the current counts are always a solution"
    return best[0], best[1], flat


def random_fleet(rng: random.Random) -> tuple[Family, list[dict[str, Any]], list[tuple[int, int]]]:
    size = rng.randint(2, 4)
    counts = [rng.randint(0, 7) for _ in range(size)]
    bounds = []
    for count in counts:
        low = rng.choice([0, 0, rng.randint(0, count)])
        high = rng.choice([count, count + rng.randint(0, 4), 12])
        bounds.append((low, high))
    family, nodes = fleet(tuple(counts), bounds)
    pinned = rng.choice([0.0, 0.2, 0.6])  # the share of nodes with pods on zonal volumes
    for found in nodes:
        found["pods"] = rng.randint(0, 4)
        found["ready"] = rng.random() > 0.15
        found["cordoned"] = rng.random() < 0.15
        if rng.random() < pinned:
            found["unmovablePods"] = ["shop/db-0"]
    return family, nodes, bounds


def order(found: dict[str, Any]) -> tuple[bool, bool, int, str]:
    return (found["ready"], not found["cordoned"], found["pods"], found["name"])


def test_plan_moves_are_the_fewest_among_the_most_even_targets() -> None:
    rng = random.Random(20261123)
    uneven_cases = held_cases = 0
    for case in range(400):
        family, nodes, bounds = random_fleet(rng)
        names = [member.nodegroup for member in family.members]
        zones = [member.zone for member in family.members]
        group_nodes = {name: [n for n in nodes if n["nodegroup"] == name] for name in names}
        counts = [len(group_nodes[name]) for name in names]
        removable = [sum(not n["unmovablePods"] for n in group_nodes[name]) for name in names]
        result = plan(family, nodes)
        context = f"case {case}: counts {counts}, bounds {bounds}, removable {removable}"
        squares, moves, flat = brute_force(counts, bounds, removable)
        targets = [result.after[zone] for zone in zones]
        assert result.moves == moves, context
        assert sum(t * t for t in targets) == squares, context
        if flat:
            assert max(targets) - min(targets) <= 1, context
        # the plan is what it says: targets in bounds, total kept, surge = removals = moves
        assert sum(targets) == sum(counts), context
        assert all(low <= t <= high for t, (low, high) in zip(targets, bounds, strict=True))
        assert result.before == dict(zip(zones, counts, strict=True))
        assert result.surge == {
            name: t for name, t, c in zip(names, targets, counts, strict=True) if t > c
        }
        assert sum(t - c for t, c in zip(targets, counts, strict=True) if t > c) == moves
        removed = Counter(r.nodegroup for r in result.remove)
        for name, target, count in zip(names, targets, counts, strict=True):
            assert removed[name] == max(0, count - target), context
            chosen = [n for n in group_nodes[name] if n["name"] in {r.node for r in result.remove}]
            left = [n for n in group_nodes[name] if n not in chosen and not n["unmovablePods"]]
            assert not any(n["unmovablePods"] for n in chosen), context
            if chosen and left:
                assert max(map(order, chosen)) < min(map(order, left)), context
        assert all(r.instance_id == f"i-{r.node}" for r in result.remove)
        # a plan less even than the bounds allow says what holds it back
        free_squares, _, _ = brute_force(counts, bounds, counts)
        if free_squares < squares:
            held_cases += 1
            assert any("cannot move to another zone" in reason for reason in result.blocked)
        for reason in result.blocked:
            if "cannot move" in reason:
                held = reason.split(":", 1)[0]
                assert any(n["unmovablePods"] for n in group_nodes[held]), context
        uneven_cases += max(counts) - min(counts) > 1
    # the random fleets exercise the planner: mostly uneven, some held by unmovable pods
    assert uneven_cases > 200
    assert held_cases > 10


# --- which pods cannot leave their zone ----------------------------------------------------------

ZONE, OTHER_ZONE = "us-east-1a", "us-east-1b"


def claim(name: str, volume: str | None, namespace: str = "shop") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3"}
    if volume is not None:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def ebs_csi(name: str, zone: str = ZONE, key: str = "topology.ebs.csi.aws.com/zone") -> dict:
    """A PV as the EBS CSI driver provisions it."""
    return {
        "metadata": {"name": name},
        "spec": {
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0a1b2c3d4e5f60718"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": key, "operator": "In", "values": [zone]}]}
                    ]
                }
            },
        },
    }


def in_tree(name: str, volume_id: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return {
        "metadata": metadata,
        "spec": {"awsElasticBlockStore": {"volumeID": volume_id, "fsType": "ext4"}},
    }


def pod_with(*claims: str, namespace: str = "shop", node_name: str = "a1") -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [
        {"name": f"v{n}", "persistentVolumeClaim": {"claimName": c}} for n, c in enumerate(claims)
    ]
    volumes.append({"name": "token", "projected": {"sources": []}})
    return {
        "metadata": {"name": f"p-{'-'.join(claims) or 'none'}", "namespace": namespace},
        "spec": {"nodeName": node_name, "volumes": volumes},
    }


EFS = {
    "metadata": {"name": "pv-efs"},
    "spec": {"csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-0123::fsap-0123"}},
}


@pytest.mark.parametrize(
    ("pv", "pinned"),
    [
        (ebs_csi("pv"), True),
        (ebs_csi("pv", OTHER_ZONE), False),
        (ebs_csi("pv", key="topology.kubernetes.io/zone"), True),
        (ebs_csi("pv", key="failure-domain.beta.kubernetes.io/zone"), True),
        (ebs_csi("pv", key="example.com/rack"), False),
        ({"metadata": {"name": "pv", "labels": {"topology.kubernetes.io/zone": ZONE}}}, True),
        (
            {"metadata": {"name": "pv", "labels": {"topology.kubernetes.io/zone": OTHER_ZONE}}},
            False,
        ),
        (
            {
                "metadata": {
                    "name": "pv",
                    "labels": {"failure-domain.beta.kubernetes.io/zone": f"{OTHER_ZONE}__{ZONE}"},
                }
            },
            True,
        ),
        (in_tree("pv", "vol-0a1b", {"topology.kubernetes.io/zone": ZONE}), True),
        (in_tree("pv", "vol-0a1b", {"failure-domain.beta.kubernetes.io/zone": OTHER_ZONE}), False),
        (in_tree("pv", f"aws://{ZONE}/vol-0a1b"), True),
        (in_tree("pv", f"aws://{OTHER_ZONE}/vol-0a1b"), False),
        (in_tree("pv", "vol-0a1b"), True),  # zonal, in use here, zone unsaid
        (EFS, False),
        (
            {
                "metadata": {"name": "local-pv"},
                "spec": {
                    "local": {"path": "/mnt/disks/ssd1"},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": ["ip-10-0-1-23.ec2.internal"],
                                        }
                                    ]
                                }
                            ]
                        }
                    },
                },
            },
            True,
        ),
        (
            {
                "metadata": {"name": "pv"},
                "spec": {
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "topology.kubernetes.io/zone",
                                            "operator": "NotIn",
                                            "values": [ZONE],
                                        }
                                    ]
                                },
                                {"matchExpressions": []},
                            ]
                        }
                    }
                },
            },
            False,
        ),
    ],
    ids=[
        "ebs-csi",
        "ebs-csi-other-zone",
        "affinity-topology-key",
        "affinity-beta-key",
        "affinity-other-key",
        "label",
        "label-other-zone",
        "multi-zone-label",
        "in-tree-labelled",
        "in-tree-labelled-other-zone",
        "in-tree-zone-in-id",
        "in-tree-other-zone-in-id",
        "in-tree-zone-unsaid",
        "efs",
        "local",
        "not-in",
    ],
)
def test_volume_pinned(pv: dict[str, Any], pinned: bool) -> None:
    assert volume_pinned(pv, ZONE) is pinned
    pvc = claim("data", pv["metadata"]["name"])
    assert movable(pod_with("data"), [pvc], [pv], ZONE) is not pinned


def test_movable_pods_without_claims_or_with_claims_that_hold_nothing() -> None:
    pvs = [ebs_csi("pv-db"), EFS]
    pvcs = [
        claim("db", "pv-db"),
        claim("shared", "pv-efs"),
        claim("pending", None),
        claim("db-other-ns", "pv-db", namespace="billing"),
    ]
    assert movable({"metadata": {"name": "p"}, "spec": {}}, pvcs, pvs, ZONE)
    assert movable(pod_with(), pvcs, pvs, ZONE)
    assert movable(pod_with("shared"), pvcs, pvs, ZONE)
    assert movable(pod_with("pending"), pvcs, pvs, ZONE), "unbound: binds where the pod goes"
    assert movable(pod_with("missing"), pvcs, pvs, ZONE), "no claim: runs nowhere"
    assert movable(pod_with("db-other-ns"), pvcs, pvs, ZONE), "the claim of another namespace"
    assert not movable(pod_with("shared", "db"), pvcs, pvs, ZONE)
    assert movable(pod_with("shared", "db"), pvcs, pvs, OTHER_ZONE)


def test_a_claim_bound_to_a_volume_we_cannot_see_keeps_the_pod() -> None:
    assert not movable(pod_with("db"), [claim("db", "pv-unlisted")], [], ZONE)


def test_generic_ephemeral_volumes_do_not_pin_a_pod() -> None:
    """The claim of an ephemeral volume is the pod's own: deleted with it."""
    ephemeral = {
        "metadata": {"name": "scratch-0", "namespace": "shop"},
        "spec": {
            "volumes": [
                {
                    "name": "scratch",
                    "ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "gp3"}}},
                }
            ]
        },
    }
    pvcs = [claim("scratch-0-scratch", "pv-scratch")]
    assert movable(ephemeral, pvcs, [ebs_csi("pv-scratch")], ZONE)


def test_unmovable_pods_per_node() -> None:
    pvs = [ebs_csi("pv-a", ZONE), ebs_csi("pv-b", OTHER_ZONE), EFS]
    pvcs = [claim("a", "pv-a"), claim("b", "pv-b"), claim("efs", "pv-efs")]
    pods = [
        pod_with("a", node_name="a1"),
        pod_with("efs", node_name="a1"),
        pod_with("b", node_name="b1"),
        {**pod_with("a", node_name="a2"), "metadata": {"name": "db-1", "namespace": "shop"}},
        pod_with("efs", node_name="b2"),
        pod_with("a", node_name="elsewhere"),
        {"metadata": {"name": "pending", "namespace": "shop"}, "spec": {}},
    ]
    found = unmovable_pods(
        pods, pvcs, pvs, {"a1": ZONE, "a2": ZONE, "b1": OTHER_ZONE, "b2": OTHER_ZONE}
    )
    assert found == {"a1": ["shop/p-a"], "a2": ["shop/db-1"], "b1": ["shop/p-b"]}
    # with a node's zone wrong, its pod's volume does not pin it there
    assert unmovable_pods(pods[:1], pvcs, pvs, {"a1": OTHER_ZONE}) == {}
