"""EKS clusters in the offline account, with what CreateCluster needs around them."""

from __future__ import annotations

import json
from typing import Any


def service_trust(*services: str) -> dict[str, Any]:
    """A role trust policy letting AWS services (e.g. eks.amazonaws.com) assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            for service in services
        ],
    }


EKS_SERVICE_TRUST = service_trust("eks.amazonaws.com")


def create_cluster(name: str, region: str, version: str = "1.31") -> dict[str, Any]:
    """A cluster role, a VPC with subnets in two AZs, and the cluster (DescribeCluster's shape).
    Uses boto3's default session, so call it inside moto (or the offline account)."""
    import boto3

    iam = boto3.client("iam", region_name=region)
    role_name = f"{name}-cluster-role"
    role = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    return boto3.client("eks", region_name=region).create_cluster(
        name=name,
        version=version,
        roleArn=role["Role"]["Arn"],
        resourcesVpcConfig={"subnetIds": subnets},
    )["cluster"]
