"""`eksops run WORKFLOW --input FILE`: start a workflow's execution and follow it live.

The state machine is found by its CloudFormation logical ID in the deployed stack, the input
is checked before anything starts, and the execution is followed by polling its history until
it ends. Nothing here stops an execution: Ctrl-C or ``--timeout`` only stop following.

Following (polling the history) is in execution_history; the progress lines a person reads
are made in execution_narrator.

This module is imported whenever the CLI builds its parser (also on `eksops token`'s cache
misses), so it imports nothing heavy at the top: json, boto3 and friends load when they run.
"""

from __future__ import annotations

import sys

from eksops.errors import EksopsError, InvalidInputError
from eksops.execution_history import (
    EXIT_FAILED,
    Execution,
    FollowTimeoutError,
    Outcome,
    aws_call,
    follow,
)
from eksops.execution_narrator import Narrator, format_duration

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see cli.py

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any, TextIO

    import boto3

DEFAULT_STACK = "eksops"  # samconfig.toml's default stack_name
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
MAX_INPUT_BYTES = 256 * 1024  # Step Functions' limit for an execution's input (UTF-8)

# EXIT_SUCCEEDED (0) and EXIT_FAILED (1) are Outcome.exit_code's, in execution_history
EXIT_USAGE = 2  # bad arguments or input, or the execution could not be started
EXIT_FOLLOW_TIMEOUT = 124  # --timeout passed; the execution is still running (as timeout(1))
EXIT_INTERRUPTED = 130  # Ctrl-C; the execution keeps running


class WorkflowNotFoundError(EksopsError):
    """The stack has no state machine with that logical ID."""

    error_name = "eksops.WorkflowNotFound"


class StackNotFoundError(EksopsError):
    """No CloudFormation stack of that name in that account and region."""

    error_name = "eksops.StackNotFound"


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


def state_machines(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's state machines: logical ID -> ARN (their physical ID)."""
    from botocore.exceptions import ClientError

    found: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    with aws_call(f"listing the resources of stack {stack}"):
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
    with aws_call(f"starting an execution of {state_machine_arn}"):
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, input=input_text, name=name
        )
    return Execution(started["executionArn"], started["startDate"])


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named ``name`` of a Standard state machine gets."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


# --- the command --------------------------------------------------------------------------------


def _pretty(text: str) -> str:
    """JSON text pretty-printed; anything else as it is."""
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _session(args: argparse.Namespace) -> boto3.session.Session:
    import boto3

    with aws_call("loading the AWS configuration"):
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
        with aws_call("creating AWS clients"):
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
