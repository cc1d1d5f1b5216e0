"""Merges into the aws-auth ConfigMap, never overwrites.

eksctl and Terraform users lose mappings when a tool writes the whole ConfigMap from its own
view. Here each change reads the current ConfigMap, adds only what is missing (an existing
mapping of the same ARN keeps its username and gains the missing groups), and writes it back
with the resourceVersion it read: a concurrent writer makes the write fail with 409 Conflict,
and the merge starts again from the new content.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eksops.errors import EksopsError

NAMESPACE = "kube-system"
NAME = "aws-auth"
CONFLICT_RETRIES = 10
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0


class AwsAuthError(EksopsError):
    """aws-auth could not be read or merged (unparsable content, or constant concurrent edits)."""

    error_name = "eksops.AwsAuth"


class AwsAuthConflictError(AwsAuthError):
    """aws-auth changed under every attempt to merge into it (many concurrent writers): the state
    machine retries the step."""

    error_name = "eksops.AwsAuthConflict"


@dataclass(frozen=True)
class Mapping:
    """One mapRoles or mapUsers entry."""

    arn: str
    username: str
    groups: tuple[str, ...]

    @property
    def section(self) -> str:
        return "mapUsers" if ":user/" in self.arn else "mapRoles"

    @property
    def arn_key(self) -> str:
        return "userarn" if self.section == "mapUsers" else "rolearn"


def role_entries(data: dict[str, str]) -> list[dict[str, Any]]:
    """aws-auth's mapRoles entries."""
    return _entries(data, "mapRoles")


def _entries(data: dict[str, str], section: str) -> list[dict[str, Any]]:
    import yaml

    try:
        entries = yaml.safe_load(data.get(section) or "[]") or []
    except yaml.YAMLError as exc:
        raise AwsAuthError(f"{NAMESPACE}/{NAME} {section} is not valid YAML: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AwsAuthError(f"{NAMESPACE}/{NAME} {section} is not a list of mappings")
    return entries


@dataclass(frozen=True)
class Change:
    """One line of the diff a merge makes: a new entry, or groups added to an existing one."""

    mapping: Mapping
    groups_added: tuple[str, ...]
    new: bool

    def result(self) -> dict[str, Any]:
        return {
            "section": self.mapping.section,
            self.mapping.arn_key: self.mapping.arn,
            "change": "added" if self.new else "groups added",
            "username": self.mapping.username,
            "groups": list(self.groups_added),
        }


def merged(data: dict[str, str], mappings: list[Mapping]) -> tuple[dict[str, str], list[Change]]:
    """``data`` with ``mappings`` merged in, and what changed (nothing: ``data`` as it was)."""
    import yaml

    result = dict(data)
    changes: list[Change] = []
    for section in ("mapRoles", "mapUsers"):
        wanted = [m for m in mappings if m.section == section]
        if not wanted:
            continue
        entries = _entries(data, section)
        before = len(changes)
        for mapping in wanted:
            entry = next((e for e in entries if e.get(mapping.arn_key) == mapping.arn), None)
            if entry is None:
                entries.append(
                    {
                        mapping.arn_key: mapping.arn,
                        "username": mapping.username,
                        "groups": list(mapping.groups),
                    }
                )
                changes.append(Change(mapping, mapping.groups, new=True))
                continue
            groups = list(entry.get("groups") or [])
            missing = [group for group in mapping.groups if group not in groups]
            if missing:
                entry["groups"] = groups + missing
                changes.append(Change(mapping, tuple(missing), new=False))
        if len(changes) > before:  # an untouched section keeps its text, comments and all
            result[section] = yaml.safe_dump(entries, default_flow_style=False, sort_keys=False)
    return result, changes


def _backoff(attempt: int, random: Callable[[], float]) -> float:
    """Full jitter: concurrent writers that collided spread out instead of colliding again."""
    return random() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)


def merge_mappings(
    core_v1: Any,
    mappings: list[Mapping],
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> list[Change]:
    """Merge ``mappings`` into aws-auth (created if missing); what changed (nothing: no write)."""
    from kubernetes.client import V1ConfigMap, V1ObjectMeta
    from kubernetes.client.exceptions import ApiException

    for attempt in range(CONFLICT_RETRIES):
        try:
            current = core_v1.read_namespaced_config_map(NAME, NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise
            current = None
        data = dict((current.data or {}) if current is not None else {})
        new_data, changes = merged(data, mappings)
        if not changes:
            return []
        try:
            if current is None:
                core_v1.create_namespaced_config_map(
                    NAMESPACE, V1ConfigMap(metadata=V1ObjectMeta(name=NAME), data=new_data)
                )
            else:
                current.data = new_data  # metadata keeps the resourceVersion read above
                core_v1.replace_namespaced_config_map(NAME, NAMESPACE, current)
            return changes
        except ApiException as exc:
            if exc.status != 409:  # 409: changed (or created) since we read it
                raise
            sleep(_backoff(attempt, jitter))
    raise AwsAuthConflictError(
        f"{NAMESPACE}/{NAME} changed under every one of {CONFLICT_RETRIES} merges; try again"
    )
