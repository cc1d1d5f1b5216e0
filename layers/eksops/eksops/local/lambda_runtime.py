"""Lambda invocations of the offline account run the function's real code, without Docker.

moto runs functions in Docker containers; here each invocation goes to a warm worker process
(``lambda_worker``) holding the deployed code: the function's zip and its layers' zips as
stored in moto, extracted once per code version, with the layers' ``python/`` folders on the
path as in ``/opt/python`` and third-party packages from this interpreter's environment. The
worker gets Lambda's environment: the function's variables, the standard AWS_LAMBDA_* ones,
credentials of the function's role (assumed through the offline STS), and AWS_ENDPOINT_URL
pointing back at the offline account. A worker serves one invocation at a time; concurrent
invocations start more workers, like Lambda's execution environments.

Tests can make the next invocation of a function fail (:meth:`LambdaRuntime.inject_fault`):
before its handler runs (nothing happened), or after (its side effects happened, its result is
lost, as when a Lambda's answer never reaches Step Functions).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
LOG_TAIL_BYTES = 4096  # what Lambda returns in X-Amz-Log-Result
INJECTED_FAULT = "eksops.InjectedFault"
ABSENT_PACKAGES_VARIABLE = "EKSOPS_LOCAL_ABSENT_PACKAGES"  # errorType of an injected failure


@dataclass(frozen=True)
class Outcome:
    payload: str
    error: bool
    logs: str


def _error_payload(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message})


@dataclass(frozen=True)
class Fault:
    """An injected failure of one invocation."""

    after: bool  # the handler ran (its side effects happened) but its result is lost
    error_type: str = INJECTED_FAULT

    def outcome(self, function_name: str, ran: Outcome | None) -> Outcome:
        when = "after its handler ran" if self.after else "before its handler ran"
        message = f"fault injected into {function_name} {when}"
        logs = (ran.logs if ran is not None else "") + message + "\n"
        return Outcome(_error_payload(self.error_type, message), True, logs)


def _layer_packages(layer_python: Path) -> set[str]:
    """The third-party packages a deployed layer provides (deploy.LAYER_PACKAGES)."""
    listed = layer_python / "eksops-layer-packages.txt"
    if not listed.is_file():
        return set()
    return {line for line in listed.read_text(encoding="utf-8").split() if line}


def function_name_of(name_or_arn: str) -> str:
    """A function's name from its name or (possibly qualified) ARN."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
    return name_or_arn


class _Worker:
    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the logs come back with each answer
            text=True,
        )

    def invoke(self, request: dict[str, Any], timeout: float) -> Outcome | None:
        """The worker's answer, or None if it died or timed out (it is then killed)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:
            self.kill()
            return None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.kill()
            return None
        answer = json.loads(line)
        return Outcome(answer["payload"], answer["error"], answer["logs"])

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


# warm workers kept per function and configuration; more run while invocations overlap, and
# go when done (each holds a Python process: 60-150 MB)
MAX_IDLE_WORKERS = 2


class LambdaRuntime:
    """Warm workers per function code version, created on demand."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._root = Path(tempfile.mkdtemp(prefix="eksops-lambda-"))
        self._idle: dict[str, list[_Worker]] = {}
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self.on_close: Callable[[], None] = lambda: None

    def inject_fault(self, function: str, *, after: bool, error_type: str = INJECTED_FAULT) -> None:
        """Make the next invocation of ``function`` (name or ARN) fail with ``error_type``: an
        unhandled function error, as a raising handler gives. ``after``: the handler runs first
        (its side effects happen) and its result is replaced by the error; otherwise it does not
        run. One-shot: the invocation after that runs normally. A second injection into the same
        function replaces the first."""
        with self._lock:
            self._faults[function_name_of(function)] = Fault(after, error_type)

    def pending_faults(self) -> list[str]:
        """The functions whose injected fault has not fired yet."""
        with self._lock:
            return sorted(self._faults)

    def clear_faults(self) -> None:
        """Forget the faults that have not fired."""
        with self._lock:
            self._faults.clear()

    def close(self) -> None:
        self.on_close()
        with self._lock:
            workers = [w for pool in self._idle.values() for w in pool]
            self._idle.clear()
            self._faults.clear()
        for worker in workers:
            worker.kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def _extract(self, kind: str, code: bytes) -> Path:
        """The zip's files, once per distinct content (code versions share nothing)."""
        target = self._root / f"{kind}-{hashlib.sha256(code).hexdigest()[:16]}"
        if not target.exists():
            staging = Path(tempfile.mkdtemp(dir=self._root))
            with zipfile.ZipFile(BytesIO(code)) as archive:
                archive.extractall(staging)
            try:
                staging.rename(target)
            except OSError:  # a concurrent spawn extracted the same content first
                shutil.rmtree(staging, ignore_errors=True)
        return target

    def _environment(self, function: Any, code_dir: Path, layer_dirs: list[Path]) -> dict[str, str]:
        credentials = self._role_credentials(function)
        region = function.region
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": str(self._root),
            # only the deployed code and layers, then this interpreter's site-packages
            "PYTHONPATH": os.pathsep.join(str(p) for p in [code_dir, *layer_dirs]),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": function.handler,
            # no X-Ray daemon offline: Powertools Tracer would only warn
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        env.update({k: str(v) for k, v in (function.environment_vars or {}).items()})
        return env

    def _role_credentials(self, function: Any) -> dict[str, str]:
        """The function's role, assumed through the offline account's STS (as Lambda does)."""
        from moto.sts.models import sts_backends

        backend = sts_backends[function.account_id][function.partition]
        role = backend.assume_role(
            region_name=function.region,
            role_session_name=function.function_name[:64],
            role_arn=function.role,
            policy=None,
            duration=3600,
            external_id=None,
        )
        return {
            "AccessKeyId": role.access_key_id,
            "SecretAccessKey": role.secret_access_key,
            "SessionToken": role.session_token,
        }

    def _spawn(self, function: Any) -> _Worker:
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[function.account_id][function.region]
        code_dir = self._extract("code", function.code_bytes)
        layer_dirs = []
        for layer in function.layers:
            version = backend.layers_versions_by_arn(layer["Arn"])
            if version is not None and version.code_bytes:
                extracted = self._extract("layer", version.code_bytes)
                layer_dirs.append(extracted / "python")
        env = self._environment(function, code_dir, layer_dirs)
        # third-party packages come from this interpreter offline: those of layers the function
        # does not have must not import, as in Lambda
        attached = set().union(*(_layer_packages(d) for d in layer_dirs))
        every = set().union(
            *(
                _layer_packages(self._extract("layer", version.code_bytes) / "python")
                for layer in backend.list_layers()
                if (
                    version := backend.layers_versions_by_arn(
                        layer["LatestMatchingVersion"]["LayerVersionArn"]
                    )
                )
                is not None
                and version.code_bytes
            )
        )
        env[ABSENT_PACKAGES_VARIABLE] = ",".join(sorted(every - attached))
        command = [sys.executable, "-m", "eksops.local.lambda_worker"]
        # the worker module itself comes from this checkout, after the deployed layers
        env["PYTHONPATH"] += os.pathsep + str(Path(__file__).resolve().parents[2])
        return _Worker(command, env, code_dir)

    def invoke(self, function: Any, event: str) -> Outcome:
        with self._lock:
            fault = self._faults.pop(function.function_name, None)
        if fault is not None:
            ran = self._run(function, event) if fault.after else None
            return fault.outcome(function.function_name, ran)
        return self._run(function, event)

    def _run(self, function: Any, event: str) -> Outcome:
        if not str(function.run_time).startswith("python"):
            message = f"the offline account runs Python functions only, not {function.run_time}"
            return Outcome(_error_payload("Runtime.InvalidRuntime", message), True, message)
        # a new configuration gets new execution environments, as in AWS
        configuration = json.dumps(
            [function.environment_vars, function.role, function.handler, function.layers],
            sort_keys=True,
            default=str,
        )
        key = f"{function.function_arn}:{function.code_sha_256}:{hash(configuration)}"
        with self._lock:
            pool = self._idle.setdefault(key, [])
            worker = pool.pop() if pool else None
        if worker is None:
            worker = self._spawn(function)
        request_id = str(uuid.uuid4())
        timeout = float(function.timeout)
        request = {
            "event": event,
            "requestId": request_id,
            "functionArn": function.function_arn,
            "deadlineMs": int((time.time() + timeout) * 1000),
        }
        outcome = worker.invoke(request, timeout)
        if outcome is None:
            message = f"{request_id} Task timed out after {timeout:.2f} seconds"
            if worker.process.returncode not in (None, -9):
                message = f"RequestId: {request_id} Error: Runtime exited unexpectedly"
            error_type = "Sandbox.Timedout" if "timed out" in message else "Runtime.ExitError"
            return Outcome(_error_payload(error_type, message), True, message)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_WORKERS:
                idle.append(worker)
                worker = None
        if worker is not None:  # Lambda reclaims idle environments: their memory is not kept
            worker.kill()
        return outcome


def install(endpoint_url: str) -> LambdaRuntime:
    """Route moto's Lambda invocations (API, Step Functions, events) to real handler code until
    ``runtime.close()``, which restores moto's own."""
    from moto.awslambda.models import LambdaFunction

    runtime = LambdaRuntime(endpoint_url)
    moto_methods = {
        "_invoke_lambda": LambdaFunction._invoke_lambda,
        "invoke": LambdaFunction.invoke,
    }

    def _invoke_lambda(self: Any, event: str | None = None) -> tuple[str, bool, str]:
        text = event if isinstance(event, str) else json.dumps(event or {})
        outcome = runtime.invoke(self, text)
        # Lambda writes to /aws/lambda/<name> whether or not a template declared the group
        self.logs_backend.ensure_log_group(self.logs_group_name)
        self.save_logs(outcome.logs)
        return outcome.payload, outcome.error, outcome.logs

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
        event = body or "{}"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":  # asynchronous: accepted now, run in the background
            threading.Thread(target=_invoke_lambda, args=(self, event), daemon=True).start()
            return b""
        payload, error, logs = _invoke_lambda(self, event)
        if error:
            response_headers["x-amz-function-error"] = "Unhandled"
        if request_headers.get("x-amz-log-type") == "Tail":
            tail = logs.encode("utf-8")[-LOG_TAIL_BYTES:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
        return payload.encode("utf-8")

    def restore() -> None:
        for name, method in moto_methods.items():
            setattr(LambdaFunction, name, method)

    LambdaFunction._invoke_lambda = _invoke_lambda
    LambdaFunction.invoke = invoke
    runtime.on_close = restore
    return runtime
