"""The cluster a CreateCluster input asks for: CreateCluster's parameters, and how an existing
cluster differs from it (adopting a cluster is only safe when nothing differs)."""

from __future__ import annotations

from typing import Any

from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import creation_tags

DEFAULT_PUBLIC_CIDRS = ["0.0.0.0/0"]  # what EKS sets when publicAccessCidrs is not given


def create_parameters(
    request: CreateClusterInput, role_arn: str, execution_id: str
) -> dict[str, Any]:
    vpc = request.vpc
    vpc_config: dict[str, Any] = {
        "subnetIds": list(vpc.subnet_ids),
        "securityGroupIds": list(vpc.security_group_ids),
        "endpointPublicAccess": vpc.endpoint_public_access,
        "endpointPrivateAccess": vpc.endpoint_private_access,
    }
    if vpc.public_access_cidrs is not None:
        vpc_config["publicAccessCidrs"] = list(vpc.public_access_cidrs)
    parameters: dict[str, Any] = {
        "name": request.cluster_name,
        "version": request.kubernetes_version,
        "roleArn": role_arn,
        "resourcesVpcConfig": vpc_config,
        "accessConfig": {
            "authenticationMode": request.authentication_mode,
            # the steps that follow reach Kubernetes as the creator (aws-auth in CONFIG_MAP mode)
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        "tags": creation_tags(request.cluster_name, execution_id, request.tags),
        # a retried CreateCluster of the same execution is the same request, not a second one
        "clientRequestToken": execution_id[-64:],
    }
    if request.logging:
        parameters["logging"] = {
            "clusterLogging": [{"types": list(request.logging), "enabled": True}]
        }
    if request.secrets_kms_key_arn:
        parameters["encryptionConfig"] = [
            {"resources": ["secrets"], "provider": {"keyArn": request.secrets_kms_key_arn}}
        ]
    return parameters


def _enabled_logs(cluster: dict[str, Any]) -> set[str]:
    return {
        log_type
        for setup in (cluster.get("logging") or {}).get("clusterLogging", [])
        if setup.get("enabled")
        for log_type in setup.get("types", [])
    }


def _secrets_key(cluster: dict[str, Any]) -> str | None:
    for config in cluster.get("encryptionConfig") or []:
        if "secrets" in config.get("resources", []):
            return config.get("provider", {}).get("keyArn")
    return None


def differences(
    cluster: dict[str, Any], request: CreateClusterInput, role_arn: str | None
) -> list[str]:
    """How ``cluster`` (DescribeCluster's) differs from the request, one line per setting;
    ``role_arn`` None: the cluster role is not compared (eksops has not chosen it yet)."""
    vpc = cluster.get("resourcesVpcConfig") or {}
    wanted = request.vpc
    public_cidrs = wanted.public_access_cidrs
    if public_cidrs is None and wanted.endpoint_public_access:
        public_cidrs = DEFAULT_PUBLIC_CIDRS
    pairs: list[tuple[str, Any, Any]] = [
        ("kubernetesVersion", cluster.get("version"), request.kubernetes_version),
        ("vpc.subnetIds", sorted(vpc.get("subnetIds", [])), sorted(wanted.subnet_ids)),
        (
            "vpc.securityGroupIds",
            sorted(vpc.get("securityGroupIds", [])),
            sorted(wanted.security_group_ids),
        ),
        (
            "vpc.endpointPublicAccess",
            vpc.get("endpointPublicAccess"),
            wanted.endpoint_public_access,
        ),
        (
            "vpc.endpointPrivateAccess",
            vpc.get("endpointPrivateAccess"),
            wanted.endpoint_private_access,
        ),
        (
            "authenticationMode",
            (cluster.get("accessConfig") or {}).get("authenticationMode"),
            request.authentication_mode,
        ),
        ("logging", sorted(_enabled_logs(cluster)), sorted(request.logging)),
        ("secretsKmsKeyArn", _secrets_key(cluster), request.secrets_kms_key_arn),
    ]
    if wanted.endpoint_public_access:
        pairs.append(
            (
                "vpc.publicAccessCidrs",
                sorted(vpc.get("publicAccessCidrs") or []),
                sorted(public_cidrs or []),
            )
        )
    if role_arn is not None:
        pairs.append(("roleArn", cluster.get("roleArn"), role_arn))
    return [
        f"{name}: the cluster has {existing!r}, the input asks for {requested!r}"
        for name, existing, requested in pairs
        if existing != requested
    ]
