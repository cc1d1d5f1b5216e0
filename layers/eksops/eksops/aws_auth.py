"""Merges into the aws-auth ConfigMap, never overwrites.

eksctl and Terraform users lose mappings when a tool writes the whole ConfigMap from its own
view. Here each change reads the current ConfigMap, adds only what is missing (an existing
mapping of the same ARN keeps its username and gains the missing groups), and writes it back
with the resourceVersion it read: a concurrent writer makes the write fail with 409 Conflict,
and the merge starts again from the new content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eksops.errors import EksopsError

NAMESPACE = "kube-system"
NAME = "aws-auth"
CONFLICT_RETRIES = 5


class AwsAuthError(EksopsError):
    """aws-auth could not be read or merged (unparsable content, or constant concurrent edits)."""

    error_name = "eksops.AwsAuth"


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


def _entries(data: dict[str, str], section: str) -> list[dict[str, Any]]:
    import yaml

    try:
        entries = yaml.safe_load(data.get(section) or "[]") or []
    except yaml.YAMLError as exc:
        raise AwsAuthError(f"{NAMESPACE}/{NAME} {section} is not valid YAML: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AwsAuthError(f"{NAMESPACE}/{NAME} {section} is not a list of mappings")
    return entries


def merged(data: dict[str, str], mappings: list[Mapping]) -> dict[str, str] | None:
    """``data`` with ``mappings`` merged in, or None when nothing is missing."""
    import yaml

    result = dict(data)
    changed = False
    for section in ("mapRoles", "mapUsers"):
        wanted = [m for m in mappings if m.section == section]
        if not wanted:
            continue
        entries = _entries(data, section)
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
                changed = True
                continue
            groups = list(entry.get("groups") or [])
            missing = [group for group in mapping.groups if group not in groups]
            if missing:
                entry["groups"] = groups + missing
                changed = True
        result[section] = yaml.safe_dump(entries, default_flow_style=False, sort_keys=False)
    return result if changed else None


def merge_mappings(
    core_v1: Any, mappings: list[Mapping], on_conflict: Callable[[int], None] = lambda _: None
) -> bool:
    """Merge ``mappings`` into aws-auth (created if missing); True if it changed."""
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
        new_data = merged(data, mappings)
        if new_data is None:
            return False
        try:
            if current is None:
                core_v1.create_namespaced_config_map(
                    NAMESPACE, V1ConfigMap(metadata=V1ObjectMeta(name=NAME), data=new_data)
                )
            else:
                current.data = new_data  # metadata keeps the resourceVersion read above
                core_v1.replace_namespaced_config_map(NAME, NAMESPACE, current)
            return True
        except ApiException as exc:
            if exc.status not in (409,):  # 409: changed or created since we read it
                raise
            on_conflict(attempt + 1)
    raise AwsAuthError(
        f"{NAMESPACE}/{NAME} changed under every one of {CONFLICT_RETRIES} merges; try again"
    )
