"""Hub and spoke: the account an event or a request acts in.

Member accounts (member-account.yaml, through StackSets) forward their remediation signals to
the hub's default bus; an event keeps the ``account`` it happened in, and a run it starts acts
there through the member role the hub assumes (``MemberRoleName``, with ``MemberExternalId``
when the members' trust requires one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eksops.errors import InvalidInputError
from eksops.models.base import shortened

HUB_ACCOUNT_VARIABLE = "HUB_ACCOUNT_ID"
MEMBER_ROLE_VARIABLE = "MEMBER_ROLE_ARN"  # arn:<partition>:iam::{account}:role/<name>
MEMBER_EXTERNAL_ID_VARIABLE = "MEMBER_EXTERNAL_ID"
_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


def member_target(event: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """``{"targetRoleArn", "externalId"?}`` (contract field names) for an event that a member
    account forwarded; nothing for the hub's own events, or where the stack has no member
    accounts. A member's event where the stack does not know its own account is refused."""
    account, hub = event.get("account"), environ.get(HUB_ACCOUNT_VARIABLE)
    role = environ.get(MEMBER_ROLE_VARIABLE)
    if account is None or account == hub or not (hub or role):
        return {}  # the hub's own event, or a stack with no member accounts
    if not hub:  # fail closed: a member's event must not act in the hub
        raise InvalidInputError(
            f"event {shortened(event.get('id'))} comes from account {shortened(account)}, and "
            f"this stack does not know its own account ({HUB_ACCOUNT_VARIABLE})"
        )
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise InvalidInputError(
            f"event {shortened(event.get('id'))} names the account {shortened(account)}, "
            "not a 12-digit account ID"
        )
    if not role:
        raise InvalidInputError(
            f"event {shortened(event.get('id'))} comes from account {account}, and this stack "
            "has no member role to act there (MemberRoleName)"
        )
    fields = {"targetRoleArn": role.format(account=account)}
    if environ.get(MEMBER_EXTERNAL_ID_VARIABLE):
        fields["externalId"] = environ[MEMBER_EXTERNAL_ID_VARIABLE]
    return fields


def account_of(target_role_arn: str | None, environ: Mapping[str, str]) -> str:
    """The account a run acts in: its target role's, or the hub's own."""
    found = _ROLE_ACCOUNT.match(target_role_arn or "")
    return found.group(1) if found else environ.get(HUB_ACCOUNT_VARIABLE, "self")
