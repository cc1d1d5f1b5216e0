"""The objects of one cluster, with the storage semantics of the Kubernetes API server.

Objects are plain JSON-shaped dicts keyed by (resource, namespace, name), where *resource* is
the version-independent, group-qualified plural Kubernetes itself uses in messages and in
``kubectl get <resource>.<group>``: ``"pods"``, ``"poddisruptionbudgets.policy"``,
``"roles.rbac.authorization.k8s.io"``. Namespace is ``""`` for cluster-scoped objects.

What the store owns, as etcd plus the generic registry do in Kubernetes: one cluster-wide,
monotonically increasing resourceVersion; uid, creationTimestamp and generation; AlreadyExists,
NotFound and Conflict (stale resourceVersion) errors; label and field selectors on lists. It
hands out copies, so callers never share state with it or with each other.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str, str]


class ApiError(Exception):
    """A failed request, answered as a Kubernetes ``Status`` object with this HTTP code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> Obj:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _qualified(resource: str) -> tuple[str, str]:
    plural, _, group = resource.partition(".")
    return plural, group


def _details(resource: str, name: str) -> Obj:
    plural, group = _qualified(resource)
    details: Obj = {"name": name, "kind": plural} if name else {"kind": plural}
    if group:
        details["group"] = group
    return details


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource} "{name}" not found', details=_details(resource, name)
    )


def already_exists(resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{resource} "{name}" already exists',
        details=_details(resource, name),
    )


def conflict(resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource} "{name}": {why}',
        details=_details(resource, name),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


_CAUSE_REASONS = {"Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid"}


def _cause(problem: str) -> Obj:
    """A StatusCause of a ``<field>: <error type>: ...`` problem; kubectl prints each cause as
    ``<field>: <message>``."""
    field_path, _, message = problem.partition(": ")
    cause: Obj = {"message": message, "field": field_path}
    reason = _CAUSE_REASONS.get(message.split(":")[0])
    return {"reason": reason, **cause} if reason else cause


def invalid(resource: str, kind: str, name: str, problems: list[str]) -> ApiError:
    """422, as Kubernetes answers an object that fails validation: the group-qualified kind
    (``Deployment.apps "web" is invalid: ...``) and the problems (``<field>: <error type>:
    <detail>``), bracketed when several."""
    _, group = _qualified(resource)
    details: Obj = {"name": name, "kind": kind, "causes": [_cause(p) for p in problems]}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    listed = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}', details=details)


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


# --- selectors ---------------------------------------------------------------------------

_SET_REQUIREMENT = re.compile(
    r"^\s*(!?)([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([^\s,]*))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    """Split at commas outside parentheses (``env in (a,b),tier=web``)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p for p in parts if p.strip()]


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """A ``labelSelector`` query string: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
    ``k notin (a)``, ``k``, ``!k``; requirements are ANDed."""
    for part in _split_selector(selector):
        match = _SET_REQUIREMENT.match(part)
        if match is None:
            raise bad_request(f"unable to parse requirement: {part!r}")
        negated, key, set_op, values, op, value = match.groups()
        present = key in labels
        if negated:
            if set_op or op or present:
                if set_op or op:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                return False
        elif set_op:
            members = {v.strip() for v in values.split(",") if v.strip()}
            inside = present and labels[key] in members
            if inside != (set_op == "in"):
                return False
        elif op in ("=", "=="):
            if labels.get(key) != value:
                return False
        elif op == "!=":
            if labels.get(key) == value:
                return False
        elif not present:
            return False
    return True


def selector_object_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A ``LabelSelector`` object (matchLabels, matchExpressions). ``None`` matches nothing and
    ``{}`` matches everything, as for policy/v1 PodDisruptionBudgets."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value a field selector compares: a dotted path; missing fields are ``""``."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def field_selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    """A ``fieldSelector`` query string: ``path=v``, ``path==v``, ``path!=v``, ANDed. Any
    dotted path is accepted (Kubernetes allows a few per kind; kubectl drain uses
    ``spec.nodeName``, kubectl delete --wait ``metadata.name``)."""
    for part in _split_selector(selector):
        match = re.match(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if match is None:
            raise bad_request(f"invalid selector: {part!r}; can't understand {part!r}")
        path, op, value = match.groups()
        if (field_value(obj, path) == value) != (op != "!="):
            return False
    return True


# --- the store ---------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """Kubernetes' metav1.Time form: RFC 3339, seconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """What bumps metadata.generation: anything but metadata and status."""
    ignored = {"metadata", "status"}
    return {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }


def next_generation(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> int | None:
    """The metadata.generation the store gives ``new`` when it replaces ``old`` (``None``: when
    it creates ``new``): kinds with a spec start at 1 and count the writes that change anything
    but metadata and status; kinds without one (ConfigMaps and the like) have none."""
    if old is None:
        return 1 if "spec" in new else None
    generation = (old.get("metadata") or {}).get("generation")
    if generation is None:
        return None
    return generation + 1 if _spec_changed(old, new) else generation


def _without_version(obj: Obj) -> Obj:
    metadata = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": metadata}


class ObjectStore:
    """Thread-safe objects of one cluster. Every method takes and returns copies."""

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self._clock = clock
        # Reentrant, so ``locked()`` blocks can call the other methods.
        self._lock = threading.RLock()
        self._objects: dict[Key, Obj] = {}
        self._revision = 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store still: read-decide-write sequences (an eviction checking a budget and
        deleting a pod) happen atomically inside one block."""
        with self._lock:
            yield

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._revision)

    def _next_version(self) -> str:
        self._revision += 1
        return str(self._revision)

    @staticmethod
    def _key(resource: str, obj: Mapping[str, Any]) -> Key:
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or ""
        if not name:
            raise bad_request("resource name may not be empty")
        return resource, metadata.get("namespace") or "", name

    def create(self, resource: str, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """Store a new object; the store sets uid, resourceVersion, creationTimestamp and
        generation. 409 AlreadyExists if the name is taken."""
        new = copy.deepcopy(dict(obj))
        key = self._key(resource, new)
        with self._lock:
            if key in self._objects:
                raise already_exists(resource, key[2])
            metadata = new["metadata"]
            metadata.pop("resourceVersion", None)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = timestamp(self._clock())
            generation = next_generation(None, new)
            if generation is not None:
                metadata["generation"] = generation
            if not key[1]:
                metadata.pop("namespace", None)
            if dry_run:
                metadata["resourceVersion"] = str(self._revision)
                return new
            metadata["resourceVersion"] = self._next_version()
            self._objects[key] = new
            return copy.deepcopy(new)

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        with self._lock:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Like ``get``, but ``None`` when missing."""
        with self._lock:
            obj = self._objects.get((resource, namespace, name))
            return None if obj is None else copy.deepcopy(obj)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], str]:
        """Objects of one resource (in one namespace, or all with ``None``), sorted by
        namespace and name, and the resourceVersion the list is consistent with."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (kind, ns, _), obj in sorted(self._objects.items())
                if kind == resource
                and (namespace is None or ns == namespace)
                and label_selector_matches(label_selector, obj["metadata"].get("labels") or {})
                and field_selector_matches(field_selector, obj)
            ]
            return items, str(self._revision)

    def update(self, resource: str, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """Replace an object. A non-empty metadata.resourceVersion must be the current one
        (409 Conflict otherwise); an empty one updates unconditionally, as Kubernetes allows.
        uid and creationTimestamp stay the server's; generation grows when the spec does."""
        new = copy.deepcopy(dict(obj))
        key = self._key(resource, new)
        with self._lock:
            old = self._objects.get(key)
            if old is None:
                raise not_found(resource, key[2])
            old_meta, metadata = old["metadata"], new["metadata"]
            sent = metadata.get("resourceVersion") or ""
            if sent and sent != old_meta["resourceVersion"]:
                raise conflict(resource, key[2], STALE)
            if metadata.get("uid") and metadata["uid"] != old_meta["uid"]:
                raise conflict(resource, key[2], "Precondition failed: UID in object meta")
            for server_field in ("uid", "creationTimestamp", "deletionTimestamp"):
                if server_field in old_meta:
                    metadata[server_field] = old_meta[server_field]
            generation = next_generation(old, new)
            if generation is None:
                metadata.pop("generation", None)
            else:
                metadata["generation"] = generation
            if not key[1]:
                metadata.pop("namespace", None)
            if dry_run or _without_version(new) == _without_version(old):
                # A no-op update does not advance the resourceVersion (nor does a dry run).
                metadata["resourceVersion"] = old_meta["resourceVersion"]
                return new
            metadata["resourceVersion"] = self._next_version()
            self._objects[key] = new
            return copy.deepcopy(new)

    def modify(
        self,
        resource: str,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Read, change and write back atomically (how patches apply). ``change`` receives a
        copy; a resourceVersion it leaves different from the current one is a precondition
        that fails with 409, as a resourceVersion inside a patch does in Kubernetes."""
        with self._lock:
            current = self.get(resource, namespace, name)
            version = current["metadata"]["resourceVersion"]
            changed = change(copy.deepcopy(current))
            metadata = changed.setdefault("metadata", {})
            sent = metadata.get("resourceVersion") or ""
            if sent and sent != version:
                raise conflict(resource, name, STALE)
            if metadata.get("name", name) != name:
                raise bad_request("metadata.name: Invalid value: the name may not be changed")
            metadata["name"] = name
            if namespace:
                metadata["namespace"] = namespace
            metadata["resourceVersion"] = version
            return self.update(resource, changed, dry_run=dry_run)

    def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        *,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Remove an object at once and return it (pods included: there is no kubelet to
        terminate them gracefully). Deleting a namespace removes everything in it.
        ``preconditions`` may hold ``uid`` and ``resourceVersion`` (409 when they differ)."""
        with self._lock:
            key = (resource, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise not_found(resource, name)
            for field_name, wanted in (preconditions or {}).items():
                if wanted and obj["metadata"].get(field_name) != wanted:
                    raise conflict(
                        resource,
                        name,
                        f"Precondition failed: {field_name} in precondition: {wanted}, "
                        f"{field_name} in object meta: {obj['metadata'].get(field_name)}",
                    )
            removed = copy.deepcopy(obj)
            removed["metadata"]["deletionTimestamp"] = timestamp(self._clock())
            if dry_run:
                return removed
            del self._objects[key]
            if resource == "namespaces":
                for inner in [k for k in self._objects if k[1] == name]:
                    del self._objects[inner]
            removed["metadata"]["resourceVersion"] = self._next_version()
            return removed
