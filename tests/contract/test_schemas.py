"""docs/schemas/ documents exactly what the models validate (regenerate with
`python -m eksops.local.schemas`)."""

from __future__ import annotations

import pytest
from eksops.local.schemas import SCHEMA_DIR, SCHEMAS, render


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_documented_schema_is_the_models(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.read_text(encoding="utf-8") == render(SCHEMAS[name]), (
        f"{path} is out of date: run `python -m eksops.local.schemas`"
    )


def test_every_documented_schema_has_a_model() -> None:
    documented = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert documented == set(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_field_is_described(name: str) -> None:
    schema = SCHEMAS[name].model_json_schema(by_alias=True)
    for definition in [schema, *schema.get("$defs", {}).values()]:
        undocumented = [
            field
            for field, spec in definition.get("properties", {}).items()
            if not spec.get("description")
        ]
        assert not undocumented, f"{definition.get('title')}: {undocumented} lack descriptions"
