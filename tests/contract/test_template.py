"""Contract: template.yaml matches the code it deploys and grants only what the code needs."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eksops.local.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
LAYER_REQUIREMENTS = sorted((REPO / "layers").glob("*/requirements.txt"))
DEV_REQUIREMENTS = REPO / "requirements" / "dev.txt"
# The Lambda Python runtime ships these; a copy in the layer would shadow the runtime's.
RUNTIME_PROVIDED = ("boto3", "botocore")


TEMPLATE_DOC = load_template(TEMPLATE)
RESOURCES: dict[str, Any] = TEMPLATE_DOC.get("Resources", {})
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE_DOC.get("Globals", {}).get("Function", {})
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
LAYERS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::LayerVersion")


def _prop(logical_id: str, name: str) -> Any:
    """A function's property, falling back to Globals like SAM does."""
    return RESOURCES[logical_id].get("Properties", {}).get(name, GLOBAL_FUNCTION.get(name))


def _has_make_target(makefile: Path, target: str) -> bool:
    text = makefile.read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(target)}\s*:", text, flags=re.MULTILINE) is not None


def _python_minor(runtime: Any) -> int:
    match = re.fullmatch(r"python3\.(\d+)", str(runtime))
    assert match, f"not a Python runtime: {runtime!r}"
    return int(match.group(1))


# --- Globals -------------------------------------------------------------------------------


def test_globals_runtime_architecture_tracing() -> None:
    assert _python_minor(GLOBAL_FUNCTION.get("Runtime")) >= 13
    assert GLOBAL_FUNCTION.get("Architectures") == ["arm64"]
    assert GLOBAL_FUNCTION.get("Tracing") == "Active"


def test_globals_powertools_environment() -> None:
    variables = GLOBAL_FUNCTION.get("Environment", {}).get("Variables", {})
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"):
        assert variables.get(name) not in (None, ""), f"{name} is not set"
    # Events and responses carry tokens and kubeconfigs: never log or trace them.
    assert variables.get("POWERTOOLS_LOGGER_LOG_EVENT") == "false"
    assert variables.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") == "false"


# --- Functions and layers match the code ----------------------------------------------------


def test_template_has_functions_and_layers() -> None:
    assert FUNCTIONS, "no AWS::Serverless::Function in template.yaml"
    assert LAYERS, "no AWS::Serverless::LayerVersion in template.yaml"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_keeps_global_runtime_and_architecture(logical_id: str) -> None:
    for name in ("Runtime", "Architectures", "Tracing"):
        assert _prop(logical_id, name) == GLOBAL_FUNCTION.get(name), f"{logical_id} sets {name}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_handler_exists(logical_id: str) -> None:
    code_uri = _prop(logical_id, "CodeUri")
    handler = _prop(logical_id, "Handler")
    assert isinstance(code_uri, str), f"{logical_id}: CodeUri must be a local directory"
    assert isinstance(handler, str), f"{logical_id}: no Handler"
    code_dir = REPO / code_uri
    assert code_dir.is_dir(), f"{logical_id}: CodeUri {code_uri} is not a directory"
    module, _, function = handler.rpartition(".")
    assert module, f"{logical_id}: Handler {handler!r} is not module.function"
    source = code_dir / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{logical_id}: {source.relative_to(REPO)} does not exist"
    # imported as Lambda would (the layer's library is importable here too)
    spec = importlib.util.spec_from_file_location(f"handler_{logical_id}", source)
    assert spec is not None
    assert spec.loader is not None
    handler_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler_module)
    defined = {name for name, value in vars(handler_module).items() if callable(value)}
    assert function in defined, f"{source.relative_to(REPO)} defines no callable {function}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_builds_with_its_makefile(logical_id: str) -> None:
    assert RESOURCES[logical_id].get("Metadata", {}).get("BuildMethod") == "makefile"
    makefile = REPO / _prop(logical_id, "CodeUri") / "Makefile"
    assert makefile.is_file(), f"{logical_id}: no {makefile.relative_to(REPO)}"
    assert _has_make_target(makefile, f"build-{logical_id}"), f"no build-{logical_id} target"


@pytest.mark.parametrize("logical_id", LAYERS)
def test_layer_builds_with_its_makefile(logical_id: str) -> None:
    layer = RESOURCES[logical_id]
    assert layer.get("Metadata", {}).get("BuildMethod") == "makefile"
    content_uri = layer.get("Properties", {}).get("ContentUri")
    assert isinstance(content_uri, str), f"{logical_id}: ContentUri must be a local directory"
    makefile = REPO / content_uri / "Makefile"
    assert makefile.is_file(), f"{logical_id}: no {makefile.relative_to(REPO)}"
    assert _has_make_target(makefile, f"build-{logical_id}"), f"no build-{logical_id} target"


@pytest.mark.parametrize("logical_id", LAYERS)
def test_layer_is_compatible_with_the_functions(logical_id: str) -> None:
    properties = RESOURCES[logical_id].get("Properties", {})
    assert GLOBAL_FUNCTION.get("Runtime") in properties.get("CompatibleRuntimes", [])
    for architecture in GLOBAL_FUNCTION.get("Architectures", []):
        assert architecture in properties.get("CompatibleArchitectures", [])
    assert RESOURCES[logical_id].get("Metadata", {}).get("BuildArchitecture") in (
        GLOBAL_FUNCTION.get("Architectures") or [None]
    )


# --- IAM ------------------------------------------------------------------------------------


def _statements(statements: Any, condition: str | None = None) -> list[tuple[str | None, Any]]:
    """(condition, statement) pairs of a Statement list, unfolding ``Fn::If`` entries."""
    if isinstance(statements, dict) and "Fn::If" not in statements:
        statements = [statements]
    pairs: list[tuple[str | None, Any]] = []
    for item in statements if isinstance(statements, list) else [statements]:
        if isinstance(item, dict) and "Fn::If" in item:
            name, when_true, when_false = item["Fn::If"]
            pairs += _statements(when_true, name)
            if when_false != {"Ref": "AWS::NoValue"}:
                pairs += _statements(when_false, f"!{name}")
        else:
            pairs.append((condition, item))
    return pairs


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _normalized(statement: dict[str, Any]) -> dict[str, Any]:
    without_sid = {k: v for k, v in statement.items() if k != "Sid"}
    for key in ("Action", "Resource"):
        value = without_sid.get(key)
        if isinstance(value, list) and len(value) == 1:
            without_sid[key] = value[0]
    return without_sid


def test_kubeconfig_function_policy_is_exact() -> None:
    properties = RESOURCES["KubeconfigFunction"]["Properties"]
    assert "Role" not in properties, "a Role replaces Policies: grant through Policies"
    policies = _as_list(properties.get("Policies", []))
    for policy in policies:
        assert isinstance(policy, dict), f"managed or named policy not allowed: {policy!r}"
        assert set(policy) <= {"Version", "Statement"}, f"SAM policy template: {policy!r}"
    granted = [
        (condition, _normalized(statement))
        for policy in policies
        for condition, statement in _statements(policy["Statement"])
    ]
    expected = [
        (
            None,
            {
                "Effect": "Allow",
                "Action": "eks:DescribeCluster",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"},
            },
        ),
        (
            "HasTargetRoles",
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": {"Ref": "TargetRoleArns"}},
        ),
    ]
    assert len(granted) == len(expected), granted
    for pair in expected:
        assert pair in granted, f"missing or different: {pair}\ngranted: {granted}"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_target_roles_condition_depends_on_the_parameter() -> None:
    assert "TargetRoleArns" in TEMPLATE_DOC.get("Parameters", {})
    condition = TEMPLATE_DOC.get("Conditions", {}).get("HasTargetRoles")
    assert condition is not None, "condition HasTargetRoles is missing"
    assert "TargetRoleArns" in _refs(condition)


def _all_statements(node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        if "Statement" in node:
            found += [s for _, s in _statements(node["Statement"])]
        for value in node.values():
            found += _all_statements(value)
    elif isinstance(node, list):
        for value in node:
            found += _all_statements(value)
    return found


WILDCARD_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:\*")


def test_no_wildcard_actions_anywhere() -> None:
    statements = _all_statements(TEMPLATE_DOC)
    assert statements, "no IAM statements found (the walk is broken)"
    wildcards = [
        (key, action)
        for statement in statements
        for key in ("Action", "NotAction")
        for action in _as_list(statement.get(key, []))
        if isinstance(action, str) and WILDCARD_ACTION.fullmatch(action)
    ]
    assert not wildcards, f"wildcard actions: {wildcards}"


# --- Layer dependencies -----------------------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, set[str]]:
    """Package -> pinned versions (several when markers split a package) of a uv/pip lock."""
    pins: dict[str, set[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = line.split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(\S+)", requirement)
        assert match, f"{path.relative_to(REPO)}: not an exact pin: {raw!r}"
        pins.setdefault(_normalize(match.group(1)), set()).add(match.group(3))
    return pins


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: p.parent.name)
def test_layer_pins_match_the_dev_lock(requirements: Path) -> None:
    layer, dev = _pins(requirements), _pins(DEV_REQUIREMENTS)
    assert layer, f"no pins in {requirements.relative_to(REPO)}"
    missing = sorted(set(layer) - set(dev))
    assert not missing, f"in the layer but not in requirements/dev.txt (untested): {missing}"
    different = {
        name: (sorted(versions), sorted(dev[name]))
        for name, versions in layer.items()
        if not versions <= dev[name]
    }
    assert not different, f"layer vs dev versions differ: {different}"


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: p.parent.name)
def test_layer_leaves_boto3_to_the_runtime(requirements: Path) -> None:
    layer = _pins(requirements)
    bundled = [name for name in RUNTIME_PROVIDED if name in layer]
    assert not bundled, f"the Lambda runtime provides these, do not pin them: {bundled}"


STATE_MACHINES = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"]


def _definition(logical_id: str) -> dict[str, Any]:
    uri = _prop(logical_id, "DefinitionUri")
    assert isinstance(uri, str), f"{logical_id}: DefinitionUri must be a file in statemachines/"
    return json.loads((REPO / uri).read_text(encoding="utf-8"))


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those of Parallel branches and Map processors."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


@pytest.mark.parametrize("logical_id", STATE_MACHINES)
def test_every_placeholder_has_a_substitution_and_every_substitution_a_use(
    logical_id: str,
) -> None:
    text = (REPO / _prop(logical_id, "DefinitionUri")).read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([^}!]+)\}", text))
    substituted = set(_prop(logical_id, "DefinitionSubstitutions") or {})
    assert used == substituted, f"missing: {used - substituted}, unused: {substituted - used}"


@pytest.mark.parametrize("logical_id", STATE_MACHINES)
def test_every_task_retries_and_every_invoked_function_is_granted(logical_id: str) -> None:
    substitutions = _prop(logical_id, "DefinitionSubstitutions") or {}
    granted = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in _prop(logical_id, "Policies") or []
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }
    for name, state in _states(_definition(logical_id)):
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{logical_id}.{name}: a Task without Retry"
        placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Resource"])
        if placeholder:  # a Lambda function by ARN
            function = substitutions[placeholder.group(1)]["Fn::GetAtt"][0]
            assert function in granted, f"{logical_id}.{name}: may not invoke {function}"


def _tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, Map item processors' and Parallel branches' too."""
    for name, state in definition["States"].items():
        yield name, state
        for inner in [state.get("ItemProcessor", {}), *state.get("Branches", [])]:
            if inner:
                yield from _tasks(inner)


@pytest.mark.parametrize("machine", sorted(p.name for p in (REPO / "statemachines").glob("*.json")))
def test_each_lambda_task_outlasts_its_function(machine: str) -> None:
    """A Task whose TimeoutSeconds is no more than its function's Timeout can fail with
    States.Timeout, which no Retry covers, where the Lambda would have timed out
    (Sandbox.Timedout, retried)."""
    definition = json.loads((REPO / "statemachines" / machine).read_text(encoding="utf-8"))
    for name, state in _tasks(definition):
        if state["Type"] != "Task" or not state["Resource"].startswith("${"):
            continue
        function = state["Resource"][2:-1].removesuffix("Arn")
        timeout = RESOURCES[function]["Properties"].get("Timeout", GLOBAL_FUNCTION["Timeout"])
        assert state["TimeoutSeconds"] >= timeout + 30, (name, timeout)
        assert any("Sandbox.Timedout" in r["ErrorEquals"] for r in state["Retry"]), name
