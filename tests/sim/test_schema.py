"""The schema-to-instance generator: what it makes, a JSON-Schema validator accepts."""

from __future__ import annotations

from typing import Any
from typing import Literal

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from brownout.sim.schema import SchemaError
from brownout.sim.schema import instance


class Leaf(BaseModel):
    name: str
    weight: float


class Tree(BaseModel):
    kind: Literal["oak", "elm"]
    leaves: list[Leaf]
    crown: Leaf | None
    children: list[Tree]
    tags: dict[str, int]
    alive: bool


def test_pydantic_model_with_defs_refs_nullable_and_recursion() -> None:
    schema = Tree.model_json_schema()
    assert "$defs" in schema
    value = instance(schema)
    jsonschema.validate(value, schema)
    tree = Tree.model_validate(value)
    assert tree.kind == "oak" and tree.crown is not None and tree.leaves[0].name


def test_strict_openai_schema_with_any_of_and_additional_properties_false() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "minimum": 3, "maximum": 9},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "pick": {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["a", "b"]}]},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            "many": {"type": "array", "items": {"type": "string", "minLength": 10}, "minItems": 2},
            "either": {"type": ["null", "boolean"]},
            "fixed": {"const": 42},
            "merged": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object"}]},
        },
        "required": ["when", "count", "ratio", "pick", "pair", "many", "either", "fixed", "merged"],
        "additionalProperties": False,
    }
    value = instance(schema)
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    assert value["pick"] == "a" and value["count"] == 3 and value["either"] is True


def test_gemini_openapi_subset() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER", "nullable": True}},
        "required": ["city"],
    }
    assert instance(schema) == {"city": "sample", "days": 0}


def test_unsatisfiable_references_are_refused() -> None:
    with pytest.raises(SchemaError, match="points nowhere"):
        instance({"$ref": "#/$defs/missing"})
    endless = {
        "$defs": {"loop": {"type": "object", "properties": {"next": {"$ref": "#/$defs/loop"}}, "required": ["next"]}},
        "$ref": "#/$defs/loop",
    }
    with pytest.raises(SchemaError, match="deeper"):
        instance(endless)


# Schemas drawn from the part of JSON Schema the generator claims to handle.
scalars = st.one_of(
    st.builds(
        lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
        st.integers(-50, 50),
        st.integers(0, 20),
    ),
    st.builds(lambda low: {"type": "number", "exclusiveMinimum": low}, st.floats(-1e6, 1e6)),
    st.builds(
        lambda low, span: {"type": "string", "minLength": low, "maxLength": low + span},
        st.integers(0, 30),
        st.integers(0, 5),
    ),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": "string", "format": "email"}]),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(lambda values: {"enum": values}),
)


def _containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), children, max_size=4).flatmap(
        lambda properties: st.builds(
            lambda required, closed: {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": not closed,
            },
            st.lists(st.sampled_from(sorted(properties)), unique=True) if properties else st.just([]),
            st.booleans(),
        )
    )
    arrays = st.builds(
        lambda items, low: {"type": "array", "items": items, "minItems": low}, children, st.integers(0, 3)
    )
    unions = st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches})
    return st.one_of(objects, arrays, unions)


schemas = st.recursive(scalars, _containers, max_leaves=12)


@given(schemas)
def test_every_drawn_schema_accepts_its_instance(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance(schema), schema, format_checker=jsonschema.FormatChecker())


@given(schemas)
def test_behind_a_reference_too(schema: dict[str, Any]) -> None:
    wrapped = {"$defs": {"target": schema}, "type": "object", "properties": {"x": {"$ref": "#/$defs/target"}}}
    jsonschema.validate(instance(wrapped), wrapped, format_checker=jsonschema.FormatChecker())
