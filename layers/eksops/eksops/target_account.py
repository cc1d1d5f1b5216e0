"""Clients for the account a workflow acts on: the ops account itself, or a target account
through ``targetRoleArn`` (hub and spoke). Every step opens its clients here."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eksops.aws_config import StsTarget, resolve_credentials
from eksops.aws_session import RETRIES, boto3_session
from eksops.errors import ClusterAccessDeniedError
from eksops.sigv4 import Credentials

if TYPE_CHECKING:
    import boto3

SESSION_NAME = "eksops"


@dataclass
class TargetAccount:
    credentials: Credentials = field(repr=False)
    sts: StsTarget
    role_arn: str | None = None
    external_id: str | None = field(default=None, repr=False)
    _session: boto3.session.Session | None = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return self.sts.region

    @property
    def partition(self) -> str:
        return self._boto3().get_partition_for_region(self.region)

    def _boto3(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3_session(self.credentials, self.region)
        return self._session

    def client(self, service: str) -> Any:
        """One client per service (botocore clients are thread-safe). Throttling and transient
        errors are retried by botocore (``RETRIES``); what remains fails the step, and the state
        machine's Retry or Catch takes over."""
        if service not in self._clients:
            from botocore.config import Config

            self._clients[service] = self._boto3().client(service, config=Config(retries=RETRIES))
        return self._clients[service]

    @contextmanager
    def kubernetes_access(self, cluster_name: str) -> Iterator[None]:
        """Kubernetes' 401/403 for this identity as ClusterAccessDenied, saying how to grant it."""
        from kubernetes.client.exceptions import ApiException

        try:
            yield
        except ApiException as exc:
            if exc.status not in (401, 403):
                raise
            caller = self.client("sts").get_caller_identity()["Arn"]
            raise ClusterAccessDeniedError(
                f"the Kubernetes API of {cluster_name} refused {caller} ({exc.status} "
                f"{exc.reason}); eksops's steps need cluster-admin there: clusters eksops created "
                "have it (their creator), for others give that role an access entry with "
                "AmazonEKSClusterAdminPolicy, or a system:masters aws-auth mapping"
            ) from None

    def api_client(self, cluster_name: str, environ: Mapping[str, str] = os.environ) -> Any:
        """A Kubernetes ApiClient of the cluster, as this identity (tokens minted as needed)."""
        from eksops.eks_token import TokenRequest
        from eksops.kubernetes_session import KubernetesSession

        request = TokenRequest(
            cluster_name, region=self.region, role_arn=self.role_arn, external_id=self.external_id
        )
        session = KubernetesSession.for_cluster(request, environ, eks_client=self.client("eks"))
        return session.api_client()

    def core_v1(self, cluster_name: str, environ: Mapping[str, str] = os.environ) -> Any:
        """The cluster's Kubernetes core/v1 API."""
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api_client(cluster_name, environ))


def open_target(
    region: str | None,
    role_arn: str | None = None,
    external_id: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> TargetAccount:
    """This account, or ``role_arn``'s after assuming it (with ``external_id`` when its trust
    requires one), in ``region`` (default: AWS_REGION)."""
    credentials, sts = resolve_credentials(
        region, role_arn, environ, session_name=SESSION_NAME, external_id=external_id
    )
    return TargetAccount(credentials, sts, role_arn, external_id)


# What steps open their target with (tests pass their own): region, role ARN, external ID.
Opener = Callable[[str | None, str | None, str | None], TargetAccount]
