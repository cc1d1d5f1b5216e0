"""The checks of a CreateCluster input that need AWS: made with reads only, before any change,
so that bad input fails the first state with eksops.InvalidInput."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic.alias_generators import to_camel

from eksops.admin_access import MASTERS_GROUP
from eksops.cluster_role import check_given_role
from eksops.errors import InvalidInputError
from eksops.irsa_validation import check_policies
from eksops.models.base import Model, NestedWorkflowInput, parse_event
from eksops.models.create_cluster import DEFAULT_ADMIN_POLICY, CreateClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.nodegroup_spec import plan_nodegroups
from eksops.nodegroup_validation import check_spec


def _subnets(ec2: Any, request: CreateClusterInput) -> list[dict[str, Any]]:
    try:
        return ec2.describe_subnets(SubnetIds=list(request.vpc.subnet_ids))["Subnets"]
    except ec2.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"].startswith("InvalidSubnetID"):
            raise InvalidInputError(f"vpc.subnetIds: {exc.response['Error']['Message']}") from None
        raise


def check_network(ec2: Any, request: CreateClusterInput) -> tuple[str, str]:
    """Subnets exist, share one VPC and span two AZs; security groups exist in that VPC. Returns
    the VPC and the account that owns the subnets (the target account)."""
    subnets = _subnets(ec2, request)
    vpcs = {subnet["VpcId"] for subnet in subnets}
    if len(vpcs) != 1:
        raise InvalidInputError(f"vpc.subnetIds: the subnets are in several VPCs ({sorted(vpcs)})")
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    if len(zones) < 2:
        raise InvalidInputError(
            f"vpc.subnetIds: EKS needs subnets in at least two Availability Zones; these are all "
            f"in {zones.pop()}"
        )
    (vpc_id,) = vpcs
    if request.vpc.security_group_ids:
        try:
            groups = ec2.describe_security_groups(GroupIds=list(request.vpc.security_group_ids))
        except ec2.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"].startswith("InvalidGroup"):
                raise InvalidInputError(
                    f"vpc.securityGroupIds: {exc.response['Error']['Message']}"
                ) from None
            raise
        elsewhere = [g["GroupId"] for g in groups["SecurityGroups"] if g["VpcId"] != vpc_id]
        if elsewhere:
            raise InvalidInputError(
                f"vpc.securityGroupIds: {', '.join(elsewhere)} not in the subnets' VPC {vpc_id}"
            )
    return vpc_id, subnets[0]["OwnerId"]


def check_admins(iam: Any, request: CreateClusterInput, account_id: str) -> None:
    """Admins of this account exist (EKS refuses access entries of unknown principals); those
    of other accounts cannot be checked from here."""
    for admin in request.admins:
        arn = admin.principal_arn
        if arn.split(":")[4] != account_id:
            continue
        name = arn.rsplit("/", 1)[1]
        try:
            if ":role/" in arn:
                found = iam.get_role(RoleName=name)["Role"]["Arn"]
            else:
                found = iam.get_user(UserName=name)["User"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            found = None
        if found != arn:
            raise InvalidInputError(f"admins: no IAM principal {arn} in account {account_id}")


def check_kms_key(kms: Any, key_arn: str) -> None:
    try:
        key = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        raise InvalidInputError(f"secretsKmsKeyArn: no KMS key {key_arn}") from None
    if key["KeyState"] != "Enabled":
        raise InvalidInputError(f"secretsKmsKeyArn: {key_arn} is {key['KeyState']}")
    if key.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        raise InvalidInputError(f"secretsKmsKeyArn: {key_arn} is not a symmetric key")


def check_version(eks: Any, version: str) -> None:
    versions = eks.describe_cluster_versions(clusterVersions=[version])["clusterVersions"]
    if not versions:
        raise InvalidInputError(f"kubernetesVersion: EKS does not offer Kubernetes {version}")


def check_addons(eks: Any, request: CreateClusterInput) -> None:
    for addon in request.addons:
        found = eks.describe_addon_versions(
            addonName=addon.name, kubernetesVersion=request.kubernetes_version
        )["addons"]
        if not found:
            raise InvalidInputError(
                f"addons: EKS has no add-on {addon.name} for Kubernetes "
                f"{request.kubernetes_version}"
            )
        versions = {v["addonVersion"] for v in found[0]["addonVersions"]}
        if addon.version and addon.version not in versions:
            raise InvalidInputError(
                f"addons: {addon.name} {addon.version} is not offered for Kubernetes "
                f"{request.kubernetes_version}"
            )


def _child_inputs(
    request: CreateClusterInput,
    field: str,
    items: Sequence[NestedWorkflowInput],
    model: type[Model],
) -> list[Model]:
    """The nested workflow input of each of ``items`` (the list ``field`` of ``request``): the
    cluster's name, region and target role filled in (InvalidInput where an item names others)."""
    cluster_fields = {
        "cluster_name": request.cluster_name,
        "region": request.region,
        "target_role_arn": request.target_role_arn,
        "external_id": request.external_id,
    }
    inputs = []
    for index, item in enumerate(items):
        for name, value in cluster_fields.items():
            given = getattr(item, name)
            if given is not None and given != value:
                raise InvalidInputError(
                    f"{field}[{index}].{to_camel(name)}: {given!r} is not this cluster's "
                    f"{value!r}; leave it out"
                )
        data = item.model_dump(by_alias=True, exclude_unset=True)
        data.update({to_camel(name): value for name, value in cluster_fields.items()})
        inputs.append(parse_event(model, data))
    return inputs


def nodegroup_joins(request: CreateClusterInput) -> list[JoinNodegroupInput]:
    """The JoinNodegroup input of each of ``request``'s node groups."""
    return _child_inputs(request, "nodegroups", request.nodegroups, JoinNodegroupInput)


def irsa_bindings(request: CreateClusterInput) -> list[SetupIrsaInput]:
    """The SetupIrsa input of each of ``request``'s ``irsa`` items."""
    return _child_inputs(request, "irsa", request.irsa, SetupIrsaInput)


def check_nodegroups(
    clients: Any, request: CreateClusterInput, vpc_id: str, account_id: str
) -> None:
    """Each node group as JoinNodegroup will check it, except what needs the cluster; and no
    two with the same node group name."""
    names: dict[str, int] = {}
    for index, join in enumerate(nodegroup_joins(request)):
        try:
            subnets = check_spec(clients, join, vpc_id, account_id)
            planned = plan_nodegroups(join, subnets) if join.kind == "managed" else []
        except InvalidInputError as exc:
            raise InvalidInputError(f"nodegroups[{index}].{exc}") from None
        for plan in planned:
            if plan.name in names:
                raise InvalidInputError(
                    f"nodegroups[{index}]: node group {plan.name} is also made by "
                    f"nodegroups[{names[plan.name]}]"
                )
            names[plan.name] = index


def check_irsa(iam: Any, request: CreateClusterInput) -> None:
    """Each irsa item as far as it can be checked without the cluster: its cluster fields, no
    ServiceAccount bound twice, no role named twice (the children run at once, and two merges
    into one trust policy could each write it without the other's statement), and its managed
    policies exist."""
    bound: dict[tuple[str, str], int] = {}
    roles: dict[str, int] = {}
    for index, binding in enumerate(irsa_bindings(request)):
        if (role := binding.role_name) is not None:
            if role in roles:
                raise InvalidInputError(
                    f"irsa[{index}].roleName: {role} is also irsa[{roles[role]}]'s; bind "
                    "ServiceAccounts to one role with one SetupIrsa execution after another"
                )
            roles[role] = index
        service_account = (binding.namespace, binding.service_account)
        if service_account in bound:
            raise InvalidInputError(
                f"irsa[{index}]: ServiceAccount {'/'.join(service_account)} is also bound by "
                f"irsa[{bound[service_account]}]"
            )
        bound[service_account] = index
        check_policies(iam, binding.policy_arns, f"irsa[{index}].policyArns")


def check_static(request: CreateClusterInput) -> None:
    """What the model cannot say alone."""
    if request.authentication_mode == "CONFIG_MAP":
        for admin in request.admins:
            if admin.policy != DEFAULT_ADMIN_POLICY:
                raise InvalidInputError(
                    f"admins: {admin.principal_arn} asks for {admin.policy}, but in CONFIG_MAP "
                    f"mode aws-auth can only make administrators ({MASTERS_GROUP}); use "
                    "authenticationMode API_AND_CONFIG_MAP for access policies"
                )


def validate(clients: Any, request: CreateClusterInput) -> None:
    """Every check; ``clients(service)`` gives a client of the target account."""
    check_static(request)
    check_version(clients("eks"), request.kubernetes_version)
    vpc_id, account_id = check_network(clients("ec2"), request)
    check_admins(clients("iam"), request, account_id)
    if request.role_arn:
        check_given_role(clients("iam"), request.role_arn)
    if request.secrets_kms_key_arn:
        check_kms_key(clients("kms"), request.secrets_kms_key_arn)
    check_addons(clients("eks"), request)
    check_nodegroups(clients, request, vpc_id, account_id)
    check_irsa(clients("iam"), request)
