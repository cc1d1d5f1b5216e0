"""`eksops run WORKFLOW --input FILE`: start a workflow's execution and follow it live.

The state machine is found by its CloudFormation logical ID in the deployed stack, the input
is checked before anything starts, and the execution is followed by polling its history until
it ends. Nothing here stops an execution: Ctrl-C or ``--timeout`` only stop following.

History is read newest first (``reverseOrder``) and paged back with ``nextToken`` only until
the last event already seen, so each poll costs one call however long the history grows; a
forward read cannot resume, because the last page of a running execution has no nextToken.

This module is imported whenever the CLI builds its parser (also on `eksops token`'s cache
misses), so it imports nothing heavy at the top: json, boto3 and friends load when they run.
"""

from __future__ import annotations

import sys

from eksops.errors import EksopsError, InvalidInputError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see cli.py

if TYPE_CHECKING:
    import argparse
    import datetime
    from collections.abc import Callable, Iterator
    from typing import Any, TextIO

    import boto3

DEFAULT_STACK = "eksops"  # samconfig.toml's default stack_name
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
MAX_INPUT_BYTES = 256 * 1024  # Step Functions' limit for an execution's input (UTF-8)
MIN_INTERVAL = 0.2  # seconds between polls while events keep coming
MAX_INTERVAL = 2.0  # ... growing by INTERVAL_GROWTH up to this while nothing happens
INTERVAL_GROWTH = 1.5
HISTORY_PAGE_SIZE = 100
CHAIN_LIMIT = 25_000  # a Standard execution's history holds at most 25,000 events
CAUSE_IN_PROGRESS = 200  # characters of a failure's cause shown in a progress line

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1  # FAILED, TIMED_OUT or ABORTED, or following broke off on an error
EXIT_USAGE = 2  # bad arguments or input, or the execution could not be started
EXIT_FOLLOW_TIMEOUT = 124  # --timeout passed; the execution is still running (as timeout(1))
EXIT_INTERRUPTED = 130  # Ctrl-C; the execution keeps running

RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
TERMINAL_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)
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


class WorkflowNotFoundError(EksopsError):
    """The stack has no state machine with that logical ID."""

    error_name = "eksops.WorkflowNotFound"


class StackNotFoundError(EksopsError):
    """No CloudFormation stack of that name in that account and region."""

    error_name = "eksops.StackNotFound"


class AwsRequestError(EksopsError):
    """An AWS call failed (access denied, no region or credentials, unreachable endpoint...)."""

    error_name = "eksops.AwsRequestFailed"


class FollowTimeoutError(Exception):
    """--timeout passed while the execution was still running."""


# --- before anything starts -------------------------------------------------------------------


def read_input(path: str, stdin: TextIO) -> str:
    """The execution input from FILE ("-" = stdin), as written; InvalidInputError unless it is
    JSON Step Functions accepts."""
    import json

    source = "stdin" if path == "-" else f"input file {path}"
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{source} is not UTF-8 text: {exc.reason}") from exc
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    size = len(text.encode("utf-8"))
    if size > MAX_INPUT_BYTES:
        raise InvalidInputError(
            f"{source} is {size} bytes; Step Functions takes at most {MAX_INPUT_BYTES}"
        )
    return text


class _aws_call:  # used like a function: `with _aws_call("what"):`
    """Turns botocore's errors into AwsRequestError naming the call."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is None:
            return False
        from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

        if isinstance(exc, NoRegionError):
            raise AwsRequestError(
                f"{self.what}: no AWS region; set AWS_REGION or pass --region"
            ) from exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", "")
            raise AwsRequestError(f"{self.what}: {code}: {message}") from exc
        if isinstance(exc, BotoCoreError):
            raise AwsRequestError(f"{self.what}: {exc}") from exc
        return False


def state_machines(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's state machines: logical ID -> ARN (their physical ID)."""
    from botocore.exceptions import ClientError

    found: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    with _aws_call(f"listing the resources of stack {stack}"):
        try:
            for page in paginator.paginate(StackName=stack):
                for resource in page["StackResourceSummaries"]:
                    if resource["ResourceType"] == STATE_MACHINE_TYPE:
                        logical_id = resource["LogicalResourceId"]
                        found[logical_id] = resource.get("PhysicalResourceId", "")
        except ClientError as exc:
            # CloudFormation answers a missing stack with ValidationError, no finer code
            if exc.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            region = cloudformation.meta.region_name
            message = exc.response["Error"].get("Message", "")
            raise StackNotFoundError(
                f"no CloudFormation stack {stack!r} in region {region} ({message}); deploy it "
                "with `sam deploy`, or pass --stack / --region"
            ) from exc
    return found


def resolve_workflow(cloudformation: Any, stack: str, workflow: str) -> str:
    """The ARN of the state machine with logical ID ``workflow`` in ``stack``."""
    machines = state_machines(cloudformation, stack)
    arn = machines.get(workflow)
    if arn is None:
        have = ", ".join(sorted(machines)) or "none"
        raise WorkflowNotFoundError(
            f"stack {stack!r} has no state machine {workflow!r}; it has: {have}"
        )
    if not arn.startswith("arn:"):
        raise WorkflowNotFoundError(f"state machine {workflow!r} of stack {stack!r} is not created")
    return arn


def state_machine_definition(sfn: Any, state_machine_arn: str) -> dict[str, Any] | None:
    """The ASL document, for narration only (wait times, nesting); None if it can't be read."""
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        definition = sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
        parsed = json.loads(definition)
    except (BotoCoreError, ClientError, ValueError, KeyError):
        return None
    return parsed if isinstance(parsed, dict) else None


def start_execution(sfn: Any, state_machine_arn: str, input_text: str, name: str) -> Execution:
    with _aws_call(f"starting an execution of {state_machine_arn}"):
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, input=input_text, name=name
        )
    return Execution(started["executionArn"], started["startDate"])


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named ``name`` of a Standard state machine gets."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


# --- following ----------------------------------------------------------------------------------


class Execution:
    __slots__ = ("arn", "start_date")

    def __init__(self, arn: str, start_date: datetime.datetime) -> None:
        self.arn = arn
        self.start_date = start_date


class Outcome:
    """How an execution ended (or, after a timeout or Ctrl-C, how it was last seen)."""

    __slots__ = ("cause", "error", "execution_arn", "output", "start_date", "status", "stop_date")

    def __init__(
        self,
        execution_arn: str,
        status: str,
        start_date: datetime.datetime | None,
        stop_date: datetime.datetime | None = None,
        output: str | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        self.execution_arn = execution_arn
        self.status = status
        self.start_date = start_date
        self.stop_date = stop_date
        self.output = output
        self.error = error
        self.cause = cause

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> Outcome:
        return cls(
            description["executionArn"],
            description["status"],
            description.get("startDate"),
            description.get("stopDate"),
            description.get("output"),
            description.get("error"),
            description.get("cause"),
        )

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def exit_code(self) -> int:
        return EXIT_SUCCEEDED if self.succeeded else EXIT_FAILED

    def parsed_output(self) -> Any:
        import json

        if self.output is None:
            return None
        try:
            return json.loads(self.output)
        except ValueError:
            return self.output

    def to_json(self) -> dict[str, Any]:
        """The --json document: output (parsed) on success, error and cause otherwise."""
        document: dict[str, Any] = {"executionArn": self.execution_arn, "status": self.status}
        if self.succeeded:
            document["output"] = self.parsed_output()
        elif self.status not in RUNNING_STATUSES:
            document["error"] = self.error
            document["cause"] = self.cause
        document["startDate"] = _iso(self.start_date)
        document["stopDate"] = _iso(self.stop_date)
        return document


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class HistoryReader:
    """New events of an execution's history, oldest first, each returned once."""

    def __init__(self, sfn: Any, execution_arn: str, page_size: int = HISTORY_PAGE_SIZE) -> None:
        self._sfn = sfn
        self._arn = execution_arn
        self._page_size = page_size
        self.last_id = 0

    def new_events(self) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "executionArn": self._arn,
            "reverseOrder": True,
            "maxResults": self._page_size,
        }
        while True:
            with _aws_call(f"reading the history of {self._arn}"):
                page = self._sfn.get_execution_history(**request)
            events = page.get("events", [])
            unseen = [event for event in events if event["id"] > self.last_id]
            fresh.extend(unseen)
            token = page.get("nextToken")
            if len(unseen) < len(events) or not token:
                break
            request["nextToken"] = token
        fresh.sort(key=lambda event: event["id"])
        if fresh:
            self.last_id = fresh[-1]["id"]
        return fresh


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    on_events: Callable[[list[dict[str, Any]]], None] | None = None,
    timeout: float | None = None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    min_interval: float = MIN_INTERVAL,
    max_interval: float = MAX_INTERVAL,
) -> Outcome:
    """Poll until the execution ends. With ``on_events``, new history events are passed to it
    as they appear (and their end event triggers the final DescribeExecution); without, only
    DescribeExecution is polled. The interval starts at ``min_interval``, grows by
    INTERVAL_GROWTH up to ``max_interval`` while nothing happens, and drops back on news.
    FollowTimeoutError after ``timeout`` seconds (``clock`` is monotonic)."""
    history = HistoryReader(sfn, execution_arn) if on_events is not None else None
    deadline = None if timeout is None else clock() + timeout
    interval = min_interval
    ended = history is None  # without history, every poll asks DescribeExecution
    while True:
        if history is not None and on_events is not None:  # (both or neither)
            events = history.new_events()
            if events:
                on_events(events)
                interval = min_interval
                ended = ended or any(event["type"] in TERMINAL_EVENTS for event in events)
        if ended:
            with _aws_call(f"describing {execution_arn}"):
                description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] not in RUNNING_STATUSES:
                return Outcome.from_description(description)
        pause = interval
        if deadline is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise FollowTimeoutError(execution_arn)
            pause = min(pause, remaining)
        sleep(pause)
        interval = min(interval * INTERVAL_GROWTH, max_interval)


# --- narration ----------------------------------------------------------------------------------


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


def _pretty(text: str) -> str:
    """JSON text pretty-printed; anything else as it is."""
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


# --- the command --------------------------------------------------------------------------------


def _session(args: argparse.Namespace) -> boto3.session.Session:
    import boto3

    with _aws_call("loading the AWS configuration"):
        return boto3.session.Session(profile_name=args.profile, region_name=args.region)


def _stop_hint(execution_arn: str, args: argparse.Namespace) -> str:
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 4 else None
    command = f"aws stepfunctions stop-execution --execution-arn {execution_arn}"
    if region:
        command += f" --region {region}"
    if args.profile:
        command += f" --profile {args.profile}"
    return f"To stop it:\n  {command}"


def run(
    args: argparse.Namespace,
    *,
    session: Any = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> int:
    """The `eksops run` handler; every dependency can be injected (tests)."""
    import json
    import time
    import uuid

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    sleep = sleep or time.sleep
    clock = clock or time.monotonic

    def say(line: str) -> None:
        stdout.write(line + "\n")
        stdout.flush()

    def complain(line: str) -> None:
        stderr.write(line + "\n")
        stderr.flush()

    # Nothing has started until start_execution returns: every error up to there exits 2.
    name = args.name or str(uuid.uuid4())  # what Step Functions names it when not told
    try:
        input_text = read_input(args.input, stdin)
        session = session or _session(args)
        with _aws_call("creating AWS clients"):
            cloudformation = session.client("cloudformation")
            sfn = session.client("stepfunctions")
        state_machine_arn = resolve_workflow(cloudformation, args.stack, args.workflow)
        definition = None if args.json else state_machine_definition(sfn, state_machine_arn)
    except EksopsError as exc:
        complain(f"eksops: {exc.error_name}: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        complain("\nInterrupted; nothing was started.")
        return EXIT_INTERRUPTED

    execution: Execution | None = None
    try:
        try:
            execution = start_execution(sfn, state_machine_arn, input_text, name)
        except EksopsError as exc:
            complain(f"eksops: {exc.error_name}: {exc}")
            return EXIT_USAGE
        narrator = None
        if not args.json:
            say(f"Started {args.workflow} (stack {args.stack}) as execution {name}")
            say(f"  {execution.arn}")
            say("  Ctrl-C stops following; the execution keeps running.")
            narrator = Narrator(say, execution.start_date, definition)
        outcome = follow(
            sfn, execution.arn, on_events=narrator, timeout=args.timeout, sleep=sleep, clock=clock
        )
    except KeyboardInterrupt:
        if execution is None:
            arn = execution_arn_for(state_machine_arn, name)
            complain(f"\nInterrupted while starting; if it started, it is {arn}")
            complain(_stop_hint(arn, args))
            return EXIT_INTERRUPTED
        if args.json:
            say(json.dumps(Outcome(execution.arn, "RUNNING", execution.start_date).to_json()))
        complain(f"\nStopped following; execution {execution.arn} keeps running.")
        complain(_stop_hint(execution.arn, args))
        return EXIT_INTERRUPTED
    except FollowTimeoutError:
        if args.json:
            say(json.dumps(Outcome(execution.arn, "RUNNING", execution.start_date).to_json()))
        complain(
            f"eksops: stopped following after --timeout {args.timeout:g} s; "
            f"execution {execution.arn} keeps running."
        )
        complain(_stop_hint(execution.arn, args))
        return EXIT_FOLLOW_TIMEOUT
    except EksopsError as exc:
        complain(f"eksops: {exc.error_name}: {exc}")
        complain(f"Stopped following; execution {execution.arn} may still be running.")
        return EXIT_FAILED

    if args.json:
        say(json.dumps(outcome.to_json(), ensure_ascii=False))
        return outcome.exit_code
    took = ""
    if outcome.start_date and outcome.stop_date:
        took = f" after {format_duration((outcome.stop_date - outcome.start_date).total_seconds())}"
    say(f"{outcome.status}{took}")
    if outcome.succeeded:
        say(_pretty(outcome.output) if outcome.output is not None else "(no output)")
    else:
        say(f"  error: {outcome.error or '(none)'}")
        cause = _pretty(outcome.cause) if outcome.cause else "(none)"
        say("  cause: " + cause.replace("\n", "\n  "))
    return outcome.exit_code


def _duration(text: str) -> float:
    """--timeout: seconds, or a number with s, m or h."""
    import argparse

    units = {"s": 1, "m": 60, "h": 3600}
    number, factor = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        seconds = float(number) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (e.g. 90, 90s, 15m, 2h)"
        ) from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive duration: {text!r}")
    return seconds


RUN_DESCRIPTION = """\
Start an execution of one of the stack's state machines and follow it until it ends.

WORKFLOW is the state machine's logical ID in the CloudFormation stack, for example
CreateClusterStateMachine. The input file must hold JSON (at most 256 KiB); it is
checked before anything starts.

Progress goes to stdout, one line per event: states entered and exited (with how
long they took), waits (seconds or timestamp), Map iterations, Parallel branches,
failed attempts and retries; then the execution's output (pretty JSON), or its error
and cause. With --json nothing is printed while following, and at the end exactly
one JSON object: {"executionArn", "status", "output"} or {..., "error", "cause"},
with "startDate" and "stopDate" (ISO 8601).

Following polls the execution history every 0.2 s, growing to every 2 s while
nothing happens. Ctrl-C or --timeout stop following, never the execution: the
command to stop it is printed.

Standard AWS configuration applies (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL for
the offline account)."""

RUN_EPILOG = """\
exit status:
  0    the execution SUCCEEDED
  1    it FAILED, TIMED_OUT or was ABORTED (or following broke off on an AWS error)
  2    bad arguments or input, unknown stack or workflow: nothing was started
  124  --timeout passed; the execution is still running (--json: status RUNNING)
  130  Ctrl-C; the execution is still running (--json: status RUNNING)"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `eksops run` on the CLI's subcommands."""
    import argparse

    parser = commands.add_parser(
        "run",
        help="start a workflow execution and follow it live",
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "workflow",
        metavar="WORKFLOW",
        help="state machine logical ID in the stack, e.g. CreateClusterStateMachine",
    )
    parser.add_argument(
        "--input", required=True, metavar="FILE", help="execution input, JSON; - reads stdin"
    )
    parser.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        metavar="NAME",
        help=f"CloudFormation stack the app is deployed as (default: {DEFAULT_STACK})",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="execution name, unique per state machine (default: a random UUID)",
    )
    parser.add_argument(
        "--timeout",
        type=_duration,
        metavar="DURATION",
        help="stop following after this long, e.g. 90, 90s, 15m, 2h; the execution keeps "
        "running (default: follow until it ends)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print nothing while following, then one JSON object with the result",
    )
    parser.add_argument("--region", metavar="R", help="AWS region (default: AWS_REGION, profile)")
    parser.add_argument("--profile", metavar="P", help="AWS profile")
    parser.set_defaults(handler=run)
