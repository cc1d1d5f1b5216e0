"""A Kubernetes API server for every EKS cluster of the offline account.

CreateCluster starts one on 127.0.0.1 with a CA of its own; the cluster's `endpoint` and
`certificateAuthority.data` name it, as EKS's do. Requests are authenticated like EKS
(`kube.authn`: the token replayed against the offline STS, then the creator, access entries and
aws-auth), authorized like EKS (`kube.authz`), and service-account tokens are signed by the
cluster's OIDC issuer (`kube.service_account_tokens`), which the offline STS trusts for IRSA.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from eksops.local import eks
from eksops.local.kube import authn, authz
from eksops.local.kube.server import KubeApiServer, SubresourceRequest
from eksops.local.kube.service_account_tokens import (
    ServiceAccountIssuer,
    TokenRequestError,
    register_issuer,
    token_request_handler,
    unregister_issuer,
)
from eksops.local.kube.store import ObjectStore

LOG = logging.getLogger(__name__)
_RBAC_RESOURCES = {
    kind: f"{kind}.rbac.authorization.k8s.io"
    for kind in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")
}
REPLAY_TIMEOUT_SECONDS = 10


def _replay(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """The presigned GetCallerIdentity, sent to the offline STS (what EKS sends to AWS's)."""
    if not url.startswith("http://127.0.0.1:"):
        return 403, b"the offline account replays tokens only to its own STS"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - checked just above
    try:
        with urllib.request.urlopen(request, timeout=REPLAY_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class ClusterApis:
    def __init__(self, sts_endpoint: str, faults: Any = None) -> None:
        self.sts_endpoint = sts_endpoint
        self.faults = faults  # a fault_injection.FaultInjector for every cluster's API server
        self._servers: dict[tuple[str, str, str], tuple[KubeApiServer, ServiceAccountIssuer]] = {}
        self._lock = threading.Lock()

    def attach(self, account_id: str, region: str, cluster: Any) -> None:
        """Serve ``cluster``'s Kubernetes API and name it on the cluster."""
        key = (account_id, region, cluster.name)
        store = ObjectStore()
        server = KubeApiServer(
            cluster.name,
            self._authenticator(account_id, region, cluster.name),
            lambda user, request: authz.authorize(user, request, self._rbac(store)),
            kubernetes_version=str(cluster.version),
            store=store,
        )
        server.faults = self.faults
        issuer = ServiceAccountIssuer(cluster.identity["oidc"]["issuer"])
        register_issuer(issuer)
        server.subresource_handlers[("serviceaccounts", "token")] = self._token_requests(issuer)
        # where the Kubernetes API server publishes its issuer's discovery documents
        server.public_documents["/.well-known/openid-configuration"] = issuer.openid_configuration
        server.public_documents["/openid/v1/jwks"] = issuer.jwks
        cluster.endpoint = server.start()
        cluster.certificate_authority = {"data": server.pki.ca_data}
        with self._lock:
            previous = self._servers.pop(key, None)
            self._servers[key] = (server, issuer)
        if previous is not None:
            self._stop(*previous)

    def server(self, account_id: str, region: str, name: str) -> KubeApiServer:
        return self._servers[(account_id, region, name)][0]

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server, issuer in servers:
            self._stop(server, issuer)

    @staticmethod
    def _stop(server: KubeApiServer, issuer: ServiceAccountIssuer) -> None:
        server.stop()
        unregister_issuer(issuer.issuer_url)

    @staticmethod
    def _rbac(store: ObjectStore) -> authz.RbacObjects:
        return lambda kind: store.list(_RBAC_RESOURCES[kind])[0]

    def _authenticator(self, account_id: str, region: str, name: str) -> Any:
        def cluster_access() -> authn.ClusterAccess:
            server = self._servers.get((account_id, region, name))
            aws_auth = None
            if server is not None:
                found = server[0].store.find("configmaps", "kube-system", "aws-auth")
                aws_auth = (found or {}).get("data")
            return authn.ClusterAccess(
                authentication_mode=eks.authentication_mode(account_id, region, name),
                creator_arn=eks.creator_arn(account_id, region, name),
                access_entries=eks.access_entries(account_id, region, name),
                aws_auth=aws_auth,
            )

        def private_dns(instance_id: str) -> str | None:
            from moto.ec2.exceptions import InvalidInstanceIdError
            from moto.ec2.models import ec2_backends

            from eksops.local.nodes import private_dns_name

            try:
                instance = ec2_backends[account_id][region].get_instance(instance_id)
            except InvalidInstanceIdError:
                return None
            return private_dns_name(instance.private_ip, region)

        return authn.authenticator(
            cluster_name=name,
            sts_endpoints=[self.sts_endpoint, *authn.AWS_STS_ORIGINS],
            fetch=_replay,
            cluster_access=cluster_access,
            instance_private_dns=private_dns,
        )

    @staticmethod
    def _token_requests(issuer: ServiceAccountIssuer) -> Any:
        handle = token_request_handler(issuer)

        def serve(request: SubresourceRequest) -> tuple[int, dict[str, Any]]:
            account = request.store.get("serviceaccounts", request.namespace, request.name)
            try:
                body = handle(
                    request.namespace, request.name, account, request.body, datetime.now(UTC)
                )
            except TokenRequestError as exc:
                return exc.code, exc.status
            return 201, body

        return serve


def install(apis: ClusterApis) -> None:
    """Give every cluster created from now on its API server (moto's CreateCluster), until
    ``uninstall()``."""
    from moto.eks.models import EKSBackend

    uninstall()
    create = EKSBackend.create_cluster

    def create_cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = create(self, *args, **kwargs)
        apis.attach(self.account_id, self.region_name, cluster)
        return cluster

    create_cluster._eksops_moto = create  # type: ignore[attr-defined]
    EKSBackend.create_cluster = create_cluster


def uninstall() -> None:
    """moto's own CreateCluster again (clusters get no API server)."""
    from moto.eks.models import EKSBackend

    EKSBackend.create_cluster = getattr(
        EKSBackend.create_cluster, "_eksops_moto", EKSBackend.create_cluster
    )
