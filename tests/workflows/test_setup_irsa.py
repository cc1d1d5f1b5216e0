"""SetupIrsaStateMachine on the offline account: the real ASL in moto's interpreter, the real
handlers in Lambda workers, and the offline STS checking the ServiceAccount tokens the cluster
issues (signature, issuer, audience, expiry and the role's trust conditions). The cluster is made
by CreateClusterStateMachine (which also makes its OIDC provider); every test binds
ServiceAccounts of its own names, so the tests do not depend on their order."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eksops.irsa_trust import POD_IDENTITY_SERVICE
from eksops.local.account import ACCOUNT_ID, ApiCall, OfflineAccount
from eksops.local.lambda_runtime import INJECTED_FAULT
from eksops.ownership import CREATED_BY_TAG
from eksops.service_account_binding import RESTARTED_AT_ANNOTATION, ROLE_ARN_ANNOTATION
from eksops.service_role import policy_document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lifecycle import Execution, create, invoke_step, run, vpc_subnets

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CLUSTER = "irsa"
MACHINE = "SetupIrsaStateMachine"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
# The Lambda Task states of SetupIrsaStateMachine and the template function each invokes.
TASK_FUNCTIONS = {
    "ValidateInput": "ValidateIrsaInputFunction",
    "EnsureOidcProvider": "EnsureIrsaOidcProviderFunction",
    "EnsurePodIdentityAgent": "EnsurePodIdentityAgentFunction",
    "EnsureRole": "EnsureIrsaRoleFunction",
    "EnsurePodIdentityAssociation": "EnsurePodIdentityAssociationFunction",
    "EnsureServiceAccount": "EnsureServiceAccountFunction",
    "RestartWorkloads": "RestartWorkloadsFunction",
    "VerifyAccess": "VerifyIrsaFunction",
}
POD_IDENTITY_ONLY = {"EnsurePodIdentityAgent", "EnsurePodIdentityAssociation"}
_names = itertools.count()


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    # clusters take 1 s to change; waits run 50x faster
    # the stack may manage existing roles named shared-* besides its own (/eksops/)
    parameters = {"ServiceAccountRoleArns": f"arn:aws:iam::{ACCOUNT_ID}:role/shared-*"}
    with OfflineAccount(
        region=REGION,
        template=ROOT / "template.yaml",
        time_scale=0.02,
        eks_delay=1.0,
        parameters=parameters,
    ) as offline:
        subnets = vpc_subnets(offline.client("ec2"), 1, "ab", REGION)
        request = {
            "clusterName": CLUSTER,
            "kubernetesVersion": "1.31",
            "vpc": {"subnetIds": subnets},
        }
        created = create(offline, f"create-{CLUSTER}", request)
        assert created.status == "SUCCEEDED", created
        yield offline


def setup(account: OfflineAccount, **fields: Any) -> Execution:
    request = {"clusterName": CLUSTER, **fields}
    return run(account, MACHINE, f"irsa-{next(_names):03d}", request)


def store(account: OfflineAccount) -> Any:
    """The cluster's Kubernetes objects (what kubectl would read)."""
    return account._cluster_apis.server(ACCOUNT_ID, REGION, CLUSTER).store


def service_account(account: OfflineAccount, namespace: str, name: str) -> dict[str, Any] | None:
    return store(account).find("serviceaccounts", namespace, name)


def put_service_account(
    account: OfflineAccount, namespace: str, name: str, **metadata: Any
) -> None:
    kube = store(account)
    if kube.find("namespaces", "", namespace) is None:
        kube.create("namespaces", {"metadata": {"name": namespace}})
    kube.create("serviceaccounts", {"metadata": {"name": name, "namespace": namespace, **metadata}})


def trust(account: OfflineAccount, role_arn: str) -> dict[str, Any]:
    role = account.client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    return policy_document(role["AssumeRolePolicyDocument"])


def cluster_issuer(account: OfflineAccount) -> str:
    cluster = account.client("eks").describe_cluster(name=CLUSTER)["cluster"]
    return cluster["identity"]["oidc"]["issuer"].removeprefix("https://")


def mutations(calls: list[ApiCall]) -> list[str]:
    """Mutating AWS calls, without the Lambda invocations and executions that run the steps."""
    return [
        call.action
        for call in calls
        if call.mutating and call.service not in ("lambda", "states", "logs", "sts")
    ]


# -- IRSA ----------------------------------------------------------------------------------------


def test_new_service_account_gets_an_exactly_scoped_role_and_is_verified(account) -> None:
    done = setup(account, namespace="payments", serviceAccount="api", policyArns=[S3_READ])
    assert done.status == "SUCCEEDED", done
    out = done.output
    host = cluster_issuer(account)
    provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    assert out["verified"] is True, out["reason"]
    assert "AssumeRoleWithWebIdentity" in out["reason"]
    assert out["oidcProvider"]["oidcProviderArn"] == provider_arn
    assert out["oidcProvider"]["created"] is False  # CreateCluster made it; SetupIrsa adopts it
    assert out["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/eksops/irsa/irsa-payments-api-irsa"
    assert trust(account, out["roleArn"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{host}:sub": "system:serviceaccount:payments:api",
                    f"{host}:aud": "sts.amazonaws.com",
                }
            },
        }
    ]
    iam = account.client("iam")
    attached = iam.list_attached_role_policies(RoleName="irsa-payments-api-irsa")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [S3_READ]
    made = service_account(account, "payments", "api")
    assert made is not None
    assert made["metadata"]["annotations"] == {
        ROLE_ARN_ANNOTATION: out["roleArn"],
        "eks.amazonaws.com/sts-regional-endpoints": "true",
    }
    assert out["serviceAccountStatus"]["created"] is True
    assert out["serviceAccountStatus"]["namespaceCreated"] is True
    tags = {
        t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="irsa-payments-api-irsa")["Tags"]
    }
    assert tags[CREATED_BY_TAG] == done.arn


def test_a_missing_oidc_provider_is_created_with_the_thumbprint_reported(account) -> None:
    iam = account.client("iam")
    provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{cluster_issuer(account)}"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    done = setup(account, namespace="fresh", serviceAccount="app")
    assert done.status == "SUCCEEDED", done
    provider = done.output["oidcProvider"]
    assert provider["oidcProviderArn"] == provider_arn
    assert provider["created"] is True
    # offline the issuer host does not resolve: no thumbprint, and the output says why
    assert provider["thumbprint"] is None
    assert provider["thumbprintSource"].startswith("not computed: oidc.eks.eu-west-1.")
    made = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert made["ClientIDList"] == ["sts.amazonaws.com"]
    assert done.output["verified"] is True, done.output["reason"]


def test_rerun_converges_without_changes(account) -> None:
    request = {
        "namespace": "rerun",
        "serviceAccount": "app",
        "policyArns": [S3_READ],
        "inlinePolicy": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
        },
    }
    first = setup(account, **request)
    assert first.status == "SUCCEEDED", first
    before = service_account(account, "rerun", "app")
    with account.recording() as calls:
        again = setup(account, **request)
    assert again.status == "SUCCEEDED", again
    assert again.output["verified"] is True
    assert mutations(calls) == []
    assert again.output["role"]["created"] is False
    assert again.output["role"]["attachedPolicyArns"] == []
    assert again.output["serviceAccountStatus"] | {} == {
        "namespace": "rerun",
        "name": "app",
        "found": True,
        "created": False,
        "annotated": [],
    }
    assert (
        service_account(account, "rerun", "app")["metadata"]["resourceVersion"]
        == (before["metadata"]["resourceVersion"])
    )
    assert len(trust(account, first.output["roleArn"])["Statement"]) == 1
    inline = account.client("iam").get_role_policy(
        RoleName="irsa-rerun-app-irsa", PolicyName="eksops-rerun-app"
    )
    assert policy_document(inline["PolicyDocument"]) == request["inlinePolicy"]


def test_existing_service_account_keeps_its_annotations_and_labels(account) -> None:
    put_service_account(
        account,
        "billing",
        "worker",
        annotations={"team": "billing", ROLE_ARN_ANNOTATION: "arn:aws:iam::123456789012:role/old"},
        labels={"app": "worker"},
    )
    done = setup(account, namespace="billing", serviceAccount="worker")
    assert done.status == "SUCCEEDED", done
    assert done.output["verified"] is True, done.output["reason"]
    metadata = service_account(account, "billing", "worker")["metadata"]
    assert metadata["labels"] == {"app": "worker"}
    assert metadata["annotations"] == {
        "team": "billing",
        ROLE_ARN_ANNOTATION: done.output["roleArn"],
        "eks.amazonaws.com/sts-regional-endpoints": "true",
    }
    status = done.output["serviceAccountStatus"]
    assert status["created"] is False
    assert status["replacedRoleArn"] == "arn:aws:iam::123456789012:role/old"


def test_existing_role_keeps_its_other_statements_and_gets_lint_warnings(account) -> None:
    host = cluster_issuer(account)
    provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    ec2_statement = {
        "Sid": "Ec2",
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    arn_keys = {  # the classic mistake: condition keys written with the provider ARN
        "Sid": "Legacy",
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{provider_arn}:sub": "system:serviceaccount:*"}},
    }
    iam = account.client("iam")
    document = {"Version": "2012-10-17", "Statement": [ec2_statement, arn_keys]}
    role = iam.create_role(
        RoleName="shared-app-role", AssumeRolePolicyDocument=json.dumps(document)
    )
    done = setup(account, namespace="shared", serviceAccount="app", roleName="shared-app-role")
    assert done.status == "SUCCEEDED", done
    assert done.output["roleArn"] == role["Role"]["Arn"]
    assert done.output["role"]["trustUpdated"] is True
    statements = trust(account, role["Role"]["Arn"])["Statement"]
    assert statements[:2] == [ec2_statement, arn_keys]
    assert len(statements) == 3
    assert statements[2]["Condition"]["StringEquals"][f"{host}:sub"] == (
        "system:serviceaccount:shared:app"
    )
    warnings = done.output["warnings"]
    assert any('statement "Legacy"' in w and "OIDC provider ARN" in w for w in warnings), warnings
    assert any("wildcard subject" in w for w in warnings), warnings
    assert done.output["verified"] is True

    again = setup(account, namespace="shared", serviceAccount="app", roleName="shared-app-role")
    assert again.output["role"]["trustUpdated"] is False
    assert len(trust(account, role["Role"]["Arn"])["Statement"]) == 3


def test_an_existing_role_outside_the_stack_s_scope_is_refused_before_any_change(account) -> None:
    iam = account.client("iam")
    iam.create_role(
        RoleName="outsider",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    with account.recording() as calls:
        done = setup(account, namespace="scope", serviceAccount="app", roleName="outsider")
    assert done.status == "FAILED", done
    assert done.error == "eksops.InvalidInput"
    assert "roleName: arn:aws:iam::123456789012:role/outsider is outside /eksops/irsa/" in (
        done.error_message()
    )
    assert "role/shared-*" in done.error_message()
    assert mutations(calls) == []


def test_wrong_namespace_fails_verification_with_a_clear_reason(account) -> None:
    put_service_account(account, "orders", "reader")
    done = setup(account, namespace="order", serviceAccount="reader", createServiceAccount=False)
    assert done.status == "SUCCEEDED", done
    assert done.output["verified"] is False
    assert "no ServiceAccount order/reader" in done.output["reason"]
    assert done.output["serviceAccountStatus"]["found"] is False
    assert "createServiceAccount is false" in done.output["serviceAccountStatus"]["reason"]
    assert service_account(account, "order", "reader") is None  # reported, not created
    assert store(account).find("namespaces", "", "order") is None


def test_sts_refuses_a_trust_for_another_namespace_and_the_reason_says_so(account) -> None:
    """SetupIrsa's own trust always admits the ServiceAccount, so the refusal is provoked as a
    concurrent edit would: the trust rewritten for another namespace before VerifyAccess."""
    first = setup(account, namespace="team-a", serviceAccount="app")
    assert first.output["verified"] is True, first.output["reason"]
    host = cluster_issuer(account)
    role_arn = first.output["roleArn"]
    document = trust(account, role_arn)
    document["Statement"][0]["Condition"]["StringEquals"][f"{host}:sub"] = (
        "system:serviceaccount:team-b:app"
    )
    account.client("iam").update_assume_role_policy(
        RoleName=role_arn.rsplit("/", 1)[1], PolicyDocument=json.dumps(document)
    )
    validated = invoke_step(
        account,
        "ValidateIrsaInputFunction",
        {
            "input": {"clusterName": CLUSTER, "namespace": "team-a", "serviceAccount": "app"},
            "executionId": first.arn,
        },
    )
    step = {
        "request": validated["request"],
        "executionId": first.arn,
        "issuer": validated["issuer"],
        "provider": first.output["oidcProvider"],
        "roleArn": role_arn,
    }
    polled = invoke_step(account, "VerifyIrsaFunction", step)
    assert polled["verified"] is False
    assert polled["poll"]["seconds"] > 0  # IAM may still be propagating: look again
    final = invoke_step(
        account, "VerifyIrsaFunction", step | {"poll": {"attempt": 7, "waited": 60, "seconds": 10}}
    )
    assert "poll" not in final
    assert final["verified"] is False
    assert "AccessDenied" in final["reason"]
    assert (
        "admits system:serviceaccount:team-b:app, not system:serviceaccount:team-a:app"
        in (final["reason"])
    )


def test_custom_audience_is_added_to_the_provider_and_required_by_the_trust(account) -> None:
    done = setup(account, namespace="vault", serviceAccount="auth", audience="vault")
    assert done.status == "SUCCEEDED", done
    assert done.output["verified"] is True, done.output["reason"]
    assert "(audience vault)" in done.output["reason"]
    iam = account.client("iam")
    provider = iam.get_open_id_connect_provider(
        OpenIDConnectProviderArn=done.output["oidcProvider"]["oidcProviderArn"]
    )
    assert {"sts.amazonaws.com", "vault"} <= set(provider["ClientIDList"])
    condition = trust(account, done.output["roleArn"])["Statement"][0]["Condition"]
    assert condition["StringEquals"][f"{cluster_issuer(account)}:aud"] == "vault"
    # the EKS webhook then requests vault tokens for the pods, as the verification did
    annotations = service_account(account, "vault", "auth")["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/audience"] == "vault"


# -- restartWorkloads ----------------------------------------------------------------------------


def deployment(name: str, namespace: str, service_account: str | None) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    if service_account:
        pod["serviceAccountName"] = service_account
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
        },
    }


def template_annotations(account: OfflineAccount, namespace: str, name: str) -> dict[str, str]:
    found = store(account).find("deployments.apps", namespace, name)
    return found["spec"]["template"]["metadata"].get("annotations") or {}


def test_restart_workloads_restarts_the_deployments_of_the_service_account_once(account) -> None:
    put_service_account(account, "web", "frontend")
    kube = store(account)
    kube.create("deployments.apps", deployment("site", "web", "frontend"))
    kube.create("deployments.apps", deployment("other", "web", "backend"))
    done = setup(account, namespace="web", serviceAccount="frontend", restartWorkloads=True)
    assert done.status == "SUCCEEDED", done
    assert done.output["restart"] == {"restarted": ["site"], "alreadyRestarted": []}
    assert RESTARTED_AT_ANNOTATION in template_annotations(account, "web", "site")
    assert template_annotations(account, "web", "other") == {}

    again = setup(account, namespace="web", serviceAccount="frontend", restartWorkloads=True)
    assert again.output["restart"] == {"restarted": [], "alreadyRestarted": ["site"]}


# -- EKS Pod Identity --------------------------------------------------------------------------


def test_pod_identity_mode_associates_the_role_and_installs_the_agent(account) -> None:
    done = setup(account, namespace="jobs", serviceAccount="runner", mode="pod-identity")
    assert done.status == "SUCCEEDED", done
    out = done.output
    assert out["verified"] is True, out["reason"]
    assert out["oidcProvider"] is None
    assert out["podIdentityAgent"]["installed"] is True
    eks = account.client("eks")
    association = eks.describe_pod_identity_association(
        clusterName=CLUSTER, associationId=out["association"]["associationId"]
    )["association"]
    assert (association["namespace"], association["serviceAccount"]) == ("jobs", "runner")
    assert association["roleArn"] == out["roleArn"]
    assert trust(account, out["roleArn"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_SERVICE},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    assert eks.describe_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")["addon"]
    annotations = service_account(account, "jobs", "runner")["metadata"].get("annotations")
    assert not annotations  # Pod Identity binds through the association

    with account.recording() as calls:
        again = setup(account, namespace="jobs", serviceAccount="runner", mode="pod-identity")
    assert again.output["verified"] is True
    assert mutations(calls) == []
    assert again.output["association"]["associationId"] == out["association"]["associationId"]


def test_pod_identity_is_not_verified_while_an_irsa_annotation_would_win(account) -> None:
    put_service_account(
        account, "legacy", "worker", annotations={ROLE_ARN_ANNOTATION: "arn:aws:iam::1:role/x"}
    )
    done = setup(account, namespace="legacy", serviceAccount="worker", mode="pod-identity")
    assert done.status == "SUCCEEDED", done
    assert done.output["verified"] is False
    assert "prefer those IRSA credentials" in done.output["reason"]
    assert "remove the annotation" in done.output["serviceAccountStatus"]["warning"]
    # nothing of the ServiceAccount was removed: the annotation is the operator's to drop
    annotations = service_account(account, "legacy", "worker")["metadata"]["annotations"]
    assert annotations == {ROLE_ARN_ANNOTATION: "arn:aws:iam::1:role/x"}


# -- a crash at every Task state, then a re-run ---------------------------------------------------


def test_every_lambda_task_is_covered() -> None:
    definition = json.loads((ROOT / "statemachines" / "setup_irsa.asl.json").read_text())
    tasks = {
        name: state["Resource"][2:-1].removesuffix("Arn")
        for name, state in definition["States"].items()
        if state["Type"] == "Task"
    }
    assert tasks == TASK_FUNCTIONS


@pytest.mark.parametrize("state", list(TASK_FUNCTIONS))
def test_crash_after_a_step_then_rerun_converges(account, state) -> None:
    mode = "pod-identity" if state in POD_IDENTITY_ONLY else "irsa"
    namespace = f"crash-{state.lower()}"[:40]
    request = {
        "namespace": namespace,
        "serviceAccount": "app",
        "mode": mode,
        "restartWorkloads": True,
        "policyArns": [S3_READ],
    }
    account.inject_fault(TASK_FUNCTIONS[state], after=True)
    try:
        crashed = setup(account, **request)
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    assert crashed.error == INJECTED_FAULT

    rerun = setup(account, **request)
    assert rerun.status == "SUCCEEDED", rerun
    assert rerun.output["verified"] is True, rerun.output["reason"]
    role_arn = rerun.output["roleArn"]
    assert len(trust(account, role_arn)["Statement"]) == 1
    annotations = service_account(account, namespace, "app")["metadata"].get("annotations") or {}
    if mode == "irsa":
        assert annotations[ROLE_ARN_ANNOTATION] == role_arn
    else:
        associations = account.client("eks").list_pod_identity_associations(
            clusterName=CLUSTER, namespace=namespace
        )["associations"]
        assert len(associations) == 1


# -- invalid input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"clusterName": "nope", "namespace": "a", "serviceAccount": "b"}, "clusterName"),
        ({"namespace": "Bad_NS", "serviceAccount": "b"}, "namespace"),
        (
            {
                "namespace": "a",
                "serviceAccount": "b",
                "policyArns": ["arn:aws:iam::123456789012:policy/missing"],
            },
            "policyArns",
        ),
        (
            {"namespace": "a", "serviceAccount": "b", "mode": "pod-identity", "audience": "vault"},
            "audience",
        ),
        ({"namespace": "a", "serviceAccount": "b", "serviceAcount": "typo"}, "serviceAcount"),
        (
            {"namespace": "a", "serviceAccount": "b", "createServiceAccount": "yes"},
            "createServiceAccount",
        ),
    ],
)
def test_invalid_input_fails_first_with_a_named_error_and_changes_nothing(
    account, fields, field
) -> None:
    with account.recording() as calls:
        done = setup(account, **fields)
    assert done.status == "FAILED", done
    assert done.error == "eksops.InvalidInput"
    assert field in done.error_message()
    assert done.states_entered() == ["ValidateInput", "SetupFailed"]
    assert mutations(calls) == []


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    namespace=st.text(min_size=1, max_size=70),
    name=st.text(min_size=1, max_size=20),
)
def test_arbitrary_names_are_bound_or_refused_by_name(account, namespace, name) -> None:
    done = setup(account, namespace=namespace, serviceAccount=name, createServiceAccount=False)
    if done.status == "FAILED":
        assert done.error == "eksops.InvalidInput", done
        assert done.states_entered() == ["ValidateInput", "SetupFailed"]
    else:
        assert done.output["verified"] is False  # createServiceAccount false: none made
