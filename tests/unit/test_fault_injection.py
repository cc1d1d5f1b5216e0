"""The offline account's fault injector: how often it fires, the wire shapes of its faults (as
botocore and the kubernetes client classify them), that a faulted call changes nothing, and the
Kubernetes session's retries against it."""

from __future__ import annotations

import io
import json
import socket
from collections import Counter
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.parsers import create_parser
from botocore.retries import standard
from eksops.errors import KubernetesUnavailableError
from eksops.kubernetes_session import retry_delay, transient
from eksops.local.fault_injection import (
    KINDS,
    STEP_MARKER,
    AwsFaults,
    Fault,
    FaultConfigError,
    FaultInjector,
    aws_response,
    kube_response,
)
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from tests.support.kube_api import admin_api_client, admin_server

STEP_AGENT = f"Boto3/1.40 md/Botocore#1.40 {STEP_MARKER}python3.12"


# -- the draw --------------------------------------------------------------------------------


def test_rate_is_honoured_for_a_seed_and_kinds_are_drawn_evenly() -> None:
    injector = FaultInjector(rate=0.2, seed=42)
    faults = [injector.decide("aws", STEP_AGENT) for _ in range(10_000)]
    fired = [fault for fault in faults if fault is not None]
    assert 0.19 <= len(fired) / len(faults) <= 0.21
    by_kind = Counter(fault.kind for fault in fired)
    assert set(by_kind) == set(KINDS)
    assert all(abs(n / len(fired) - 1 / 3) < 0.04 for n in by_kind.values())
    assert not any(fault.after_effect for fault in fired)  # before effect unless asked
    assert injector.stats()["injected"] == len(fired)
    assert injector.stats()["calls"] == {"aws": 10_000}
    again = FaultInjector(rate=0.2, seed=42)
    assert [again.decide("aws", STEP_AGENT) for _ in range(10_000)] == faults  # seeded


def test_only_the_steps_calls_are_faulted_and_rate_zero_faults_nothing() -> None:
    always = FaultInjector(rate=1.0, seed=1)
    assert always.decide("aws", "Boto3/1.40 md/Botocore#1.40") is None  # harness, CLI
    assert always.decide("kube", "kubectl/v1.32.0 (linux/amd64)") is None
    assert always.decide("kube", f"eksops OpenAPI-Generator/35.0.0/python {STEP_MARKER}x")
    never = FaultInjector(rate=0.0, seed=1)
    assert all(never.decide("aws", STEP_AGENT) is None for _ in range(1000))


def test_configuration_from_the_environment_and_bad_values() -> None:
    environ = {
        "EKSOPS_LOCAL_FAULT_RATE": "0.25",
        "EKSOPS_LOCAL_FAULT_SEED": "7",
        "EKSOPS_LOCAL_FAULT_KINDS": "throttling, connection",
    }
    injector = FaultInjector.from_environment(environ)
    assert (injector.rate, injector.seed, injector.kinds) == (0.25, 7, ("throttling", "connection"))
    assert FaultInjector.from_environment(environ, rate=0.5).rate == 0.5  # arguments win
    assert not FaultInjector.from_environment({}).enabled
    for bad in ({"EKSOPS_LOCAL_FAULT_RATE": "1.5"}, {"EKSOPS_LOCAL_FAULT_KINDS": "gremlins"}):
        with pytest.raises(FaultConfigError):
            FaultInjector.from_environment(bad)


# -- AWS: wire shapes botocore retries -------------------------------------------------------

# A service per protocol, with an operation of each.
SERVICES = {
    "query": ("iam", "CreateUser"),
    "ec2": ("ec2", "CreateVpc"),
    "json": ("dynamodb", "PutItem"),
    "rest-json": ("eks", "CreateCluster"),
    "rest-xml": ("s3", "PutObject"),
}


def _botocore_view(protocol: str, fault: Fault) -> tuple[str, standard.RetryContext]:
    service, operation = SERVICES[protocol]
    model = botocore.session.get_session().get_service_model(service)
    assert model.protocol == protocol
    operation_model = model.operation_model(operation)
    status, headers, body = aws_response(protocol, fault)
    response = {"status_code": status, "headers": dict(headers), "body": body}
    parsed = create_parser(protocol).parse(response, operation_model.output_shape)
    http = AWSResponse("http://offline", status, dict(headers), None)
    context = standard.RetryContext(1, operation_model, parsed, http)
    return parsed["Error"]["Code"], context


@pytest.mark.parametrize("protocol", sorted(SERVICES))
def test_aws_throttling_is_throttling_to_botocore(protocol: str) -> None:
    code, context = _botocore_view(protocol, Fault("throttling", "throttling"))
    assert code in ("Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown") or (
        code == "TooManyRequestsException"
    )
    assert standard.ThrottledRetryableChecker().is_retryable(context)
    assert standard.StandardRetryConditions(max_attempts=8).is_retryable(context)


@pytest.mark.parametrize("protocol", sorted(SERVICES))
@pytest.mark.parametrize("variant", ["internal", "unavailable"])
def test_aws_5xx_is_transient_to_botocore(protocol: str, variant: str) -> None:
    code, context = _botocore_view(protocol, Fault("5xx", variant))
    assert code in ("InternalError", "ServiceUnavailable", "Unavailable") or code.startswith(
        "ServiceUnavailable"
    )
    assert context.http_response.status_code in (500, 503)
    assert standard.TransientRetryableChecker().is_retryable(context)
    assert standard.StandardRetryConditions(max_attempts=8).is_retryable(context)


def test_a_dropped_connection_is_transient_to_botocore() -> None:
    error = ConnectionClosedError(endpoint_url="http://127.0.0.1:1")
    context = standard.RetryContext(1, caught_exception=error)
    assert standard.StandardRetryConditions(max_attempts=8).is_retryable(context)


class _Inner:
    """A WSGI app standing for moto: counts what reaches it."""

    def __init__(self) -> None:
        self.served = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.served += 1
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<ok/>"]


def _environ(body: bytes = b"Action=CreateUser&UserName=u") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "HTTP_USER_AGENT": STEP_AGENT,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


@pytest.mark.parametrize("kind", ["throttling", "5xx"])
def test_aws_faults_happen_before_the_call_takes_effect(kind: str) -> None:
    inner = _Inner()
    app = AwsFaults(inner, FaultInjector(rate=1.0, seed=3, kinds=(kind,)), lambda _: "query")
    statuses: list[str] = []
    body = b"".join(app(_environ(), lambda status, headers: statuses.append(status)))
    assert inner.served == 0  # moto never saw it
    assert statuses[0].split()[0] in {"throttling": ("400",), "5xx": ("500", "503")}[kind]
    assert b"<ErrorResponse" in body
    harness = _environ()
    harness["HTTP_USER_AGENT"] = "Boto3/1.40"
    app(harness, lambda *_: None)
    assert inner.served == 1  # not a step's call: served


def test_after_effect_5xx_is_served_then_lost_only_when_asked() -> None:
    inner = _Inner()
    injector = FaultInjector(rate=1.0, seed=3, kinds=("5xx",), after_effect_share=1.0)
    statuses: list[str] = []
    AwsFaults(inner, injector, lambda _: "query")(_environ(), lambda s, h: statuses.append(s))
    assert inner.served == 1
    assert statuses[0].startswith(("500", "503"))


def test_aws_connection_fault_closes_without_an_answer() -> None:
    inner = _Inner()
    app = AwsFaults(inner, FaultInjector(rate=1.0, seed=5, kinds=("connection",)), lambda _: "")
    server_side, client_side = socket.socketpair()
    environ = _environ()
    environ["werkzeug.socket"] = server_side
    with client_side, pytest.raises(ConnectionResetError):  # werkzeug: the client is gone
        app(environ, lambda *_: pytest.fail("an answer was started"))
    assert inner.served == 0
    server_side.close()


# -- Kubernetes: wire shapes and the session's retries ---------------------------------------


def test_kube_throttling_is_a_429_status_with_retry_after() -> None:
    code, headers, status = kube_response(Fault("throttling", "throttling"))
    assert code == 429
    assert headers == {"Retry-After": "1"}
    assert status["reason"] == "TooManyRequests"
    assert status["details"]["retryAfterSeconds"] == 1
    for variant, expected in (("internal", 500), ("unavailable", 503)):
        code, _, status = kube_response(Fault("5xx", variant))
        assert code == status["code"] == expected
        assert status["kind"] == "Status"


@pytest.fixture
def step_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kubernetes session inside a Lambda step (its user agent names the runtime)."""
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")


def _faulty_server(kinds: tuple[str, ...], rate: float = 1.0) -> Any:
    server = admin_server()
    server.faults = FaultInjector(rate=rate, seed=11, kinds=kinds)
    return server


def test_throttled_reads_are_retried_honouring_retry_after(step_agent: None) -> None:
    server = _faulty_server(("throttling",))
    slept: list[float] = []
    with admin_api_client(server) as api:
        api.sleep = slept.append  # the session's back-off, recorded instead of slept
        with pytest.raises(KubernetesUnavailableError, match="429"):
            CoreV1Api(api).list_namespace()
    assert len(slept) == 5
    assert all(delay >= 1.0 for delay in slept)


def test_faulted_writes_change_nothing_and_reads_recover(step_agent: None) -> None:
    server = _faulty_server(("5xx", "connection"))
    with admin_api_client(server) as api:
        api.sleep = lambda _seconds: None
        core = CoreV1Api(api)
        body = {"metadata": {"name": "never"}}
        with pytest.raises(KubernetesUnavailableError):  # POST: may not be sent twice
            core.create_namespace(body)
        server.faults.rate = 0.0
        assert "never" not in [n.metadata.name for n in core.list_namespace().items]
        server.faults.rate = 0.3  # reads retried until they get through
        for _ in range(10):
            assert core.read_namespace("default").metadata.name == "default"
    assert server.faults.stats()["injected"] >= 5


def test_retry_policy_by_error_and_method() -> None:
    def api_error(status: int, body: dict[str, Any] | None = None, **headers: str) -> Any:
        exc = ApiException(status=status, reason="x")
        exc.body, exc.headers = json.dumps(body or {}), headers
        return exc

    merge = {"Content-Type": "application/merge-patch+json"}
    json_patch = {"Content-Type": "application/json-patch+json"}
    assert retry_delay("POST", {}, api_error(429, **{"Retry-After": "2"}), 1) == 2.0
    budget = {"details": {"causes": [{"reason": "DisruptionBudget"}]}}
    assert retry_delay("POST", {}, api_error(429, budget), 1) is None  # the caller decides
    assert transient("POST", {}, api_error(429, budget)) is None  # and it stays an ApiException
    assert retry_delay("POST", {}, api_error(503), 1) is None  # may have taken effect
    assert retry_delay("PATCH", json_patch, api_error(500), 1) is None
    assert retry_delay("PATCH", merge, api_error(500), 1) is not None
    assert retry_delay("GET", {}, api_error(503), 1) is not None
    assert retry_delay("GET", {}, api_error(503), 6) is None  # bounded
    assert retry_delay("GET", {}, api_error(404), 1) is None
    assert retry_delay("GET", {}, api_error(409), 1) is None
