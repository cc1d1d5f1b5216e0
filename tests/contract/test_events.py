"""Contract: every sample event under events/ is a valid input of the function it documents,
and invalid inputs fail with a named error that points at the offending field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.models.base import EventModel, parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.models.kubeconfig import KubeconfigEvent
from eksops.models.prune_rules import PruneInput, RestoreInput
from eksops.models.rebalance_nodegroups import RebalanceInput, rebalance_from_event
from eksops.models.setup_irsa import SetupIrsaInput

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"

# events/<folder>/*.json -> the model its function validates with. The one place to add a folder.
MODELS: dict[str, type[EventModel]] = {
    "create_cluster": CreateClusterInput,
    "delete_cluster": DeleteClusterInput,
    "join_nodegroup": JoinNodegroupInput,
    "kubeconfig": KubeconfigEvent,
    "prune_security_group_rules": PruneInput,
    "restore_security_group_rules": RestoreInput,
    "setup_irsa": SetupIrsaInput,
    "rebalance_nodegroups": RebalanceInput,
}
# events/<folder>/*.json that are EventBridge events -> what reads them (they are no input model)
SIGNAL_FOLDER = "rebalance_signals"

EVENT_FILES = sorted(p for p in EVENTS.rglob("*") if p.is_file())


def _folder(path: Path) -> str:
    parts = path.relative_to(EVENTS).parts
    return parts[0] if len(parts) > 1 else ""


def test_events_exist_and_every_folder_has_a_model() -> None:
    assert EVENT_FILES, f"no sample events under {EVENTS}"
    folders = {_folder(p) or "<events/ itself>" for p in EVENT_FILES}
    unmapped = sorted(folders - MODELS.keys() - {SIGNAL_FOLDER})
    assert not unmapped, f"events folders without a model in MODELS: {unmapped}"


def test_every_mapped_folder_has_events() -> None:
    empty = sorted(f for f in MODELS if not any(_folder(p) == f for p in EVENT_FILES))
    assert not empty, f"MODELS names folders with no sample events: {empty}"


def _is_signal(path: Path) -> bool:
    return _folder(path) == SIGNAL_FOLDER


@pytest.mark.parametrize("path", [p for p in EVENT_FILES if _is_signal(p)], ids=lambda p: p.name)
def test_signal_stands_for_a_rebalance(path: Path) -> None:
    """Route's and StartRebalance's reading of each sample signal (the schedule excepted: the
    router turns it into one input per cluster)."""
    event = json.loads(path.read_text(encoding="utf-8"))
    if event["detail-type"] != "Scheduled Event":
        request, signal = rebalance_from_event(event)
        detail = event["detail"]
        assert request.instance_id == detail.get("instance-id", detail.get("EC2InstanceId"))
        assert signal.event_id == event["id"]


@pytest.mark.parametrize(
    "path", [p for p in EVENT_FILES if not _is_signal(p)], ids=lambda p: str(p.relative_to(EVENTS))
)
def test_event_parses_with_its_model(path: Path) -> None:
    model = MODELS.get(_folder(path))
    assert model is not None, f"no model mapped for {path.relative_to(REPO)}"
    event = json.loads(path.read_text(encoding="utf-8"))
    parsed = parse_event(model, event)
    # Round trip: the model keeps every field of the sample (nothing silently dropped).
    assert parsed.model_dump(by_alias=True, exclude_unset=True) == event


VALID = {"clusterName": "demo", "format": "token"}
SECRET = "s3cr3t-value-never-echoed"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param({"format": "token"}, "clusterName", id="missing-clusterName"),
        pytest.param({**VALID, "format": SECRET}, "format", id="bad-format"),
        pytest.param({**VALID, "clusterNmae": SECRET}, "clusterNmae", id="unknown-field"),
        pytest.param({**VALID, "clusterName": 42}, "clusterName", id="wrong-type-clusterName"),
        pytest.param({**VALID, "roleArn": ["x"]}, "roleArn", id="wrong-type-roleArn"),
    ],
)
def test_invalid_kubeconfig_event_names_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        parse_event(KubeconfigEvent, event)
    message = str(excinfo.value)
    assert f"{field}: " in message, message
    assert SECRET not in message, "input values must not be echoed in errors"


def test_invalid_event_that_is_not_an_object() -> None:
    with pytest.raises(InvalidInputError):
        parse_event(KubeconfigEvent, ["clusterName", "demo"])
