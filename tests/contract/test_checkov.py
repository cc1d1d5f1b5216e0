"""Contract: checkov (PyPI) finds no failed check in template.yaml (the hub) and
member-account.yaml (the member accounts' StackSets template). The checks that do not apply
are skipped in .checkov.yaml, each under a comment giving its reason; a check skipped on one
resource only carries its reason in that resource's Metadata. checkov runs offline from its own
venv, as `make checkov` runs it (`make test` installs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eksops.local.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = ("template.yaml", "member-account.yaml")
CHECKOV = REPO / ".venv" / "checkov" / "bin" / "checkov"
CONFIG = REPO / ".checkov.yaml"
# No platform mapping, guideline or policy download (skip-download in CONFIG too) and no update
# check: nothing is fetched. Nothing is uploaded without an API key.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}

# SAM event sources through which Lambda invokes a function asynchronously: what still fails after
# Lambda's retries is lost unless the function has a dead-letter queue.
ASYNCHRONOUS_EVENTS = {
    "EventBridgeRule",
    "Schedule",
    "ScheduleV2",
    "CloudWatchEvent",
    "CloudWatchLogs",
    "SNS",
    "S3",
    "IoTRule",
    "Cognito",
}
# Of those, the ones EventBridge (or its Scheduler) delivers: what it cannot deliver after its
# own retries is lost unless the event has a DeadLetterConfig.
EVENTBRIDGE_EVENTS = {"EventBridgeRule", "Schedule", "ScheduleV2", "CloudWatchEvent"}


@cache
def _report(template: str) -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make checkov-venv` (`make test` does)")
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "-f", template, "-o", "json"],
        cwd=REPO,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov exited {result.returncode}, no report:\n{result.stderr[-4000:]}")
    # one framework: one report (a list when several ran)
    assert isinstance(report, dict), f"expected only the cloudformation report: {report!r:.500}"
    return report


@pytest.mark.parametrize("template", TEMPLATES)
def test_checkov_finds_no_failed_check(template: str) -> None:
    results = _report(template)["results"]
    failed = [
        f"{c['check_id']} {c['resource']} (lines {c['file_line_range']}): {c['check_name']}"
        for c in results["failed_checks"]
    ]
    assert not failed, "checkov failed checks (fix them, or skip with a reason):\n" + "\n".join(
        failed
    )
    assert not results["parsing_errors"], results["parsing_errors"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_checkov_read_every_resource(template: str) -> None:
    summary = _report(template)["summary"]
    resources = load_template(REPO / template)["Resources"]
    assert summary["resource_count"] == len(resources), summary
    assert summary["passed"] > 0, summary


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_skip_has_its_reason(template: str) -> None:
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in _report(template)["results"]["skipped_checks"]
        if not (c.get("check_result", {}).get("suppress_comment") or "").strip()
    ]
    assert not unexplained, f"skipped in Metadata without a comment: {unexplained}"
    uncommented = _uncommented_skips(CONFIG.read_text(encoding="utf-8"))
    assert not uncommented, f".checkov.yaml skip-check entries with no reason above: {uncommented}"


def _uncommented_skips(config: str) -> list[str]:
    """The skip-check entries of a .checkov.yaml not directly under a comment line."""
    lines = config.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("skip-check:")), None)
    assert start is not None, "no skip-check list"
    found, previous = [], lines[start]
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):  # the next key
            break
        entry = re.fullmatch(r"\s*-\s*(\S+)\s*", line)
        if entry and not previous.strip().startswith("#"):
            found.append(entry.group(1))
        previous = line
    return found


# --- CKV_AWS_116, where it applies ----------------------------------------------------------


def missing_dead_letters(template: dict[str, Any]) -> list[str]:
    """Asynchronously invoked functions without a DLQ, and their EventBridge events without a
    DeadLetterConfig. (.checkov.yaml skips checkov's CKV_AWS_116, which asks every function.)"""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        events = {
            name: event
            for name, event in properties.get("Events", {}).items()
            if event["Type"] in ASYNCHRONOUS_EVENTS
        }
        if events and "TargetArn" not in properties.get("DeadLetterQueue", {}):
            found.append(f"{logical_id}: no DeadLetterQueue")
        for name, event in events.items():
            if event["Type"] in EVENTBRIDGE_EVENTS and not event.get("Properties", {}).get(
                "DeadLetterConfig"
            ):
                found.append(f"{logical_id}.{name}: no DeadLetterConfig")
    return found


def test_asynchronously_invoked_functions_keep_what_failed() -> None:
    template = load_template(REPO / "template.yaml")
    asynchronous = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] in ASYNCHRONOUS_EVENTS
    ]
    assert asynchronous, "no asynchronously invoked function found (the walk is broken)"
    missing = missing_dead_letters(template)
    assert not missing, f"what fails is lost (see RouteRebalanceSignalFunction's DLQ): {missing}"


def test_a_missing_dead_letter_queue_is_reported() -> None:
    rule = {"Type": "EventBridgeRule", "Properties": {"Pattern": {"source": ["aws.ec2"]}}}
    template = {
        "Resources": {
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"E": rule}}},
            "Sync": {"Type": "AWS::Serverless::Function", "Properties": {}},
        }
    }
    assert missing_dead_letters(template) == ["F: no DeadLetterQueue", "F.E: no DeadLetterConfig"]


def test_an_uncommented_skip_is_reported() -> None:
    config = "skip-check:\n  # why\n  - CKV_AWS_1\n  - CKV_AWS_2\nframework: [x]\n  - CKV_AWS_3\n"
    assert _uncommented_skips(config) == ["CKV_AWS_2"]
