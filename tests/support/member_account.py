"""A member account of the offline account's organization: another moto account, reached as AWS
Organizations' OrganizationAccountAccessRole would be, with member-account.yaml deployed in it
(the hub's role and the forwarding of its remediation signals), as StackSets would."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eksops.local.account import OfflineAccount

ROOT = Path(__file__).resolve().parents[2]
MEMBER_ACCOUNT = "111111111111"
STACK = "eksops-member"


@dataclass
class Member:
    """Clients of the member account, on the hub's offline endpoint."""

    hub: OfflineAccount
    session: Any
    account_id: str
    role_arn: str

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.hub.endpoint_url)


def open_member(hub: OfflineAccount, external_id: str, account_id: str = MEMBER_ACCOUNT) -> Member:
    """The member account, member-account.yaml deployed there for ``hub`` (CloudFormation of the
    member account, as a StackSets instance is)."""
    import boto3

    credentials = hub.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="stacksets",
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=hub.region,
    )
    member = Member(hub, session, account_id, "")
    hub_account = hub.client("sts").get_caller_identity()["Account"]
    cloudformation = member.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=(ROOT / "member-account.yaml").read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "HubAccountId", "ParameterValue": hub_account},
            {"ParameterKey": "ExternalId", "ParameterValue": external_id},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 120
    while (
        status := cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    ).endswith("IN_PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == "CREATE_COMPLETE", status
    outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    member.role_arn = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MemberRoleArn")
    return member


def cloudtrail_event(event_source: str, event_name: str, **detail: Any) -> dict[str, Any]:
    """A PutEvents entry shaped as CloudTrail's management event."""
    source = "aws." + event_source.split(".")[0]
    return {
        "Source": source,
        "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps({"eventSource": event_source, "eventName": event_name, **detail}),
    }
