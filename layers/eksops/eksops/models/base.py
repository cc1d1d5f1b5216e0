"""The base of every event model and the one place validation errors become named errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from eksops.errors import InvalidInputError

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


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


def parse_event(model: type[Model], event: Any) -> Model:
    """Validate ``event``; every problem is listed by field, without echoing input values."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(f"invalid {model.__name__} input: {problems}") from None
