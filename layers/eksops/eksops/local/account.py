"""The offline account: moto served on 127.0.0.1, adapted to behave like AWS, with the
project's template deployed.

Use it as a context manager (tests, the demo) or through `eksops local up`. One account per
process: moto's backends are process-wide.

For tests it also records the AWS API calls it serves (:meth:`OfflineAccount.recording`) and
can make a Lambda function's next invocation fail (:meth:`OfflineAccount.inject_fault`).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

from eksops.local.deploy import Deployment, deploy
from eksops.local.template import TEMPLATE

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STACK = "eksops"  # samconfig.toml's default stack name
# Any key works offline; these make clear nothing real is used.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline"}
# Run state machines for real. Lambda keeps moto's default ("use_docker"): with it off, moto
# swaps in a backend that answers every invoke with a canned string; lambda_runtime replaces
# the Docker path itself instead.
# A real account has every AWS managed policy (AmazonEKSClusterPolicy, ...): load them.
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "iam": {"load_aws_managed_policies": True},
}


# Operations that change nothing in the account, by name: reads, and the calls that only hand
# out credentials or run code whose own calls are recorded separately.
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Lookup", "Search", "Filter", "BatchGet")
NOT_MUTATING = frozenset(
    {
        "sts:AssumeRole",
        "sts:AssumeRoleWithWebIdentity",
        "sts:AssumeRoleWithSAML",
        "sts:DecodeAuthorizationMessage",
        # a Lambda invocation (a workflow step): what its handler does is recorded as its calls
        "lambda:Invoke",
    }
)
# Functions that only report on executions (metrics, outcome events): like the invocations that
# run the steps, their calls change nothing the workflows manage (ApiCall.reporting).
REPORTING_FUNCTIONS = ("RecordWorkflowOutcomeFunction",)
_ACCESS_KEY = re.compile(r"Credential=([^/\s,]+)/")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/\s,]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_PRESIGNED_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F\d{8}%2F[^%&]+%2F([^%&]+)%2F")


@dataclass(frozen=True)
class ApiCall:
    """One AWS API request the account served: ``service`` as IAM action prefixes name it
    (the request's SigV4 signing name: ``eks``, ``iam``, ``states``), ``operation`` as the API
    names it (``CreateCluster``; ``?`` when it matched none)."""

    service: str
    operation: str
    status: int = 0  # the HTTP status of the answer
    caller: str = ""  # the Lambda function whose role signed it, else the access key ID
    reporting: bool = False  # made by one of the REPORTING_FUNCTIONS

    @property
    def action(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def mutating(self) -> bool:
        """Whether the call may change the account: everything but reads (operations named
        Describe*, List*, Get*, Lookup*, Search*, Filter*, BatchGet*) and the calls in
        NOT_MUTATING (assuming roles, invoking a Lambda function), and the reporting functions'
        calls. Unrecognised requests count as mutating; so do failed ones (a mutation was
        attempted)."""
        if self.reporting or self.action in NOT_MUTATING:
            return False
        return not self.operation.startswith(READ_ONLY_PREFIXES)


_UNSIGNED_STS = ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")


@functools.cache
def _boto3_service(signing_name: str) -> str | None:
    """botocore's service name for a SigV4 signing name (``states`` -> ``stepfunctions``)."""
    import botocore.session

    session = botocore.session.get_session()
    found = []
    for name in session.get_available_services():
        metadata = session.get_service_data(name)["metadata"]
        if metadata.get("signingName", metadata.get("endpointPrefix")) == signing_name:
            found.append(name)
    if signing_name in found or not found:
        return signing_name if found else None
    return found[0]


def _identify(environ: dict[str, Any], body: bytes) -> ApiCall:
    """The service and operation of a request, found as moto routes it."""
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scope = _CREDENTIAL_SCOPE.search(authorization) or _PRESIGNED_SCOPE.search(
        environ.get("QUERY_STRING", "")
    )
    if scope is None:
        # STS's federation calls are unsigned: the token is the credential
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        return ApiCall("sts", action) if action in _UNSIGNED_STS else ApiCall("?", "?")
    signing_name = scope.group(1)
    service = _boto3_service(signing_name)
    if service is None:
        return ApiCall(signing_name, "?")
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(body)
    try:
        operation, _ = get_service_router(service).match(Request(copy))
    except Exception:  # an unroutable request is recorded as such
        return ApiCall(signing_name, "?")
    return ApiCall(signing_name, operation.name)


class _Recorder:
    """WSGI middleware in front of moto: each request's ApiCall to ``record``."""

    def __init__(self, app: Any, record: Callable[[ApiCall], None]) -> None:
        self.app = app
        self.record = record

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b""
        if length:  # read once, then served again to moto (a body without a length is left be)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        try:
            call = _identify(environ, body)
        except Exception:  # recording never breaks serving
            call = ApiCall("?", "?")
        status: list[int] = []

        def recording_start_response(status_line: str, *args: Any) -> Any:
            status.append(int(status_line.split(" ", 1)[0]))
            return start_response(status_line, *args)

        try:
            return self.app(environ, recording_start_response)
        finally:
            key = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
            caller = key.group(1) if key else ""
            self.record(ApiCall(call.service, call.operation, status[0] if status else 0, caller))


def _server(
    operations: dict[str, Any],
    port: int,
    record: Callable[[ApiCall], None] = lambda call: None,
    faults: Any = None,
) -> Any:
    """moto's threaded server with the /_eksops/ control operations in front of it, every
    AWS request given to ``record``, and ``faults`` (a FaultInjector) in front of it all."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from eksops.local.control import ControlApp

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            moto_app = DomainDispatcherApplication(create_backend_app)
            app: Any = ControlApp(_Recorder(moto_app, record), operations)
            if faults is not None:  # consulted per request: its rate may change while serving
                from eksops.local.fault_injection import AwsFaults, aws_protocol

                app = AwsFaults(app, faults, aws_protocol)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server(ip_address="127.0.0.1", port=port, verbose=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OfflineAccount:
    def __init__(
        self,
        port: int = 0,
        region: str = "us-east-1",
        template: Path | None = TEMPLATE,
        stack_name: str = DEFAULT_STACK,
        parameters: dict[str, str] | None = None,
        time_scale: float = 1.0,
        eks_delay: float = 3.0,
        fault_rate: float | None = None,
        fault_seed: int | None = None,
    ) -> None:
        """``fault_rate`` (0..1; default EKSOPS_LOCAL_FAULT_RATE, else 0) of the Lambda steps'
        AWS and Kubernetes calls fail (``fault_injection``); ``fault_seed`` (default
        EKSOPS_LOCAL_FAULT_SEED) seeds the draw. ``faults`` counts what was injected."""
        from eksops.local.fault_injection import FaultInjector

        self.faults = FaultInjector.from_environment(rate=fault_rate, seed=fault_seed)
        self.port = port or _free_port()
        self.time_scale = time_scale
        self.eks_delay = eks_delay  # seconds an EKS cluster, node group or add-on takes to change
        self.region = region
        self.template = template
        self.stack_name = stack_name
        self.parameters = parameters or {}
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.deployment: Deployment | None = None
        self._server: Any = None
        self._runtime: Any = None
        self._cluster_apis: Any = None
        self._nodes: Any = None  # nodes.NodeReconciler
        self._recordings: list[list[ApiCall]] = []
        self._recordings_lock = threading.Lock()

    @property
    def environment(self) -> dict[str, str]:
        """What clients (AWS CLI, boto3, eksops, kubectl's exec plugin) need to use it."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **CREDENTIALS,
        }

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)

    def start(self) -> Self:
        import os

        from moto.core.config import default_user_config

        from eksops.local import (
            cluster_apis,
            eks,
            events,
            lambda_runtime,
            moto_fixes,
            nodes,
            sfn_events,
            sfn_sdk,
            sfn_time,
            sts_presigned,
            sts_web_identity,
        )

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        # moto's interpreter logs every exception it evaluates at ERROR, expected ones too (a Catch
        # taking a task failure, IsPresent on a missing path); failures are in execution histories
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(
            logging.CRITICAL
        )

        # moto's Step Functions interpreter calls services at localhost:MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        for section, values in MOTO_CONFIG.items():
            default_user_config.setdefault(section, {}).update(values)  # type: ignore[misc]
        moto_fixes.install()
        sfn_sdk.install()
        sfn_time.install(self.time_scale)
        sts_presigned.install()
        sts_web_identity.install()
        eks.install(self.eks_delay)
        self._cluster_apis = cluster_apis.ClusterApis(self.endpoint_url, self.faults)
        cluster_apis.install(self._cluster_apis)
        # EC2 instances of node groups register as Nodes (and the node join check is theirs)
        self._nodes = nodes.NodeReconciler(self._cluster_apis, self.eks_delay).start()
        events.install()
        sfn_events.install()  # executions' status changes on the default bus, as in AWS
        self._runtime = lambda_runtime.install(self.endpoint_url)
        self._server = _server(
            {"fire-schedule": self._fire_schedule}, self.port, self._record, self.faults
        )
        self._server.start()
        if self.template is not None:
            self.deployment = self.deploy(self.template)
        return self

    def deploy(
        self,
        template: Path,
        stack_name: str | None = None,
        parameters: dict[str, str] | None = None,
    ) -> Deployment:
        """Deploy a SAM template into the account (the project's, as `eksops`, by default)."""
        if stack_name is None:
            stack_name, parameters = self.stack_name, self.parameters
        return deploy(self.client, self.region, template, stack_name, parameters)

    def _fire_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """Fire a scheduled rule, named as in EventBridge or by its template logical ID."""
        from eksops.local import events

        rule = request["rule"]
        if self.deployment is not None and rule in self.deployment.resources:
            rule = self.deployment.resources[rule]
        bus = request.get("eventBus", "default")
        targets = events.fire_schedule(rule, bus, ACCOUNT_ID, self.region)
        return {"rule": rule, "targets": targets}

    def _record(self, call: ApiCall) -> None:
        with self._recordings_lock:
            if not self._recordings:
                return
        call = self._attributed(call)
        with self._recordings_lock:
            for calls in self._recordings:
                calls.append(call)

    def _attributed(self, call: ApiCall) -> ApiCall:
        """The call with its caller named: a Lambda function's role session is the function's
        name (lambda_runtime), so the reporting functions' calls are told apart."""
        from moto.sts.models import sts_backends

        role = sts_backends[ACCOUNT_ID]["aws"].get_assumed_role_from_access_key(call.caller)
        if role is None:
            return call
        reporting = {
            self.deployment.resources.get(logical_id)
            for logical_id in REPORTING_FUNCTIONS
            if self.deployment is not None
        }
        return dataclasses.replace(
            call, caller=role.session_name, reporting=role.session_name in reporting
        )

    @contextmanager
    def recording(self) -> Iterator[list[ApiCall]]:
        """The AWS API calls the account serves while the block runs, from every client (tests,
        Lambda steps, Step Functions' tasks), in the order they were answered. Calls handled
        in-process (a Lambda role's credentials, EventBridge deliveries) are not requests and
        are not recorded; nor are the /_eksops/ operations."""
        calls: list[ApiCall] = []
        with self._recordings_lock:
            self._recordings.append(calls)
        try:
            yield calls
        finally:
            with self._recordings_lock:
                self._recordings.remove(calls)

    def _function_name(self, function: str) -> str:
        if self.deployment is not None and function in self.deployment.resources:
            return self.deployment.resources[function]
        return function

    def inject_fault(self, function: str, *, after: bool, error_type: str | None = None) -> None:
        """Make the next invocation of a Lambda function (template logical ID, name or ARN)
        fail with ``error_type`` (default ``eksops.InjectedFault``); ``after``: once its handler
        has run, so its side effects happened but its result is lost. One-shot; forgotten by
        :meth:`clear_faults` and :meth:`stop`."""
        from eksops.local.lambda_runtime import INJECTED_FAULT

        assert self._runtime is not None, "the account is not running"
        self._runtime.inject_fault(
            self._function_name(function), after=after, error_type=error_type or INJECTED_FAULT
        )

    def pending_faults(self) -> list[str]:
        """Names of the functions whose injected fault has not fired yet."""
        return self._runtime.pending_faults() if self._runtime is not None else []

    def clear_faults(self) -> None:
        if self._runtime is not None:
            self._runtime.clear_faults()

    def resource(self, logical_id: str) -> str:
        """The physical ID of a resource of the deployed stack."""
        assert self.deployment is not None, "no template deployed"
        return self.deployment.resources[logical_id]

    def stop(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        from eksops.local import cluster_apis, eks, sfn_time

        if self._nodes is not None:  # first: it reads the backends and API servers below
            self._nodes.stop()
            self._nodes = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
        if self._cluster_apis is not None:
            cluster_apis.uninstall()
            self._cluster_apis.close()
            self._cluster_apis = None
        eks.install(0)  # what follows in this process sees moto's instant EKS
        moto_api_backend.reset()  # the next account starts empty, as a new AWS account would
        sfn_time.install(1.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
