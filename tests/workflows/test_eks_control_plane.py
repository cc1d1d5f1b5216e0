"""EKS beyond moto in the offline account: lifecycle, access entries, add-ons, Pod Identity,
managed node groups with their Auto Scaling group and instances. Through boto3 and the AWS CLI
against the account's endpoint, so every call passes botocore's validation and parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from eksops.local import eks
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.clusters import EKS_SERVICE_TRUST, create_cluster, service_trust
from moto import mock_aws

REGION = "us-west-2"
DEADLINE_SECONDS = 10
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
EC2_TRUST = service_trust("ec2.amazonaws.com")


def test_in_process_mock_aws_serves_the_added_operations() -> None:
    # Runs before the module's account starts: mock_aws resets moto's backends.
    eks.install(create_delay=0)
    with mock_aws():
        cluster = create_cluster("inproc", REGION)
        assert cluster["status"] == "CREATING"
        client = boto3.client("eks", region_name=REGION)
        update = client.update_cluster_config(
            name="inproc", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
        )["update"]
        assert client.describe_update(name="inproc", updateId=update["id"])["update"]["status"] == (
            "Successful"
        )
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="ops", Path="/a/b/", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
        )["Role"]["Arn"]
        client.create_access_entry(clusterName="inproc", principalArn=role)
        client.associate_access_policy(
            clusterName="inproc",
            principalArn=role,
            policyArn=ADMIN,
            accessScope={"type": "cluster"},
        )
        listed = client.list_associated_access_policies(clusterName="inproc", principalArn=role)
        assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [ADMIN]
        assert client.describe_addon_versions(addonName="coredns")["addons"]
        client.create_pod_identity_association(
            clusterName="inproc", namespace="ns", serviceAccount="sa", roleArn=role
        )
        assert len(client.list_pod_identity_associations(clusterName="inproc")["associations"]) == 1


@pytest.fixture(scope="module")
def account():
    eks.install(create_delay=0)  # start() will do this; 0: resources move on at the next call
    with OfflineAccount(region=REGION, template=None) as offline:
        yield offline
    eks.install(create_delay=0)


@pytest.fixture(scope="module")
def network(account: OfflineAccount) -> dict:
    ec2 = account.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    iam = account.client("iam")
    cluster_role = iam.create_role(
        RoleName="cluster", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    node_role = iam.create_role(RoleName="nodes", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))[
        "Role"
    ]["Arn"]
    admins = iam.create_role(
        RoleName="admins", Path="/team/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    return {
        "subnets": subnets,
        "cluster_role": cluster_role,
        "node_role": node_role,
        "admins": admins,
    }


def offline_caller(account: OfflineAccount) -> str:
    """Who the account's own (unissued) credentials are: its root."""
    arn = account.client("sts").get_caller_identity()["Arn"]
    assert arn in (f"arn:aws:iam::{ACCOUNT_ID}:root", f"arn:aws:sts::{ACCOUNT_ID}:user/moto")
    return arn.replace(":sts::", ":iam::")


def create(client, network: dict, name: str, **kwargs) -> dict:
    return client.create_cluster(
        name=name,
        version="1.31",
        roleArn=network["cluster_role"],
        resourcesVpcConfig={"subnetIds": network["subnets"]},
        **kwargs,
    )["cluster"]


def wait_for(describe, status: str) -> dict:
    """Poll until `describe()` shows `status`; fail after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen = None
    while time.monotonic() < deadline:
        seen = describe()
        if seen["status"] == status:
            return seen
        time.sleep(0.05)
    pytest.fail(f"still {seen and seen['status']} after {DEADLINE_SECONDS}s, wanted {status}")


def gone(describe) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            describe()
        except ClientError as err:
            code = err.response["Error"]["Code"]
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"still there after {DEADLINE_SECONDS}s")
    assert code == "ResourceNotFoundException"


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"]


def aws_cli(account: OfflineAccount, *args: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **account.environment,
    }
    aws = Path(sys.executable).with_name("aws")
    done = subprocess.run(
        [str(aws), "--output", "json", "eks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_cluster_lifecycle_with_delay(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    # long enough that two calls in a row on a loaded machine still see the transient state
    eks.install(create_delay=1.0, delete_delay=2.0)
    try:
        cluster = create(client, network, "lifecycle")
        assert cluster["status"] == "CREATING"
        assert cluster["accessConfig"] == {
            "authenticationMode": "CONFIG_MAP",  # the API's default; the console's differs
            "bootstrapClusterCreatorAdminPermissions": True,
        }
        assert client.describe_cluster(name="lifecycle")["cluster"]["status"] == "CREATING"
        error = error_code(
            client.create_nodegroup,
            clusterName="lifecycle",
            nodegroupName="early",
            subnets=network["subnets"],
            nodeRole=network["node_role"],
        )
        assert error == "InvalidRequestException"  # not ACTIVE yet
        started = time.monotonic()
        wait_for(lambda: client.describe_cluster(name="lifecycle")["cluster"], "ACTIVE")
        assert time.monotonic() - started > 0.1

        update = client.update_cluster_config(
            name="lifecycle", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
        )["update"]
        assert (update["type"], update["status"]) == ("AccessConfigUpdate", "InProgress")
        assert update["params"] == [{"type": "AuthenticationMode", "value": "API_AND_CONFIG_MAP"}]
        assert client.describe_cluster(name="lifecycle")["cluster"]["status"] == "UPDATING"
        assert eks.authentication_mode(ACCOUNT_ID, REGION, "lifecycle") == "CONFIG_MAP"
        assert (
            error_code(
                client.update_cluster_config,
                name="lifecycle",
                accessConfig={"authenticationMode": "API"},
            )
            == "ResourceInUseException"
        )
        wait_for(
            lambda: client.describe_update(name="lifecycle", updateId=update["id"])["update"],
            "Successful",
        )
        assert client.describe_cluster(name="lifecycle")["cluster"]["status"] == "ACTIVE"
        assert eks.authentication_mode(ACCOUNT_ID, REGION, "lifecycle") == "API_AND_CONFIG_MAP"
        assert client.list_updates(name="lifecycle")["updateIds"] == [update["id"]]

        deleted = client.delete_cluster(name="lifecycle")["cluster"]
        assert deleted["status"] == "DELETING"
        assert client.describe_cluster(name="lifecycle")["cluster"]["status"] == "DELETING"
        gone(lambda: client.describe_cluster(name="lifecycle"))
        assert "lifecycle" not in client.list_clusters()["clusters"]
    finally:
        eks.install(create_delay=0)


def test_authentication_mode_only_moves_forward(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "modes")
    for wanted in ("API", "CONFIG_MAP"):  # CONFIG_MAP -> API skips a step; no-op
        assert (
            error_code(
                client.update_cluster_config,
                name="modes",
                accessConfig={"authenticationMode": wanted},
            )
            == "InvalidParameterException"
        )
    for wanted in ("API_AND_CONFIG_MAP", "API"):
        update = client.update_cluster_config(
            name="modes", accessConfig={"authenticationMode": wanted}
        )["update"]
        wait_for(
            lambda update=update: client.describe_update(name="modes", updateId=update["id"])[
                "update"
            ],
            "Successful",
        )
    assert (
        client.describe_cluster(name="modes")["cluster"]["accessConfig"]["authenticationMode"]
        == "API"
    )
    assert (
        error_code(
            client.update_cluster_config,
            name="modes",
            accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
        )
        == "InvalidParameterException"
    )
    assert (
        error_code(
            client.update_cluster_config,
            name="modes",
            logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
            accessConfig={"authenticationMode": "API"},
        )
        == "InvalidParameterException"
    )  # one kind of update per call
    version = client.update_cluster_version(name="modes", version="1.32")["update"]
    assert version["type"] == "VersionUpdate"
    wait_for(
        lambda: client.describe_update(name="modes", updateId=version["id"])["update"],
        "Successful",
    )
    assert client.describe_cluster(name="modes")["cluster"]["version"] == "1.32"
    assert error_code(client.describe_update, name="modes", updateId="nope") == (
        "ResourceNotFoundException"
    )


def test_creator_gets_admin_access_entry(account: OfflineAccount, network: dict) -> None:
    iam = account.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    ).client("eks", endpoint_url=account.endpoint_url)
    create(alice, network, "by-alice", accessConfig={"authenticationMode": "API"})
    alice_arn = f"arn:aws:iam::{ACCOUNT_ID}:user/alice"
    assert eks.creator_arn(ACCOUNT_ID, REGION, "by-alice") == alice_arn
    assert eks.access_entries(ACCOUNT_ID, REGION, "by-alice") == [
        {
            "principalArn": alice_arn,
            "kubernetesGroups": [],
            "username": alice_arn,
            "type": "STANDARD",
            "associatedAccessPolicies": [
                {"policyArn": ADMIN, "accessScope": {"type": "cluster", "namespaces": []}}
            ],
        }
    ]
    client = account.client("eks")
    assert client.list_access_entries(clusterName="by-alice", associatedPolicyArn=ADMIN)[
        "accessEntries"
    ] == [alice_arn]

    # An assumed role's creator is the role (with its path); no bootstrap when asked not to.
    credentials = account.client("sts").assume_role(
        RoleArn=network["admins"], RoleSessionName="ci"
    )["Credentials"]
    admins = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client("eks", endpoint_url=account.endpoint_url)
    create(
        admins,
        network,
        "by-role",
        accessConfig={
            "authenticationMode": "API_AND_CONFIG_MAP",
            "bootstrapClusterCreatorAdminPermissions": False,
        },
    )
    assert eks.creator_arn(ACCOUNT_ID, REGION, "by-role") == network["admins"]
    assert eks.access_entries(ACCOUNT_ID, REGION, "by-role") == []
    # In CONFIG_MAP mode the creator is recorded but has no access entry, and none can be made.
    create(client, network, "configmap")
    assert eks.creator_arn(ACCOUNT_ID, REGION, "configmap") == offline_caller(account)
    assert error_code(client.list_access_entries, clusterName="configmap") == (
        "InvalidRequestException"
    )
    assert (
        error_code(
            client.create_access_entry, clusterName="configmap", principalArn=network["admins"]
        )
        == "InvalidRequestException"
    )


def test_access_entries_and_policies(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "access", accessConfig={"authenticationMode": "API"})
    admins = network["admins"]
    entry = client.create_access_entry(
        clusterName="access", principalArn=admins, kubernetesGroups=["ops"]
    )["accessEntry"]
    # the role's path is dropped from the username EKS generates
    assert entry["username"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/admins/{{{{SessionName}}}}"
    )
    assert (entry["type"], entry["kubernetesGroups"]) == ("STANDARD", ["ops"])
    assert entry["accessEntryArn"].startswith(
        f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:access-entry/access/role/{ACCOUNT_ID}/admins/"
    )
    assert error_code(client.create_access_entry, clusterName="access", principalArn=admins) == (
        "ResourceInUseException"
    )
    nodes = client.create_access_entry(
        clusterName="access", principalArn=network["node_role"], type="EC2_LINUX"
    )["accessEntry"]
    assert nodes["username"] == "system:node:{{EC2PrivateDNSName}}"
    assert nodes["kubernetesGroups"] == ["system:nodes"]
    for bad in (
        {"principalArn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/admins/me"},
        {"principalArn": f"arn:aws:iam::{ACCOUNT_ID}:role/does-not-exist"},
        {"principalArn": network["cluster_role"], "type": "EC2_LINUX", "kubernetesGroups": ["x"]},
        {"principalArn": network["cluster_role"], "type": "SUPERUSER"},
        {"principalArn": network["cluster_role"], "username": "system:admin"},
    ):
        assert error_code(client.create_access_entry, clusterName="access", **bad) == (
            "InvalidParameterException"
        ), bad

    updated = client.update_access_entry(
        clusterName="access", principalArn=admins, kubernetesGroups=["ops", "dev"], username="me"
    )["accessEntry"]
    assert (updated["kubernetesGroups"], updated["username"]) == (["ops", "dev"], "me")
    associated = client.associate_access_policy(
        clusterName="access",
        principalArn=admins,
        policyArn=VIEW,
        accessScope={"type": "namespace", "namespaces": ["apps"]},
    )
    assert associated["associatedAccessPolicy"]["accessScope"] == {
        "type": "namespace",
        "namespaces": ["apps"],
    }
    for scope in ({"type": "namespace"}, {"type": "cluster", "namespaces": ["apps"]}):
        assert (
            error_code(
                client.associate_access_policy,
                clusterName="access",
                principalArn=admins,
                policyArn=VIEW,
                accessScope=scope,
            )
            == "InvalidParameterException"
        )
    assert (
        error_code(
            client.associate_access_policy,
            clusterName="access",
            principalArn=network["node_role"],
            policyArn=VIEW,
            accessScope={"type": "cluster"},
        )
        == "InvalidRequestException"
    )
    listed = client.list_associated_access_policies(clusterName="access", principalArn=admins)
    assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [VIEW]
    names = {p["name"] for p in client.list_access_policies()["accessPolicies"]}
    assert {
        "AmazonEKSClusterAdminPolicy",
        "AmazonEKSAdminPolicy",
        "AmazonEKSEditPolicy",
        "AmazonEKSViewPolicy",
    } <= names

    # The AWS CLI parses the same (the role ARN's path travels URL-encoded).
    cli = aws_cli(
        account,
        "list-associated-access-policies",
        "--cluster-name",
        "access",
        "--principal-arn",
        admins,
    )
    assert cli["associatedAccessPolicies"][0]["accessScope"]["namespaces"] == ["apps"]
    described = aws_cli(
        account, "describe-access-entry", "--cluster-name", "access", "--principal-arn", admins
    )
    assert described["accessEntry"]["username"] == "me"

    client.disassociate_access_policy(clusterName="access", principalArn=admins, policyArn=VIEW)
    entries = {e["principalArn"]: e for e in eks.access_entries(ACCOUNT_ID, REGION, "access")}
    assert entries[admins]["associatedAccessPolicies"] == []
    client.delete_access_entry(clusterName="access", principalArn=admins)
    assert error_code(client.describe_access_entry, clusterName="access", principalArn=admins) == (
        "ResourceNotFoundException"
    )
    assert client.list_access_entries(clusterName="access")["accessEntries"] == [
        offline_caller(account),  # the creator
        network["node_role"],
    ]


def test_addons(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "addons")
    catalogue = client.describe_addon_versions(kubernetesVersion="1.31")["addons"]
    assert {a["addonName"] for a in catalogue} == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "aws-ebs-csi-driver",
        "eks-pod-identity-agent",
    }
    for info in catalogue:
        defaults = [
            v["addonVersion"]
            for v in info["addonVersions"]
            for c in v["compatibilities"]
            if c["clusterVersion"] == "1.31" and c["defaultVersion"]
        ]
        assert len(defaults) == 1, info["addonName"]
    proxy = client.describe_addon_versions(kubernetesVersion="1.31", addonName="kube-proxy")
    (proxy_version,) = [v["addonVersion"] for v in proxy["addons"][0]["addonVersions"]]
    assert proxy_version.startswith("v1.31.")

    addon = client.create_addon(clusterName="addons", addonName="kube-proxy")["addon"]
    assert (addon["status"], addon["addonVersion"]) == ("CREATING", proxy_version)
    wait_for(
        lambda: client.describe_addon(clusterName="addons", addonName="kube-proxy")["addon"],
        "ACTIVE",
    )
    assert error_code(client.create_addon, clusterName="addons", addonName="kube-proxy") == (
        "ResourceInUseException"
    )
    assert (
        error_code(
            client.create_addon,
            clusterName="addons",
            addonName="coredns",
            addonVersion="v1.12.1-eksbuild.2",  # 1.33 and newer only
        )
        == "InvalidParameterException"
    )
    assert error_code(client.describe_addon, clusterName="addons", addonName="coredns") == (
        "ResourceNotFoundException"
    )
    client.create_addon(
        clusterName="addons",
        addonName="aws-ebs-csi-driver",
        podIdentityAssociations=[
            {"serviceAccount": "ebs-csi-controller-sa", "roleArn": network["admins"]}
        ],
    )
    ebs = wait_for(
        lambda: client.describe_addon(clusterName="addons", addonName="aws-ebs-csi-driver")[
            "addon"
        ],
        "ACTIVE",
    )
    assert len(ebs["podIdentityAssociations"]) == 1
    assert client.list_addons(clusterName="addons")["addons"] == [
        "aws-ebs-csi-driver",
        "kube-proxy",
    ]
    update = client.update_addon(
        clusterName="addons", addonName="aws-ebs-csi-driver", addonVersion="v1.41.0-eksbuild.1"
    )["update"]
    assert update["type"] == "AddonUpdate"
    wait_for(
        lambda: client.describe_update(
            name="addons", updateId=update["id"], addonName="aws-ebs-csi-driver"
        )["update"],
        "Successful",
    )
    assert (
        client.describe_addon(clusterName="addons", addonName="aws-ebs-csi-driver")["addon"][
            "addonVersion"
        ]
        == "v1.41.0-eksbuild.1"
    )

    deleted = client.delete_addon(clusterName="addons", addonName="aws-ebs-csi-driver")["addon"]
    assert deleted["status"] == "DELETING"
    gone(lambda: client.describe_addon(clusterName="addons", addonName="aws-ebs-csi-driver"))
    assert client.list_pod_identity_associations(clusterName="addons")["associations"] == []

    cli = aws_cli(account, "describe-addon-versions", "--kubernetes-version", "1.31")
    assert len(cli["addons"]) == 5
    assert (
        aws_cli(
            account, "describe-addon", "--cluster-name", "addons", "--addon-name", "kube-proxy"
        )["addon"]["status"]
        == "ACTIVE"
    )


def test_pod_identity_associations(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "pods")
    association = client.create_pod_identity_association(
        clusterName="pods", namespace="apps", serviceAccount="api", roleArn=network["admins"]
    )["association"]
    assert association["associationId"].startswith("a-")
    assert (
        error_code(
            client.create_pod_identity_association,
            clusterName="pods",
            namespace="apps",
            serviceAccount="api",
            roleArn=network["node_role"],
        )
        == "ResourceInUseException"
    )
    other = client.create_pod_identity_association(
        clusterName="pods", namespace="jobs", serviceAccount="api", roleArn=network["admins"]
    )["association"]
    listed = client.list_pod_identity_associations(clusterName="pods", namespace="apps")
    assert [a["associationId"] for a in listed["associations"]] == [association["associationId"]]
    updated = client.update_pod_identity_association(
        clusterName="pods", associationId=other["associationId"], roleArn=network["node_role"]
    )["association"]
    assert updated["roleArn"] == network["node_role"]
    client.delete_pod_identity_association(clusterName="pods", associationId=other["associationId"])
    assert (
        error_code(
            client.describe_pod_identity_association,
            clusterName="pods",
            associationId=other["associationId"],
        )
        == "ResourceNotFoundException"
    )
    cli = aws_cli(account, "list-pod-identity-associations", "--cluster-name", "pods")
    assert [a["serviceAccount"] for a in cli["associations"]] == ["api"]


def instances_of(account: OfflineAccount, asg_name: str) -> list[dict]:
    reservations = account.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:aws:autoscaling:groupName", "Values": [asg_name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [instance for r in reservations for instance in r["Instances"]]


def test_nodegroup_makes_auto_scaling_group_and_instances(
    account: OfflineAccount, network: dict
) -> None:
    client = account.client("eks")
    create(client, network, "nodes", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    nodegroup = client.create_nodegroup(
        clusterName="nodes",
        nodegroupName="workers",
        subnets=network["subnets"],
        nodeRole=network["node_role"],
        scalingConfig={"minSize": 1, "maxSize": 6, "desiredSize": 4},
        instanceTypes=["m5.large"],
    )["nodegroup"]
    assert nodegroup["status"] == "CREATING"
    assert "remoteAccess" not in nodegroup  # no SSH unless asked
    (asg,) = nodegroup["resources"]["autoScalingGroups"]
    assert asg["name"].startswith("eks-workers-")
    ready = wait_for(
        lambda: client.describe_nodegroup(clusterName="nodes", nodegroupName="workers")[
            "nodegroup"
        ],
        "ACTIVE",
    )
    assert (ready["version"], ready["health"]) == ("1.31", {"issues": []})

    (group,) = account.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg["name"]]
    )["AutoScalingGroups"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 6, 4)
    asg_tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert asg_tags["eks:cluster-name"] == "nodes"
    assert asg_tags["eks:nodegroup-name"] == "workers"
    assert asg_tags["kubernetes.io/cluster/nodes"] == "owned"
    assert asg_tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    instances = instances_of(account, asg["name"])
    assert len(instances) == 4
    zones = [i["Placement"]["AvailabilityZone"] for i in instances]
    assert sorted(zones) == [f"{REGION}a"] * 2 + [f"{REGION}b"] * 2
    for instance in instances:
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["eks:cluster-name"] == "nodes"
        assert tags["eks:nodegroup-name"] == "workers"
        assert tags["kubernetes.io/cluster/nodes"] == "owned"
        assert tags["aws:autoscaling:groupName"] == asg["name"]
        assert instance["InstanceType"] == "m5.large"
    # the node role got its access entry, as EKS makes it in an API mode
    (entry,) = [
        e for e in eks.access_entries(ACCOUNT_ID, REGION, "nodes") if e["type"] != "STANDARD"
    ]
    assert (entry["principalArn"], entry["type"]) == (network["node_role"], "EC2_LINUX")

    update = client.update_nodegroup_config(
        clusterName="nodes", nodegroupName="workers", scalingConfig={"desiredSize": 1}
    )["update"]
    assert update["params"] == [{"type": "DesiredSize", "value": "1"}]
    assert len(instances_of(account, asg["name"])) == 1
    wait_for(
        lambda: client.describe_update(
            name="nodes", updateId=update["id"], nodegroupName="workers"
        )["update"],
        "Successful",
    )
    update = client.update_nodegroup_config(
        clusterName="nodes", nodegroupName="workers", scalingConfig={"desiredSize": 3}
    )["update"]
    zones = sorted(i["Placement"]["AvailabilityZone"] for i in instances_of(account, asg["name"]))
    assert zones in ([f"{REGION}a"] * 2 + [f"{REGION}b"], [f"{REGION}a"] + [f"{REGION}b"] * 2)
    assert error_code(
        client.update_nodegroup_config,
        clusterName="nodes",
        nodegroupName="workers",
        scalingConfig={"desiredSize": 9},
    ) in ("InvalidParameterException", "ResourceInUseException")
    wait_for(
        lambda: client.describe_nodegroup(clusterName="nodes", nodegroupName="workers")[
            "nodegroup"
        ],
        "ACTIVE",
    )
    assert (
        error_code(
            client.update_nodegroup_config,
            clusterName="nodes",
            nodegroupName="workers",
            scalingConfig={"desiredSize": 9},
        )
        == "InvalidParameterException"
    )

    cli = aws_cli(
        account, "describe-nodegroup", "--cluster-name", "nodes", "--nodegroup-name", "workers"
    )
    assert cli["nodegroup"]["scalingConfig"]["desiredSize"] == 3
    assert error_code(client.delete_cluster, name="nodes") == "ResourceInUseException"

    deleting = client.delete_nodegroup(clusterName="nodes", nodegroupName="workers")["nodegroup"]
    assert deleting["status"] == "DELETING"
    gone(lambda: client.describe_nodegroup(clusterName="nodes", nodegroupName="workers"))
    assert instances_of(account, asg["name"]) == []
    assert (
        account.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[asg["name"]]
        )["AutoScalingGroups"]
        == []
    )
    client.delete_cluster(name="nodes")
    gone(lambda: client.describe_cluster(name="nodes"))


def test_nodes_that_cannot_join_fail_the_nodegroup(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "broken")
    seen = []

    def cannot_join(nodes: eks.Nodes) -> list[str]:
        seen.append(nodes)
        return list(nodes.instance_ids) if nodes.cluster_name == "broken" else []

    eks.set_node_join_check(cannot_join)
    try:
        client.create_nodegroup(
            clusterName="broken",
            nodegroupName="workers",
            subnets=network["subnets"],
            nodeRole=network["node_role"],
            scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2},
        )
        failed = wait_for(
            lambda: client.describe_nodegroup(clusterName="broken", nodegroupName="workers")[
                "nodegroup"
            ],
            "CREATE_FAILED",
        )
    finally:
        eks.set_node_join_check(None)
    (issue,) = failed["health"]["issues"]
    assert issue["code"] == "NodeCreationFailure"
    assert sorted(issue["resourceIds"]) == sorted(seen[-1].instance_ids)
    assert len(issue["resourceIds"]) == 2
    assert seen[-1].node_role == network["node_role"]
    assert (
        error_code(
            client.create_nodegroup,
            clusterName="broken",
            nodegroupName="bad-subnet",
            subnets=["subnet-00000000"],
            nodeRole=network["node_role"],
        )
        == "InvalidParameterException"
    )
    assert (
        error_code(
            client.create_nodegroup,
            clusterName="broken",
            nodegroupName="bad-scaling",
            subnets=network["subnets"],
            nodeRole=network["node_role"],
            scalingConfig={"minSize": 3, "maxSize": 2, "desiredSize": 2},
        )
        == "InvalidParameterException"
    )


def test_cluster_validation(account: OfflineAccount, network: dict) -> None:
    client = account.client("eks")
    create(client, network, "dup")
    assert error_code(create, client, network, "dup") == "ResourceInUseException"
    assert (
        error_code(
            client.create_cluster,
            name="one-az",
            roleArn=network["cluster_role"],
            resourcesVpcConfig={"subnetIds": network["subnets"][:1]},
        )
        == "InvalidParameterException"
    )
    assert error_code(client.describe_cluster, name="nope") == "ResourceNotFoundException"
    cli = aws_cli(account, "describe-cluster", "--name", "dup")
    assert cli["cluster"]["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
    assert cli["cluster"]["status"] == "ACTIVE"
