"""EKS Pod Identity for a ServiceAccount: the eks-pod-identity-agent add-on (which serves pods
their credentials) and the association of the ServiceAccount with its role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.cluster_addons import FAILED, INSTALLED, describe_addon
from eksops.eks_cluster import health_issues
from eksops.errors import AddonFailedError, IrsaConflictError, NotYetConsistentError
from eksops.ownership import CREATED_BY_TAG
from eksops.polling import Poll, next_poll

AGENT_ADDON = "eks-pod-identity-agent"
AGENT_WAIT_LIMIT_SECONDS = 10 * 60


@dataclass(frozen=True)
class AgentProgress:
    status: str
    created: bool  # by this execution (or its parent)
    poll: Poll | None  # None: installed

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": AGENT_ADDON,
            "status": self.status,
            "created": self.created,
            "installed": self.poll is None,
        }
        if self.poll is not None:
            result["poll"] = self.poll.model_dump(by_alias=True)
        return result


def ensure_agent(
    eks: Any, cluster: str, tags: dict[str, str], creator: str, poll: Poll | None
) -> AgentProgress:
    """The agent add-on, created if missing (without overwriting a self-managed agent's
    settings), and whether it is installed yet; called again by the state machine's poll loop."""
    found = describe_addon(eks, cluster, AGENT_ADDON)
    if found is None:
        try:
            found = eks.create_addon(
                clusterName=cluster, addonName=AGENT_ADDON, tags=tags, resolveConflicts="NONE"
            )["addon"]
        except eks.exceptions.ResourceInUseException:  # made meanwhile
            found = describe_addon(eks, cluster, AGENT_ADDON)
        if found is None:
            raise NotYetConsistentError(f"EKS says add-on {AGENT_ADDON} exists, but not Describe")
    if found["status"] in FAILED:
        raise AddonFailedError(
            f"add-on {AGENT_ADDON} of cluster {cluster} is {found['status']}: "
            f"{health_issues(found) or 'EKS gave no cause'}"
        )
    created = (found.get("tags") or {}).get(CREATED_BY_TAG) == creator
    if found["status"] in INSTALLED:
        return AgentProgress(found["status"], created, None)
    what = f"add-on {AGENT_ADDON} of cluster {cluster}"
    return AgentProgress(found["status"], created, next_poll(poll, what, AGENT_WAIT_LIMIT_SECONDS))


def find_association(
    eks: Any, cluster: str, namespace: str, service_account: str
) -> dict[str, Any] | None:
    """The association of that ServiceAccount (EKS allows one), described in full."""
    summaries = eks.list_pod_identity_associations(
        clusterName=cluster, namespace=namespace, serviceAccount=service_account
    )["associations"]
    if not summaries:
        return None
    return eks.describe_pod_identity_association(
        clusterName=cluster, associationId=summaries[0]["associationId"]
    )["association"]


def check_association_owner(association: dict[str, Any] | None, role_arn: str | None) -> None:
    """An association an add-on made is the add-on's to change: a different role is a conflict
    (raised before anything changes)."""
    if association is None or not association.get("ownerArn"):
        return
    if role_arn is None or association["roleArn"] != role_arn:
        raise IrsaConflictError(
            f"ServiceAccount {association['namespace']}/{association['serviceAccount']} has Pod "
            f"Identity association {association['associationId']} owned by "
            f"{association['ownerArn']} (role {association['roleArn']}); change it through its "
            "owner, or bind another ServiceAccount; nothing was changed"
        )


def ensure_association(
    eks: Any,
    cluster: str,
    namespace: str,
    service_account: str,
    role_arn: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    """The ServiceAccount's association with ``role_arn``: created, adopted, or re-pointed
    (the previous role is reported, so it can be restored)."""
    found = find_association(eks, cluster, namespace, service_account)
    check_association_owner(found, role_arn)
    previous = None
    try:
        if found is None:
            found = eks.create_pod_identity_association(
                clusterName=cluster,
                namespace=namespace,
                serviceAccount=service_account,
                roleArn=role_arn,
                tags=tags,
            )["association"]
        elif found["roleArn"] != role_arn:
            previous = found["roleArn"]
            found = eks.update_pod_identity_association(
                clusterName=cluster, associationId=found["associationId"], roleArn=role_arn
            )["association"]
    except eks.exceptions.ResourceInUseException:  # made meanwhile: the retry adopts it
        raise NotYetConsistentError(
            f"another execution is binding {namespace}/{service_account} right now"
        ) from None
    except eks.exceptions.InvalidParameterException as exc:
        if "trust" not in str(exc).lower():
            raise
        # EKS checks the role's trust, which IAM may not show yet right after EnsureRole
        raise NotYetConsistentError(
            f"EKS does not see the trust of {role_arn} yet: {exc}"
        ) from None
    result = {
        "associationId": found["associationId"],
        "associationArn": found["associationArn"],
        "created": (found.get("tags") or {}).get(CREATED_BY_TAG) == tags.get(CREATED_BY_TAG),
    }
    if previous:
        result["replacedRoleArn"] = previous
    return result
