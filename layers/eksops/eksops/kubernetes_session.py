"""A `kubernetes` ApiClient for one EKS cluster, from DescribeCluster and an EKS token.

Lambda steps that talk to Kubernetes (drain, aws-auth merge, ServiceAccounts) have no
kubeconfig and may run longer than a token lives (14 minutes), so the client is built here:
host and CA from DescribeCluster, and a bearer token that ``refresh_api_key_hook`` re-mints
shortly before it expires. The `kubernetes` client only takes a CA *file*, so the PEM is
written to a private temp file that lives until ``close()``.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from eksops.aws_session import boto3_session
from eksops.eks_cluster import ClusterEndpoint, describe_endpoint
from eksops.eks_token import Clock, EksToken, TokenRequest, get_token, resolve_signer, utc_now

if TYPE_CHECKING:
    from types import TracebackType

    from kubernetes.client import ApiClient, Configuration

DEFAULT_REFRESH_MARGIN = timedelta(seconds=60)
_AUTH_KEY = "authorization"  # the key kubernetes' Configuration.auth_settings reads


class KubernetesSession:
    def __init__(
        self,
        cluster: ClusterEndpoint,
        token_source: Callable[[], EksToken],
        clock: Clock = utc_now,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self.cluster = cluster
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
        return client.ApiClient(config)

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
