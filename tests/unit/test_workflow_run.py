"""`eksops run` (eksops.workflow_run): a stack's state machines really executed by moto's ASL
interpreter, followed through their history."""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import moto.stepfunctions.models
import pytest
from eksops.execution_history import MAX_INTERVAL, MIN_INTERVAL, HistoryReader, follow
from eksops.execution_narrator import Narrator, json_path_value
from eksops.workflow_run import EXIT_FOLLOW_TIMEOUT, EXIT_INTERRUPTED, add_parser, run
from moto import mock_aws
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

ACCOUNT = "123456789012"
REGION = "us-west-2"
FINISH_WITHIN = 20  # seconds any execution here needs at most; waits on them are bounded by it

HELLO = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Result": "hello",
            "ResultPath": "$.greeting",
            "Next": "WaitABit",
        },
        "WaitABit": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
REJECT = {
    "StartAt": "CheckInput",
    "States": {
        "CheckInput": {"Type": "Pass", "Next": "RejectInput"},
        "RejectInput": {
            "Type": "Fail",
            "Error": "eksops.InvalidInput",
            "Cause": "clusterName is required",
        },
    },
}
FAN_OUT = {
    "StartAt": "ForEachItem",
    "States": {
        "ForEachItem": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Double",
                "States": {
                    "Double": {
                        "Type": "Pass",
                        "Parameters": {"doubled.$": "States.MathAdd($, $)"},
                        "End": True,
                    }
                },
            },
            "End": True,
        }
    },
}
RETRYING = {
    "StartAt": "FetchConfig",
    "States": {
        "FetchConfig": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Parameters": {"Bucket": "no-such-bucket", "Key": "config.json"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}],
            "End": True,
        }
    },
}
MACHINES = {
    "HelloStateMachine": HELLO,
    "RejectStateMachine": REJECT,
    "FanOutStateMachine": FAN_OUT,
    "RetryingStateMachine": RETRYING,
}


def template() -> dict:
    resources: dict = {
        "WorkflowRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        }
    }
    for logical_id, definition in MACHINES.items():
        resources[logical_id] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "DefinitionString": json.dumps(definition),
                "RoleArn": {"Fn::GetAtt": ["WorkflowRole", "Arn"]},
            },
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


@pytest.fixture
def stack(aws_env, monkeypatch):
    """The stack "eksops" with the machines above, executable by moto."""
    # moto 5.2.5's CloudFormation creates state machines in the plain Step Functions backend,
    # while the API (with execute_state_machine) serves the interpreting one: point the former
    # at the latter for the stack's creation.
    monkeypatch.setattr(
        moto.stepfunctions.models, "stepfunctions_backends", stepfunctions_parser_backends
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName="eksops",
            TemplateBody=json.dumps(template()),
            Capabilities=["CAPABILITY_IAM"],
        )
        yield cloudformation


@pytest.fixture
def sfn(stack):
    return boto3.client("stepfunctions", region_name=REGION)


def machine_arn(cloudformation, logical_id: str) -> str:
    resource = cloudformation.describe_stack_resource(
        StackName="eksops", LogicalResourceId=logical_id
    )
    return resource["StackResourceDetail"]["PhysicalResourceId"]


def all_executions(sfn) -> list[dict]:
    machines = sfn.list_state_machines()["stateMachines"]
    assert len(machines) == len(MACHINES)
    return [
        execution
        for machine in machines
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
            "executions"
        ]
    ]


def wait_until_finished(sfn, execution_arn: str) -> dict:
    deadline = time.monotonic() + FINISH_WITHIN
    while time.monotonic() < deadline:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.1)
    pytest.fail(f"{execution_arn} still running after {FINISH_WITHIN} s")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="eksops")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["run", *argv])


def input_file(tmp_path, document) -> str:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def run_cli(*argv: str, **inject) -> int:
    args = parse(*argv)
    if "--timeout" not in argv:
        args.timeout = FINISH_WITHIN  # a broken follow loop fails the test instead of hanging
    return args.handler(args, **inject) if inject else args.handler(args)


# --- arguments ---------------------------------------------------------------------------------


def test_arguments_and_defaults():
    args = parse("CreateClusterStateMachine", "--input", "in.json")
    assert args.workflow == "CreateClusterStateMachine"
    assert args.input == "in.json"
    assert args.stack == "eksops"
    assert (args.name, args.timeout, args.json, args.region, args.profile) == (
        None,
        None,
        False,
        None,
        None,
    )
    assert args.handler is run
    args = parse("W", "--input", "-", "--stack", "ops", "--name", "n1", "--timeout", "15m")
    assert (args.stack, args.name, args.timeout, args.input) == ("ops", "n1", 900.0, "-")
    assert parse("W", "--input", "-", "--timeout", "2h").timeout == 7200.0
    assert parse("W", "--input", "-", "--timeout", "90").timeout == 90.0


@pytest.mark.parametrize(
    "argv",
    [
        ["W"],  # --input is required
        ["--input", "x.json"],  # WORKFLOW is required
        ["W", "--input", "x.json", "--timeout", "soon"],
        ["W", "--input", "x.json", "--timeout", "0"],
        ["W", "--input", "x.json", "--timeout", "-5m"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert "usage: eksops run" in capsys.readouterr().err


def test_help_documents_defaults_and_exit_codes():
    parser = argparse.ArgumentParser(prog="eksops")
    commands = parser.add_subparsers(dest="command")
    add_parser(commands)
    text = " ".join(commands.choices["run"].format_help().split())
    for expected in ("default: eksops", "until it ends", "0.2 s", "2 s", "124", "130", "--json"):
        assert expected in text


# --- following real executions -----------------------------------------------------------------


def test_success_narrates_states_and_wait_then_prints_output(stack, sfn, tmp_path, capsys):
    code = run_cli("HelloStateMachine", "--input", input_file(tmp_path, {"who": "ops"}))

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Started HelloStateMachine (stack eksops) as execution ")
    arn_prefix = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:eksops-HelloStateMachine-"
    assert lines[1].strip().startswith(arn_prefix)
    status = next(i for i, line in enumerate(lines) if line.startswith("SUCCEEDED after "))
    progress = [line.split(None, 1)[1] for line in lines[3:status]]
    assert [line.split(" after ")[0] for line in progress] == [
        "enter Prepare (Pass)",
        "exit  Prepare",
        "wait  WaitABit: 1 s",
        "exit  WaitABit",
        "enter Done (Succeed)",
        "exit  Done",
    ]
    waited = next(line for line in progress if line.startswith("exit  WaitABit"))
    assert float(waited.split(" after ")[1].rstrip("s")) >= 0.9
    assert json.loads("\n".join(lines[status + 1 :])) == {"who": "ops", "greeting": "hello"}
    assert lines[status + 1] == "{"  # pretty-printed


def test_failure_exits_1_with_error_and_cause(stack, tmp_path, capsys):
    code = run_cli("RejectStateMachine", "--input", input_file(tmp_path, {}))

    out, _ = capsys.readouterr()
    assert code == 1
    assert "enter RejectInput (Fail)" in out
    tail = out.splitlines()[-3:]
    assert tail[0].startswith("FAILED after ")
    assert tail[1:] == ["  error: eksops.InvalidInput", "  cause: clusterName is required"]


def test_map_iterations_are_narrated(stack, tmp_path, capsys):
    code = run_cli("FanOutStateMachine", "--input", input_file(tmp_path, {"items": [1, 2, 3]}))

    out, _ = capsys.readouterr()
    assert code == 0, out
    assert "map   ForEachItem: 3 iterations" in out
    for index in range(3):
        assert f"    [{index}] iteration started" in out
        assert f"    [{index}] enter Double (Pass)" in out
        assert f"    [{index}] iteration succeeded after " in out
    assert out.index("enter ForEachItem (Map)") < out.index("[0] iteration started")
    assert out.index("[2] iteration succeeded") < out.index("exit  ForEachItem after")
    output = out[out.index("SUCCEEDED") :].split("\n", 1)[1]
    assert json.loads(output) == [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}]


def test_failed_attempts_and_retries_are_narrated(stack, tmp_path, capsys):
    code = run_cli("RetryingStateMachine", "--input", input_file(tmp_path, {}))

    out, _ = capsys.readouterr()
    assert code == 1
    progress = [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("   ")]
    fails = [line for line in progress if line.startswith("fail  FetchConfig: ")]
    assert len(fails) == 2
    assert "retry FetchConfig: attempt 2" in progress
    assert progress.index("retry FetchConfig: attempt 2") == progress.index(fails[0]) + 1


def test_json_success_prints_one_object_only(stack, sfn, tmp_path, capsys):
    code = run_cli(
        "HelloStateMachine",
        "--input",
        input_file(tmp_path, {"who": "ops"}),
        "--json",
        "--name",
        "n1",
    )

    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert out.count("\n") == 1
    document = json.loads(out)
    assert set(document) == {"executionArn", "status", "output", "startDate", "stopDate"}
    assert (
        document["executionArn"]
        == machine_arn(stack, "HelloStateMachine").replace(":stateMachine:", ":execution:") + ":n1"
    )
    assert document["status"] == "SUCCEEDED"
    assert document["output"] == {"who": "ops", "greeting": "hello"}
    started = datetime.fromisoformat(document["startDate"])
    stopped = datetime.fromisoformat(document["stopDate"])
    assert stopped - started >= timedelta(seconds=0.9)


def test_json_failure_has_error_and_cause(stack, tmp_path, capsys):
    code = run_cli("RejectStateMachine", "--input", input_file(tmp_path, {}), "--json")

    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(document) == {"executionArn", "status", "error", "cause", "startDate", "stopDate"}
    assert (document["status"], document["error"], document["cause"]) == (
        "FAILED",
        "eksops.InvalidInput",
        "clusterName is required",
    )


def test_input_from_stdin(stack, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"items": [5]}'))
    code = run_cli("FanOutStateMachine", "--input", "-", "--json")

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["output"] == [{"doubled": 10}]


# --- nothing starts ----------------------------------------------------------------------------


def test_unknown_workflow_lists_the_stacks_machines(stack, sfn, tmp_path, capsys):
    code = run_cli("CreateClusterStateMachine", "--input", input_file(tmp_path, {}))

    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("eksops: eksops.WorkflowNotFound: ")
    assert "'CreateClusterStateMachine'" in err
    assert (
        "it has: FanOutStateMachine, HelloStateMachine, RejectStateMachine, RetryingStateMachine"
        in err
    )
    assert all_executions(sfn) == []


def test_missing_stack_names_stack_and_region(stack, sfn, tmp_path, capsys):
    code = run_cli("HelloStateMachine", "--input", input_file(tmp_path, {}), "--stack", "nope")

    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("eksops: eksops.StackNotFound: ")
    assert "'nope'" in err
    assert REGION in err
    assert all_executions(sfn) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"clusterName": "demo",}', "is not valid JSON"),
        ("", "is not valid JSON"),
        (None, "cannot read input file"),
    ],
)
def test_bad_input_file_starts_nothing(stack, sfn, tmp_path, capsys, content, message):
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    code = run_cli("HelloStateMachine", "--input", str(path))

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("eksops: eksops.InvalidInput: ")
    assert message in err
    assert str(path) in err
    assert all_executions(sfn) == []


def test_invalid_stdin_names_stdin(stack, sfn, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    code = run_cli("HelloStateMachine", "--input", "-")

    assert code == 2
    assert "eksops.InvalidInput: stdin is not valid JSON" in capsys.readouterr().err
    assert all_executions(sfn) == []


def test_input_is_checked_before_any_aws_call(aws_env, tmp_path, capsys):
    """A bad input file is reported without creating a client (the session is a dud)."""
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    args = parse("HelloStateMachine", "--input", str(path))

    assert run(args, session=object()) == 2
    assert "eksops.InvalidInput" in capsys.readouterr().err


def test_duplicate_execution_name_is_a_named_error(stack, sfn, tmp_path, capsys):
    path = input_file(tmp_path, {})
    assert run_cli("RejectStateMachine", "--input", path, "--name", "once", "--json") == 1
    capsys.readouterr()

    code = run_cli("RejectStateMachine", "--input", path, "--name", "once", "--json")

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "eksops.AwsRequestFailed" in err
    assert "ExecutionAlreadyExists" in err


# --- stopping to follow, never the execution --------------------------------------------------


def test_ctrl_c_prints_how_to_stop_and_leaves_it_running(stack, sfn, tmp_path, capsys):
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    args = parse("HelloStateMachine", "--input", input_file(tmp_path, {}), "--name", "keep")
    code = run(args, sleep=interrupted)

    out, err = capsys.readouterr()
    assert code == EXIT_INTERRUPTED
    arn = machine_arn(stack, "HelloStateMachine").replace(":stateMachine:", ":execution:") + ":keep"
    assert f"aws stepfunctions stop-execution --execution-arn {arn} --region {REGION}" in err
    assert "SUCCEEDED" not in out
    assert wait_until_finished(sfn, arn)["status"] == "SUCCEEDED"  # it was not stopped


def test_timeout_stops_following_only(stack, sfn, tmp_path, capsys):
    path = input_file(tmp_path, {})
    code = run_cli("HelloStateMachine", "--input", path, "--json", "--timeout", "0.3")

    out, err = capsys.readouterr()
    assert code == EXIT_FOLLOW_TIMEOUT
    document = json.loads(out)
    assert document["status"] == "RUNNING"
    assert document["stopDate"] is None
    assert "aws stepfunctions stop-execution --execution-arn " in err
    assert wait_until_finished(sfn, document["executionArn"])["status"] == "SUCCEEDED"


# --- the follow loop with a fake client --------------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def event(event_id: int, kind: str, previous: int, seconds: float = 0.0, **details) -> dict:
    record = {
        "id": event_id,
        "previousEventId": previous,
        "type": kind,
        "timestamp": T0 + timedelta(seconds=seconds),
    }
    if details:
        key = kind[0].lower() + kind[1:] + "EventDetails"
        if kind.endswith("StateEntered"):
            key = "stateEnteredEventDetails"
        elif kind.endswith("StateExited"):
            key = "stateExitedEventDetails"
        record[key] = details
    return record


class FakeStepFunctions:
    """Serves a history that grows by one batch per GetExecutionHistory round (newest first,
    in pages of ``page_size`` with nextToken, as Step Functions does with reverseOrder)."""

    def __init__(self, batches: list[list[dict]], page_size: int = 2) -> None:
        self.batches = batches
        self.visible: list[dict] = []
        self.page_size = page_size
        self.history_calls: list[dict] = []

    def get_execution_history(self, **request) -> dict:
        self.history_calls.append(request)
        assert request["reverseOrder"] is True
        if "nextToken" not in request and self.batches:
            self.visible.extend(self.batches.pop(0))
        newest_first = sorted(self.visible, key=lambda e: -e["id"])
        start = int(request.get("nextToken", 0))
        page = newest_first[start : start + self.page_size]
        answer: dict = {"events": page}
        if start + self.page_size < len(newest_first):
            answer["nextToken"] = str(start + self.page_size)
        return answer

    def describe_execution(self, executionArn: str) -> dict:
        done = any(e["type"] == "ExecutionSucceeded" for e in self.visible)
        return {
            "executionArn": executionArn,
            "status": "SUCCEEDED" if done else "RUNNING",
            "startDate": T0,
            "stopDate": T0 + timedelta(seconds=9) if done else None,
            "output": "{}" if done else None,
        }


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_follow_pages_back_only_to_seen_events_and_grows_its_interval():
    started = event(1, "ExecutionStarted", 0)
    entered = event(2, "WaitStateEntered", 0, 0.1, name="W")
    exited = event(3, "WaitStateExited", 2, 8.0, name="W")
    succeeded = event(4, "ExecutionSucceeded", 3, 8.1)
    batches = [[started, entered], [], [], [], [], [], [], [exited, succeeded]]
    fake = FakeStepFunctions(batches, page_size=3)
    clock = FakeTime()
    seen: list[list[int]] = []

    outcome = follow(
        fake,
        "arn:exec",
        on_events=lambda events: seen.append([e["id"] for e in events]),
        sleep=clock.sleep,
        clock=clock.clock,
    )

    assert outcome.status == "SUCCEEDED"
    assert seen == [[1, 2], [3, 4]]  # oldest first, each event once
    assert clock.sleeps[0] == MIN_INTERVAL
    assert clock.sleeps == sorted(clock.sleeps)  # grows while nothing happens
    assert all(
        later / earlier == pytest.approx(1.5)
        for earlier, later in zip(clock.sleeps[:4], clock.sleeps[1:5], strict=True)
    )
    assert max(clock.sleeps) <= MAX_INTERVAL
    # each round's first page reached an event already seen: no paging back
    assert all("nextToken" not in call for call in fake.history_calls)
    assert len(fake.history_calls) == len(clock.sleeps) + 1


def test_follow_timeout_is_bounded_by_the_clock():
    from eksops.execution_history import FollowTimeoutError

    fake = FakeStepFunctions([[event(1, "ExecutionStarted", 0)]])
    clock = FakeTime()
    with pytest.raises(FollowTimeoutError):
        follow(
            fake,
            "arn:exec",
            on_events=lambda _: None,
            timeout=10,
            sleep=clock.sleep,
            clock=clock.clock,
        )
    assert sum(clock.sleeps) == pytest.approx(10)


def test_history_reader_pages_back_through_a_long_first_read():
    events = [event(1, "ExecutionStarted", 0)] + [
        event(i, "PassStateEntered", i - 1, name=f"S{i}") for i in range(2, 8)
    ]
    fake = FakeStepFunctions([events], page_size=3)
    reader = HistoryReader(fake, "arn:exec", page_size=3)

    assert [e["id"] for e in reader.new_events()] == list(range(1, 8))
    assert [call.get("nextToken") for call in fake.history_calls] == [None, "3", "6"]
    assert reader.new_events() == []


def test_narrator_wait_paths_and_timestamps():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Wait", "SecondsPath": "$.delay.seconds", "Next": "B"},
            "B": {"Type": "Wait", "Timestamp": "2025-01-01T00:10:00Z", "Next": "C"},
            "C": {"Type": "Wait", "TimestampPath": "$.missing", "End": True},
        },
    }
    lines: list[str] = []
    narrate = Narrator(lines.append, T0, definition)
    narrate(
        [
            event(2, "WaitStateEntered", 0, 0.0, name="A", input='{"delay": {"seconds": 30}}'),
            event(3, "WaitStateExited", 2, 30.0, name="A"),
            event(4, "WaitStateEntered", 3, 30.0, name="B", input="{}"),
            event(5, "WaitStateExited", 4, 600.0, name="B"),
            event(6, "WaitStateEntered", 5, 600.0, name="C", input="{}"),
        ]
    )
    assert [line.split(None, 1)[1] for line in lines] == [
        "wait  A: 30 s (SecondsPath $.delay.seconds)",
        "exit  A after 30.0s",
        "wait  B: until 2025-01-01T00:10:00Z",
        "exit  B after 9m30s",
        "wait  C: TimestampPath $.missing",
    ]
    assert lines[3].startswith("  10m00s  ")


def test_json_path_value():
    document = {"a": {"b": [10, {"c d": 3}]}}
    assert list(json_path_value(document, "$")) == [document]
    assert list(json_path_value(document, "$.a.b[0]")) == [10]
    assert list(json_path_value(document, "$.a.b[1]['c d']")) == [3]
    assert list(json_path_value(document, "$.a.x")) == []
    assert list(json_path_value(document, "$$.Execution.Id")) == []
