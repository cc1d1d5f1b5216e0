"""Turning an execution's history events into progress lines for a person.

`eksops run` (workflow_run) imports this module whenever the CLI builds its parser, so it
imports nothing heavy at the top: json and re load when they run.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see cli.py

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterator
    from typing import Any

CHAIN_LIMIT = 25_000  # a Standard execution's history holds at most 25,000 events
CAUSE_IN_PROGRESS = 200  # characters of a failure's cause shown in a progress line

# history events that end one attempt of a Task state; a *Scheduled event after one is a retry
ATTEMPT_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "ActivityFailed",
        "ActivityTimedOut",
        "ActivityScheduleFailed",
    }
)
BLOCK_ENDS = frozenset(
    {"MapStateFailed", "MapStateAborted", "ParallelStateFailed", "ParallelStateAborted"}
)
ATTEMPT_STARTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})


class _StateInfo:
    __slots__ = ("depth", "map_ancestor", "spec")

    def __init__(self, spec: dict[str, Any], depth: int, map_ancestor: str | None) -> None:
        self.spec = spec
        self.depth = depth
        self.map_ancestor = map_ancestor


def index_states(definition: dict[str, Any] | None) -> dict[str, _StateInfo]:
    """Every state of an ASL document by name (names are unique machine-wide), with its
    nesting depth and the innermost Map it runs in."""
    found: dict[str, _StateInfo] = {}

    def visit(states: Any, depth: int, map_ancestor: str | None) -> None:
        if not isinstance(states, dict):
            return
        for name, spec in states.items():
            if not isinstance(spec, dict):
                continue
            found.setdefault(name, _StateInfo(spec, depth, map_ancestor))
            if spec.get("Type") == "Map":
                processor = spec.get("ItemProcessor") or spec.get("Iterator") or {}
                if isinstance(processor, dict):
                    visit(processor.get("States"), depth + 1, name)
            elif spec.get("Type") == "Parallel":
                for branch in spec.get("Branches") or []:
                    if isinstance(branch, dict):
                        visit(branch.get("States"), depth + 1, map_ancestor)

    if definition:
        visit(definition.get("States"), 0, None)
    return found


def format_duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


_PATH_STEP = r"\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]"


def json_path_value(document: Any, path: str) -> Iterator[Any]:
    """Yields the value at a plain JSONPath (``$.a.b[0]``, ``$['a']``) if there is one."""
    import re

    if not path.startswith("$") or path.startswith("$$"):
        return
    value, position = document, 1
    step = re.compile(_PATH_STEP)
    while position < len(path):
        match = step.match(path, position)
        if match is None:
            return
        key, index, quoted, double = match.groups()
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return
            value = value[int(index)]
        else:
            name = key if key is not None else quoted if quoted is not None else double
            if not isinstance(value, dict) or name not in value:
                return
            value = value[name]
        position = match.end()
    yield value


class Narrator:
    """Turns history events into one line each for a person: states entered and exited (with
    durations), waits, Map iterations, Parallel branches, failed attempts and retries. Lines
    start with the time since the execution started and are indented by nesting."""

    def __init__(
        self,
        write: Callable[[str], None],
        start_date: datetime.datetime,
        definition: dict[str, Any] | None = None,
    ) -> None:
        self._write = write
        self._start = start_date
        self._states = index_states(definition)
        # id -> (type, previous id, timestamp, state name or None, iteration index or None)
        self._events: dict[int, tuple[str, int, datetime.datetime, str | None, int | None]] = {}
        self._iterations: dict[tuple[str, int], datetime.datetime] = {}
        self._attempts: dict[str, int] = {}
        self._failed: set[str] = set()

    def __call__(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._remember(event)
            line = self._describe(event)
            if line is not None:
                depth, text = line
                elapsed = format_duration((event["timestamp"] - self._start).total_seconds())
                self._write(f"{elapsed:>8}  {'  ' * depth}{text}")

    def _remember(self, event: dict[str, Any]) -> None:
        details = _details(event)
        name = details.get("name")
        index = details.get("index")
        self._events[event["id"]] = (
            event["type"],
            event.get("previousEventId", 0),
            event["timestamp"],
            name if isinstance(name, str) else None,
            index if isinstance(index, int) else None,
        )

    def _walk(self, event_id: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The event's causal chain (previousEventId), starting with the event before it."""
        current = self._events.get(event_id)
        for _ in range(CHAIN_LIMIT):
            if current is None or current[1] == 0 or current[1] >= event_id:
                return
            event_id = current[1]
            current = self._events.get(event_id)
            if current is not None:
                yield event_id, current

    def _entered(self, event_id: int, name: str | None = None) -> tuple[str, datetime.datetime]:
        """The state whose visit an event belongs to (the nearest *StateEntered before it)."""
        for _, (kind, _, timestamp, entered, _) in self._walk(event_id):
            if kind.endswith("StateEntered") and entered and name in (None, entered):
                return entered, timestamp
        return name or "?", self._events[event_id][2]

    def _iteration(self, event_id: int, name: str) -> int | None:
        """The index of the iteration of Map ``name`` an event runs in."""
        for _, (kind, _, _, owner, index) in self._walk(event_id):
            if kind == "MapIterationStarted" and owner == name:
                return index
        return None

    def _label(self, event_id: int, name: str) -> tuple[int, str]:
        """A state's nesting depth, and "[i] " when it runs in iteration i of a Map."""
        info = self._states.get(name)
        if info is None:
            return 0, ""
        if info.map_ancestor is not None:
            index = self._iteration(event_id, info.map_ancestor)
            if index is not None:
                return info.depth, f"[{index}] "
        return info.depth, ""

    def _describe(self, event: dict[str, Any]) -> tuple[int, str] | None:
        kind, event_id = event["type"], event["id"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            name = details.get("name", "?")
            self._attempts[name] = 1
            self._failed.discard(name)
            depth, at = self._label(event_id, name)
            state_type = kind.removesuffix("StateEntered")
            if state_type == "Wait":
                return depth, f"{at}wait  {name}: {self._wait(name, details.get('input'))}"
            return depth, f"{at}enter {name} ({state_type})"
        if kind.endswith("StateExited"):
            name = details.get("name", "?")
            self._failed.discard(name)
            _, entered_at = self._entered(event_id, name)
            took = format_duration((event["timestamp"] - entered_at).total_seconds())
            depth, at = self._label(event_id, name)
            return depth, f"{at}exit  {name} after {took}"
        if kind in ATTEMPT_FAILURES:
            name, _ = self._entered(event_id)
            self._failed.add(name)
            depth, at = self._label(event_id, name)
            error = details.get("error") or kind
            cause = _one_line(details.get("cause"))
            return depth, f"{at}fail  {name}: {error}" + (f": {cause}" if cause else "")
        if kind in ATTEMPT_STARTS:
            name, _ = self._entered(event_id)
            if name not in self._failed:
                return None
            self._failed.discard(name)
            self._attempts[name] = self._attempts.get(name, 1) + 1
            depth, at = self._label(event_id, name)
            return depth, f"{at}retry {name}: attempt {self._attempts[name]}"
        if kind == "MapStateStarted":
            name, _ = self._entered(event_id)
            depth, at = self._label(event_id, name)
            length = details.get("length")
            count = "" if length is None else f": {length} iteration{'s' * (length != 1)}"
            return depth, f"{at}map   {name}{count}"
        if kind == "ParallelStateStarted":
            name, _ = self._entered(event_id)
            depth, at = self._label(event_id, name)
            branches = self._states[name].spec.get("Branches") if name in self._states else None
            count = f": {len(branches)} branches" if isinstance(branches, list) else ""
            return depth, f"{at}parallel {name}{count}"
        if kind.startswith("MapIteration"):
            name, index = details.get("name", "?"), details.get("index")
            depth = self._states[name].depth + 1 if name in self._states else 1
            outcome = kind.removeprefix("MapIteration").lower()
            if kind == "MapIterationStarted":
                self._iterations[(name, index)] = event["timestamp"]
                return depth, f"[{index}] iteration started"
            started = self._iterations.get((name, index))
            took = (
                ""
                if started is None
                else f" after {format_duration((event['timestamp'] - started).total_seconds())}"
            )
            return depth, f"[{index}] iteration {outcome}{took}"
        if kind in BLOCK_ENDS:
            name, _ = self._entered(event_id)
            depth, at = self._label(event_id, name)
            outcome = "failed" if kind.endswith("Failed") else "aborted"
            cause = _one_line(details.get("cause"))
            error = details.get("error")
            reason = f": {error}" if error else ""
            reason += f": {cause}" if cause else ""
            return depth, f"{at}{outcome} {name}{reason}"
        return None

    def _wait(self, name: str, state_input: str | None) -> str:
        import json

        info = self._states.get(name)
        spec = info.spec if info else {}
        if "Seconds" in spec:
            seconds = spec["Seconds"]
            return f"{seconds} s" if isinstance(seconds, int | float) else str(seconds)
        if "Timestamp" in spec:
            return f"until {spec['Timestamp']}"
        for field, shown in (("SecondsPath", "{} s"), ("TimestampPath", "until {}")):
            path = spec.get(field)
            if not isinstance(path, str):
                continue
            try:
                document = json.loads(state_input) if state_input is not None else None
            except ValueError:
                document = None
            input_path = spec.get("InputPath", "$")
            if document is not None and isinstance(input_path, str):
                for effective in json_path_value(document, input_path):
                    for value in json_path_value(effective, path):
                        return shown.format(value) + f" ({field} {path})"
            return f"{field} {path}"
        return "(duration not known)"


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """An event's one ``...EventDetails`` member ({} when it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _one_line(text: str | None, limit: int = CAUSE_IN_PROGRESS) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
