"""A `kubernetes` ApiClient for one EKS cluster, from DescribeCluster and an EKS token.

Lambda steps that talk to Kubernetes (drain, aws-auth merge, ServiceAccounts) have no
kubeconfig and may run longer than a token lives (14 minutes), so the client is built here:
host and CA from DescribeCluster, and a bearer token that ``refresh_api_key_hook`` re-mints
shortly before it expires. The `kubernetes` client only takes a CA *file*, so the PEM is
written to a private temp file that lives until ``close()``.

Transient failures are retried here, bounded and by error (``retry_delay``): a 429 (API
Priority and Fairness refused the request before handling it) for any request, honouring
``Retry-After``, but not an eviction a PodDisruptionBudget refused (the caller decides);
500/502/503/504, a dropped connection or a read timeout only for requests that may safely be
sent twice (GET, HEAD, PUT, DELETE, and PATCHes in merge or strategic-merge form, which give the
same result applied twice); a connection that could not be opened (nothing was sent) for any
request. What is still failing after ``RETRY_ATTEMPTS``, or may not be retried, is raised as
``KubernetesUnavailableError`` (``eksops.KubernetesUnavailable``): the steps are idempotent, so
the state machines retry the whole step.
"""

from __future__ import annotations

import base64
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from eksops.aws_session import boto3_session
from eksops.eks_cluster import ClusterEndpoint, describe_endpoint
from eksops.eks_token import Clock, EksToken, TokenRequest, get_token, resolve_signer, utc_now
from eksops.errors import KubernetesUnavailableError

if TYPE_CHECKING:
    from types import TracebackType

    from kubernetes.client import ApiClient, Configuration

DEFAULT_REFRESH_MARGIN = timedelta(seconds=60)
_AUTH_KEY = "authorization"  # the key kubernetes' Configuration.auth_settings reads
RETRY_ATTEMPTS = 6  # attempts per request, the first included
RETRY_AFTER_CAP = 10.0  # seconds: a longer Retry-After is cut to this
BACKOFF_BASE = 0.1  # seconds, doubled per attempt, full jitter
BACKOFF_CAP = 3.0
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_IDEMPOTENT_PATCHES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
Sleep = Callable[[float], None]


def _idempotent(method: str, headers: Mapping[str, str] | None) -> bool:
    if method in _IDEMPOTENT_METHODS:
        return True
    content_type = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    return method == "PATCH" and content_type.startswith(_IDEMPOTENT_PATCHES)


def _budget_refusal(exc: Any) -> bool:
    """An eviction a PodDisruptionBudget refused (429 whose causes name DisruptionBudget)."""
    try:
        import json

        causes = (json.loads(exc.body or "{}").get("details") or {}).get("causes") or []
    except (ValueError, AttributeError):
        return False
    return any(cause.get("reason") == "DisruptionBudget" for cause in causes)


def _retry_after(exc: Any) -> float | None:
    value = (exc.headers or {}).get("Retry-After") if getattr(exc, "headers", None) else None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP) if value is not None else None
    except ValueError:
        return None


def transient(method: str, headers: Mapping[str, str] | None, exc: BaseException) -> str | None:
    """Why ``exc`` is a transient failure of this request, or None when it is not one."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        if exc.status == 429 and not _budget_refusal(exc):
            return "throttled"
        return "server error" if exc.status in _TRANSIENT_STATUSES - {429} else None
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # urllib3 gives up at once (retries=0): what happened
    if isinstance(exc, urllib3.exceptions.SSLError):
        return None  # a certificate that does not verify is not going to
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError too
        return "no connection"
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return "connection error"
    return None


def retry_delay(
    method: str,
    headers: Mapping[str, str] | None,
    exc: BaseException,
    attempt: int,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before sending the request again after ``attempt`` (1-based) failed
    with ``exc``, or None when it must not be sent again."""
    why = transient(method, headers, exc)
    if why is None or attempt >= RETRY_ATTEMPTS:
        return None
    if why not in ("throttled", "no connection") and not _idempotent(method, headers):
        return None  # it may have taken effect: sending it again is the caller's call
    after = _retry_after(exc)
    backoff = rand() * min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_CAP)
    return max(after, backoff) if after is not None else backoff


def _retrying_api_client(configuration: Configuration, sleep: Sleep) -> ApiClient:
    from kubernetes import client

    class RetryingApiClient(client.ApiClient):
        sleep: Sleep  # how it waits between attempts

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            headers = kwargs.get("headers")
            attempt = 1
            while True:
                try:
                    return super().request(method, url, *args, **kwargs)
                except Exception as exc:
                    delay = retry_delay(method, headers, exc, attempt)
                    if delay is None:
                        why = transient(method, headers, exc)
                        if why is None:
                            raise
                        status = getattr(exc, "status", None)
                        answer = f"{status} {getattr(exc, 'reason', '')}" if status else why
                        raise KubernetesUnavailableError(
                            f"the Kubernetes API at {configuration.host} failed {method} "
                            f"{url.removeprefix(configuration.host)[:200]} ({answer}) "
                            f"after {attempt} attempt(s); retry the step"
                        ) from None
                    self.sleep(delay)
                    attempt += 1

    api = RetryingApiClient(configuration)
    api.sleep = sleep
    execution_env = os.environ.get("AWS_EXECUTION_ENV")
    api.user_agent = f"eksops {api.user_agent}" + (
        f" exec-env/{execution_env}" if execution_env else ""
    )
    return api


class KubernetesSession:
    def __init__(
        self,
        cluster: ClusterEndpoint,
        token_source: Callable[[], EksToken],
        clock: Clock = utc_now,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.cluster = cluster
        self._sleep = sleep
        self._token_source = token_source
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._token: EksToken | None = None
        self._ca_path: Path | None = None
        self._lock = threading.Lock()  # ApiClient may call the hook from its thread pool

    @classmethod
    def for_cluster(
        cls,
        request: TokenRequest,
        environ: Mapping[str, str] = os.environ,
        clock: Clock = utc_now,
        eks_client: Any = None,
    ) -> KubernetesSession:
        """DescribeCluster as the resolved signer; tokens minted afresh (re-assuming any role)."""
        if eks_client is None:
            credentials, target = resolve_signer(request, environ)
            eks_client = boto3_session(credentials, target.region).client("eks")
        cluster = describe_endpoint(eks_client, request.cluster_name)
        return cls(cluster, lambda: get_token(request, environ, clock), clock)

    def __repr__(self) -> str:
        return f"KubernetesSession(cluster={self.cluster.name!r}, host={self.cluster.endpoint!r})"

    def token(self) -> str:
        """The current bearer token, re-minted once the clock reaches expiry minus the margin."""
        with self._lock:
            if self._token is None or self._clock() >= (
                self._token.expiration - self._refresh_margin
            ):
                self._token = self._token_source()
            return self._token.token

    def api_client(self) -> ApiClient:
        from kubernetes import client

        config = client.Configuration(host=self.cluster.endpoint)
        config.verify_ssl = True
        config.ssl_ca_cert = str(self._ca_file())
        config.api_key = {_AUTH_KEY: self.token()}
        config.api_key_prefix = {_AUTH_KEY: "Bearer"}
        config.refresh_api_key_hook = self._refresh
        config.retries = 0  # urllib3 gives up at once; retried in the ApiClient, by error
        return _retrying_api_client(config, self._sleep)

    def close(self) -> None:
        """Remove the CA file; clients from this session cannot open new connections after."""
        with self._lock:
            if self._ca_path is not None:
                self._ca_path.unlink(missing_ok=True)
                self._ca_path = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _refresh(self, config: Configuration) -> None:
        config.api_key[_AUTH_KEY] = self.token()

    def _ca_file(self) -> Path:
        with self._lock:
            if self._ca_path is None:
                pem = base64.b64decode(self.cluster.certificate_authority_data, validate=True)
                fd, name = tempfile.mkstemp(prefix="eksops-ca-", suffix=".pem")  # mode 0600
                with os.fdopen(fd, "wb") as file:
                    file.write(pem)
                self._ca_path = Path(name)
            return self._ca_path
