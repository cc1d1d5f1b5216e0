"""docs/images/ shows the state machines as they are: every picture is what the generator draws
from today's ASL (regenerate with `python -m eksops.local.asl_graph`), and the layout keeps
boxes and labels apart."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from eksops.local.asl_graph import (
    COMMAND,
    END,
    IMAGES_DIR,
    STATEMACHINES_DIR,
    Box,
    Graph,
    architecture_graph,
    assign_ranks,
    graph_from_states,
    layout,
    main,
    render_all,
    rule_lines,
    stale_images,
    text_width,
)

MACHINES = sorted(STATEMACHINES_DIR.glob("*.asl.json"))
SVG = "{http://www.w3.org/2000/svg}"
Rect = tuple[str, float, float, float, float]  # what, x, y, w, h


def _definition(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _state_names(scope: dict[str, Any]) -> set[str]:
    names = set(scope["States"])
    for state in scope["States"].values():
        for inner in state.get("Branches", []):
            names |= _state_names(inner)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            names |= _state_names(processor)
    return names


def test_committed_images_are_current() -> None:
    stale = stale_images(render_all(), IMAGES_DIR)
    assert not stale, f"docs/images/{', '.join(stale)} out of date: run `{COMMAND}`"


def test_check_mode_reports_a_stale_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / MACHINES[0].name.replace(".asl.json", ".svg")).write_text("<svg/>")
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert COMMAND in capsys.readouterr().err


@pytest.mark.parametrize("path", MACHINES, ids=lambda path: path.name)
def test_every_state_is_drawn(path: Path) -> None:
    image = IMAGES_DIR / path.name.replace(".asl.json", ".svg")
    root = ET.fromstring(image.read_text(encoding="utf-8"))
    texts = {element.text for element in root.iter(f"{SVG}text")}
    missing = _state_names(_definition(path)) - texts
    assert not missing, f"{image.name} lacks {sorted(missing)}: run `{COMMAND}`"


def test_architecture_image_is_svg() -> None:
    root = ET.fromstring((IMAGES_DIR / "architecture.svg").read_text(encoding="utf-8"))
    texts = {element.text for element in root.iter(f"{SVG}text")}
    assert {"KubeconfigFunction", "RebalanceNodegroups", "eksops library"} <= texts


def _rects(graph: Graph, dx: float = 0.0, dy: float = 0.0) -> list[list[Rect]]:
    """Per scope (the machine, each lane of each container), the boxes and labels placed in
    it, in absolute coordinates."""
    scope: list[Rect] = [
        (label.lines[0], dx + label.x, dy + label.y, label.w, label.h) for label in graph.labels
    ]
    scopes = [scope]
    for box in graph.boxes.values():
        scope.append((box.key, dx + box.x, dy + box.y, box.w, box.h))
        x = dx + box.x + (box.w - sum(lane.w for lane in box.lanes) - 16 * (len(box.lanes) - 1)) / 2
        for lane in box.lanes:
            scopes.extend(_rects(lane, x, dy + box.y + 40))
            x += lane.w + 16
    return scopes


def _overlap(a: Rect, b: Rect) -> bool:
    _, ax, ay, aw, ah = a
    _, bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _laid_out() -> list[tuple[str, Graph]]:
    graphs = [(p.name, layout(graph_from_states(_definition(p), markers=True))) for p in MACHINES]
    return [*graphs, ("architecture", architecture_graph())]


@pytest.mark.parametrize(
    ("name", "graph"), _laid_out(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_box_or_label_overlaps_another(name: str, graph: Graph) -> None:
    for scope in _rects(graph):
        clashes = [(a[0], b[0]) for a, b in combinations(scope, 2) if _overlap(a, b)]
        assert not clashes, f"{name}: {clashes}"


@pytest.mark.parametrize(
    ("name", "graph"), _laid_out(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_titles_fit_their_boxes(name: str, graph: Graph) -> None:
    def boxes(scope: Graph) -> list[Box]:
        inner = [
            box for outer in scope.boxes.values() for lane in outer.lanes for box in boxes(lane)
        ]
        return [*scope.boxes.values(), *inner]

    for box in boxes(graph):
        if box.kind != "marker":
            assert box.w >= text_width(box.title, 12, bold=True) + 20, f"{name}: {box.title}"
            assert box.w >= text_width(box.subtitle, 10) + 20, f"{name}: {box.subtitle}"


POLL = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Task", "Resource": "${F}", "Next": "IsDone"},
        "IsDone": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Done"}],
            "Default": "WaitAgain",
        },
        "WaitAgain": {"Type": "Wait", "Seconds": 5, "Next": "Check"},
        "Check": {"Type": "Task", "Resource": "${F}", "Next": "IsDone"},
        "Done": {"Type": "Succeed"},
    },
}


def test_a_poll_loop_is_drawn_as_a_back_edge_with_its_exit_below() -> None:
    graph = layout(graph_from_states(POLL, markers=True))
    assert [(e.src, e.dst) for e in graph.edges if e.back] == [("Check", "IsDone")]
    rank = assign_ranks(graph)
    assert rank["IsDone"] < rank["WaitAgain"] < rank["Check"] < rank["Done"] < rank[END]
    boxes = graph.boxes
    assert boxes["Check"].y > boxes["WaitAgain"].y > boxes["IsDone"].y  # the loop reads downwards
    assert boxes["Done"].y > boxes["Check"].y


def test_choice_rules_read_briefly() -> None:
    assert rule_lines({"Variable": "$.plan.moves", "NumericGreaterThan": 0}) == (
        "$.plan.moves > 0",
    )
    assert rule_lines(
        {
            "And": [
                {"Variable": "$.mode", "StringEquals": "enforce"},
                {"Variable": "$.n", "IsPresent": True},
            ]
        }
    ) == ('$.mode == "enforce"', "and $.n present")
    assert rule_lines({"Variable": "$.wait", "BooleanEquals": False}) == ("not $.wait",)
