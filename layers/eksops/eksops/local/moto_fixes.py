"""CloudFormation in moto, made to create Lambda resources as AWS does.

Each fix names the AWS behaviour it restores; docs/offline-account.md lists them all.
"""

from __future__ import annotations

import uuid
from typing import Any

from eksops.local import autoscaling_lifecycle, cfn_resources, security_group_rules


class _ExecutingBackends:
    """What moto's Step Functions API uses, for its CloudFormation too: with state machine
    execution on, the API uses the interpreter's backends while CloudFormation kept creating
    state machines in the other ones, where no API call can see them."""

    def __getitem__(self, account_id: str) -> Any:
        from moto.stepfunctions.responses import get_backend

        return _AccountBackends(account_id, get_backend)


class _AccountBackends:
    def __init__(self, account_id: str, get_backend: Any) -> None:
        self.account_id = account_id
        self.get_backend = get_backend

    def __getitem__(self, region: str) -> Any:
        return self.get_backend(self.account_id, region)


def install() -> None:
    from moto.awslambda.models import LambdaFunction, LayerVersion, lambda_backends
    from moto.stepfunctions import models as stepfunctions_models
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if getattr(LayerVersion, "_eksops_fixed", False):
        return
    stepfunctions_models.stepfunctions_backends = _ExecutingBackends()
    start_execution = StepFunctionsParserBackend.start_execution

    def start_execution_named(
        self: Any, state_machine_arn: str, name: Any = None, *a: Any, **kw: Any
    ) -> Any:
        """StartExecution without a name gets a UUID, as in AWS (moto's interpreter used None,
        so a second unnamed execution collided with the first)."""
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *a, **kw)

    StepFunctionsParserBackend.start_execution = start_execution_named
    _install_access_key_lookup()
    _install_role_snapshots()
    _install_oidc_client_ids()
    cfn_resources.install()  # AWS::CloudWatch::Alarm and AWS::SQS::QueuePolicy, which moto lacks
    _install_conditional_resources()
    security_group_rules.install()  # EC2 security group rules and ELBv2 as the workflows need
    autoscaling_lifecycle.install()  # terminate lifecycle hooks: wait, event, heartbeat, complete
    create_function = LambdaFunction.create_from_cloudformation_json.__func__

    def create_function_with_all_properties(
        cls: type, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        """Layers, Architectures and TracingConfig apply, and environment variables are strings
        (CloudFormation's Number parameters too), as in AWS."""
        function = create_function(cls, resource_name, cloudformation_json, *args, **kw)
        properties = cloudformation_json["Properties"]
        function.environment_vars = {
            name: str(value) for name, value in (function.environment_vars or {}).items()
        }
        if "Layers" in properties:
            function.layers = function._get_layers_data(properties["Layers"])
        if "Architectures" in properties:
            function.architectures = properties["Architectures"]
        if "TracingConfig" in properties:
            function.tracing_config = properties["TracingConfig"]
        if "EphemeralStorage" in properties:
            function.ephemeral_storage = properties["EphemeralStorage"]["Size"]
        return function

    def create_layer_version(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> Any:
        """LayerName and CompatibleArchitectures apply, as in AWS."""
        properties = cloudformation_json["Properties"]
        spec = {
            "Content": properties["Content"],
            "LayerName": properties.get("LayerName", resource_name),
        }
        for name in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if name in properties:
                spec[name] = properties[name]
        return lambda_backends[account_id][region_name].publish_layer_version(spec)

    LambdaFunction.create_from_cloudformation_json = classmethod(
        create_function_with_all_properties
    )
    LayerVersion.create_from_cloudformation_json = classmethod(create_layer_version)
    # Ref of AWS::Lambda::LayerVersion is its LayerVersionArn (moto returns an empty string).
    LayerVersion.physical_resource_id = property(lambda self: self.arn)
    LayerVersion._eksops_fixed = True


def _install_conditional_resources() -> None:
    """A resource whose Condition is false is not created, and stack resource listings leave it
    out, as in AWS: moto keeps None for it, which DescribeStackResource(s) tripped over."""
    from moto.cloudformation.models import Stack

    Stack.stack_resources = property(  # type: ignore[assignment]
        lambda self: [resource for resource in self.resource_map.values() if resource is not None]
    )


def _install_role_snapshots() -> None:
    """IAM role lookups that another request's CreateRole cannot break: moto's GetRole walks the
    live dict of roles, and the offline account serves requests on threads, so a role created
    meanwhile failed it with "dictionary changed size during iteration" (a 500 AWS never sends
    for a GetRole)."""
    from moto.iam.models import IAMBackend

    IAMBackend.get_roles = lambda self: list(self.roles.values())  # type: ignore[method-assign]


def _install_oidc_client_ids() -> None:
    """IAM's Add/RemoveClientIDTo/FromOpenIDConnectProvider, which moto lacks. Both are
    idempotent in AWS: adding a present client ID or removing an absent one changes nothing."""
    from moto.core.responses import EmptyResult
    from moto.iam.exceptions import LimitExceededException, ValidationError
    from moto.iam.responses import IamResponse

    def provider(self: Any) -> Any:
        return self.backend.get_open_id_connect_provider(
            self._get_param("OpenIDConnectProviderArn")
        )

    def add_client_id(self: Any) -> Any:
        found, client_id = provider(self), self._get_param("ClientID")
        if not 1 <= len(client_id or "") <= 255:
            raise ValidationError("ClientID must be between 1 and 255 characters")
        if client_id not in found.client_id_list:
            if len(found.client_id_list) >= 100:
                raise LimitExceededException(
                    "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100"
                )
            found.client_id_list.append(client_id)
        return EmptyResult()

    def remove_client_id(self: Any) -> Any:
        found, client_id = provider(self), self._get_param("ClientID")
        if client_id in found.client_id_list:
            found.client_id_list.remove(client_id)
        return EmptyResult()

    IamResponse.add_client_id_to_open_id_connect_provider = add_client_id
    IamResponse.remove_client_id_from_open_id_connect_provider = remove_client_id


def _install_access_key_lookup() -> None:
    """Which account an access key belongs to, looked up only in the IAM backends that exist.
    moto's lookup builds the IAM backend of every partition of every account it checks, and with
    AWS managed policies loaded each build takes seconds: the first request of an unknown key
    (a fresh Lambda worker's, Step Functions' own) took 4-16 s."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models as iam_models

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(iam_models.iam_backends.items()):
            for backend in list(account.values()):
                if access_key in backend.access_keys:
                    return account_id
        return DEFAULT_ACCOUNT_ID

    iam_models.get_account_id_from = get_account_id_from
