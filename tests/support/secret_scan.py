"""Secrets stay secret: what the workflow and end-to-end tests produce for people to read is
scanned for credentials.

While a test under tests/workflows or tests/e2e runs, :data:`SCAN` collects (as it happens, so
nothing is re-run):

- every log record emitted in the test process, from any logger (the ``eksops`` loggers at
  DEBUG), with its extra fields and traceback;
- every Lambda invocation's log (the handler's stdout/stderr: Powertools logs, at DEBUG) and,
  when it failed, its error document;
- every Step Functions execution that ends: input, output, error, cause and every history
  event (inputs and outputs of every state, as the console shows them);
- the message of every ``EksopsError`` raised in the test process;
- the test's captured stdout and stderr, and the stdout and stderr of the ``eksops`` commands
  it runs (``eksops token`` prints a token by design: its stdout is not scanned), the stderr of
  every other command;
- for `eksops local up` (tests/e2e), :func:`scan_offline_account`: the server's output, its
  Lambda log groups and its executions.

At the end of the test (its teardown report) the collected text is searched with
:func:`find_secrets`; a finding fails the test, naming the kind and where it was seen with the
value masked. Known secret values are the secret access keys moto issues (IAM users' keys and
every assumed role's, Lambda functions' included) and the tests' own fake credentials.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

SCANNED_DIRS = ("workflows", "e2e")
# Value patterns: each group 1 (or the whole match) is the secret.
# a UUID under "token" is an identifier (an Auto Scaling lifecycle action token), not a credential
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])"
_VALUE = r"[A-Za-z0-9._~+-][A-Za-z0-9._~+/-]{15,}=*"  # >= 16 token characters, not a path
PATTERNS: dict[str, re.Pattern[str]] = {
    "EKS token": re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]{16,}"),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "bearer token": re.compile(r"(?i)\bbearer\s+(" + _VALUE + ")"),
    "kubeconfig token": re.compile(
        r"(?<![\w-])[\"']?token[\"']?\s*[:=]\s*[\"']?(?!" + _UUID + ")(" + _VALUE + ")"
    ),
    "client key": re.compile(r"client-key-data[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9+/]{16,}={0,2})"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS session token": re.compile(
        r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+]{20,}={0,2}"
    ),
    "AWS secret access key": re.compile(
        r"(?i)(?:secret_?access_?key|secretkey)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![\w/+])"
    ),
    "presigned URL signature": re.compile(
        r"(?i)X-Amz-(?:Signature=[0-9a-f]{64}|Security-Token=[A-Za-z0-9%/+=]{16,})"
    ),
}
# Candidates for known secret access keys: runs of exactly 40 base64 characters.
_KEY_RUN = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def mask(secret: str) -> str:
    """A secret shown in a finding: its first characters and its length."""
    return f"{secret[:12]}...({len(secret)} chars)"


@dataclass(frozen=True)
class Finding:
    kind: str
    source: str
    masked: str  # the secret, masked
    context: str  # the text around it, the secret masked

    def __str__(self) -> str:
        return f"{self.kind} in {self.source}: {self.masked}\n    ...{self.context}..."


def find_secrets(text: str, known: Collection[str] = (), source: str = "text") -> list[Finding]:
    """Every credential in ``text``: the kinds in PATTERNS and the ``known`` secret values
    (40-character secret access keys)."""
    found: list[Finding] = []

    def add(kind: str, start: int, end: int) -> None:
        secret = text[start:end]
        before = text[max(0, start - 60) : start]
        after = text[end : end + 60]
        context = (before + mask(secret) + after).replace("\n", "\\n")
        found.append(Finding(kind, source, mask(secret), context))

    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            add(kind, match.start(group), match.end(group))
    if known:
        for match in _KEY_RUN.finditer(text):
            if match.group() in known:
                add("secret access key", match.start(), match.end())
    return found


class SecretScan:
    """Text collected from many threads, searched at the end of each test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: list[tuple[str, str]] = []
        self._problems: list[Finding] = []
        self.known: set[str] = set()

    def add(self, source: str, text: Any) -> None:
        if text is None:
            return
        if not isinstance(text, str):
            text = json.dumps(text, default=str)
        if text:
            with self._lock:
                self._texts.append((source, text))

    def add_secret(self, value: str | None) -> None:
        if value:
            with self._lock:
                self.known.add(value)

    def problem(self, source: str, exc: BaseException) -> None:
        """Something that should have been scanned could not be read: a finding too."""
        with self._lock:
            self._problems.append(Finding("unscanned", source, "", repr(exc)[:300]))

    def discard(self) -> None:
        with self._lock:
            self._texts, self._problems = [], []

    def findings(self, extra: Iterable[tuple[str, str]] = ()) -> list[Finding]:
        """What the text collected since the last call (and ``extra``) gives away."""
        with self._lock:
            texts, self._texts = self._texts, []
            problems, self._problems = self._problems, []
            known = frozenset(self.known)
        return problems + [
            finding
            for source, text in [*texts, *extra]
            for finding in find_secrets(text, known, source)
        ]


SCAN = SecretScan()


# -- collecting --------------------------------------------------------------------------------

_STANDARD_RECORD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def _scan_record(record: logging.LogRecord) -> None:
    try:
        parts = [record.getMessage()]
        parts += [repr(v) for k, v in vars(record).items() if k not in _STANDARD_RECORD]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        SCAN.add(f"log record of {record.name}", "\n".join(parts))
    except Exception:  # a record that cannot be rendered is never a test failure here
        pass


def _logger_handle(original: Callable[..., Any]) -> Callable[..., Any]:
    """Every record any logger handles, whether it propagates or not (a Powertools Logger
    stops its records at its own logger)."""

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        _scan_record(record)
        original(self, record)

    return handle


def _wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(owner, name)
    if not getattr(original, "_secret_scan", False):
        wrapper = make(original)
        wrapper._secret_scan = True  # type: ignore[attr-defined]
        setattr(owner, name, wrapper)


def _lambda_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(self: Any, function: Any, event: str) -> Any:
        outcome = original(self, function, event)
        name = f"Lambda {function.function_name}"
        SCAN.add(f"log of {name}", outcome.logs)
        if outcome.error:
            SCAN.add(f"error of {name}", outcome.payload)
        return outcome

    return invoke


def _lambda_environment(original: Callable[..., Any]) -> Callable[..., Any]:
    def environment(self: Any, *args: Any) -> dict[str, str]:
        env = original(self, *args)
        env["POWERTOOLS_LOG_LEVEL"] = "DEBUG"  # every line a function could log is scanned
        SCAN.add_secret(env.get("AWS_SECRET_ACCESS_KEY"))
        return env

    return environment


# State machines of tests' own (not eksops's) whose executions carry a token on purpose, and why
EXEMPT_STATE_MACHINES: dict[str, str] = {}


def exempt_state_machine(arn: str, why: str) -> None:
    """Leave the executions of a test's own state machine ``arn`` out of the scan, for ``why``
    (eksops's state machines are never exempt: none of them carries a token)."""
    EXEMPT_STATE_MACHINES[arn] = why


def _execution_ended(original: Callable[..., Any]) -> Callable[..., Any]:
    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        if execution.state_machine_arn in EXEMPT_STATE_MACHINES:
            return
        source = f"execution {execution.exec_arn}"
        try:
            SCAN.add(f"{source} (describe)", execution.to_describe_output())
            SCAN.add(f"{source} (history)", execution.to_history_output())
        except Exception as exc:  # an execution that cannot be read is reported, not ignored
            SCAN.problem(source, exc)

    return terminated


def _access_key_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        SCAN.add_secret(getattr(self, "secret_access_key", None))

    return __init__


def _error_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        SCAN.add(f"message of {type(self).__name__}", " ".join(str(a) for a in args))

    return __init__


def _subprocess_run(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            argv = [str(a) for a in (result.args if isinstance(result.args, list) else [])]
            program = argv[0].rsplit("/", 1)[-1] if argv else ""
            command = " ".join(argv[:3])
            if program == "eksops" and argv[1:2] != ["token"]:
                SCAN.add(f"stdout of `{command}`", _text(result.stdout))
            SCAN.add(f"stderr of `{command}`", _text(result.stderr))
        except Exception:
            pass
        return result

    return run


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


_installed = False


def install() -> None:
    """Start collecting (once per process; what is collected outside a scanned test is
    discarded)."""
    global _installed
    if _installed:
        return
    _installed = True
    import subprocess

    from eksops.errors import EksopsError
    from eksops.local.lambda_runtime import LambdaRuntime
    from moto.iam.models import AccessKey
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    _wrap(logging.Logger, "handle", _logger_handle)
    if logging.getLogger("eksops").level == logging.NOTSET:
        logging.getLogger("eksops").setLevel(logging.DEBUG)
    _wrap(LambdaRuntime, "invoke", _lambda_invoke)
    _wrap(LambdaRuntime, "_environment", _lambda_environment)
    _wrap(BaseExecutionWorkerCommunication, "terminated", _execution_ended)
    _wrap(AccessKey, "__init__", _access_key_init)
    _wrap(EksopsError, "__init__", _error_init)
    _wrap(subprocess, "run", _subprocess_run)


def scan_offline_account(endpoint_url: str, env: dict[str, str], output: Iterable[str]) -> None:
    """Collect what an `eksops local up` server (another process) shows: its ``output``, every
    Lambda log event and every execution (input, output, error, cause, history)."""
    SCAN.add("output of `eksops local up`", "".join(output))
    try:
        _scan_server(endpoint_url, env)
    except Exception as exc:  # the server is stopped all the same; the test fails
        SCAN.problem(f"the offline account at {endpoint_url}", exc)


def _scan_server(endpoint_url: str, env: dict[str, str]) -> None:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_REGION") or env["AWS_DEFAULT_REGION"],
    )
    logs = session.client("logs", endpoint_url=endpoint_url)
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/"):
        for group in page["logGroups"]:
            name = group["logGroupName"]
            events = logs.get_paginator("filter_log_events").paginate(logGroupName=name)
            SCAN.add(
                f"log group {name}", "\n".join(e["message"] for p in events for e in p["events"])
            )
    sfn = session.client("stepfunctions", endpoint_url=endpoint_url)
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            arn = machine["stateMachineArn"]
            for listed in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                for execution in listed["executions"]:
                    found = execution["executionArn"]
                    SCAN.add(f"execution {found}", sfn.describe_execution(executionArn=found))
                    history = sfn.get_paginator("get_execution_history")
                    events = [e for p in history.paginate(executionArn=found) for e in p["events"]]
                    SCAN.add(f"execution {found} (history)", events)
