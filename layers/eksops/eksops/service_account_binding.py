"""The Kubernetes side of a ServiceAccount's role: the ServiceAccount (created, or annotated
keeping its other annotations and labels) and, on request, a rollout restart of the Deployments
that run as it, so their pods get the credentials (the EKS webhook injects them at pod start).

Kubernetes objects are plain dicts here (the kubernetes client's ``_preload_content=False``
answers, parsed), so nothing depends on the client's model classes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eksops.models.setup_irsa import SetupIrsaInput
from eksops.oidc_provider import STS_AUDIENCE

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
REGIONAL_STS_ANNOTATION = "eks.amazonaws.com/sts-regional-endpoints"
AUDIENCE_ANNOTATION = "eks.amazonaws.com/audience"  # the token audience the webhook requests
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"  # what kubectl rollout restart sets
# on a restarted pod template: the role its pods were restarted for, so a re-run restarts a
# Deployment once per role change, not once per run
RESTARTED_FOR_ANNOTATION = "eksops/restarted-for-role"
Clock = Callable[[], datetime]


def _read(call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
    """A GET as a dict, or None on 404."""
    from kubernetes.client.exceptions import ApiException

    try:
        return json.loads(call(*args, _preload_content=False).data)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def read_service_account(core_v1: Any, namespace: str, name: str) -> dict[str, Any] | None:
    return _read(core_v1.read_namespaced_service_account, name, namespace)


def wanted_annotations(request: SetupIrsaInput, role_arn: str) -> dict[str, str | None]:
    """IRSA: the role, regional STS (the global endpoint is a single-region dependency) and a
    custom audience. Pod Identity needs none: the association binds the role."""
    if request.mode != "irsa":
        return {}
    # a custom audience is annotated (else pods get sts.amazonaws.com tokens); the default one
    # is not, and a stale custom one is removed (None deletes a key in a merge patch)
    audience = None if request.audience == STS_AUDIENCE else request.audience
    return {
        ROLE_ARN_ANNOTATION: role_arn,
        REGIONAL_STS_ANNOTATION: "true",
        AUDIENCE_ANNOTATION: audience,
    }


def _ensure_namespace(core_v1: Any, namespace: str) -> bool:
    """Whether the namespace had to be created (as eksctl does for a new ServiceAccount)."""
    from kubernetes.client.exceptions import ApiException

    if _read(core_v1.read_namespace, namespace) is not None:
        return False
    body = {"metadata": {"name": namespace, "labels": {MANAGED_BY_LABEL: "eksops"}}}
    try:
        core_v1.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:  # made meanwhile
            raise
        return False
    return True


def ensure_service_account(core_v1: Any, request: SetupIrsaInput, role_arn: str) -> dict[str, Any]:
    """The ServiceAccount with the role's annotations. Missing with createServiceAccount false:
    reported (``found: false``), not created."""
    from kubernetes.client.exceptions import ApiException

    namespace, name = request.namespace, request.service_account
    wanted = wanted_annotations(request, role_arn)
    result: dict[str, Any] = {"namespace": namespace, "name": name, "found": True}
    present = {key: value for key, value in wanted.items() if value is not None}
    account = read_service_account(core_v1, namespace, name)
    if account is None and not request.create_service_account:
        return result | {
            "found": False,
            "created": False,
            "reason": f"ServiceAccount {namespace}/{name} does not exist and "
            "createServiceAccount is false: create it, then run again",
        }
    if account is None:
        result["namespaceCreated"] = _ensure_namespace(core_v1, namespace)
        body = {
            "metadata": {
                "name": name,
                "annotations": present,
                "labels": {MANAGED_BY_LABEL: "eksops"},
            }
        }
        try:
            core_v1.create_namespaced_service_account(namespace, body)
            return result | {"created": True, "annotated": sorted(present)}
        except ApiException as exc:
            if exc.status != 409:
                raise
        account = read_service_account(core_v1, namespace, name)  # made meanwhile
        assert account is not None, "create said it exists, read says it does not"
    annotations = account["metadata"].get("annotations") or {}
    changes = {key: value for key, value in wanted.items() if annotations.get(key) != value}
    if changes:
        # a merge patch of these keys alone: other annotations and labels stay as they are
        core_v1.patch_namespaced_service_account(
            name, namespace, {"metadata": {"annotations": changes}}
        )
    result |= {"created": False, "annotated": sorted(changes)}
    previous = annotations.get(ROLE_ARN_ANNOTATION)
    if request.mode == "irsa" and previous and previous != role_arn:
        result["replacedRoleArn"] = previous  # reported, so the binding can be put back
    elif request.mode == "pod-identity" and previous:
        result["warning"] = (
            f"the ServiceAccount also has {ROLE_ARN_ANNOTATION}={previous}, and AWS SDKs prefer "
            "IRSA credentials to Pod Identity ones: remove the annotation for the association "
            "to take effect"
        )
    return result


def _uses(deployment: dict[str, Any], service_account: str) -> bool:
    spec = deployment["spec"]["template"].get("spec") or {}
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return name == service_account


def restart_workloads(
    apps_v1: Any, request: SetupIrsaInput, role_arn: str, now: Clock
) -> dict[str, Any]:
    """Rollout-restart (as ``kubectl rollout restart``) each Deployment of the namespace that
    runs as the ServiceAccount and was not restarted for this role yet."""
    listed = json.loads(
        apps_v1.list_namespaced_deployment(request.namespace, _preload_content=False).data
    )
    restarted, current = [], []
    for deployment in listed["items"]:
        if not _uses(deployment, request.service_account):
            continue
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"].get("metadata") or {}
        if (template.get("annotations") or {}).get(RESTARTED_FOR_ANNOTATION) == role_arn:
            current.append(name)
            continue
        stamp = now().isoformat(timespec="seconds")
        patch = {
            "spec": {
                "template": {
                    "metadata": {
                        "annotations": {
                            RESTARTED_AT_ANNOTATION: stamp,
                            RESTARTED_FOR_ANNOTATION: role_arn,
                        }
                    }
                }
            }
        }
        apps_v1.patch_namespaced_deployment(name, request.namespace, patch)
        restarted.append(name)
    return {"restarted": restarted, "alreadyRestarted": current}
