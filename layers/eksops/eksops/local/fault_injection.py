"""Injected faults: a chosen fraction of the calls a workflow's steps make fail as AWS and
Kubernetes fail under load, so that retries (botocore's, the Kubernetes session's, the state
machines' ``Retry``) are exercised offline.

Turn it on with ``eksops local up --fault-rate 0.2 [--fault-seed N]`` (``eksops local demo``
too), ``EKSOPS_LOCAL_FAULT_RATE`` / ``EKSOPS_LOCAL_FAULT_SEED`` / ``EKSOPS_LOCAL_FAULT_KINDS``,
or ``OfflineAccount(fault_rate=..., fault_seed=...)``.

**Which calls.** Requests from the Lambda steps: to the account's AWS endpoint, and to every
cluster's Kubernetes API server. They are told apart by the ``exec-env/AWS_Lambda_<runtime>``
user-agent component, which botocore adds from Lambda's ``AWS_EXECUTION_ENV`` and
``KubernetesSession`` adds to the Kubernetes client's user agent. Not faulted: the test
harness's and the CLI's own calls (``eksops run`` following an execution, the demo's kubectl),
Step Functions' own calls (its Lambda invocations, nested executions, integrations), EKS's
replay of tokens to STS, and the engine's in-process work. Those are the service's own plumbing
or the operator's tools, not the workflow code under test; faulting them would measure moto's
interpreter, not eksops.

**What.** Each call independently, with probability ``rate``, fails as one of ``kinds`` (drawn
evenly):

- ``throttling``: AWS's throttling error in the shape of the service's protocol (query:
  ``Throttling`` 400, EC2: ``RequestLimitExceeded`` 503, JSON: ``ThrottlingException`` 400,
  REST-JSON: ``TooManyRequestsException`` 429, REST-XML: ``SlowDown`` 503); Kubernetes 429
  ``TooManyRequests`` with ``Retry-After: 1``, as API Priority and Fairness answers;
- ``5xx``: AWS 500 ``InternalError`` / 503 ``ServiceUnavailable`` (each protocol's spelling);
  Kubernetes 500 ``InternalError`` / 503 ``ServiceUnavailable`` as ``Status`` objects;
- ``connection``: the connection closed without a response, by a reset (RST) or an orderly
  close (FIN).

**Before the call takes effect.** A fault replaces the call: the request is read and answered
(or its connection dropped) without reaching moto or the Kubernetes store, so a failed call
changes nothing. With ``after_effect_share`` > 0 (``EKSOPS_LOCAL_FAULT_AFTER_EFFECT``; default
0), that share of the ``5xx`` faults is applied *after* the call took effect instead: the write
happened, its answer is replaced by a 500/503, as when a load balancer times out a slow backend.
That tests idempotency (a retried create meets what the first one made); it is off by default
because clients may only retry such answers for idempotent requests.

The draw is seeded (``seed``); with concurrent calls the order in which calls draw varies, so
the sequence of faults is reproducible only for calls made one at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("throttling", "5xx", "connection")
ENV_RATE = "EKSOPS_LOCAL_FAULT_RATE"
ENV_SEED = "EKSOPS_LOCAL_FAULT_SEED"
ENV_KINDS = "EKSOPS_LOCAL_FAULT_KINDS"
ENV_AFTER_EFFECT = "EKSOPS_LOCAL_FAULT_AFTER_EFFECT"
# What marks a request from a Lambda step: botocore's user-agent component for Lambda's
# AWS_EXECUTION_ENV (and the Kubernetes session's, which adds the same).
STEP_MARKER = "exec-env/AWS_Lambda_"
KUBE_RETRY_AFTER_SECONDS = 1


class FaultConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str  # one of KINDS
    variant: str  # throttling | internal | unavailable | reset | close
    after_effect: bool = False


@dataclass
class FaultInjector:
    """Decides, per call, whether it fails and how; counts what it injected."""

    rate: float = 0.0
    seed: int | None = None
    kinds: tuple[str, ...] = KINDS
    after_effect_share: float = 0.0
    applies: Callable[[str], bool] = field(default=lambda agent: STEP_MARKER in agent, repr=False)
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter, init=False)
    calls: Counter[str] = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise FaultConfigError(f"fault rate must be between 0 and 1, not {self.rate}")
        if not 0.0 <= self.after_effect_share <= 1.0:
            raise FaultConfigError("the after-effect share must be between 0 and 1")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise FaultConfigError(f"fault kinds are {', '.join(KINDS)}; got {self.kinds}")
        self._random = random.Random(self.seed)  # noqa: S311 - a test fixture, not security

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        rate: float | None = None,
        seed: int | None = None,
    ) -> FaultInjector:
        """The injector the arguments, else EKSOPS_LOCAL_FAULT_* variables, describe."""
        try:
            if rate is None:
                rate = float(environ.get(ENV_RATE) or 0)
            if seed is None and environ.get(ENV_SEED):
                seed = int(environ[ENV_SEED])
            after = float(environ.get(ENV_AFTER_EFFECT) or 0)
        except ValueError as exc:
            raise FaultConfigError(f"bad {ENV_RATE}/{ENV_SEED}/{ENV_AFTER_EFFECT}: {exc}") from None
        kinds = tuple(k.strip() for k in (environ.get(ENV_KINDS) or "").split(",") if k.strip())
        return cls(rate=rate, seed=seed, kinds=kinds or KINDS, after_effect_share=after)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def decide(self, surface: str, user_agent: str) -> Fault | None:
        """The fault for one call on ``surface`` (``aws`` or ``kube``), or None to serve it."""
        if not self.enabled or not self.applies(user_agent or ""):
            return None
        with self._lock:
            self.calls[surface] += 1
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            if kind == "throttling":
                variant = "throttling"
            elif kind == "5xx":
                variant = self._random.choice(("internal", "unavailable"))
            else:
                variant = self._random.choice(("reset", "close"))
            after = kind == "5xx" and self._random.random() < self.after_effect_share
            self.counts[(surface, kind)] += 1
        return Fault(kind, variant, after)

    def stats(self) -> dict[str, Any]:
        """Calls seen and faults injected, by surface and kind."""
        with self._lock:
            return {
                "calls": dict(self.calls),
                "faults": {f"{surface}:{kind}": n for (surface, kind), n in self.counts.items()},
                "injected": sum(self.counts.values()),
            }


# --- AWS wire shapes ------------------------------------------------------------------------


_THROTTLING = {  # (status, code) as each protocol's services write it
    "query": (400, "Throttling"),
    "ec2": (503, "RequestLimitExceeded"),
    "json": (400, "ThrottlingException"),
    "rest-json": (429, "TooManyRequestsException"),
    "rest-xml": (503, "SlowDown"),
}
_UNAVAILABLE = {"ec2": "Unavailable", "json": "ServiceUnavailableException"}


def _aws_error(protocol: str, fault: Fault) -> tuple[int, str]:
    """(status, code) for the fault in the service's protocol."""
    if fault.variant == "throttling":
        return _THROTTLING.get(protocol, (400, "ThrottlingException"))
    if fault.variant == "internal":
        return 500, "InternalError"
    return 503, _UNAVAILABLE.get(protocol, "ServiceUnavailable")


_MESSAGES = {
    "throttling": "Rate exceeded",
    "internal": "We encountered an internal error. Please try again.",
    "unavailable": "The service is unavailable. Please try again shortly.",
}


def aws_response(protocol: str, fault: Fault) -> tuple[int, list[tuple[str, str]], bytes]:
    """An AWS error answer as the service's protocol writes it (botocore parses it to the code)."""
    status, code = _aws_error(protocol, fault)
    message = _MESSAGES[fault.variant]
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "ec2":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID>"
            "</Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif protocol == "rest-xml":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    else:  # query
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            "<ErrorResponse xmlns='https://iam.amazonaws.com/doc/2010-05-08/'><Error>"
            f"<Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


_REASONS = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}
_REASONS[503] = "Service Unavailable"


def drop_connection(sock: socket.socket | None, fault: Fault) -> None:
    """End the client's connection without an answer: both directions shut (the client reads
    end of file where the answer should be); ``reset`` also sets a zero linger, so the close
    that follows is an RST."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        if fault.variant == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)


class AwsFaults:
    """WSGI middleware in front of the account's AWS endpoint: faults for steps' requests."""

    def __init__(
        self, app: Any, injector: FaultInjector, protocol_of: Callable[[dict[str, Any]], str]
    ) -> None:
        self.app = app
        self.injector = injector
        self.protocol_of = protocol_of

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        fault = self.injector.decide("aws", environ.get("HTTP_USER_AGENT", ""))
        if fault is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:  # the request arrives whole; only then is it refused
            environ["wsgi.input"].read(length)
        if fault.kind == "connection":
            drop_connection(environ.get("werkzeug.socket"), fault)
            # werkzeug takes this as the client gone: nothing is written, nothing logged
            raise ConnectionResetError("injected fault: connection dropped")
        if fault.after_effect:  # served, its answer lost
            list(self.app(environ, lambda *args: lambda data: None))
        try:
            protocol = self.protocol_of(environ)
        except Exception:  # an unidentifiable request still gets a well-formed error
            protocol = "query"
        status, headers, body = aws_response(protocol, fault)
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]


# --- Kubernetes wire shapes -----------------------------------------------------------------


def kube_response(fault: Fault) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The API server's answer for a fault: (status, headers, Status object)."""
    if fault.variant == "throttling":
        status, reason = 429, "TooManyRequests"
        message = "Too many requests, please try again later."
        details: dict[str, Any] = {"retryAfterSeconds": KUBE_RETRY_AFTER_SECONDS}
        headers = {"Retry-After": str(KUBE_RETRY_AFTER_SECONDS)}
    elif fault.variant == "internal":
        status, reason, message, details, headers = (
            500,
            "InternalError",
            "Internal error occurred: injected fault",
            {"causes": [{"message": "injected fault"}]},
            {},
        )
    else:
        status, reason, message, details, headers = (
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            {},
            {},
        )
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": status,
    }
    return status, headers, body


def aws_protocol(environ: dict[str, Any]) -> str:
    """The protocol of the service a request signs for (botocore's service model)."""
    from eksops.local.account import _CREDENTIAL_SCOPE, _PRESIGNED_SCOPE, _boto3_service

    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or (
        _PRESIGNED_SCOPE.search(environ.get("QUERY_STRING", ""))
    )
    if scope is None:
        return "query"  # STS's unsigned federation calls
    service = _boto3_service(scope.group(1))
    return _protocol_of_service(service) if service else "query"


def _protocol_of_service(service: str) -> str:
    import botocore.session

    metadata = botocore.session.get_session().get_service_data(service)["metadata"]
    return str(metadata.get("protocol", "query"))
