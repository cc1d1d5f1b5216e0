"""Who a request to a cluster's Kubernetes API is, once authenticated (Kubernetes' UserInfo)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    # e.g. {"arn": [...], "accessKeyId": [...]} as aws-iam-authenticator sets it
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # EKS access policies associated with the principal's access entry (cluster-wide or by
    # namespace): [(policy ARN, access scope type, namespaces)]
    access_policies: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class RequestAttributes:
    """What authorization decides on (Kubernetes' authorizer.Attributes)."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    api_group: str  # "" for the core group
    resource: str  # plural, e.g. "pods"; "" for non-resource requests
    subresource: str = ""  # e.g. "eviction", "token", "status"
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests, e.g. "/version"
