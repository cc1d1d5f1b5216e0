"""The offline account's CloudFormation creates, updates and deletes AWS::CloudWatch::Alarm (simple
and metric math) and AWS::SQS::QueuePolicy as AWS does (moto alone logs "No Moto CloudFormation
support" and creates nothing)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from eksops.local import cfn_resources
from moto import mock_aws

REGION = "eu-west-1"
STACK = "alarms"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Undelivered",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        }
    ],
}


def _errors(index: int) -> dict[str, Any]:
    return {
        "Id": f"f{index}",
        "ReturnData": False,
        "MetricStat": {
            "Stat": "Sum",
            "Period": 300,
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": f"function-{index}"}],
            },
        },
    }


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        "DeadLetterQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"Queues": [{"Ref": "DeadLetterQueue"}], "PolicyDocument": POLICY},
        },
        "FailedAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "An execution failed.",
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsFailed",
                "Dimensions": [{"Name": "StateMachineArn", "Value": "arn:sm"}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "Topic"}],
                "OKActions": [{"Ref": "Topic"}],
            },
        },
        "ErrorsAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "function-errors",
                "Metrics": [
                    {
                        "Id": "errors",
                        "Label": "Errors",
                        "Expression": "SUM(METRICS())",
                        "ReturnData": True,
                    },
                    _errors(1),
                    _errors(2),
                ],
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "Topic"}],
            },
        },
    },
    "Outputs": {
        "FailedAlarmName": {"Value": {"Ref": "FailedAlarm"}},
        "FailedAlarmArn": {"Value": {"Fn::GetAtt": ["FailedAlarm", "Arn"]}},
    },
}


@pytest.fixture
def aws(aws_env: Any) -> Iterator[None]:
    cfn_resources.install()
    with mock_aws():
        yield


def _alarms(cloudwatch: Any) -> dict[str, dict[str, Any]]:
    return {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}


def _policy(sqs: Any, url: str) -> dict[str, Any] | None:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    policy = attributes.get("Attributes", {}).get("Policy")
    return json.loads(policy) if policy else None


def test_alarms_and_queue_policy_follow_the_stack(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    with caplog.at_level(logging.WARNING, logger="moto"):
        cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
    assert "No Moto CloudFormation support" not in caplog.text

    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    topic = resources["Topic"]
    alarms = _alarms(cloudwatch)
    assert set(alarms) == {outputs["FailedAlarmName"], "function-errors"}
    assert outputs["FailedAlarmName"].startswith(f"{STACK}-FailedAlarm-")  # CloudFormation's
    assert resources["FailedAlarm"] == outputs["FailedAlarmName"]
    failed = alarms[outputs["FailedAlarmName"]]
    assert failed["AlarmArn"] == outputs["FailedAlarmArn"]
    assert {
        key: failed[key]
        for key in (
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
            "OKActions",
        )
    } == {
        "AlarmDescription": "An execution failed.",
        "Namespace": "AWS/States",
        "MetricName": "ExecutionsFailed",
        "Dimensions": [{"Name": "StateMachineArn", "Value": "arn:sm"}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
        "OKActions": [topic],
    }
    errors = alarms["function-errors"]
    assert errors["AlarmActions"] == [topic]
    assert errors["Metrics"][0] == {
        "Id": "errors",
        "Label": "Errors",
        "Expression": "SUM(METRICS())",
        "ReturnData": True,
    }
    assert [m["MetricStat"]["Metric"]["Dimensions"] for m in errors["Metrics"][1:]] == [
        [{"Name": "FunctionName", "Value": "function-1"}],
        [{"Name": "FunctionName", "Value": "function-2"}],
    ]
    assert errors["Metrics"][1]["MetricStat"]["Stat"] == "Sum"
    assert errors["Metrics"][1]["MetricStat"]["Period"] == 300
    assert errors["Metrics"][1]["ReturnData"] is False

    queue_url = resources["DeadLetterQueue"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = _policy(sqs, queue_url)
    assert policy is not None
    assert policy["Statement"][0]["Resource"] == queue_arn
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}

    # an update keeps a generated alarm name and applies the new definition
    updated = copy.deepcopy(TEMPLATE)
    updated["Resources"]["FailedAlarm"]["Properties"]["Threshold"] = 2
    document = updated["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    document["Statement"][0]["Sid"] = "Renamed"
    cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(updated))
    alarms = _alarms(cloudwatch)
    assert set(alarms) == {outputs["FailedAlarmName"], "function-errors"}
    assert alarms[outputs["FailedAlarmName"]]["Threshold"] == 2.0
    policy = _policy(sqs, queue_url)
    assert policy is not None
    assert policy["Statement"][0]["Sid"] == "Renamed"

    # removing the policy from the template removes it from the queue
    del updated["Resources"]["DeadLetterQueuePolicy"]
    cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(updated))
    assert _policy(sqs, queue_url) is None

    cfn.delete_stack(StackName=STACK)
    assert _alarms(cloudwatch) == {}


def test_a_resource_whose_condition_is_false_is_left_out_of_the_stack_s_resources(
    aws: None,
) -> None:
    from eksops.local import moto_fixes

    moto_fixes._install_conditional_resources()
    template = {
        "Parameters": {"Email": {"Type": "String", "Default": ""}},
        "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Condition": "HasEmail",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "email",
                    "Endpoint": {"Ref": "Email"},
                },
            },
        },
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="conditional", TemplateBody=json.dumps(template))
    topic = cfn.describe_stack_resource(StackName="conditional", LogicalResourceId="Topic")
    assert topic["StackResourceDetail"]["ResourceType"] == "AWS::SNS::Topic"
    listed = cfn.describe_stack_resources(StackName="conditional")["StackResources"]
    assert [resource["LogicalResourceId"] for resource in listed] == ["Topic"]
