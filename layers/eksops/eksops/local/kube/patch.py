"""The patch formats of PATCH requests: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
Kubernetes' strategic merge patch.

Strategic merge patch needs each list's patch strategy. Kubernetes reads it from Go struct tags
per type; here it is keyed by field name, which is unambiguous across the served kinds (pods,
nodes, service accounts, metadata): e.g. ``containers`` merge by ``name``, ``ports`` (only in
containers here) by ``containerPort``, ``finalizers`` are a set. Every other list is replaced
whole, as Kubernetes does for lists without a strategy (RBAC rules and subjects, tolerations).
"""

from __future__ import annotations

import copy
from typing import Any

from eksops.local.kube.store import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# patchStrategy=merge lists of objects and their patchMergeKey, from the Kubernetes API types.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "conditions": "type",
    "addresses": "type",
    "taints": "key",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "ephemeralContainerStatuses": "name",
    "podIPs": "ip",
    "hostIPs": "ip",
    "ownerReferences": "uid",
    "secrets": "name",  # ServiceAccount.secrets
}
# patchStrategy=merge lists of scalars: merged as sets, in order.
MERGED_SETS = {"finalizers", "podCIDRs"}


def _invalid_patch(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


# --- RFC 7386 ----------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces.
    The result shares nothing with ``target``, so defaulting it cannot change the original."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 ----------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid_patch(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _invalid_patch(f"path /{'/'.join(parts)} does not exist") from None
    return node


def _index(container: list[Any], part: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(container)
    try:
        index = int(part)
    except ValueError:
        raise _invalid_patch(f"invalid array index {part!r}") from None
    if not 0 <= index <= len(container) - (0 if adding else 1):
        raise _invalid_patch(f"array index {index} out of bounds")
    return index


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        if isinstance(parent, list):
            return parent[_index(parent, parts[-1], adding=False)]
        return parent[parts[-1]]
    except (KeyError, TypeError):
        raise _invalid_patch(f"path /{'/'.join(parts)} does not exist") from None


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], adding=False))
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise _invalid_patch(f"unable to remove nonexistent key: {parts[-1]}")
    return parent.pop(parts[-1])


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], adding=True), value)
    elif isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        raise _invalid_patch(f"path /{'/'.join(parts)} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply RFC 6902 operations (add, remove, replace, move, copy, test) to a copy."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "path" not in op:
            raise _invalid_patch(f"invalid JSON patch operation: {op!r}")
        kind, parts = op.get("op"), _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)  # must exist
            if not parts:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise _invalid_patch(f"testing value /{'/'.join(parts)} failed")
        else:
            raise _invalid_patch(f"Unexpected kind: {kind}")
    return doc


# --- strategic merge patch ---------------------------------------------------------------

_DELETE = object()  # a map patched with {"$patch": "delete"}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return value


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    merge_key = MERGE_KEYS.get(field)
    if merge_key and all(isinstance(item, dict) for item in patch):
        if any(item.get("$patch") == "replace" for item in patch):
            return _strip_directives(patch)
        result = [copy.deepcopy(i) for i in original] if isinstance(original, list) else []
        for item in patch:
            if merge_key not in item:
                raise _invalid_patch(
                    f"map: {item} does not contain declared merge key: {merge_key}"
                )
            position = next(
                (
                    i
                    for i, old in enumerate(result)
                    if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
                ),
                None,
            )
            if item.get("$patch") == "delete":
                result = [
                    o
                    for o in result
                    if not (isinstance(o, dict) and o.get(merge_key) == item[merge_key])
                ]
            elif position is None:
                result.append(strategic_merge_patch({}, item))
            else:
                result[position] = strategic_merge_patch(result[position], item)
        return result
    if field in MERGED_SETS:
        result = list(original) if isinstance(original, list) else []
        return result + [v for v in patch if v not in result]
    return _strip_directives(patch)


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """``$setElementOrder/<field>``: the patch's order first, anything else after it."""

    def key_of(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [key_of(o) for o in order]
    listed = [i for i in items if key_of(i) in wanted]
    listed.sort(key=lambda i: wanted.index(key_of(i)))
    return listed + [i for i in items if key_of(i) not in wanted]


def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge patch of ``original`` (not modified) with ``patch``.

    Maps merge, ``null`` deletes; lists follow MERGE_KEYS / MERGED_SETS or are replaced.
    Directives: ``$patch: replace|delete`` in maps and merge-keyed list items,
    ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return _DELETE
    if directive is not None:
        raise _invalid_patch(f"Unknown patch type: {directive}")
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
        elif key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = _reorder(result[field], value, MERGE_KEYS.get(field))
    retained = patch.get("$retainKeys")
    if isinstance(retained, list):
        result = {k: v for k, v in result.items() if k in retained}
    return result
