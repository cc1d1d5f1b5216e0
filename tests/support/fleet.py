"""Self-managed nodes in the offline account: an IAM role, its instance profile, a launch
template and an Auto Scaling group tagged for a cluster, as a platform team's IaC makes them."""

from __future__ import annotations

import json
from typing import Any

from eksops.local.clusters import service_trust

AMI = "ami-0e5b8f7d1c2a3b4c5"
EC2_TRUST = service_trust("ec2.amazonaws.com")


def node_role(iam: Any, name: str, path: str = "/team/") -> str:
    """A role instances may use (trusting EC2), with its instance profile of the same name."""
    arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))[
        "Role"
    ]["Arn"]
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn


def auto_scaling_group(
    ec2: Any,
    iam: Any,
    autoscaling: Any,
    *,
    name: str,
    cluster: str,
    profile: str,
    subnets: list[str],
    size: int = 2,
) -> str:
    """An Auto Scaling group of ``size`` instances running with instance profile ``profile``,
    tagged kubernetes.io/cluster/<cluster>=owned; returns its name."""
    profile_arn = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": AMI,
            "InstanceType": "t3.medium",
            "IamInstanceProfile": {"Arn": profile_arn},
        },
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=max(size, 1) * 2,
        DesiredCapacity=size,
        VPCZoneIdentifier=",".join(subnets),
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        Tags=[
            {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned", "PropagateAtLaunch": True}
        ],
    )
    return name
