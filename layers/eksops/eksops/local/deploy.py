"""`sam deploy` for the offline account: package, translate, create or update the stack.

Packaging uploads each function's code and each layer's packages to S3 as zips (what
`sam package` does after `sam build`) and inlines state machine definitions; aws-sam-translator
turns the SAM template into CloudFormation; the stack is then created through the offline
account's CloudFormation API, like `sam deploy` against AWS.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eksops.local.template import load_template

ARTIFACT_BUCKET = "eksops-local-artifacts"
_SKIPPED = {"__pycache__", "Makefile", ".pytest_cache"}


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    status: str
    resources: dict[str, str]  # logical ID -> physical ID
    outputs: dict[str, str]


def _zip(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(files.items()):
            archive.write(path, name)
    return buffer.getvalue()


def _tree(root: Path, prefix: str = "") -> dict[str, Path]:
    return {
        prefix + path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_file()
        and not _SKIPPED.intersection(path.relative_to(root).parts)
        and path.suffix != ".pyc"
    }


def function_zip(code_dir: Path) -> bytes:
    return _zip(_tree(code_dir))


LAYER_PACKAGES = "python/eksops-layer-packages.txt"


def layer_zip(content_dir: Path) -> bytes:
    """The layer's Python packages under python/, where Lambda puts /opt/python on the path.
    (`sam build` adds the third-party packages; offline they come from this environment, and
    LAYER_PACKAGES names them, so that a function without the layer cannot import them.)"""
    files: dict[str, Path] = {}
    for package in sorted(content_dir.iterdir()):
        if (package / "__init__.py").is_file():
            files.update(_tree(package, f"python/{package.name}/"))
    body = _zip(files)
    requirements = content_dir / "requirements.in"
    if not requirements.is_file():
        return body
    names = [
        re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].replace("-", "_").lower()
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    buffer = io.BytesIO(body)
    with zipfile.ZipFile(buffer, "a") as archive:
        entry = zipfile.ZipInfo(LAYER_PACKAGES, date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(entry, "\n".join(sorted(names)) + "\n")
    return buffer.getvalue()


def package(template: dict[str, Any], base_dir: Path, s3: Any) -> dict[str, Any]:
    """A copy of ``template`` whose code locations are S3 URIs and definitions inline."""
    packaged = copy.deepcopy(template)
    existing = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    if ARTIFACT_BUCKET not in existing:
        region = s3.meta.region_name
        location = {} if region == "us-east-1" else {"LocationConstraint": region}
        configuration = {"CreateBucketConfiguration": location} if location else {}
        s3.create_bucket(Bucket=ARTIFACT_BUCKET, **configuration)
    for name, resource in packaged.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            body = function_zip(base_dir / properties["CodeUri"])
        elif kind == "AWS::Serverless::LayerVersion" and isinstance(
            properties.get("ContentUri"), str
        ):
            body = layer_zip(base_dir / properties["ContentUri"])
        elif kind == "AWS::Serverless::StateMachine" and isinstance(
            properties.get("DefinitionUri"), str
        ):
            path = base_dir / properties.pop("DefinitionUri")
            properties["Definition"] = json.loads(path.read_text(encoding="utf-8"))
            continue
        else:
            continue
        key = f"{name}.zip"
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body)
        uri_property = "CodeUri" if kind == "AWS::Serverless::Function" else "ContentUri"
        properties[uri_property] = f"s3://{ARTIFACT_BUCKET}/{key}"
    return packaged


def translate(
    template: dict[str, Any], parameters: dict[str, str], region: str, account_id: str
) -> dict[str, Any]:
    """SAM -> CloudFormation with aws-sam-translator, for ``region`` (not the caller's)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws"}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    # SAM resolves managed policy *names* through IAM; the template uses ARNs only.
    return translator.translate(
        template, parameter_values={**parameters, **pseudo}, get_managed_policy_map=dict
    )


_PLACEHOLDER = re.compile(r"\$\{(!?)([^}]*)\}")


def _sub_as_join(text: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Fn::Sub's meaning as an Fn::Join: moto's Fn::Sub runs string.Template, which also turns
    every `$$` into `$` (ASL's `$$.Execution.Id` would become `$.Execution.Id`)."""
    parts: list[Any] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position : match.start()])
        literal, name = match.groups()
        if literal:  # ${!Literal} is the text ${Literal}
            parts.append("${" + name + "}")
        elif name in variables:
            parts.append(variables[name])
        elif "." in name:
            parts.append({"Fn::GetAtt": name.split(".", 1)})
        else:
            parts.append({"Ref": name})
        position = match.end()
    parts.append(text[position:])
    return {"Fn::Join": ["", [part for part in parts if part != ""]]}


def substitute_definitions(cloudformation: dict[str, Any]) -> None:
    """Apply DefinitionSubstitutions as CloudFormation does (moto ignores them): the definition
    becomes the Fn::Sub over the same variables (written as an equivalent Fn::Join)."""
    for resource in cloudformation.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        substitutions = properties.pop("DefinitionSubstitutions", None)
        if not substitutions:
            continue
        definition = properties.pop("DefinitionString", None) or properties.pop("Definition")
        if isinstance(definition, dict) and "Fn::Join" in definition:
            separator, lines = definition["Fn::Join"]
            definition = separator.join(lines)
        elif not isinstance(definition, str):
            definition = json.dumps(definition)
        properties["DefinitionString"] = _sub_as_join(definition, substitutions)


def deploy(
    client: Callable[[str], Any],
    region: str,
    template_path: Path,
    stack_name: str,
    parameters: dict[str, str] | None = None,
) -> Deployment:
    """Create or update ``stack_name`` from the SAM template at ``template_path``; ``client``
    makes a boto3 client for a service of the target account."""
    template = load_template(template_path)
    # moto splits a list parameter's given value at commas, but not its default: given here,
    # a default like "a,b" is a list as CloudFormation makes it
    list_defaults = {
        name: str(slot["Default"])
        for name, slot in template.get("Parameters", {}).items()
        if "Default" in slot
        and (slot.get("Type") == "CommaDelimitedList" or slot.get("Type", "").startswith("List<"))
    }
    parameters = {**list_defaults, **(parameters or {})}
    account_id = client("sts").get_caller_identity()["Account"]
    packaged = package(template, template_path.parent, client("s3"))
    cloudformation = translate(packaged, parameters, region, account_id)
    substitute_definitions(cloudformation)
    cfn = client("cloudformation")
    request = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(cloudformation),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    live = {
        summary["StackName"]
        for page in cfn.get_paginator("list_stacks").paginate()
        for summary in page["StackSummaries"]
        if summary["StackStatus"] != "DELETE_COMPLETE"
    }
    if stack_name in live:
        cfn.update_stack(**request)
    else:
        cfn.create_stack(**request)
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    return Deployment(
        stack_name=stack_name,
        status=stack["StackStatus"],
        resources={r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries},
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
    )
