"""Step Functions' service integration semantics for moto's ASL interpreter.

moto runs the real ASL with a copy of LocalStack's interpreter, but hands a Task's `Parameters`
to boto3 as written, returns botocore's casing and datetimes, names only a few services in aws-sdk
errors, wraps `$.list[0].field` in a list and turns a `States.*` error passed on by a Map, a
Parallel or a Fail state into States.Runtime. `install()` adapts the interpreter in this process so
that ASL written for real AWS runs unchanged: request and result casing, timestamps, aws-sdk
service names, aws-sdk error names, definite JSONPaths, relayed error names. Each adaptation names
the AWS behaviour it reproduces; moto's files are not touched.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.response import StreamingBody

_MARK = "_eksops_sfn_sdk_installed"

# Step Functions' own names for services whose botocore name differs (moto's overrides).
_SFN_TO_BOTOCORE = {"sfn": "stepfunctions", "states": "stepfunctions"}

# Jayway JsonPath (which Step Functions uses) calls a path indefinite, and always answers it with a
# list, when it has a deep scan, a wildcard, a filter, a slice or several indexes in one bracket.
_INDEFINITE_PATH = re.compile(r"\.\.|\*|\?\(|\[(?!\s*['\"])[^\]]*[:,]")

# AWS: "API fields for equals will be referred to in your state machines as EqualsValue".
_EQUALS = "equals"
_EQUALS_VALUE = "EqualsValue"


def install() -> None:
    """Adapt moto's Step Functions interpreter in this process; calling it again does nothing."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )

    if getattr(StateTaskService, _MARK, False):
        return
    # Subclasses (lambda, sfn, sqs) override the hooks and call super(), so patching the base
    # class covers them; API Gateway's own no-op overrides stay as they are.
    StateTaskService._get_boto_service_name = _get_boto_service_name  # type: ignore[method-assign]
    StateTaskService._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    StateTaskService._normalise_response = _normalise_response  # type: ignore[method-assign]
    aws_sdk.StateTaskServiceAwsSdk._normalise_service_error_name = staticmethod(  # type: ignore[method-assign]
        service_error_name
    )
    _install_extract_json()
    _install_validating_clients()
    _install_states_error_names()
    setattr(StateTaskService, _MARK, True)


def _install_extract_json() -> None:
    """Step Functions answers a definite JSONPath (`$.Subnets[0].SubnetId`) with the value itself;
    moto answers it with a one-element list whenever the path goes through an array index."""
    from moto.stepfunctions.parser.asl.utils import json_path

    original: Callable[[str, Any], Any] = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        matches = json_path.parse(path).find(data)
        if not matches:
            return original(path, data)  # moto's error (or [] for wildcards and slices)
        if _INDEFINITE_PATH.search(path):
            return [match.value for match in matches]
        return matches[0].value

    _rebind("extract_json", original, extract_json)


def _install_validating_clients() -> None:
    """AWS validates every service call of a Task against the API's model; moto's interpreter
    builds its clients with botocore's parameter validation off, so a wrong parameter reached
    the backend. Same clients (endpoint, no retries, timeouts), validation on."""
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        in_process = botocore_stubber.enabled  # mock_aws intercepts; else the local server
        endpoint = {} if in_process else {"endpoint_url": f"http://localhost:{moto_server_port()}"}
        config = Config(
            parameter_validation=True,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        )
        return boto3.client(
            service_name=service,
            region_name=region,
            aws_access_key_id="ak",
            aws_secret_access_key="sk",  # noqa: S106 - moto accepts any key
            config=config,
            **endpoint,
        )

    _rebind("boto_client_for", boto_client.boto_client_for, boto_client_for)


# Interpreter modules that name an error they did not raise themselves: a Map iteration's or a
# Parallel branch's error, a Fail state's (Error, ErrorPath), a callback's or a Lambda's error.
_ERROR_RELAYING_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
    "moto.stepfunctions.parser.asl.component.state.fail.state_fail",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda",
)


def _install_states_error_names() -> None:
    """AWS relays an error under the name it was raised with: a Map whose iteration failed with
    States.TaskFailed fails with States.TaskFailed (catchable as such), and a Fail state may
    re-raise a caught `States.*` error through ErrorPath. moto wraps every relayed name in its
    custom-error type, which refuses the `States.` prefix, so each became States.Runtime."""
    import importlib

    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )

    class RelayedErrorName(ErrorName):
        """A `States.`-prefixed name the interpreter does not define, carried as it is."""

    def relayed_error_name(error_name: str | None) -> ErrorName:
        if error_name is None or not error_name.startswith("States."):
            return CustomErrorName(error_name)
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            return RelayedErrorName(error_name)

    for name in _ERROR_RELAYING_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "CustomErrorName", None) is CustomErrorName:
            module.CustomErrorName = relayed_error_name  # type: ignore[attr-defined]


def _rebind(attribute: str, original: Any, replacement: Any) -> None:
    """The interpreter's modules import these functions by name: rebind each import."""
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and (
            getattr(module, attribute, None) is original
        ):
            setattr(module, attribute, replacement)


def sdk_service_name(service_id: str) -> str:
    """The AWS SDK for Java v2 name of a service from botocore's `serviceId`, which Step Functions
    uses in aws-sdk error names and resource ARNs (lower-cased): "DynamoDB" -> "DynamoDb",
    "Secrets Manager" -> "SecretsManager", "Elastic Load Balancing v2" -> "ElasticLoadBalancingV2".
    Splits on word boundaries as the Java SDK's code generator does, then capitalises each word."""
    words = re.sub(r"[^A-Za-z0-9]+", " ", service_id)
    words = re.sub(r"([^a-z]{2,})v([0-9]+)", r"\1 v\2 ", words)  # SESv2 -> SES v2
    words = re.sub(r"([^A-Z]{2,})V([0-9]+)", r"\1 V\2 ", words)  # GatewayV2 -> Gateway V2
    words = re.sub(r"(?<=[a-z])(?=[A-Z][a-zA-Z0-9])", " ", words)  # DynamoDB -> Dynamo DB
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", words)  # ACMSuccess -> ACM Success
    words = re.sub(r"([0-9])([a-zA-Z])", r"\1 \2", words)  # s3ec2 -> s3 ec2
    return "".join(word[:1].upper() + word[1:].lower() for word in words.split())


def service_error_name(sfn_service: str) -> str:
    """AWS names aws-sdk errors `<Service>.<Exception>`, `<Service>` being the Java v2 name of the
    service (`Eks.ResourceNotFoundException`, `DynamoDb.ConditionalCheckFailedException`)."""
    model = _service_model(botocore_service_name(sfn_service))
    if model is None:
        return sfn_service[:1].upper() + sfn_service[1:]
    return sdk_service_name(model.metadata.get("serviceId") or model.service_name)


def botocore_service_name(sfn_service: str) -> str:
    """The botocore service behind a Step Functions service name. aws-sdk ARNs name services in
    lower-cased Java v2 form (`elasticloadbalancingv2`, `cloudwatchlogs`, `acmpca`), which mostly
    but not always equals botocore's name (`elbv2`, `logs`, `acm-pca`)."""
    name = sfn_service.lower()
    return (
        _SFN_TO_BOTOCORE.get(name) or _botocore_names().get(name) or _by_sdk_name().get(name, name)
    )


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.Session()


@functools.cache
def _botocore_names() -> dict[str, str]:
    return {name.replace("-", ""): name for name in _session().get_available_services()}


@functools.cache
def _by_sdk_name() -> dict[str, str]:
    """Every service by its lower-cased Java v2 name; loads every model (seconds), so only asked
    for names that are not botocore's own."""
    loader = _session().get_component("data_loader")
    by_name = {}
    for name in _session().get_available_services():
        service_id = loader.load_service_model(name, "service-2")["metadata"].get("serviceId")
        if service_id:
            by_name.setdefault(sdk_service_name(service_id).lower(), name)
    return by_name


@functools.cache
def _service_model(botocore_service: str) -> ServiceModel | None:
    try:
        return _session().get_service_model(botocore_service)
    except UnknownServiceError:
        return None


@functools.cache
def _operation_model(botocore_service: str, action: str) -> OperationModel | None:
    """The operation an ARN's action names: `describeCluster`, `describe_cluster` or
    `DescribeCluster` all name DescribeCluster."""
    model = _service_model(botocore_service)
    if model is None:
        return None
    wanted = action.replace("_", "").lower()
    for operation in model.operation_names:
        if operation.lower() == wanted:
            return model.operation_model(operation)
    return None


def _sfn_member_name(member: str) -> str:
    """A botocore member as Step Functions spells it: the Java v2 PascalCase name
    (`clusterName` -> `ClusterName`, `DBInstances` -> `DbInstances`), `Equals` as `EqualsValue`."""
    from moto.stepfunctions.parser.utils import camel_to_snake_case, snake_to_camel_case

    if member.lower() == _EQUALS:
        return _EQUALS_VALUE
    return snake_to_camel_case(camel_to_snake_case(member))


def _to_botocore(value: Any, shape: Shape) -> Any:
    """Step Functions casing to botocore member names, through structures, lists and map values
    (map keys are data and keep their spelling). Dicts are changed in place."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {_sfn_member_name(m).lower(): m for m in shape.members}
        members.update({m.lower(): m for m in shape.members})
        items = list(value.items())
        value.clear()
        for key, item in items:
            member = members.get(key.lower())
            if member is None:
                value[key] = item  # unknown to the model: left for the service to reject
            else:
                value[member] = _to_botocore(item, shape.members[member])
    elif isinstance(shape, ListShape) and isinstance(value, list):
        value[:] = [_to_botocore(item, shape.member) for item in value]
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key in value:
            value[key] = _to_botocore(value[key], shape.value)
    return value


def sdk_timestamp(value: datetime) -> str:
    """A timestamp as aws-sdk integrations write it (Java SDK v2): ISO 8601 in UTC with
    milliseconds, `2024-05-01T12:00:00.123Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_millis(value: datetime) -> int:
    """A timestamp as optimized integrations write it (`StartDate` of states:startExecution):
    milliseconds since the epoch."""
    return round(value.timestamp() * 1000)


def _to_sfn(value: Any, shape: Shape, timestamp: Callable[[datetime], Any] = sdk_timestamp) -> Any:
    """botocore's result in Step Functions casing, through structures, lists and map values,
    timestamps written with `timestamp`. Dicts are changed in place: moto's sync resolvers keep
    references into the response."""
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8")
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        items = list(value.items())
        value.clear()
        for key, item in items:
            member = shape.members.get(key)
            if member is None:
                value[key] = item
            else:
                value[_sfn_member_name(key)] = _to_sfn(item, member, timestamp)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        value[:] = [_to_sfn(item, shape.member, timestamp) for item in value]
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key in value:
            value[key] = _to_sfn(value[key], shape.value, timestamp)
    return value


# The methods below replace moto's StateTaskService hooks (`self` is the Task's service).


def _get_boto_service_name(self: Any, boto_service_name: str | None = None) -> str:
    return botocore_service_name(boto_service_name or self.resource.api_name)


def _task_operation(
    self: Any, boto_service_name: str | None, service_action_name: str | None
) -> OperationModel | None:
    return _operation_model(
        self._get_boto_service_name(boto_service_name),
        service_action_name or self.resource.api_action,
    )


def _normalise_parameters(
    self: Any,
    parameters: dict,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """AWS: "Parameters in Step Functions are expressed in PascalCase, even if the native service
    API is in camelCase"; they reach the service under its own member names."""
    operation = _task_operation(self, boto_service_name, service_action_name)
    if operation is not None and operation.input_shape is not None:
        _to_botocore(parameters, operation.input_shape)


def _normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """AWS returns a service's result with every member in PascalCase (`$.Cluster.Status`) and
    timestamps as JSON values: ISO 8601 strings from aws-sdk integrations, epoch milliseconds
    from optimized ones (moto left datetimes, which its DescribeExecution cannot serialise)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    operation = _task_operation(self, boto_service_name, service_action_name)
    if operation is not None and operation.output_shape is not None:
        sdk = isinstance(self, aws_sdk.StateTaskServiceAwsSdk)
        _to_sfn(response, operation.output_shape, sdk_timestamp if sdk else epoch_millis)
