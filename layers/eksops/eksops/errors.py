"""Named errors.

Each error's ``error_name`` (for example ``eksops.InvalidInput``) is what operators see: the
Lambda runtime reports ``type(exc).__name__`` as ``errorType``, which Step Functions matches in
``Retry``/``Catch``, so the class ``__name__`` is set to it. Callers branch on the type, never on
message text.
"""

from __future__ import annotations


class EksopsError(Exception):
    """Base of every error eksops raises on purpose."""

    error_name = "eksops.Error"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.__name__ = cls.error_name


class InvalidInputError(EksopsError):
    """The input cannot be acted on; nothing was changed."""

    error_name = "eksops.InvalidInput"


class CredentialsError(EksopsError):
    """No usable AWS credentials (missing, or expiring too soon to sign a token)."""

    error_name = "eksops.Credentials"


class ClusterNotFoundError(EksopsError):
    """The EKS cluster does not exist in that account and region."""

    error_name = "eksops.ClusterNotFound"


class KubeconfigError(EksopsError):
    """A kubeconfig file cannot be read or merged safely."""

    error_name = "eksops.Kubeconfig"


class ClusterNotReadyError(EksopsError):
    """The cluster exists but has no API endpoint yet (not ACTIVE)."""

    error_name = "eksops.ClusterNotReady"


class ClusterConflictError(EksopsError):
    """Something eksops would create already exists but differs from the request; nothing was
    changed. The message lists every difference."""

    error_name = "eksops.ClusterConflict"


class ClusterFailedError(EksopsError):
    """The cluster (or one of its add-ons) ended in a failed state; the message has EKS's cause."""

    error_name = "eksops.ClusterFailed"


class WaitTimeoutError(EksopsError):
    """A resource did not reach the awaited state in the time allowed."""

    error_name = "eksops.WaitTimeout"


class AddonFailedError(EksopsError):
    """An EKS add-on could not be created; the message has EKS's health issues."""

    error_name = "eksops.AddonFailed"


class NodegroupConflictError(EksopsError):
    """A node group of that name exists but differs from the request; nothing was changed. The
    message lists every difference."""

    error_name = "eksops.NodegroupConflict"


class NodegroupFailedError(EksopsError):
    """A managed node group ended CREATE_FAILED or DEGRADED; the message has EKS's health issue
    codes, the instances concerned and a hint per code."""

    error_name = "eksops.NodegroupFailed"


class NodesNotJoinedError(EksopsError):
    """Nodes did not become Ready in the time allowed; the message lists the instances that did
    not join and the likely cause."""

    error_name = "eksops.NodesNotJoined"


class ClusterAccessDeniedError(EksopsError):
    """The cluster's Kubernetes API refused eksops's identity (401/403): it is not mapped, or may
    not do what the step needs. The message names the identity and how to grant access."""

    error_name = "eksops.ClusterAccessDenied"


class IrsaConflictError(EksopsError):
    """What the ServiceAccount binding needs conflicts with what exists (a role whose trust
    cannot take the statement, an association an add-on owns); nothing was changed."""

    error_name = "eksops.IrsaConflict"


class NotYetConsistentError(EksopsError):
    """AWS has not caught up with a change made moments ago (IAM and EKS are eventually
    consistent: a role just created or trusted, a resource another execution just made). The
    state machines retry it; nothing was left half-done."""

    error_name = "eksops.NotYetConsistent"


class BlastRadiusExceededError(EksopsError):
    """A remediation would remove more than its limits allow (maxRulesPerGroup,
    maxRulesPerRun); nothing was recorded or removed. The message carries the plan."""

    error_name = "eksops.BlastRadiusExceeded"


class RestoreConflictError(EksopsError):
    """A rule to restore clashes with one the group has now (same source and ports, other
    description or tags); it was left as it is."""

    error_name = "eksops.RestoreConflict"


class KubernetesUnavailableError(EksopsError):
    """The cluster's Kubernetes API kept failing with throttling, server errors or dropped
    connections (or failed so for a request that may not be sent twice). Transient: the state
    machines retry the step, which is idempotent."""

    error_name = "eksops.KubernetesUnavailable"


class AccountBusyError(EksopsError):
    """The target account runs as many eksops remediations as MaxRunsPerAccount allows.
    Transient: the state machines retry the step until a slot frees."""

    error_name = "eksops.AccountBusy"
