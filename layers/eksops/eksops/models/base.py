"""The base of every event model and the one place validation errors become named errors."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from eksops.errors import InvalidInputError
from eksops.models.fields import EXTERNAL_ID_PATTERN, IAM_ROLE_PATTERN

Model = TypeVar("Model", bound="EventModel")


class EventModel(BaseModel):
    """camelCase on the wire (the contract's field names), snake_case in Python; unknown fields
    are errors so that typos fail loudly instead of being ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,  # JSON in, JSON types: "yes" is no boolean, "3" no number
        use_attribute_docstrings=True,  # a field's docstring is its description in the schema
    )


class TargetAccountInput(EventModel):
    """The account a workflow acts in: eksops's own, or another one's through a role there (hub
    and spoke)."""

    target_role_arn: Annotated[str, Field(pattern=IAM_ROLE_PATTERN)] | None = None
    """Role in the target account that every step assumes (cross-account): a member account's
    role from member-account.yaml, or one listed in the TargetRoleArns parameter. Events that
    member accounts forward get their account's member role."""
    external_id: Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN)] | None = None
    """External ID that the target role's trust policy requires (sts:ExternalId), if any."""

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> TargetAccountInput:
        if self.external_id is not None and self.target_role_arn is None:
            raise ValueError("externalId is only used with targetRoleArn")
        return self


# How AWS documents associating a nested execution with its parent: the parent passes its
# execution ID under this key.
STARTED_BY_KEY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


class NestedWorkflowInput(TargetAccountInput):
    """The input of a workflow that a parent (CreateCluster) also starts as a nested execution."""

    started_by: Annotated[
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:states:")] | None,
        Field(alias=STARTED_BY_KEY),
    ] = None
    """Set by a parent execution (CreateCluster): what this one creates is tagged as the
    parent's, so the parent's rollback removes it."""

    def creator(self, execution_id: str) -> str:
        """The execution that the resources are tagged as created by: the parent, if any."""
        return self.started_by or execution_id


def shortened(value: Any, limit: int = 100) -> str:
    """``value`` as text of at most ``limit`` characters, for messages that quote an event."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


def parse_event(model: type[Model], event: Any) -> Model:
    """Validate ``event``; every problem is listed by field, without echoing input values."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(f"invalid {model.__name__} input: {problems}") from None
