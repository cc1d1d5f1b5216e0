"""The EKS control plane's lifecycle and configuration updates, as AWS runs them.

AWS behaviour reproduced (moto creates clusters ACTIVE, deletes them at once, ignores
accessConfig and answers UpdateClusterConfig with the cluster instead of an Update):
- CreateCluster answers CREATING; the cluster is ACTIVE once the create delay has passed, or
  FAILED with `health.issues` when creation fails: the KMS key of its encryptionConfig is
  disabled (KmsKeyDisabled), pending deletion (KmsKeyMarkedForDeletion) or missing
  (KmsKeyNotFound), or the cluster failure check (`eks.set_cluster_failure`) names issues.
  DeleteCluster answers DELETING (a FAILED cluster's too); the cluster is gone after the delete
  delay. A cluster with node groups cannot be deleted (ResourceInUseException).
- accessConfig: authenticationMode defaults to CONFIG_MAP for API callers and
  bootstrapClusterCreatorAdminPermissions to true; the creator (the caller of CreateCluster) is
  recorded and, when the mode includes the API, given an admin access entry.
- UpdateClusterConfig makes one kind of change per call and answers an Update (InProgress,
  Successful after the update delay, visible through DescribeUpdate and ListUpdates); the cluster
  is UPDATING meanwhile and a second update is a ResourceInUseException. The authentication mode
  only moves forward: CONFIG_MAP -> API_AND_CONFIG_MAP -> API.
- UpdateClusterVersion moves one minor version at a time.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from eksops.local.eks import access
from eksops.local.eks._state import (
    LOCK,
    SETTINGS,
    UpdateRecord,
    access_config,
    due,
    error,
    extras,
    get_cluster,
    new_update,
    paginate,
    require_active,
)

DEFAULT_VERSION = "1.32"
MODE_ORDER = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")
# UpdateClusterConfig members: (Update type, the cluster attribute it sets)
CONFIG_UPDATES = {
    "accessConfig": ("AccessConfigUpdate", "access_config"),
    "logging": ("LoggingUpdate", "logging"),
    "resourcesVpcConfig": ("VpcConfigUpdate", "resources_vpc_config"),
    "upgradePolicy": ("UpgradePolicyUpdate", "upgrade_policy"),
    "zonalShiftConfig": ("ZonalShiftConfigUpdate", "zonal_shift_config"),
    "computeConfig": ("AutoModeUpdate", "compute_config"),
    "storageConfig": ("AutoModeUpdate", "storage_config"),
    "kubernetesNetworkConfig": ("AutoModeUpdate", "kubernetes_network_config"),
    "remoteNetworkConfig": ("RemoteNetworkConfigUpdate", "remote_network_config"),
    "deletionProtection": ("DeletionProtectionUpdate", "deletion_protection"),
}


def eks_backend(account_id: str, region: str) -> Any:
    from moto.eks.models import eks_backends

    return eks_backends[account_id][region]


def caller_arn(response: Any) -> str:
    """Who made a request, as STS GetCallerIdentity would answer for its access key (moto's
    own lookup: keys of assumed roles, then of IAM users, else `arn:aws:sts::<acct>:user/moto`)."""
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    backend = sts_backends[response.current_account][get_partition(response.region)]
    _, arn, _ = backend.get_caller_identity(response.get_access_key(), response.region)
    return arn


def _validate_subnets(account_id: str, region: str, subnet_ids: list[str]) -> str:
    """EKS wants subnets that exist, in one VPC and at least two Availability Zones; the VPC."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account_id][region]
    zones, vpcs = set(), set()
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
            zones.add(subnet.availability_zone)
            vpcs.add(subnet.vpc_id)
        except Exception as missing:
            raise error(
                "InvalidParameterException", f"The subnet ID '{subnet_id}' does not exist"
            ) from missing
    if len(zones) < 2:
        raise error(
            "InvalidParameterException",
            "Subnets specified must be in at least two different AZs",
        )
    if len(vpcs) > 1:
        raise error("InvalidParameterException", "Subnets specified must be in the same VPC")
    return vpcs.pop()


def create_cluster(self: Any) -> ActionResult:
    name = self._get_param("name")
    requested = self._get_param("accessConfig") or {}
    mode = requested.get("authenticationMode", "CONFIG_MAP")
    bootstrap = requested.get("bootstrapClusterCreatorAdminPermissions", True)
    vpc_config = dict(self._get_param("resourcesVpcConfig") or {})
    # EKS reports the VPC of the subnets (node groups and load balancers go there)
    vpc_config["vpcId"] = _validate_subnets(
        self.current_account, self.region, vpc_config.get("subnetIds") or []
    )
    vpc_config.setdefault("endpointPublicAccess", True)
    vpc_config.setdefault("endpointPrivateAccess", False)
    vpc_config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    creator = access.principal_for_caller(caller_arn(self), self.current_account)
    with LOCK:
        cluster = self.eks_backend.create_cluster(
            name=name,
            version=self._get_param("version") or DEFAULT_VERSION,
            role_arn=self._get_param("roleArn"),
            resources_vpc_config=vpc_config,
            kubernetes_network_config=self._get_param("kubernetesNetworkConfig"),
            logging=self._get_param("logging"),
            client_request_token=self._get_param("clientRequestToken"),
            tags=self._get_param("tags"),
            encryption_config=self._get_param("encryptionConfig"),
            remote_network_config=self._get_param("remoteNetworkConfig"),
        )
        cluster.status = "CREATING"
        cluster.access_config = {
            "authenticationMode": mode,
            "bootstrapClusterCreatorAdminPermissions": bootstrap,
        }
        cluster.health = {"issues": []}
        cluster.upgrade_policy = self._get_param("upgradePolicy") or {"supportType": "EXTENDED"}
        state = extras(cluster)
        state.deadline = due(SETTINGS.create_delay)
        state.creator_arn = creator
        if bootstrap and mode in access.API_MODES:
            access.bootstrap_creator(cluster)
        return ActionResult({"cluster": cluster})


def delete_cluster(self: Any) -> ActionResult:
    from moto.eks.models import validate_safe_to_delete

    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        if cluster.status != "DELETING":
            validate_safe_to_delete(cluster)
            cluster.status = "DELETING"
            extras(cluster).deadline = due(SETTINGS.delete_delay)
        return ActionResult({"cluster": cluster})


def _cluster_update_in_progress(cluster: Any) -> None:
    if any(
        record.in_progress and record.nodegroup_name is None and record.addon_name is None
        for record in extras(cluster).updates.values()
    ):
        raise error(
            "ResourceInUseException",
            f"Cluster {cluster.name} has an update in progress",
            clusterName=cluster.name,
        )


def _start_update(
    cluster: Any, update_type: str, params: dict[str, Any], on_success: Any
) -> dict[str, Any]:
    update = new_update(update_type, params)
    extras(cluster).updates[update["id"]] = UpdateRecord(
        update, due(SETTINGS.update_delay), on_success=on_success
    )
    cluster.status = "UPDATING"
    return update


def _access_config_change(cluster: Any, requested: dict[str, Any]) -> tuple[dict, Any]:
    current = access_config(cluster)["authenticationMode"]
    wanted = requested.get("authenticationMode")
    if wanted is None or wanted == current:
        raise error(
            "InvalidParameterException",
            f"Unsupported authentication mode update from {current} to {wanted}",
            clusterName=cluster.name,
        )
    if wanted not in MODE_ORDER or MODE_ORDER.index(wanted) != MODE_ORDER.index(current) + 1:
        raise error(
            "InvalidParameterException",
            f"Unsupported authentication mode update from {current} to {wanted}",
            clusterName=cluster.name,
        )

    def apply() -> None:
        access_config(cluster)["authenticationMode"] = wanted
        for nodegroup in cluster.nodegroups.values():  # EKS adds entries for node roles
            access.ensure_node_entry(cluster, nodegroup.node_role, nodegroup.ami_type)

    return {"AuthenticationMode": wanted}, apply


def update_cluster_config(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        changes = {key: self._get_param(key) for key in CONFIG_UPDATES}
        changes = {key: value for key, value in changes.items() if value is not None}
        if len(changes) != 1:
            raise error(
                "InvalidParameterException",
                "Only one type of update can be allowed."
                if changes
                else "No changes requested in the update request",
                clusterName=cluster.name,
            )
        _cluster_update_in_progress(cluster)
        require_active(cluster)
        ((key, value),) = changes.items()
        update_type, attribute = CONFIG_UPDATES[key]
        if key == "accessConfig":
            params, apply = _access_config_change(cluster, value)
        else:
            if key == "resourcesVpcConfig":
                endpoint_only = not ({"subnetIds", "securityGroupIds"} & set(value))
                update_type = "EndpointAccessUpdate" if endpoint_only else update_type
                merged = {**cluster.resources_vpc_config, **value}
                params = {
                    {
                        "subnetIds": "Subnets",
                        "securityGroupIds": "SecurityGroups",
                        "endpointPublicAccess": "EndpointPublicAccess",
                        "endpointPrivateAccess": "EndpointPrivateAccess",
                        "publicAccessCidrs": "PublicAccessCidrs",
                    }[name]: item
                    for name, item in value.items()
                }
                value = merged
            else:
                params = {
                    {
                        "logging": "ClusterLogging",
                        "upgradePolicy": "UpgradePolicy",
                        "zonalShiftConfig": "ZonalShiftConfig",
                        "computeConfig": "ComputeConfig",
                        "storageConfig": "StorageConfig",
                        "kubernetesNetworkConfig": "KubernetesNetworkConfig",
                        "remoteNetworkConfig": "RemoteNetworkConfig",
                        "deletionProtection": "DeletionProtection",
                    }[key]: value
                }

            def apply(attribute: str = attribute, value: Any = value) -> None:
                setattr(cluster, attribute, value)

        return ActionResult({"update": _start_update(cluster, update_type, params, apply)})


def update_cluster_version(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        version = self._get_param("version")
        _cluster_update_in_progress(cluster)
        require_active(cluster)
        major, minor = (int(part) for part in cluster.version.split("."))
        if version != f"{major}.{minor + 1}":
            raise error(
                "InvalidParameterException",
                f"Unsupported Kubernetes minor version update from {cluster.version} to {version}",
                clusterName=cluster.name,
            )

        def apply() -> None:
            cluster.version = version
            cluster.platformVersion = "eks.1"

        update = _start_update(
            cluster, "VersionUpdate", {"Version": version, "PlatformVersion": "eks.1"}, apply
        )
        return ActionResult({"update": update})


def _updates_of(self: Any) -> tuple[Any, list[UpdateRecord]]:
    cluster = get_cluster(self.eks_backend, self._get_param("name"))
    nodegroup, addon = self._get_param("nodegroupName"), self._get_param("addonName")
    if nodegroup is not None and nodegroup not in cluster.nodegroups:
        raise error(
            "ResourceNotFoundException",
            f"No node group found for name: {nodegroup}.",
            clusterName=cluster.name,
            nodegroupName=nodegroup,
        )
    if addon is not None and addon not in extras(cluster).addons:
        raise error(
            "ResourceNotFoundException",
            f"No addon: {addon} found in cluster: {cluster.name}",
            clusterName=cluster.name,
            addonName=addon,
        )
    records = [
        record
        for record in extras(cluster).updates.values()
        if record.nodegroup_name == nodegroup and record.addon_name == addon
    ]
    return cluster, records


def describe_update(self: Any) -> ActionResult:
    with LOCK:
        cluster, records = _updates_of(self)
        update_id = self._get_param("updateId")
        for record in records:
            if record.update["id"] == update_id:
                return ActionResult({"update": record.update})
        raise error(
            "ResourceNotFoundException",
            f"No update found for ID: {update_id}",
            clusterName=cluster.name,
            nodegroupName=self._get_param("nodegroupName"),
            addonName=self._get_param("addonName"),
        )


def list_updates(self: Any) -> ActionResult:
    with LOCK:
        _, records = _updates_of(self)
        ids = [record.update["id"] for record in records]
        page, token = paginate(ids, self._get_param("maxResults"), self._get_param("nextToken"))
        return ActionResult({"updateIds": page, "nextToken": token})


def _issue(code: str, message: str, resource_ids: list[str]) -> dict[str, Any]:
    return {"code": code, "message": message, "resourceIds": resource_ids}


def kms_issues(cluster: Any) -> list[dict[str, Any]]:
    """EKS cannot create a cluster whose secrets key it cannot use: the key (by ARN, in the
    account and region the ARN names) is missing, disabled or pending deletion."""
    from moto.kms.models import kms_backends

    _, _, _, region, account, _ = cluster.arn.split(":", 5)
    issues = []
    for config in cluster.encryption_config or []:
        key_arn = (config.get("provider") or {}).get("keyArn")
        if not key_arn:
            continue
        if key_arn.startswith("arn:"):
            _, _, _, region, account, _ = key_arn.split(":", 5)
        try:
            key = kms_backends[account][region].describe_key(key_arn)
        except Exception:  # moto raises KeyError, or fails on an unknown alias
            issues.append(_issue("KmsKeyNotFound", f"KMS key {key_arn} not found.", [key_arn]))
            continue
        if key.key_state == "PendingDeletion":
            message = f"KMS key {key.arn} is pending deletion."
            issues.append(_issue("KmsKeyMarkedForDeletion", message, [key.arn]))
        elif key.key_state == "Disabled" or not key.enabled:
            issues.append(_issue("KmsKeyDisabled", f"KMS key {key.arn} is disabled.", [key.arn]))
    return issues


def _creation_issues(cluster: Any) -> list[dict[str, Any]]:
    """Why the cluster's creation fails (empty: it does not), in ClusterIssue's shape."""
    issues = list(SETTINGS.cluster_failure_check(cluster) or []) or kms_issues(cluster)
    return [
        _issue(issue["code"], issue.get("message", ""), list(issue.get("resourceIds", [])))
        for issue in issues
    ]


def advance(backend: Any, cluster: Any) -> bool:
    """Move the cluster along its lifecycle; False once it is gone."""
    state = extras(cluster)
    if cluster.status == "CREATING" and (state.deadline is None or due(0) >= state.deadline):
        issues = _creation_issues(cluster)
        cluster.status = "FAILED" if issues else "ACTIVE"
        cluster.health = {"issues": issues}
    elif cluster.status == "DELETING" and due(0) >= (state.deadline or 0):
        backend.clusters.pop(cluster.name, None)
        backend.cluster_count -= 1
        return False
    for record in state.updates.values():
        if record.in_progress and due(0) >= record.deadline:
            if record.on_success is not None:
                record.on_success()
            record.update["status"] = "Successful"
            if record.nodegroup_name is None and record.addon_name is None:
                cluster.status = "ACTIVE"
    return True


RESPONSES = {
    "create_cluster": create_cluster,
    "delete_cluster": delete_cluster,
    "update_cluster_config": update_cluster_config,
    "update_cluster_version": update_cluster_version,
    "describe_update": describe_update,
    "list_updates": list_updates,
}

URL_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/updates$",
    "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$",
}
