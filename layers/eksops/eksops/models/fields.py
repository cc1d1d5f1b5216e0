"""Field rules shared by the workflows' inputs."""

from __future__ import annotations

CLUSTER_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
IAM_ROLE_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$"
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$"  # sts:AssumeRole's ExternalId
SUBNET_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
# Kubernetes names: a namespace is a DNS-1123 label, a ServiceAccount a DNS-1123 subdomain
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SERVICE_ACCOUNT_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """EKS's tag rules: at most 50, keys 1-128 and values at most 256 characters, and the aws:
    prefix reserved (eksops adds 2 tags of its own)."""
    if len(tags) > 48:
        raise ValueError("at most 48 tags (EKS allows 50; eksops adds 2)")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValueError(f"tag {key!r}: keys 1-128 characters, values at most 256")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag {key!r}: the aws: prefix is reserved")
    return tags
