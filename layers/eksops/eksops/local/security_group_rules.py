"""EC2 security group rules and ELBv2 load balancers as AWS serves them: what the workflows that
prune the ``kubernetes.io/rule/nlb/*`` rules of deleted NLBs, and restore them, depend on.

moto 5.2 keeps rules with stable IDs, tags and filters them, and revokes by ID all-or-nothing, as
AWS does. ``install()`` adapts the rest:

- DescribeSecurityGroupRules pages (``MaxResults`` 5..1000, ``NextToken``) and refuses unknown
  filters; rules carry ``GroupOwnerId`` and ``SecurityGroupRuleArn``, and the description of a
  referenced group or prefix list.
- Authorize and revoke are all-or-nothing across a request's permissions (moto kept what it had
  done before a duplicate or the quota stopped it); Authorize answers every rule it added (moto:
  the last permission's only); Revoke answers ``UnknownIpPermissions`` and
  ``RevokedSecurityGroupRules``, and a revoked rule's tags go with it. Revoke by rule IDs names
  the first ID the group does not have in that direction as AWS does,
  ``InvalidSecurityGroupRuleId.NotFound`` "The security group rule ID '<id>' does not exist"
  (moto: ``InvalidPermission.NotFound``, which AWS answers to a revoke by properties).
- A rule is a duplicate whatever its description (moto compared a referenced group's).
- The rules quota is AWS's: ``RULES_PER_SECURITY_GROUP`` inbound and as many outbound, IPv4 and
  IPv6 counted apart, a referenced group or prefix list counting in both (a prefix list as its
  maximum entries).
- ELBv2 DescribeLoadBalancers: ``PageSize`` 1..400 (default 400, moto's was 50), opaque markers
  that survive deletions, ``LoadBalancerNotFound`` when any name or ARN is missing (moto failed
  only when the first one was). A network load balancer has a ``net/`` ARN and an NLB DNS name;
  a load balancer without ``Scheme`` is internet-facing; creating one again with the same name
  and settings answers the existing one, with other settings ``DuplicateLoadBalancerName``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

RULES_PER_SECURITY_GROUP = 60
"""AWS's default quota of inbound (and, apart, outbound) rules per security group. Tests may
change it; it is read on every authorization."""

_MARK = "_eksops_security_group_rules"
_positions = itertools.count(1)  # creation order of rules and load balancers, for paging


def install() -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    if getattr(SecurityGroupRule, _MARK, False):
        return
    _install_rule_model()
    _install_rule_backend()
    _install_rule_lookup()
    _install_rule_responses()
    _install_load_balancers()
    setattr(SecurityGroupRule, _MARK, True)


def _token(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode()


def _position_after(token: str) -> int | None:
    """The position a token of :func:`_token` continues after; None for any other text."""
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        return None
    return position if isinstance(position, int) else None


def _position(resource: Any) -> int:
    return getattr(resource, "_eksops_position", 0)


# --- EC2 security group rules ----------------------------------------------------------------


def _install_rule_model() -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    create = SecurityGroupRule.__init__

    def __init__(
        self: Any,
        ec2_backend: Any,
        ip_protocol: str,
        group_id: str,
        from_port: str | None,
        to_port: str | None,
        ip_range: dict[str, str] | None,
        source_group: dict[str, str] | None = None,
        prefix_list_id: dict[str, str] | None = None,
        is_egress: bool = True,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Remembers the order rules were made in and a prefix list's description."""
        create(
            self,
            ec2_backend,
            ip_protocol,
            group_id,
            from_port,
            to_port,
            ip_range,
            source_group,
            prefix_list_id,
            is_egress=is_egress,
            tags=tags,
        )
        self._eksops_position = next(_positions)
        self._eksops_prefix_list = dict(prefix_list_id or {})

    def description(self: Any) -> str | None:
        """The description of the CIDR, referenced group or prefix list (moto: CIDRs only)."""
        for source in (self.ip_range, self.source_group, getattr(self, "_eksops_prefix_list", {})):
            if source and source.get("Description") is not None:
                return source["Description"]
        return None

    def equals(self: Any, other: Any) -> bool:
        """The same rule whatever the descriptions: AWS's test for InvalidPermission.Duplicate,
        and for which rule a revoke by properties names."""
        return isinstance(other, SecurityGroupRule) and _identity(self) == _identity(other)

    SecurityGroupRule.__init__ = __init__
    SecurityGroupRule.description = property(description)
    SecurityGroupRule.__eq__ = equals
    SecurityGroupRule.group_owner_id = property(lambda self: self.ec2_backend.account_id)
    SecurityGroupRule.security_group_rule_arn = property(
        lambda self: (
            f"arn:aws:ec2:{self.ec2_backend.region_name}:"
            f"{self.ec2_backend.account_id}:security-group-rule/{self.id}"
        )
    )


def _identity(rule: Any) -> tuple[Any, ...]:
    protocol = str(rule.ip_protocol).lower()
    ports = None
    if protocol != "-1":
        ports = tuple(
            None if port is None else int(port) for port in (rule.from_port, rule.to_port)
        )
    source = rule.source_group or {}
    return (
        protocol,
        ports,
        rule.ip_range.get("CidrIp"),
        rule.ip_range.get("CidrIpv6"),
        source.get("GroupId", source.get("GroupName")),
        rule.prefix_list_id,
    )


def _usage(backend: Any, rules: list[Any]) -> tuple[int, int]:
    """IPv4 and IPv6 rules as AWS counts them against the quota."""
    ipv4 = ipv6 = 0
    for rule in rules:
        if rule.ip_range.get("CidrIp"):
            ipv4 += 1
        elif rule.ip_range.get("CidrIpv6"):
            ipv6 += 1
        else:  # a referenced group or prefix list counts for both
            weight = 1
            if rule.prefix_list_id:
                prefix_list = backend.managed_prefix_lists.get(rule.prefix_list_id)
                max_entries = getattr(prefix_list, "max_entries", None)
                weight = int(max_entries) if max_entries else 1
            ipv4 += weight
            ipv6 += weight
    return ipv4, ipv6


@contextmanager
def _all_or_nothing(backend: Any, group: Any) -> Iterator[tuple[list[Any], list[Any]]]:
    """The group's rules as they were, put back (with their tags) if the block fails. Yields the
    ingress and egress rules before the block."""
    ingress, egress = list(group.ingress_rules), list(group.egress_rules)
    try:
        yield ingress, egress
    except BaseException:
        kept = {rule.id for rule in ingress + egress}
        for rule in group.ingress_rules + group.egress_rules:
            if rule.id not in kept:
                backend.tags.pop(rule.id, None)
        group.ingress_rules, group.egress_rules = ingress, egress
        raise


def _group_named(backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name = kwargs.get("group_name_or_id", args[0] if args else None)
    return backend.get_security_group_by_name_or_id(name, kwargs.get("vpc_id"))


def _install_rule_backend() -> None:
    from moto.ec2.exceptions import (
        InvalidSecurityGroupRuleIdNotFoundError,
        RulesPerSecurityGroupLimitExceededError,
    )
    from moto.ec2.models.security_groups import SecurityGroupBackend

    def atomic(method: Callable[..., Any], direction: str, quota: bool) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            group = _group_named(self, args, kwargs)
            if group is None:  # moto's InvalidGroup.NotFound
                return method(self, *args, **kwargs)
            if not quota:  # a revoke: by rule IDs, AWS names the first the group does not have
                rules = group.ingress_rules if direction == "ingress" else group.egress_rules
                known = {rule.id for rule in rules}
                for rule_id in kwargs.get("security_rule_ids") or []:
                    if rule_id not in known:  # moto: InvalidPermission.NotFound
                        raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
            with _all_or_nothing(self, group) as before:
                result = method(self, *args, **kwargs)
                if quota:
                    rules = group.ingress_rules if direction == "ingress" else group.egress_rules
                    was = _usage(self, before[0] if direction == "ingress" else before[1])
                    for old, new in zip(was, _usage(self, rules), strict=True):
                        if new > RULES_PER_SECURITY_GROUP and new > old:
                            raise RulesPerSecurityGroupLimitExceededError()
            return result

        return call

    # moto's own check: 60 per direction (100 outside a VPC), IPv4 and IPv6 together, prefix
    # lists not counted; _usage replaces it
    SecurityGroupBackend._verify_group_will_respect_rule_count_limit = (
        lambda self, *args, **kwargs: None
    )
    for direction in ("ingress", "egress"):
        for verb in ("authorize", "revoke"):
            name = f"{verb}_security_group_{direction}"
            method = getattr(SecurityGroupBackend, name)
            setattr(SecurityGroupBackend, name, atomic(method, direction, verb == "authorize"))


def _install_rule_lookup() -> None:
    """DescribeSecurityGroupRules by group and rule ID as set lookups: moto matched every rule
    of the account against every filter value as a pattern, minutes for 10,000 rules."""
    from moto.ec2.exceptions import (
        InvalidGroupIdMalformedError,
        InvalidSecurityGroupRuleIdNotFoundError,
    )
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.utils import is_valid_security_group_id

    by_pattern = SecurityGroupBackend.describe_security_group_rules

    @functools.wraps(by_pattern)
    def describe(self: Any, sg_rule_ids: list[str], filters: dict[str, list[str]]) -> list[Any]:
        exact = ("group-id", "security-group-rule-id")
        values = [value for key in exact for value in filters.get(key, [])]
        if any("*" in value or "?" in value for value in values):
            return by_pattern(self, sg_rule_ids, filters)
        for group_id in filters.get("group-id", []):
            if not is_valid_security_group_id(group_id):
                raise InvalidGroupIdMalformedError(group_id)
        wanted_groups = set(filters["group-id"]) if "group-id" in filters else None
        groups = [
            group
            for vpc_groups in self.groups.values()
            for group in vpc_groups.values()
            if wanted_groups is None or group.id in wanted_groups
        ]
        if sg_rule_ids:
            known = {
                rule.id
                for vpc_groups in self.groups.values()
                for group in vpc_groups.values()
                for rule in itertools.chain(group.egress_rules, group.ingress_rules)
            }
            for rule_id in sg_rule_ids:
                if rule_id not in known:
                    raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
        wanted_rules = None
        if sg_rule_ids or "security-group-rule-id" in filters:
            wanted_rules = set(sg_rule_ids) | set(filters.get("security-group-rule-id", []))
        tag_filters = {key: value for key, value in filters.items() if key not in exact}
        return [
            _described(rule)
            for group in groups
            for rule in itertools.chain(group.egress_rules, group.ingress_rules)
            if (wanted_rules is None or rule.id in wanted_rules)
            and rule.matches_filters(tag_filters)
        ]

    SecurityGroupBackend.describe_security_group_rules = describe


def _described(rule: Any) -> Any:
    """A rule as DescribeSecurityGroupRules shows it: ports -1 when the protocol has none."""
    shown = copy.copy(rule)
    shown.from_port = -1 if rule.from_port is None else rule.from_port
    shown.to_port = -1 if rule.to_port is None else rule.to_port
    return shown


def _revoked(rule: Any) -> dict[str, Any]:
    shown = _described(rule)
    fields = {
        "SecurityGroupRuleId": rule.id,
        "GroupId": rule.group_id,
        "IsEgress": rule.is_egress,
        "IpProtocol": rule.ip_protocol,
        "FromPort": shown.from_port,
        "ToPort": shown.to_port,
        "CidrIpv4": rule.cidr_ipv4,
        "CidrIpv6": rule.cidr_ipv6,
        "PrefixListId": rule.prefix_list_id,
        "ReferencedGroupId": (rule.source_group or {}).get("GroupId"),
        "Description": rule.description,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _install_rule_responses() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError, InvalidParameterValue
    from moto.ec2.responses.security_groups import SecurityGroups
    from moto.ec2.utils import is_tag_filter

    def authorize(direction: str) -> Callable[[Any], Any]:
        original = getattr(SecurityGroups, f"authorize_security_group_{direction}")

        def respond(self: Any) -> Any:
            """All the request's permissions or none; every rule added in the answer."""
            self.error_on_dryrun()
            calls = list(self._process_rules_from_querystring())
            group = calls and _group_named(self.ec2_backend, (), calls[0])
            if not group:
                return original(self)
            method = getattr(self.ec2_backend, f"authorize_security_group_{direction}")
            added: list[Any] = []
            with _all_or_nothing(self.ec2_backend, group):
                for kwargs in calls:
                    rules, _ = method(**kwargs)
                    added.extend(rules)
            return ActionResult(
                {"Return": True, "SecurityGroupRules": [_described(rule) for rule in added]}
            )

        return respond

    def revoke(direction: str) -> Callable[[Any], Any]:
        original = getattr(SecurityGroups, f"revoke_security_group_{direction}")

        def respond(self: Any) -> Any:
            """All the request's rules or none; the revoked rules in the answer, their tags
            gone with them."""
            self.error_on_dryrun()
            calls = list(self._process_rules_from_querystring())
            group = calls and _group_named(self.ec2_backend, (), calls[0])
            if not group:
                return original(self)
            method = getattr(self.ec2_backend, f"revoke_security_group_{direction}")
            with _all_or_nothing(self.ec2_backend, group) as before:
                for kwargs in calls:
                    kwargs.pop("sgrule_tags", None)
                    method(**kwargs)
            remaining = {rule.id for rule in group.ingress_rules + group.egress_rules}
            revoked = [rule for rule in before[0] + before[1] if rule.id not in remaining]
            for rule in revoked:
                self.ec2_backend.tags.pop(rule.id, None)
            return ActionResult(
                {
                    "Return": True,
                    "UnknownIpPermissions": [],
                    "RevokedSecurityGroupRules": [_revoked(rule) for rule in revoked],
                }
            )

        return respond

    def describe_security_group_rules(self: Any) -> Any:
        """Filters group-id, security-group-rule-id and tags; MaxResults 5..1000 with NextToken
        pages, in the order the rules were made (a token survives rules revoked meanwhile)."""
        self.error_on_dryrun()
        max_results = self._get_int_param("MaxResults")
        if max_results is not None and not 5 <= max_results <= 1000:
            raise InvalidParameterValue(
                f"Value ( {max_results} ) for parameter maxResults is invalid. "
                "Expecting a value between 5 and 1000."
            )
        token = self._get_param("NextToken")
        after = _position_after(token) if token else 0
        if after is None:
            raise EC2ClientError(
                "InvalidPaginationToken",
                "The specified pagination token is not valid or is expired.",
            )
        filters = self._filters_from_querystring()
        for name in filters:
            if name not in ("group-id", "security-group-rule-id") and not is_tag_filter(name):
                raise InvalidParameterValue(f"The filter '{name}' is invalid")
        rule_ids = self._get_param("SecurityGroupRuleIds", [])
        rules = sorted(
            self.ec2_backend.describe_security_group_rules(rule_ids, filters), key=_position
        )
        if token:
            rules = [rule for rule in rules if _position(rule) > after]
        result: dict[str, Any] = {"SecurityGroupRules": rules[:max_results]}
        if max_results is not None and len(rules) > max_results:
            result["NextToken"] = _token(_position(rules[max_results - 1]))
        return ActionResult(result)

    for direction in ("ingress", "egress"):
        setattr(SecurityGroups, f"authorize_security_group_{direction}", authorize(direction))
        setattr(SecurityGroups, f"revoke_security_group_{direction}", revoke(direction))
    SecurityGroups.describe_security_group_rules = describe_security_group_rules


# --- ELBv2 load balancers --------------------------------------------------------------------


def _install_load_balancers() -> None:
    from moto.core.responses import ActionResult
    from moto.elbv2.exceptions import (
        DuplicateLoadBalancerName,
        ELBClientError,
        LoadBalancerNotFoundError,
    )
    from moto.elbv2.models import ELBv2Backend
    from moto.elbv2.responses import ELBV2Response

    create = ELBv2Backend.create_load_balancer

    def create_load_balancer(
        self: Any,
        name: str,
        security_groups: list[str],
        subnet_ids: list[str],
        subnet_mappings: list[dict[str, str]] | None = None,
        scheme: str | None = "internet-facing",
        loadbalancer_type: str | None = None,
        ip_address_type: str = "ipv4",
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        """An NLB's ARN and DNS name as AWS makes them; same name and settings: the existing one."""
        scheme = scheme or "internet-facing"
        kind = loadbalancer_type or "application"
        subnets = set(subnet_ids or []) | {m["SubnetId"] for m in subnet_mappings or []}
        for existing in self.load_balancers.values():
            if existing.name == name:
                same_subnets = {subnet.id for subnet in existing.subnets} == subnets
                if existing.type == kind and existing.scheme == scheme and same_subnets:
                    return existing
                raise DuplicateLoadBalancerName()
        balancer = create(
            self,
            name=name,
            security_groups=security_groups,
            subnet_ids=subnet_ids,
            subnet_mappings=subnet_mappings,
            scheme=scheme,
            loadbalancer_type=loadbalancer_type,
            ip_address_type=ip_address_type,
            tags=tags,
        )
        balancer._eksops_position = next(_positions)
        if balancer.type == "network":
            old_arn = balancer.arn
            balancer.arn = old_arn.replace(":loadbalancer/app/", ":loadbalancer/net/", 1)
            self.load_balancers[balancer.arn] = self.load_balancers.pop(old_arn)
            if self.tagging_service.has_tags(old_arn):
                self.tagging_service.copy_tags(old_arn, balancer.arn)
                self.tagging_service.delete_all_tags_for_resource(old_arn)
            balancer_id = balancer.arn.rsplit("/", 1)[1]
            balancer.dns_name = f"{name}-{balancer_id}.elb.{self.region_name}.amazonaws.com"
        return balancer

    def describe(self: Any, arns: list[str] | None, names: list[str] | None) -> list[Any]:
        """All load balancers, or those named; any name or ARN missing fails the call."""
        balancers = list(self.load_balancers.values())
        for balancer in balancers:
            balancer.activate()
        if not arns and not names:
            return balancers
        by_arn = {balancer.arn: balancer for balancer in balancers}
        by_name = {balancer.name: balancer for balancer in balancers}
        wanted = [(by_arn, arn) for arn in arns or []] + [(by_name, n) for n in names or []]
        found: list[Any] = []
        for index, key in wanted:
            if key not in index:
                raise LoadBalancerNotFoundError("One or more load balancers not found")
            if index[key] not in found:
                found.append(index[key])
        return found

    def describe_load_balancers(self: Any) -> Any:
        """PageSize 1..400 (default 400) and Marker pages, in the order the load balancers
        were created (a marker survives load balancers deleted meanwhile)."""
        page_size = self._get_int_param("PageSize")
        if page_size is not None and not 1 <= page_size <= 400:
            bound = "less than or equal to 400" if page_size > 400 else "greater than or equal to 1"
            raise ELBClientError(
                "ValidationError",
                f"1 validation error detected: Value '{page_size}' at 'pageSize' failed to "
                f"satisfy constraint: Member must have value {bound}",
            )
        page_size = page_size or 400
        marker = self._get_param("Marker")
        after = _position_after(marker) if marker else 0
        if after is None:
            raise ELBClientError("ValidationError", "Invalid value for parameter Marker")
        balancers = self.elbv2_backend.describe_load_balancers(
            self._get_param("LoadBalancerArns", []), self._get_param("Names", [])
        )
        balancers = sorted(balancers, key=_position)
        if marker:
            balancers = [balancer for balancer in balancers if _position(balancer) > after]
        result: dict[str, Any] = {"LoadBalancers": balancers[:page_size]}
        if len(balancers) > page_size:
            result["NextMarker"] = _token(_position(balancers[page_size - 1]))
        return ActionResult(result)

    ELBv2Backend.create_load_balancer = create_load_balancer
    ELBv2Backend.describe_load_balancers = describe
    ELBV2Response.describe_load_balancers = describe_load_balancers
