"""Authorization as an EKS cluster decides it: RBAC, plus EKS access policies.

A request is allowed when any source allows it (Kubernetes' union of authorizers):
- the group ``system:masters`` (what aws-auth mappings and the bootstrap creator get);
- EKS access policies associated with the caller's access entry, each acting like the Kubernetes
  user-facing cluster role it resembles (EKS documents them as "similar to" those roles),
  cluster-wide or only in the namespaces of its access scope;
- RBAC: ClusterRoleBindings and RoleBindings whose subjects match the user or one of its groups,
  granting the rules of the Role or ClusterRole they reference, with the built-in cluster roles
  (cluster-admin, admin, edit, view, and the defaults every authenticated user has) present as
  Kubernetes bootstraps them.

Nothing is ever denied explicitly: RBAC has no deny rules, and neither do access policies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from eksops.local.kube.identity import RequestAttributes, UserInfo

Rule = Mapping[str, Any]
# kind ("clusterroles", "clusterrolebindings", "roles", "rolebindings") -> objects as JSON
RbacObjects = Callable[[str], Iterable[Mapping[str, Any]]]

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_VIEW_CORE = [
    "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
    "pods/log", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
    "replicationcontrollers/status", "serviceaccounts", "services", "services/status", "bindings",
    "events", "limitranges", "resourcequotas", "resourcequotas/status", "namespaces",
    "namespaces/status",
]  # fmt: skip
_VIEW_GROUPS = {
    "apps": ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets",
             "daemonsets/status", "deployments/scale", "deployments/status", "replicasets/scale",
             "replicasets/status", "statefulsets/scale", "statefulsets/status"],
    "batch": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
    "autoscaling": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
    "policy": ["poddisruptionbudgets", "poddisruptionbudgets/status"],
    "networking.k8s.io": ["ingresses", "ingresses/status", "networkpolicies"],
    "discovery.k8s.io": ["endpointslices"],
}  # fmt: skip
_DISCOVERY_PATHS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi",
    "/openapi/*", "/version", "/version/",
]  # fmt: skip
_DISCOVERY_PATHS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi",
    "/openapi/*", "/version", "/version/",
]  # fmt: skip
_EDIT_CORE = [
    "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps",
    "endpoints", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale",
    "secrets", "serviceaccounts", "services", "services/proxy",
]  # fmt: skip
# what edit (and admin) may write outside the core group: the workloads and their scale, never
# the status controllers write (system:aggregate-to-edit; EKS's Edit and Admin policies alike)
_EDIT_GROUPS = {
    "apps": ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
             "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"],
    "batch": ["cronjobs", "jobs"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "networking.k8s.io": ["ingresses", "networkpolicies"],
}  # fmt: skip


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _view() -> list[dict[str, Any]]:
    return [_rule([""], _VIEW_CORE, READ)] + [
        _rule([group], resources, READ) for group, resources in _VIEW_GROUPS.items()
    ]


def _edit() -> list[dict[str, Any]]:
    return [
        *_view(),
        _rule([""], ["secrets"], READ),
        _rule([""], _EDIT_CORE, WRITE),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["serviceaccounts/token", "pods/eviction"], ["create"]),
        *[_rule([group], resources, WRITE) for group, resources in _EDIT_GROUPS.items()],
    ]


BUILTIN_CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [
        _rule(["*"], ["*"], ["*"]),
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ],
    "admin": [
        *_edit(),
        _rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], [*READ, *WRITE]),
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    ],
    "edit": _edit(),
    "view": _view(),
    # AmazonEKSAdminViewPolicy: list and view every resource, Secrets included (no user-facing
    # role is similar; EKS documents it so)
    "eks:admin-view": [_rule(["*"], ["*"], READ)],
    # what every authenticated user may do (system:basic-user, system:discovery,
    # system:public-info-viewer)
    "system:basic-user": [
        _rule(
            ["authorization.k8s.io"],
            ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ["create"],
        ),
        _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ],
    "system:discovery": [{"nonResourceURLs": _DISCOVERY_PATHS, "verbs": ["get"]}],
    # what the EKS node role needs to register and run nodes (via system:nodes)
    "system:node": [
        _rule([""], ["nodes", "nodes/status"], [*READ, "create", "patch", "update"]),
        _rule([""], ["pods", "services", "endpoints", "configmaps", "secrets"], READ),
        _rule([""], ["pods/status"], ["patch", "update"]),
        _rule([""], ["events"], ["create", "patch", "update"]),
    ],
}
BUILTIN_BINDINGS: list[tuple[str, str]] = [  # (group, cluster role) bound cluster-wide
    ("system:masters", "cluster-admin"),
    ("system:authenticated", "system:basic-user"),
    ("system:authenticated", "system:discovery"),
    ("system:nodes", "system:node"),
]
# EKS access policies and the user-facing cluster role each is "similar to"
ACCESS_POLICY_ROLES = {
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy": "cluster-admin",
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy": "admin",
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy": "edit",
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy": "view",
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy": "eks:admin-view",
}


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(value in ("*", wanted) for value in values)


def _resource_allowed(rule: Rule, request: RequestAttributes) -> bool:
    resource = request.resource
    if request.subresource:
        resource = f"{resource}/{request.subresource}"
    resources = rule.get("resources") or []
    names = rule.get("resourceNames") or []
    return (
        _matches(rule.get("apiGroups") or [], request.api_group)
        and (
            _matches(resources, resource)
            or (f"{request.resource}/*" in resources and bool(request.subresource))
        )
        and _matches(rule.get("verbs") or [], request.verb)
        and (not names or request.name in names)
    )


def _path_allowed(rule: Rule, request: RequestAttributes) -> bool:
    for pattern in rule.get("nonResourceURLs") or []:
        if pattern == "*" or pattern == request.path:
            return _matches(rule.get("verbs") or [], request.verb)
        if pattern.endswith("*") and request.path.startswith(pattern[:-1]):
            return _matches(rule.get("verbs") or [], request.verb)
    return False


def rules_allow(rules: Iterable[Rule], request: RequestAttributes) -> bool:
    allowed = _resource_allowed if request.resource else _path_allowed
    return any(allowed(rule, request) for rule in rules)


def _subject_matches(subject: Mapping[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.username
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.username == f"system:serviceaccount:{namespace}:{name}"
    return False


def _role_rules(kind: str, name: str, namespace: str, rbac: RbacObjects) -> list[Rule]:
    if kind == "ClusterRole":
        if name in BUILTIN_CLUSTER_ROLES:
            return list(BUILTIN_CLUSTER_ROLES[name])
        collection = rbac("clusterroles")
    else:
        collection = (
            role for role in rbac("roles") if role["metadata"].get("namespace") == namespace
        )
    for role in collection:
        if role["metadata"]["name"] == name:
            return list(role.get("rules") or [])
    return []  # a binding to a missing role grants nothing, as in Kubernetes


def _rbac_allows(user: UserInfo, request: RequestAttributes, rbac: RbacObjects) -> bool:
    for group, role in BUILTIN_BINDINGS:
        if group in user.groups and rules_allow(BUILTIN_CLUSTER_ROLES[role], request):
            return True
    for binding in rbac("clusterrolebindings"):
        ref = binding["roleRef"]
        subjects = binding.get("subjects") or []
        if any(_subject_matches(s, user, "") for s in subjects) and rules_allow(
            _role_rules(ref["kind"], ref["name"], "", rbac), request
        ):
            return True
    if not request.namespace:
        return False
    for binding in rbac("rolebindings"):
        namespace = binding["metadata"].get("namespace", "")
        if namespace != request.namespace:
            continue
        ref = binding["roleRef"]
        subjects = binding.get("subjects") or []
        if any(_subject_matches(s, user, namespace) for s in subjects) and rules_allow(
            _role_rules(ref["kind"], ref["name"], namespace, rbac), request
        ):
            return True
    return False


def _access_policies_allow(user: UserInfo, request: RequestAttributes) -> bool:
    for policy_arn, scope, namespaces in user.access_policies:
        role = ACCESS_POLICY_ROLES.get(policy_arn)
        if role is None:
            continue
        in_scope = scope == "cluster" or (request.namespace and request.namespace in namespaces)
        if in_scope and rules_allow(BUILTIN_CLUSTER_ROLES[role], request):
            return True
    return False


def authorize(user: UserInfo, request: RequestAttributes, rbac: RbacObjects) -> bool:
    """Whether ``user`` may make ``request`` (an authenticated user: ``system:authenticated``
    is implied, as the API server adds it)."""
    if "system:authenticated" not in user.groups:
        user = UserInfo(
            user.username,
            (*user.groups, "system:authenticated"),
            user.uid,
            user.extra,
            user.access_policies,
        )
    return (
        "system:masters" in user.groups
        or _access_policies_allow(user, request)
        or _rbac_allows(user, request, rbac)
    )


def forbidden_message(user: UserInfo, request: RequestAttributes) -> str:
    """Kubernetes' wording of a 403, which kubectl shows as is."""
    if not request.resource:
        return f'forbidden: User "{user.username}" cannot {request.verb} path "{request.path}"'
    resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
    subject = f'{resource} "{request.name}"' if request.name else resource
    where = (
        f' in the namespace "{request.namespace}"' if request.namespace else " at the cluster scope"
    )
    return (
        f'{subject} is forbidden: User "{user.username}" cannot {request.verb} resource '
        f'"{resource}" in API group "{request.api_group}"{where}'
    )
