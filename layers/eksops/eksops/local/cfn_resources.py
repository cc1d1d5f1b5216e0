"""CloudFormation resource types moto lacks, created through moto's own service backends.

moto's CloudFormation logs "No Moto CloudFormation support for ..." and creates nothing for:
- AWS::CloudWatch::Alarm: here an alarm, as PutMetricAlarm makes it (metric math included);
  Ref is the alarm name (AlarmName, or `<stack>-<LogicalId>-<suffix>` as CloudFormation names
  it), Fn::GetAtt Arn its ARN; deleted with the stack.
- AWS::SQS::QueuePolicy: here the `Policy` attribute of each queue in `Queues`; removed with
  the stack.
- AWS::Events::EventBusPolicy: here the statement `StatementId` of the bus's policy, as
  PutPermission adds it (`Statement`, or `Action`, `Principal` and `Condition`); removed with
  the stack.

moto finds CloudFormation models as CloudFormationModel.__subclasses__() behind lru_caches:
``install`` clears them, so the types below count even if a stack was deployed before.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def metric_data_queries(metrics: list[dict[str, Any]]) -> list[Any]:
    """moto's MetricDataQuery objects for an alarm's `Metrics`, built as moto's
    CloudWatchResponse.put_metric_alarm builds them from the API request (CloudFormation's
    property has the API's shape)."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    for metric in metrics:
        stat_details = metric.get("MetricStat") or {}
        stat_metric = stat_details.get("Metric") or {}
        metric_stat = None
        if stat_metric.get("MetricName"):
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=stat_metric["MetricName"],
                    namespace=stat_metric.get("Namespace"),
                    dimensions=[
                        Dimension(name=dimension.get("Name"), value=dimension.get("Value"))
                        for dimension in stat_metric.get("Dimensions") or []
                    ],
                ),
                period=_int(stat_details.get("Period")),  # type: ignore[arg-type]
                stat=stat_details.get("Stat"),
                unit=stat_details.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric.get("Id"),  # type: ignore[arg-type]
                label=metric.get("Label"),  # type: ignore[arg-type]
                period=_int(metric.get("Period")),  # type: ignore[arg-type]
                return_data=(  # type: ignore[arg-type]
                    None if metric.get("ReturnData") is None else _bool(metric["ReturnData"])
                ),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class CloudWatchAlarm(CloudFormationModel):
    """AWS::CloudWatch::Alarm: the alarm PutMetricAlarm would make of its properties."""

    def __init__(self, alarm: Any, account_id: str, region_name: str) -> None:
        self.alarm = alarm
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.alarm.alarm_arn
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @staticmethod
    def _backend(account_id: str, region_name: str) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[account_id][region_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudWatchAlarm:
        properties = cloudformation_json.get("Properties", {})
        metrics = properties.get("Metrics")
        threshold = properties.get("Threshold")
        actions_enabled = properties.get("ActionsEnabled")
        alarm = cls._backend(account_id, region_name).put_metric_alarm(
            name=properties.get("AlarmName", resource_name),
            namespace=properties.get("Namespace"),
            metric_name=properties.get("MetricName"),
            metric_data_queries=metric_data_queries(metrics) if metrics else None,
            comparison_operator=properties.get("ComparisonOperator"),
            evaluation_periods=_int(properties.get("EvaluationPeriods")),
            datapoints_to_alarm=_int(properties.get("DatapointsToAlarm")),
            period=_int(properties.get("Period")),
            threshold=None if threshold is None else float(threshold),
            statistic=properties.get("Statistic"),
            extended_statistic=properties.get("ExtendedStatistic"),
            description=properties.get("AlarmDescription"),
            dimensions=properties.get("Dimensions") or [],
            alarm_actions=properties.get("AlarmActions") or [],
            ok_actions=properties.get("OKActions") or [],
            insufficient_data_actions=properties.get("InsufficientDataActions") or [],
            unit=properties.get("Unit"),
            actions_enabled=True if actions_enabled is None else _bool(actions_enabled),
            treat_missing_data=properties.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=properties.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=properties.get("ThresholdMetricId"),
            tags=properties.get("Tags") or None,
        )
        return cls(alarm, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CloudWatchAlarm:
        """The alarm, replaced; its name stays unless AlarmName changes it (moto generates a
        new name for every update; CloudFormation keeps the one it generated)."""
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("AlarmName", original_resource.physical_resource_id)
        # PutMetricAlarm replaces the whole definition of an alarm of the same name
        replacement = cls.create_from_cloudformation_json(
            name, cloudformation_json, account_id, region_name
        )
        if name != original_resource.physical_resource_id:
            original_resource.delete(account_id, region_name)
        return replacement

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls._backend(account_id, region_name).delete_alarms([resource_name])

    def delete(self, account_id: str, region_name: str) -> None:
        self._backend(account_id, region_name).delete_alarms([self.alarm.name])


class SQSQueuePolicy(CloudFormationModel):
    """AWS::SQS::QueuePolicy: PolicyDocument as the Policy attribute of each queue in Queues."""

    def __init__(
        self, policy_id: str, queue_urls: list[str], account_id: str, region_name: str
    ) -> None:
        self.policy_id = policy_id
        self.queue_urls = queue_urls
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    @property
    def physical_resource_id(self) -> str:
        return self.policy_id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Id":
            return self.policy_id
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @staticmethod
    def _set_policy(queue_url: str, policy: str, account_id: str, region_name: str) -> None:
        """Set (or, with "", remove) the Policy of the queue at ``queue_url``, the account's
        own or the one the URL names (https://sqs.<region>.amazonaws.com/<account>/<name>)."""
        from moto.sqs.exceptions import QueueDoesNotExist
        from moto.sqs.models import sqs_backends

        parts = queue_url.rstrip("/").split("/")
        name = parts[-1]
        if len(parts) > 1 and parts[-2].isdigit() and len(parts[-2]) == 12:
            account_id = parts[-2]
        try:
            sqs_backends[account_id][region_name].set_queue_attributes(name, {"Policy": policy})
        except QueueDoesNotExist:
            if policy:
                raise  # a policy for a queue that does not exist fails, as in AWS

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SQSQueuePolicy:
        properties = cloudformation_json.get("Properties", {})
        document = properties["PolicyDocument"]
        policy = document if isinstance(document, str) else json.dumps(document)
        queue_urls = list(properties.get("Queues") or [])
        for queue_url in queue_urls:
            cls._set_policy(queue_url, policy, account_id, region_name)
        return cls(resource_name, queue_urls, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SQSQueuePolicy:
        """The new policy on the queues listed; queues no longer listed lose theirs. The
        resource keeps its ID, as CloudFormation updates a queue policy in place."""
        updated = cls.create_from_cloudformation_json(
            original_resource.policy_id, cloudformation_json, account_id, region_name
        )
        for queue_url in original_resource.queue_urls:
            if queue_url not in updated.queue_urls:
                cls._set_policy(queue_url, "", account_id, region_name)
        return updated

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        for queue_url in cloudformation_json.get("Properties", {}).get("Queues") or []:
            if isinstance(queue_url, str):
                cls._set_policy(queue_url, "", account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        for queue_url in self.queue_urls:
            self._set_policy(queue_url, "", account_id, region_name)


class EventBusPolicy(CloudFormationModel):
    """AWS::Events::EventBusPolicy: one statement of an event bus's resource policy."""

    def __init__(self, bus_name: str, statement_id: str, account_id: str, region: str) -> None:
        self.bus_name = bus_name
        self.statement_id = statement_id
        self.account_id = account_id
        self.region_name = region

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::EventBusPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.statement_id

    def is_created(self) -> bool:
        return True

    @staticmethod
    def _bus(bus_name: str, account_id: str, region_name: str) -> Any:
        from moto.events.models import events_backends

        return events_backends[account_id][region_name].describe_event_bus(bus_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventBusPolicy:
        properties = cloudformation_json.get("Properties", {})
        bus_name = str(properties.get("EventBusName") or "default").split("/")[-1]
        statement_id = properties["StatementId"]
        bus = cls._bus(bus_name, account_id, region_name)
        statement = properties.get("Statement")
        if statement is None:  # the older form: one account (or "*" with a condition)
            principal = properties["Principal"]
            statement = {
                "Effect": "Allow",
                "Principal": principal if principal == "*" else {"AWS": principal},
                "Action": properties["Action"],
                "Resource": bus.arn,
            }
            if properties.get("Condition"):
                condition = properties["Condition"]
                statement["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
        bus.add_policy({"Statement": [{**statement, "Sid": statement_id}]})
        return cls(bus_name, statement_id, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        properties = cloudformation_json.get("Properties", {})
        bus_name = str(properties.get("EventBusName") or "default").split("/")[-1]
        cls._bus(bus_name, account_id, region_name).remove_statement(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        self._bus(self.bus_name, account_id, region_name).remove_statement(self.statement_id)


def install() -> None:
    """Make moto's CloudFormation see the models above (its model map is cached)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    assert parsing.get_model_map()["AWS::CloudWatch::Alarm"] is CloudWatchAlarm
    assert parsing.get_model_map()["AWS::SQS::QueuePolicy"] is SQSQueuePolicy
    assert parsing.get_model_map()["AWS::Events::EventBusPolicy"] is EventBusPolicy
