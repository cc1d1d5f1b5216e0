"""Reading and following an execution: its history as it grows, and how it ended.

History is read newest first (``reverseOrder``) and paged back with ``nextToken`` only until
the last event already seen, so each poll costs one call however long the history grows; a
forward read cannot resume, because the last page of a running execution has no nextToken.

`eksops run` (workflow_run) imports this module whenever the CLI builds its parser, so it
imports nothing heavy at the top: json and botocore load when they run.
"""

from __future__ import annotations

import contextlib

from eksops.errors import EksopsError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see cli.py

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterator
    from typing import Any

MIN_INTERVAL = 0.2  # seconds between polls while events keep coming
MAX_INTERVAL = 2.0  # ... growing by INTERVAL_GROWTH up to this while nothing happens
INTERVAL_GROWTH = 1.5
HISTORY_PAGE_SIZE = 100

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1  # FAILED, TIMED_OUT or ABORTED, or following broke off on an error

RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
TERMINAL_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)


class AwsRequestError(EksopsError):
    """An AWS call failed (access denied, no region or credentials, unreachable endpoint...)."""

    error_name = "eksops.AwsRequestFailed"


class FollowTimeoutError(Exception):
    """--timeout passed while the execution was still running."""


@contextlib.contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turns botocore's errors into AwsRequestError naming the call: `with aws_call("what"):`."""
    try:
        yield
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

        if isinstance(exc, NoRegionError):
            raise AwsRequestError(
                f"{what}: no AWS region; set AWS_REGION or pass --region"
            ) from exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", "")
            raise AwsRequestError(f"{what}: {code}: {message}") from exc
        if isinstance(exc, BotoCoreError):
            raise AwsRequestError(f"{what}: {exc}") from exc
        raise


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
            with aws_call(f"reading the history of {self._arn}"):
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
            with aws_call(f"describing {execution_arn}"):
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
