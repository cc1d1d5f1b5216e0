"""The state machines' graphs and the architecture picture, drawn as SVG from the ASL.

`python -m eksops.local.asl_graph` rewrites docs/images/<stem>.svg for every
statemachines/<stem>.asl.json, and docs/images/architecture.svg; `--check` only compares, so
a changed ASL whose pictures were not regenerated fails (a contract test does the same).

Pure Python on purpose: no graphviz, no fonts, no network, so the images are byte-identical on
every machine. The drawing imitates the Step Functions console: one rounded box per state,
Map/Parallel as containers holding their states, arrows for Next/Choice/Default, dashed arrows
for Catch, loops drawn as back edges, Start and End markers. The layout is a small Sugiyama:
cycles broken by DFS, longest-path layering, dummy points on long edges, barycentre ordering,
then least-squares x positions. Edge labels are dummy points too (as dot does), which is what
guarantees that no label overlaps a box or another label.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

PROJECT_ROOT = Path(__file__).resolve().parents[4]
STATEMACHINES_DIR = PROJECT_ROOT / "statemachines"
IMAGES_DIR = PROJECT_ROOT / "docs" / "images"
COMMAND = "python -m eksops.local.asl_graph"
ARCHITECTURE = "architecture.svg"
# the markers' keys: `<` and `>` are not allowed in state names, so a state called Start is safe
START, END = "<Start>", "<End>"

FONT = "Helvetica, Arial, 'DejaVu Sans', sans-serif"
TITLE_SIZE = 12.0
SUB_SIZE = 10.0
LABEL_SIZE = 10.0
LINE_H = 12.0  # one line of an edge label
RANKSEP = 16.0  # vertical gap between two bands of the layering
BOX_GAP = 22.0  # horizontal gap between two boxes
POINT_GAP = 8.0  # horizontal gap next to an edge's dummy point
PAD = 12.0  # inside a container, around its lanes
HEADER = 40.0  # a container's title and subtitle
LANE_GAP = 16.0
MARGIN = 16.0
MAX_LABEL = 36  # characters per label line; longer rules are cut with an ellipsis

# kind -> (fill, stroke). The state colours follow the console's spirit, not its exact palette.
STYLES: dict[str, tuple[str, str]] = {
    "Task": ("#e8f1fb", "#3b78c2"),
    "Choice": ("#fff4e0", "#c77c02"),
    "Wait": ("#f1ebfa", "#7b56b8"),
    "Pass": ("#f3f3f3", "#8a8a8a"),
    "Succeed": ("#e6f4ea", "#2e8540"),
    "Fail": ("#fdeaea", "#c62828"),
    "Map": ("#fbfcfd", "#5f6b7a"),
    "Parallel": ("#fbfcfd", "#5f6b7a"),
    "marker": ("#4a4a4a", "#4a4a4a"),
    # the architecture picture
    "actor": ("#f3f3f3", "#666666"),
    "workflows": ("#fdf0f7", "#b0357a"),
    "statemachine": ("#fce4f1", "#b0357a"),
    "lambda": ("#fff1e0", "#d86613"),
    "library": ("#e8f1fb", "#3b78c2"),
    "aws": ("#e6f4ea", "#2e8540"),
    "events": ("#f3e8fd", "#8c4fd1"),
    "offline": ("#f7f7f7", "#777777"),
}
DASHED_BOXES = {"Map", "Parallel", "offline"}
EDGE_COLOURS = {"catch": "#c62828"}
BUS_KINDS = {"catch", "end"}  # edges of these kinds to one target share a lane
LEGEND = ("Task", "Choice", "Wait", "Pass", "Succeed", "Fail", "Map")


# --- the model: boxes, edges, graphs -----------------------------------------------------


@dataclass
class Box:
    """A state, a marker or a container of lanes; the layout sets its size and position."""

    key: str
    title: str
    subtitle: str = ""
    kind: str = "Task"
    lanes: list[Graph] = field(default_factory=list)
    w: float = 0.0
    h: float = 0.0
    x: float = 0.0
    y: float = 0.0


@dataclass
class Edge:
    src: str
    dst: str
    kind: str = "next"  # next | choice | default | catch | end | dashed
    label: tuple[str, ...] = ()
    back: bool = False  # set by the layout: closes a loop, drawn upwards


@dataclass
class Label:
    x: float
    y: float
    lines: tuple[str, ...]
    w: float
    h: float


@dataclass
class Segment:
    """One piece of an edge between two consecutive bands, as an SVG path."""

    path: str
    kind: str
    arrow: bool


@dataclass
class Graph:
    boxes: dict[str, Box] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    w: float = 0.0
    h: float = 0.0
    labels: list[Label] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def add(self, box: Box) -> Box:
        self.boxes[box.key] = box
        return box


# --- text metrics ------------------------------------------------------------------------

_NARROW = set("fijlrtI!.,:;'|()[]{} ")
_WIDE = set("mwMW@%")


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """An upper estimate of the rendered width: DejaVu Sans metrics, wider than Helvetica's, so
    the text fits whichever sans-serif font the reader's browser picks."""
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.36
        elif char in _WIDE:
            em += 0.92
        elif char.isupper():
            em += 0.72
        elif char.islower():
            em += 0.61
        else:
            em += 0.66
    return em * size * (1.1 if bold else 1.0)


def size_box(box: Box) -> None:
    if box.kind == "marker":
        box.w, box.h = 56.0, 24.0
        return
    text_w = max(text_width(box.title, TITLE_SIZE, bold=True), text_width(box.subtitle, SUB_SIZE))
    if box.lanes:
        inner_w = sum(lane.w for lane in box.lanes) + LANE_GAP * (len(box.lanes) - 1)
        box.w = max(text_w + 2 * PAD, inner_w + 2 * PAD)
        box.h = HEADER + max(lane.h for lane in box.lanes) + PAD
        return
    box.w = max(110.0, text_w + 24.0)
    box.h = 40.0 if box.subtitle else 28.0


# --- ASL -> graph ------------------------------------------------------------------------

_SERVICES = {
    "events": "EventBridge",
    "states": "Step Functions",
    "lambda": "Lambda",
    "dynamodb": "DynamoDB",
    "ec2": "EC2",
    "eks": "EKS",
    "iam": "IAM",
    "sns": "SNS",
    "sqs": "SQS",
}
_OPERATORS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}
_TESTS = {"IsPresent": "present", "IsNull": "null", "IsString": "a string"}


def resource_label(resource: str) -> str:
    """What the console prints under a Task's name, e.g. `Lambda: Invoke`."""
    if resource.startswith("${") or ":function:" in resource:
        return "Lambda: Invoke"  # a function ARN placeholder: the console calls it Invoke too
    integration = resource.removeprefix("arn:aws:states:::").removeprefix("aws-sdk:")
    parts = integration.split(":")
    if len(parts) < 2:
        return "Task"
    service, action = parts[0], parts[1]
    return f"{_SERVICES.get(service, service.upper())}: {action[:1].upper()}{action[1:]}"


def _shorten(line: str) -> str:
    return line if len(line) <= MAX_LABEL else line[: MAX_LABEL - 1] + "…"


def _comparison(rule: dict[str, Any]) -> str:
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        base = key.removesuffix("Path")
        if base == "BooleanEquals" and key == base:
            return variable if value else f"not {variable}"
        for test, words in _TESTS.items():
            if key == test:
                return f"{variable} {'' if value else 'not '}{words}"
        for suffix, operator in _OPERATORS.items():
            if base.endswith(suffix) and base != suffix:
                shown = value if key.endswith("Path") else json.dumps(value)
                return f"{variable} {operator} {shown}"
    return variable


def rule_lines(rule: dict[str, Any]) -> tuple[str, ...]:
    """A Choice rule in a line or two: `$.plan.moves > 0`, `$.a == "x"` / `and $.b > 0`."""
    if "Condition" in rule:  # JSONata
        return (_shorten(str(rule["Condition"]).strip("{%} ")),)
    for joiner in ("And", "Or"):
        if joiner in rule:
            parts = [" ".join(rule_lines(part)) for part in rule[joiner]]
            lines = [parts[0]] + [f"{joiner.lower()} {part}" for part in parts[1:]]
            return tuple(_shorten(line) for line in lines)
    if "Not" in rule:
        return (_shorten("not (" + " ".join(rule_lines(rule["Not"])) + ")"),)
    return (_shorten(_comparison(rule)),)


def catch_label(errors: Sequence[str]) -> tuple[str, ...]:
    """`catch ALL`, `catch TaskFailed, Timeout +2`: namespaces dropped, the console's way."""
    names = [error.rsplit(".", 1)[-1] for error in errors]
    shown = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
    return (_shorten(f"catch {shown}"),)


def _subtitle(state: dict[str, Any]) -> str:
    kind = str(state["Type"])
    if kind == "Task":
        return resource_label(str(state.get("Resource", "")))
    if kind == "Wait":
        for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"):
            if key in state:
                return f"Wait: {state[key]}{'s' if key == 'Seconds' else ''}"
    if kind == "Map" and "MaxConcurrency" in state:
        return f"Map: up to {state['MaxConcurrency']} at a time"
    if kind == "Parallel":
        return f"Parallel: {len(state['Branches'])} branches"
    if kind == "Fail" and "Error" in state:
        return f"Fail: {state['Error']}"
    return kind


def _lanes(state: dict[str, Any]) -> list[Graph]:
    if state["Type"] == "Parallel":
        return [graph_from_states(branch) for branch in state["Branches"]]
    if state["Type"] == "Map":
        processor = state.get("ItemProcessor") or state["Iterator"]
        return [graph_from_states(processor)]
    return []


def _state_edges(name: str, state: dict[str, Any], markers: bool) -> Iterable[Edge]:
    if "Next" in state:
        yield Edge(name, state["Next"])
    for rule in state.get("Choices", []):
        yield Edge(name, rule["Next"], "choice", rule_lines(rule))
    if "Default" in state:
        yield Edge(name, state["Default"], "default", ("default",))
    for catcher in state.get("Catch", []):
        yield Edge(name, catcher["Next"], "catch", catch_label(catcher["ErrorEquals"]))
    if markers and (state.get("End") or state["Type"] in {"Succeed", "Fail"}):
        yield Edge(name, END, "end")


def graph_from_states(definition: dict[str, Any], *, markers: bool = False) -> Graph:
    """The graph of one scope (the machine, a Parallel branch, a Map's processor)."""
    graph = Graph()
    if markers:
        graph.add(Box(START, "Start", kind="marker"))
        graph.edges.append(Edge(START, definition["StartAt"]))
    for name, state in definition["States"].items():
        graph.add(Box(name, name, _subtitle(state), state["Type"], _lanes(state)))
        graph.edges.extend(_state_edges(name, state, markers))
    if markers:
        graph.add(Box(END, "End", kind="marker"))
    return graph


# --- layout: cycles, layers, order, positions --------------------------------------------


def mark_back_edges(graph: Graph) -> list[Edge]:
    """DFS from the roots in definition order: an edge to a state still on the DFS path closes
    a loop (a poll loop's Choice -> Wait). Returns the edges marked."""
    outgoing: dict[str, list[Edge]] = {key: [] for key in graph.boxes}
    has_incoming = {edge.dst for edge in graph.edges}
    for edge in graph.edges:
        outgoing[edge.src].append(edge)
    state: dict[str, int] = {}  # 1 on the path, 2 done
    roots = [key for key in graph.boxes if key not in has_incoming] + list(graph.boxes)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:  # iterative, so a long chain of states cannot hit the recursion limit
            key, index = stack.pop()
            if index == len(outgoing[key]):
                state[key] = 2
                continue
            stack.append((key, index + 1))
            edge = outgoing[key][index]
            if state.get(edge.dst) == 1:
                edge.back = True
            elif edge.dst not in state:
                state[edge.dst] = 1
                stack.append((edge.dst, 0))
    return [edge for edge in graph.edges if edge.back]


def _top_bottom(edge: Edge) -> tuple[str, str]:
    return (edge.dst, edge.src) if edge.back else (edge.src, edge.dst)


def _reach(start: str, step: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in step[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def loop_exits(graph: Graph) -> list[tuple[str, str]]:
    """For every loop, (its last state, each state the loop exits to): ranking those pairs like
    edges draws a poll loop as one block with what follows it below, as the console does,
    instead of beside it."""
    forward: dict[str, list[str]] = {key: [] for key in graph.boxes}
    backward: dict[str, list[str]] = {key: [] for key in graph.boxes}
    for edge in graph.edges:
        if not edge.back:
            forward[edge.src].append(edge.dst)
            backward[edge.dst].append(edge.src)
    pairs = []
    for edge in graph.edges:
        if edge.back and edge.src != edge.dst:
            loop = _reach(edge.dst, forward) & _reach(edge.src, backward)
            for key in (key for key in graph.boxes if key in loop):
                pairs.extend((edge.src, out) for out in forward[key] if out not in loop)
    return pairs


def _longest_paths(keys: Iterable[str], pairs: list[tuple[str, str]]) -> dict[str, int] | None:
    below: dict[str, list[str]] = {key: [] for key in keys}
    indegree = dict.fromkeys(below, 0)
    for top, bottom in pairs:
        below[top].append(bottom)
        indegree[bottom] += 1
    rank = dict.fromkeys(below, 0)
    ready = [key for key in below if indegree[key] == 0]
    done = 0
    while ready:
        key = ready.pop(0)
        done += 1
        for nxt in below[key]:
            rank[nxt] = max(rank[nxt], rank[key] + 2)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return rank if done == len(below) else None


def assign_ranks(graph: Graph) -> dict[str, int]:
    """Longest path from the roots, loops ignored; boxes on even ranks, so every edge has an odd
    rank in between for its label."""
    pairs = [_top_bottom(edge) for edge in graph.edges if edge.src != edge.dst]
    with_loops = _longest_paths(graph.boxes, pairs + loop_exits(graph))
    # the loop pairs could close a cycle in tangled machines: then plain longest path
    ranks = with_loops or _longest_paths(graph.boxes, pairs)
    if ranks is None:
        raise ValueError("a cycle without a back edge: mark_back_edges() was not run")
    return ranks


@dataclass
class _Node:
    """A box, or a point an edge passes through (carrying the edge's label, if any)."""

    key: str
    rank: int
    w: float
    anchor: float  # where edges meet the node, from its left
    box: Box | None = None
    label: tuple[str, ...] = ()
    x: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.anchor


@dataclass
class _Link:
    upper: str
    lower: str
    kind: str
    arrow_at: str  # "lower", "upper" or "" (the arrow head's end, if this piece has one)


@dataclass
class _Layers:
    nodes: dict[str, _Node] = field(default_factory=dict)
    links: dict[tuple[str, str], _Link] = field(default_factory=dict)
    ranks: list[list[str]] = field(default_factory=list)

    def node(self, key: str, rank: int, label: tuple[str, ...] = ()) -> str:
        if key not in self.nodes:
            width = 8.0 + max((text_width(line, LABEL_SIZE) for line in label), default=0.0)
            self.nodes[key] = _Node(key, rank, width if label else 2.0, 1.0, label=label)
        elif label and not self.nodes[key].label:
            self.nodes[key].label = label
            self.nodes[key].w = 8.0 + max(text_width(line, LABEL_SIZE) for line in label)
        return key

    def chain(self, keys: list[str], edge: Edge) -> None:
        for upper, lower in pairwise(keys):
            at = ""
            if edge.back and upper == keys[0]:
                at = "upper"
            elif not edge.back and lower == keys[-1]:
                at = "lower"
            self.links.setdefault((upper, lower), _Link(upper, lower, edge.kind, at))


def _shared_label(edges: list[Edge]) -> tuple[str, ...]:
    labels = {edge.label for edge in edges}
    return edges[0].label if len(edges) > 1 and len(labels) == 1 else ()


def build_layers(graph: Graph, rank: dict[str, int]) -> _Layers:
    layers = _Layers()
    for key, box in graph.boxes.items():
        layers.nodes[key] = _Node(key, rank[key], box.w, box.w / 2, box=box)
    buses: dict[tuple[str, str], list[Edge]] = {}
    for edge in graph.edges:
        if edge.kind in BUS_KINDS and not edge.back:
            buses.setdefault((edge.dst, edge.kind), []).append(edge)
    for index, edge in enumerate(graph.edges):
        top, bottom = _top_bottom(edge)
        low, high = rank[top], rank[bottom]
        if low >= high:
            continue  # a state whose Next is itself: nothing sensible to draw
        group = buses.get((edge.dst, edge.kind))
        if group:
            shared = _shared_label(group)
            bus_top = min(rank[e.src] for e in group) + 2
            own = layers.node(f"~{index}", low + 1, () if shared else edge.label)
            keys = [top, own]
            for r in range(low + 2, high):
                bus_label = shared if r == bus_top else ()
                keys.append(layers.node(f"~bus:{edge.kind}:{edge.dst}:{r}", r, bus_label))
            layers.chain([*keys, bottom], edge)
            continue
        label_rank = high - 1 if edge.back else low + 1
        points = [
            layers.node(f"~{index}:{r}", r, edge.label if r == label_rank else ())
            for r in range(low + 1, high)
        ]
        layers.chain([top, *points, bottom], edge)
    layers.ranks = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for key, node in layers.nodes.items():
        layers.ranks[node.rank].append(key)
    return layers


def _neighbours(layers: _Layers) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    up: dict[str, list[str]] = {key: [] for key in layers.nodes}
    down: dict[str, list[str]] = {key: [] for key in layers.nodes}
    for link in layers.links.values():
        up[link.lower].append(link.upper)
        down[link.upper].append(link.lower)
    return up, down


def count_crossings(layers: _Layers) -> int:
    position = {key: i for rank in layers.ranks for i, key in enumerate(rank)}
    by_rank: dict[int, list[tuple[int, int]]] = {}
    for link in layers.links.values():
        pair = (position[link.upper], position[link.lower])
        by_rank.setdefault(layers.nodes[link.upper].rank, []).append(pair)
    crossings = 0
    for pairs in by_rank.values():
        for i, (a1, b1) in enumerate(pairs):
            crossings += sum(1 for a2, b2 in pairs[i + 1 :] if (a1 - a2) * (b1 - b2) < 0)
    return crossings


def _by_barycentre(keys: list[str], fixed: list[str], nb: dict[str, list[str]]) -> list[str]:
    """Sorts one rank by the mean position of each node's neighbours in the fixed rank; a node
    without any keeps its place (stable, so the result is deterministic)."""
    where = {key: i for i, key in enumerate(fixed)}

    def barycentre(item: tuple[int, str]) -> float:
        index, key = item
        spots = [where[other] for other in nb[key] if other in where]
        return sum(spots) / len(spots) if spots else float(index)

    return [key for _, key in sorted(enumerate(keys), key=barycentre)]


def order_ranks(layers: _Layers, sweeps: int = 8) -> None:
    """Barycentre sweeps down and up; keeps the ordering with the fewest crossings."""
    up, down = _neighbours(layers)
    ranks = layers.ranks
    best, best_crossings = [list(rank) for rank in ranks], count_crossings(layers)
    for sweep in range(sweeps):
        if sweep % 2 == 0:
            for r in range(1, len(ranks)):
                ranks[r] = _by_barycentre(ranks[r], ranks[r - 1], up)
        else:
            for r in range(len(ranks) - 2, -1, -1):
                ranks[r] = _by_barycentre(ranks[r], ranks[r + 1], down)
        crossings = count_crossings(layers)
        if crossings < best_crossings:
            best, best_crossings = [list(rank) for rank in ranks], crossings
    layers.ranks = best


def _gap(left: _Node, right: _Node) -> float:
    return BOX_GAP if left.box and right.box else POINT_GAP


def _isotonic(targets: list[float]) -> list[float]:
    """Least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for target in targets:
        blocks.append([target, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted: list[float] = []
    for total, count in blocks:
        fitted.extend([total / count] * int(count))
    return fitted


def place_rank(nodes: list[_Node], desired: list[float]) -> None:
    """Puts the nodes, in order and without overlap, as close as possible (least squares) to
    the anchor positions they want."""
    offsets = [0.0]
    for left, right in pairwise(nodes):
        offsets.append(offsets[-1] + left.w + _gap(left, right))
    fitted = _isotonic(
        [want - node.anchor - off for want, node, off in zip(desired, nodes, offsets, strict=True)]
    )
    for node, base, off in zip(nodes, fitted, offsets, strict=True):
        node.x = base + off


def position_x(layers: _Layers, sweeps: int = 10) -> None:
    up, down = _neighbours(layers)
    for keys in layers.ranks:
        nodes = [layers.nodes[key] for key in keys]
        place_rank(nodes, [0.0] * len(nodes))
    for sweep in range(sweeps):
        # down, up, and last a pass that weighs both sides, so chains end up straight
        nbs = [up] if sweep % 2 == 0 else [down]
        if sweep == sweeps - 1:
            nbs = [up, down]
        indices = (
            range(len(layers.ranks)) if sweep % 2 == 0 else range(len(layers.ranks) - 1, -1, -1)
        )
        for r in indices:
            nodes = [layers.nodes[key] for key in layers.ranks[r]]
            desired = []
            for node in nodes:
                spots = [layers.nodes[o].cx for nb in nbs for o in nb[node.key]]
                desired.append(sum(spots) / len(spots) if spots else node.cx)
            place_rank(nodes, desired)
    shift = min((node.x for node in layers.nodes.values()), default=0.0)
    for node in layers.nodes.values():
        node.x -= shift


def _band_heights(layers: _Layers) -> list[float]:
    heights = []
    for keys in layers.ranks:
        tallest = 0.0
        for key in keys:
            node = layers.nodes[key]
            height = node.box.h if node.box else LINE_H * len(node.label) + (4 if node.label else 0)
            tallest = max(tallest, height)
        heights.append(tallest)
    return heights


def _ports(layers: _Layers) -> dict[tuple[str, str, str], float]:
    """Spreads the edges meeting one side of a box along it, ordered by where they go, so the
    arrows into a busy state stay apart."""
    sides: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
    for (upper, lower), _link in layers.links.items():
        sides.setdefault((upper, "bottom"), []).append((layers.nodes[lower].cx, upper, lower))
        sides.setdefault((lower, "top"), []).append((layers.nodes[upper].cx, upper, lower))
    ports: dict[tuple[str, str, str], float] = {}
    for (key, _side), ends in sides.items():
        node = layers.nodes[key]
        ends.sort()
        spacing = min(14.0, (node.w - 20.0) / max(len(ends) - 1, 1)) if node.box else 0.0
        for i, (_x, upper, lower) in enumerate(ends):
            ports[(upper, lower, key)] = node.cx + (i - (len(ends) - 1) / 2) * spacing
    return ports


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def route(layers: _Layers, tops: list[float], heights: list[float]) -> list[Segment]:
    """One path per link: down the band the upper node stands in, then a curve through the gap
    to the next band. Boxes and points never share a column, so nothing crosses a box."""
    ports = _ports(layers)
    segments = []
    for (upper, lower), link in layers.links.items():
        a, b = layers.nodes[upper], layers.nodes[lower]
        xa, xb = ports[(upper, lower, upper)], ports[(upper, lower, lower)]
        ya = tops[a.rank] + a.box.h if a.box else tops[a.rank]
        band_end = tops[a.rank] + heights[a.rank]
        yb = tops[b.rank]
        mid = (band_end + yb) / 2
        if link.arrow_at == "upper":  # a loop's edge: drawn from below, the arrow at the top
            path = f"M{_num(xb)},{_num(yb)} C{_num(xb)},{_num(mid)} {_num(xa)},{_num(mid)} "
            path += f"{_num(xa)},{_num(band_end)}"
            path += f" V{_num(ya)}" if band_end - ya > 0.1 else ""
        else:
            path = f"M{_num(xa)},{_num(ya)}"
            path += f" V{_num(band_end)}" if band_end - ya > 0.1 else ""
            path += f" C{_num(xa)},{_num(mid)} {_num(xb)},{_num(mid)} {_num(xb)},{_num(yb)}"
        segments.append(Segment(path, link.kind, bool(link.arrow_at)))
    return segments


def layout(graph: Graph) -> Graph:
    """Sizes and places every box (containers' lanes first) and routes every edge."""
    for box in graph.boxes.values():
        for lane in box.lanes:
            layout(lane)
        size_box(box)
    mark_back_edges(graph)
    layers = build_layers(graph, assign_ranks(graph))
    order_ranks(layers)
    position_x(layers)
    heights = _band_heights(layers)
    tops, y = [], 0.0
    for height in heights:
        tops.append(y)
        y += height + RANKSEP
    for node in layers.nodes.values():
        if node.box:
            node.box.x, node.box.y = node.x, tops[node.rank]
        elif node.label:
            height = LINE_H * len(node.label) + 4
            graph.labels.append(Label(node.x, tops[node.rank], node.label, node.w, height))
    graph.labels.sort(key=lambda label: (label.y, label.x))
    graph.segments = route(layers, tops, heights)
    graph.w = max((node.x + node.w for node in layers.nodes.values()), default=0.0)
    graph.h = max(y - RANKSEP, 0.0)
    return graph


# --- SVG ---------------------------------------------------------------------------------


def _text(x: float, y: float, text: str, size: float, **attrs: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attrs.items())
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}"{extra}>{escape(text)}</text>'
    )


def _box_svg(box: Box) -> list[str]:
    fill, stroke = STYLES.get(box.kind, STYLES["Task"])
    dash = ' stroke-dasharray="5 3"' if box.kind in DASHED_BOXES else ""
    radius = box.h / 2 if box.kind == "marker" else 6.0
    out = [
        f'<rect x="{_num(box.x)}" y="{_num(box.y)}" width="{_num(box.w)}" height="{_num(box.h)}" '
        f'rx="{_num(radius)}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>'
    ]
    middle = box.x + box.w / 2
    if box.kind == "marker":
        out.append(_text(middle, box.y + 16, box.title, 11, fill="#ffffff", text_anchor="middle"))
        return out
    out.append(
        _text(middle, box.y + 17, box.title, TITLE_SIZE, font_weight="bold", text_anchor="middle")
    )
    if box.subtitle:
        out.append(
            _text(middle, box.y + 31, box.subtitle, SUB_SIZE, fill="#555555", text_anchor="middle")
        )
    out.extend(_lanes_svg(box))
    return out


def _lanes_svg(box: Box) -> list[str]:
    if not box.lanes:
        return []
    inner = sum(lane.w for lane in box.lanes) + LANE_GAP * (len(box.lanes) - 1)
    x = box.x + (box.w - inner) / 2
    out = []
    for i, lane in enumerate(box.lanes):
        if i:  # Parallel branches, like the console, separated by a faint rule
            rule_x = x - LANE_GAP / 2
            out.append(
                f'<line x1="{_num(rule_x)}" y1="{_num(box.y + HEADER)}" x2="{_num(rule_x)}" '
                f'y2="{_num(box.y + box.h - PAD / 2)}" stroke="#c9ced6" stroke-dasharray="2 3"/>'
            )
        out.append(f'<g transform="translate({_num(x)},{_num(box.y + HEADER)})">')
        out.extend(graph_svg(lane))
        out.append("</g>")
        x += lane.w + LANE_GAP
    return out


def _segment_svg(segment: Segment) -> str:
    colour = EDGE_COLOURS.get(segment.kind, "#555555")
    dash = ' stroke-dasharray="5 3"' if segment.kind in {"catch", "dashed"} else ""
    marker = f' marker-end="url(#arrow-{"catch" if segment.kind == "catch" else "next"})"'
    return (
        f'<path d="{segment.path}" fill="none" stroke="{colour}" stroke-width="1.2"{dash}'
        f"{marker if segment.arrow else ''}/>"
    )


def _label_svg(label: Label) -> list[str]:
    return [
        _text(label.x + 7, label.y + 10 + LINE_H * i, line, LABEL_SIZE, fill="#333333")
        for i, line in enumerate(label.lines)
    ]


def graph_svg(graph: Graph) -> list[str]:
    out = [_segment_svg(segment) for segment in graph.segments]
    for box in graph.boxes.values():
        out.extend(_box_svg(box))
    for label in graph.labels:
        out.extend(_label_svg(label))
    return out


def _legend(kinds: Sequence[str], y: float) -> tuple[list[str], float]:
    out, x = [], MARGIN
    for kind in kinds:
        fill, stroke = STYLES[kind]
        name = "Map / Parallel" if kind == "Map" else kind
        dash = ' stroke-dasharray="5 3"' if kind in DASHED_BOXES else ""
        out.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="14" height="12" rx="3" fill="{fill}" '
            f'stroke="{stroke}"{dash}/>'
        )
        out.append(_text(x + 19, y + 10, name, LABEL_SIZE, fill="#333333"))
        x += 19 + text_width(name, LABEL_SIZE) + 14
    colour = EDGE_COLOURS["catch"]
    out.append(
        f'<path d="M{_num(x)},{_num(y + 6)} H{_num(x + 24)}" stroke="{colour}" '
        f'stroke-width="1.2" stroke-dasharray="5 3"/>'
    )
    out.append(_text(x + 29, y + 10, "Catch", LABEL_SIZE, fill="#333333"))
    return out, x + 29 + text_width("Catch", LABEL_SIZE)


_DEFS = (
    "<defs>"
    + "".join(
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
        for name, colour in (("next", "#555555"), ("catch", EDGE_COLOURS["catch"]))
    )
    + "</defs>"
)


def document(graph: Graph, title: str, note: str, *, legend: bool) -> str:
    """The whole SVG: a title line, the legend, the laid-out graph."""
    header = 28.0
    body: list[str] = [_text(MARGIN, 22, title, 14, font_weight="bold")]
    legend_w = 0.0
    if legend:
        items, legend_w = _legend(LEGEND, header + 2)
        body.extend(items)
        header += 26.0
    title_w = MARGIN + text_width(title, 14, bold=True)
    width = max(graph.w + 2 * MARGIN, legend_w + MARGIN, title_w + MARGIN)
    height = header + 10 + graph.h + MARGIN
    offset_x = (width - graph.w) / 2
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" '
            f'height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
            f'font-family="{FONT}">',
            f"<!-- {escape(note)} -->",
            f"<title>{escape(title)}</title>",
            _DEFS,
            f'<rect width="{_num(width)}" height="{_num(height)}" fill="#ffffff"/>',
            *body,
            f'<g transform="translate({_num(offset_x)},{_num(header + 10)})">',
            *graph_svg(graph),
            "</g>",
            "</svg>",
            "",
        ]
    )


def machine_name(stem: str) -> str:
    """`create_cluster` -> `CreateClusterStateMachine`, the template's logical ID."""
    return "".join(part.capitalize() for part in stem.split("_")) + "StateMachine"


def render_machine(path: Path) -> str:
    definition = json.loads(path.read_text(encoding="utf-8"))
    graph = layout(graph_from_states(definition, markers=True))
    stem = path.name.removesuffix(".asl.json")
    title = machine_name(stem)
    note = f"Generated from statemachines/{path.name} by `{COMMAND}`; do not edit."
    return document(graph, title, note, legend=True)


# --- the architecture picture: a small declarative description, the same drawing -------


def _group(key: str, title: str, subtitle: str, kind: str, lanes: list[Graph]) -> Box:
    return Box(key, title, subtitle, kind, lanes)


def _lane(*boxes: Box, edges: Sequence[Edge] = ()) -> Graph:
    graph = Graph()
    for box in boxes:
        graph.add(box)
    graph.edges.extend(edges)
    return graph


def architecture_graph() -> Graph:
    """architecture.md's diagram: who starts the workflows, what they run, what that reaches."""
    standard = _lane(
        Box("CreateCluster", "CreateCluster", "Standard", "statemachine"),
        Box("JoinNodegroup", "JoinNodegroup", "Standard", "statemachine"),
        Box("SetupIrsa", "SetupIrsa", "Standard", "statemachine"),
        Box("DeleteCluster", "DeleteCluster", "Standard", "statemachine"),
        edges=[
            Edge("CreateCluster", "JoinNodegroup", label=("Map: nested",)),
            Edge("CreateCluster", "SetupIrsa", label=("Map: nested",)),
        ],
    )
    remediation = _lane(
        Box("Prune", "PruneSecurityGroupRules", "remediation", "statemachine"),
        Box("Restore", "RestoreSecurityGroupRules", "undo from the ledger", "statemachine"),
        Box("Rebalance", "RebalanceNodegroups", "remediation", "statemachine"),
        edges=[Edge("Prune", "Restore", "dashed", ("ledger: undo",))],
    )
    functions = _lane(
        Box("Steps", "Lambda steps", "functions/*: thin handlers", "lambda"),
        Box("Kubeconfig", "KubeconfigFunction", "EKS token, kubeconfig", "lambda"),
    )
    graph = _lane(
        Box("Operators", "console / API / eksops run", "operators", "actor"),
        Box("Rules", "EventBridge rules", "CloudTrail, EC2, ASG, schedules", "events"),
        _group(
            "Standard",
            "Step Functions: Standard",
            "waits, retries, catches, Map/Parallel",
            "workflows",
            [standard],
        ),
        _group(
            "Remediation",
            "Step Functions: remediation",
            "started by events",
            "workflows",
            [remediation],
        ),
        _group("Functions", "Lambda functions", "one library call each", "lambda", [functions]),
        Box(
            "Outcomes", "EventBridge outcome events", "source eksops, e.g. Cluster Ready", "events"
        ),
        Box(
            "Library", "eksops library", "layers/eksops: models, plans, polling, tokens", "library"
        ),
        Box("Boto3", "boto3", "EKS, IAM, EC2, Auto Scaling, STS", "aws"),
        Box("Kubernetes", "kubernetes client", "authenticated by our EKS token", "aws"),
        Box("Ledger", "DynamoDB ledger / RebalanceTable", "what changed, how to undo", "aws"),
        Box(
            "Offline",
            "the offline account: eksops local",
            "moto + local Kubernetes APIs; same template, ASL, handlers",
            "offline",
        ),
        edges=[
            Edge("Operators", "Standard", label=("start",)),
            Edge("Operators", "Remediation", label=("start",)),
            Edge("Rules", "Remediation", label=("start",)),
            Edge("Standard", "Functions", label=("invoke",)),
            Edge("Remediation", "Functions"),
            Edge("Standard", "Outcomes", label=("putEvents",)),
            Edge("Remediation", "Outcomes"),
            Edge("Functions", "Library"),
            Edge("Library", "Boto3"),
            Edge("Library", "Kubernetes"),
            Edge("Boto3", "Ledger"),
            Edge("Boto3", "Offline", "dashed", ("offline",)),
            Edge("Kubernetes", "Offline", "dashed", ("offline",)),
        ],
    )
    return layout(graph)


def render_architecture() -> str:
    note = f"Generated by `{COMMAND}` from architecture_graph(); do not edit."
    return document(architecture_graph(), "eksops: architecture", note, legend=False)


# --- CLI ---------------------------------------------------------------------------------


def render_all(statemachines: Path = STATEMACHINES_DIR) -> dict[str, str]:
    """File name under docs/images/ -> its SVG text."""
    images = {
        path.name.removesuffix(".asl.json") + ".svg": render_machine(path)
        for path in sorted(statemachines.glob("*.asl.json"))
    }
    images[ARCHITECTURE] = render_architecture()
    return images


def stale_images(images: dict[str, str], out: Path) -> list[str]:
    return [
        name
        for name, text in images.items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND.removeprefix("python -m "),
        description="Draw every statemachines/*.asl.json as docs/images/<stem>.svg, and the "
        "architecture as docs/images/architecture.svg.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--statemachines", type=Path, default=STATEMACHINES_DIR)
    parser.add_argument("--out", type=Path, default=IMAGES_DIR)
    args = parser.parse_args(argv)
    images = render_all(args.statemachines)
    stale = stale_images(images, args.out)
    if args.check:
        for name in stale:
            print(f"stale: {args.out / name}: run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(images[name], encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
