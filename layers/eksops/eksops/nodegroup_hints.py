"""What to do about each health issue code EKS reports on a managed node group (the codes of
the Nodegroup Issue API type); an unknown code gets the EKS troubleshooting pointer."""

from __future__ import annotations

from typing import Any

HINTS = {
    "AccessDenied": "EKS or the nodes lack permissions: check the node role's policies and "
    "that no SCP or permissions boundary denies EC2 or Auto Scaling",
    "AmiIdNotFound": "the launch template's AMI does not exist in this region",
    "AsgInstanceLaunchFailures": "Auto Scaling cannot launch instances: look at the group's "
    "activity history (capacity, instance type offered in the AZ, launch template)",
    "AutoScalingGroupNotFound": "the node group's Auto Scaling group was deleted outside EKS; "
    "delete and re-create the node group",
    "AutoScalingGroupInvalidConfiguration": "the Auto Scaling group was changed outside EKS",
    "ClusterUnreachable": "the nodes cannot reach the cluster's API endpoint: with a private "
    "endpoint they need a route within the VPC; with a public one, a NAT gateway or public IPs",
    "Ec2InstanceTypeDoesNotExist": "an instance type is not offered in this region or AZ",
    "Ec2LaunchTemplateNotFound": "the launch template does not exist",
    "Ec2LaunchTemplateVersionMismatch": "the launch template version differs from the one EKS "
    "recorded: update the node group with the version you want",
    "Ec2LaunchTemplateInvalidConfiguration": "the launch template sets something EKS manages "
    "(IAM instance profile, subnets, ...): remove it",
    "Ec2SecurityGroupNotFound": "the cluster security group was deleted: re-create the node group",
    "Ec2SubnetInvalidConfiguration": "a public subnet does not assign public IPv4 addresses: "
    "enable MapPublicIpOnLaunch or use private subnets",
    "Ec2SubnetMissingIpv6Assignment": "an IPv6 cluster's subnet does not assign IPv6 addresses",
    "Ec2SubnetNotFound": "a subnet was deleted: update the node group's subnets",
    "Ec2SubnetListTooLong": "too many subnets for a launch template: give fewer",
    "IamInstanceProfileNotFound": "the node role's instance profile was deleted",
    "IamNodeRoleNotFound": "the node role was deleted: re-create it (or pass another "
    "nodeRoleArn) and re-run",
    "IamLimitExceeded": "an IAM quota (roles or instance profiles) is reached",
    "InsufficientFreeAddresses": "the subnets have too few free IP addresses: add subnets or "
    "free addresses",
    "InstanceLimitExceeded": "the account's EC2 instance quota is reached: request more",
    "NodeCreationFailure": "instances started but did not register with the cluster: the "
    "node role must be authorized (access entry, or aws-auth mapRoles) and the nodes must "
    "reach the API endpoint and have the VPC CNI (AmazonEKS_CNI_Policy or IRSA)",
    "InternalFailure": "an EKS-side failure: re-run, and open a support case if it persists",
}
DEFAULT_HINT = (
    "see https://docs.aws.amazon.com/eks/latest/userguide/troubleshooting.html for this code"
)


def described_issues(nodegroup: dict[str, Any]) -> list[str]:
    """Each health issue as 'Code (instances): message. Hint: ...'."""
    lines = []
    for issue in (nodegroup.get("health") or {}).get("issues", []):
        code = issue.get("code", "Unknown")
        resources = issue.get("resourceIds") or []
        where = f" ({', '.join(resources)})" if resources else ""
        message = issue.get("message") or "no message"
        lines.append(f"{code}{where}: {message}. Hint: {HINTS.get(code, DEFAULT_HINT)}")
    return lines
