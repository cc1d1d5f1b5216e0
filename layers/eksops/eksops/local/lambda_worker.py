"""One warm Lambda execution environment of the offline account: a process that imports the
handler once and then runs invocations one at a time, as the Lambda runtime does.

Protocol (one JSON object per line): the parent writes ``{"event": <JSON text>, "requestId",
"deadlineMs"}`` to stdin; the worker answers ``{"payload": <JSON text>, "error": bool, "logs"}``
on its original stdout. The handler's own output (print, Powertools logs, EMF metrics) is
captured per invocation and also echoed to stderr, so it never corrupts the protocol.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
import traceback
from typing import Any

from eksops.local.handlers import LambdaContext


class _InvocationLog(io.TextIOBase):
    """sys.stdout and sys.stderr of the handler: kept for the invocation's LogResult."""

    def __init__(self, echo: io.TextIOBase) -> None:
        self.echo = echo
        self.buffer_text: list[str] = []

    def write(self, text: str) -> int:
        self.buffer_text.append(text)
        self.echo.write(text)
        self.echo.flush()
        return len(text)

    def take(self) -> str:
        text, self.buffer_text = "".join(self.buffer_text), []
        return text


def _error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The Python runtime's error document: errorType is the exception class's __name__."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:]),
    }


class _AbsentPackages:
    """A meta path finder for the packages of layers the function does not have: importing
    them fails as in Lambda, where they are not on the path."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)


def main() -> None:
    absent = {n for n in os.environ.get("EKSOPS_LOCAL_ABSENT_PACKAGES", "").split(",") if n}
    if absent:
        sys.meta_path.insert(0, _AbsentPackages(absent))
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # native writes to fd 1 land in the log, not in the protocol
    stderr = sys.stderr
    log = _InvocationLog(stderr)
    sys.stdout = sys.stderr = log

    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    init_error: BaseException | None = None
    try:
        handler = getattr(importlib.import_module(module_name.replace("/", ".")), function_name)
    except Exception as exc:  # reported on every invocation, as Runtime.ImportModuleError
        init_error = exc

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["requestId"]
        context = LambdaContext(
            function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
            aws_request_id=request_id,
            invoked_function_arn=request["functionArn"],
            deadline_ms=request["deadlineMs"],
        )
        print(f"START RequestId: {request_id} Version: $LATEST")
        started = time.monotonic()
        if init_error is not None:
            document, error = _error(init_error, request_id), True
            document["errorType"] = "Runtime.ImportModuleError"
        else:
            try:
                result = handler(json.loads(request["event"]), context)
                document, error = result, False
            except Exception as exc:
                document, error = _error(exc, request_id), True
        try:
            payload = json.dumps(document)
        except (TypeError, ValueError) as exc:
            payload, error = json.dumps(_error(exc, request_id)), True
        elapsed = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms")
        protocol.write(json.dumps({"payload": payload, "error": error, "logs": log.take()}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
