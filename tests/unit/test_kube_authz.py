"""Authorization as EKS decides it: system:masters, access policies with scopes, RBAC."""

from __future__ import annotations

import pytest
from eksops.local.kube.authz import authorize, forbidden_message
from eksops.local.kube.identity import RequestAttributes, UserInfo

POLICY = "arn:aws:eks::aws:cluster-access-policy/"


def rbac(**objects):
    return lambda kind: objects.get(kind, [])


def attrs(verb, resource, namespace="", group="", subresource="", name="", path=""):
    return RequestAttributes(verb, group, resource, subresource, namespace, name, path)


NOTHING = rbac()
CREATE_POD = attrs("create", "pods", "team")
LIST_PODS = attrs("list", "pods", "team")


def test_masters_may_do_anything() -> None:
    admin = UserInfo("kubernetes-admin", ("system:masters",))
    assert authorize(admin, attrs("delete", "nodes", name="n1"), NOTHING)
    assert authorize(admin, attrs("get", "", path="/metrics"), NOTHING)


def test_unbound_user_may_only_discover_and_ask() -> None:
    nobody = UserInfo("arn:aws:iam::111122223333:user/nobody")
    assert not authorize(nobody, LIST_PODS, NOTHING)
    assert authorize(nobody, attrs("get", "", path="/version"), NOTHING)
    assert authorize(nobody, attrs("get", "", path="/apis/apps/v1"), NOTHING)
    review = attrs("create", "selfsubjectaccessreviews", group="authorization.k8s.io")
    assert authorize(nobody, review, NOTHING)


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        ("AmazonEKSViewPolicy", {("list", "pods")}),
        ("AmazonEKSEditPolicy", {("list", "pods"), ("create", "pods"), ("get", "secrets")}),
        (
            "AmazonEKSAdminPolicy",
            {("list", "pods"), ("create", "pods"), ("get", "secrets"), ("create", "roles")},
        ),
    ],
)
def test_access_policies_act_like_the_user_facing_roles(policy, allowed) -> None:
    user = UserInfo("dev", access_policies=((POLICY + policy, "cluster", ()),))
    for verb, resource in [
        ("list", "pods"),
        ("create", "pods"),
        ("get", "secrets"),
        ("create", "roles"),
    ]:
        group = "rbac.authorization.k8s.io" if resource == "roles" else ""
        request = attrs(verb, resource, "team", group=group)
        assert authorize(user, request, NOTHING) == ((verb, resource) in allowed), (verb, resource)


def test_namespace_scoped_access_policy_stops_at_its_namespaces() -> None:
    user = UserInfo(
        "dev", access_policies=((POLICY + "AmazonEKSEditPolicy", "namespace", ("team",)),)
    )
    assert authorize(user, CREATE_POD, NOTHING)
    assert not authorize(user, attrs("create", "pods", "other"), NOTHING)
    assert not authorize(user, attrs("list", "nodes"), NOTHING)


def test_cluster_admin_policy_reaches_cluster_scoped_resources() -> None:
    user = UserInfo(
        "ops", access_policies=((POLICY + "AmazonEKSClusterAdminPolicy", "cluster", ()),)
    )
    assert authorize(user, attrs("delete", "nodes", name="n1"), NOTHING)
    assert authorize(
        user, attrs("create", "clusterroles", group="rbac.authorization.k8s.io"), NOTHING
    )


def test_view_cannot_read_secrets_or_evict() -> None:
    viewer = UserInfo("v", access_policies=((POLICY + "AmazonEKSViewPolicy", "cluster", ()),))
    assert not authorize(viewer, attrs("get", "secrets", "team"), NOTHING)
    assert not authorize(viewer, attrs("create", "pods", "team", subresource="eviction"), NOTHING)
    assert authorize(viewer, attrs("get", "pods", "team", subresource="log"), NOTHING)


def test_cluster_role_binding_to_a_group() -> None:
    objects = rbac(
        clusterrolebindings=[
            {
                "metadata": {"name": "ops-admin"},
                "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "Group", "name": "ops"}],
            }
        ]
    )
    assert authorize(UserInfo("alice", ("ops",)), attrs("delete", "nodes"), objects)
    assert not authorize(UserInfo("bob", ("dev",)), attrs("delete", "nodes"), objects)


def test_role_binding_grants_a_user_defined_role_in_its_namespace_only() -> None:
    objects = rbac(
        roles=[
            {
                "metadata": {"name": "cm-writer", "namespace": "team"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "verbs": ["get", "update"],
                        "resourceNames": ["settings"],
                    }
                ],
            }
        ],
        rolebindings=[
            {
                "metadata": {"name": "b", "namespace": "team"},
                "roleRef": {"kind": "Role", "name": "cm-writer"},
                "subjects": [{"kind": "User", "name": "carol"}],
            }
        ],
    )
    carol = UserInfo("carol")
    assert authorize(carol, attrs("update", "configmaps", "team", name="settings"), objects)
    assert not authorize(carol, attrs("update", "configmaps", "team", name="other"), objects)
    assert not authorize(carol, attrs("update", "configmaps", "prod", name="settings"), objects)
    assert not authorize(carol, attrs("delete", "configmaps", "team", name="settings"), objects)


def test_role_binding_to_builtin_cluster_role_and_service_accounts() -> None:
    objects = rbac(
        rolebindings=[
            {
                "metadata": {"name": "b", "namespace": "team"},
                "roleRef": {"kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer"}],
            }
        ]
    )
    sa = UserInfo("system:serviceaccount:team:deployer", ("system:serviceaccounts",))
    assert authorize(sa, CREATE_POD, objects)
    assert not authorize(sa, attrs("create", "pods", "other"), objects)
    assert not authorize(UserInfo("system:serviceaccount:other:deployer"), CREATE_POD, objects)


def test_binding_to_a_missing_role_grants_nothing() -> None:
    objects = rbac(
        clusterrolebindings=[
            {
                "metadata": {"name": "x"},
                "roleRef": {"kind": "ClusterRole", "name": "does-not-exist"},
                "subjects": [{"kind": "User", "name": "dave"}],
            }
        ]
    )
    assert not authorize(UserInfo("dave"), LIST_PODS, objects)


def test_nodes_group_may_register_nodes() -> None:
    node = UserInfo(
        "system:node:ip-10-0-1-5.ec2.internal", ("system:bootstrappers", "system:nodes")
    )
    assert authorize(node, attrs("create", "nodes"), NOTHING)
    assert not authorize(node, attrs("create", "secrets", "default"), NOTHING)


def test_forbidden_message_is_kubernetes_wording() -> None:
    message = forbidden_message(UserInfo("dev"), attrs("create", "namespaces"))
    assert message == (
        'namespaces is forbidden: User "dev" cannot create resource "namespaces" in API group ""'
        " at the cluster scope"
    )
    message = forbidden_message(UserInfo("dev"), attrs("get", "secrets", "team", name="db"))
    assert message.startswith('secrets "db" is forbidden: User "dev" cannot get resource')
    assert message.endswith('in the namespace "team"')
