"""The JSON Schema rule engine: verdicts and the locations and words of its report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from ml_infra.contracts.jsonschema_compat import SchemaProblem, diff


def breaking(original, update):
    return [(c.kind, c.location) for c in diff(original, update) if not c.compatible]


def obj(properties, required=(), closed=False, **extra):
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def test_adding_a_required_property_breaks_readers_of_old_records():
    old = obj({"a": {"type": "string"}}, closed=True)
    new = obj({"a": {"type": "string"}, "b": {"type": "number"}}, required=["b"], closed=True)
    assert breaking(old, new) == [("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "/properties/b")]


def test_optional_property_added_to_a_closed_object_is_compatible():
    old = obj({"a": {"type": "string"}}, closed=True)
    new = obj({"a": {"type": "string"}, "b": {"type": "number"}}, closed=True)
    assert breaking(old, new) == []


def test_property_added_to_an_open_object_breaks_because_old_records_may_carry_it_with_any_value():
    changes = diff(obj({"a": {"type": "string"}}), obj({"a": {"type": "string"}, "b": {"type": "number"}}))
    [change] = [c for c in changes if not c.compatible]
    assert change.kind == "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    assert "'b'" in change.message and "any value" in change.message


def test_property_removed_from_a_closed_object_breaks_but_is_fine_when_additional_properties_cover_it():
    old = obj({"a": {"type": "string"}, "b": {"type": "string"}}, closed=True)
    assert breaking(old, obj({"a": {"type": "string"}}, closed=True)) == [
        ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "/properties/b")
    ]
    covered = obj({"a": {"type": "string"}}, additionalProperties={"type": "string"})
    assert breaking(old, covered) == []


def test_lowering_maxlength_breaks_at_its_pointer_with_both_values_in_the_message():
    old = obj({"name": {"type": "string", "maxLength": 128}})
    new = obj({"name": {"type": "string", "maxLength": 64}})
    [change] = diff(old, new)
    assert (change.kind, change.location, change.compatible) == (
        "MAX_LENGTH_DECREASED", "/properties/name/maxLength", False)
    assert "128" in change.message and "64" in change.message


def test_widening_integer_to_number_is_compatible_and_narrowing_breaks():
    assert breaking({"type": "integer"}, {"type": "number"}) == []
    assert breaking({"type": "number"}, {"type": "integer"}) == [("TYPE_NARROWED", "/")]


def test_enum_extended_is_compatible_and_narrowed_breaks():
    assert breaking({"enum": ["a", "b"]}, {"enum": ["b", "a", "c"]}) == []
    assert breaking({"type": "string", "enum": ["a", "b"]}, {"type": "string", "enum": ["a"]})[0] == (
        "ENUM_ARRAY_NARROWED", "/enum")


def test_exclusive_and_inclusive_integer_bounds_are_compared_by_the_values_they_allow():
    old = {"type": "integer", "maximum": 10}
    assert breaking(old, {"type": "integer", "exclusiveMaximum": 11}) == []
    assert breaking(old, {"type": "integer", "exclusiveMaximum": 10}) == [
        ("EXCLUSIVE_MAXIMUM_DECREASED", "/exclusiveMaximum")]


def test_nullable_type_list_losing_null_breaks():
    assert breaking({"type": ["string", "null"]}, {"type": "string"}) != []
    assert breaking({"type": "string"}, {"type": ["string", "null"]}) == []


def test_reordering_oneof_branches_is_not_a_change_and_dropping_one_breaks():
    old = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert diff(old, {"oneOf": [{"type": "integer"}, {"type": "string"}]}) == []
    assert breaking(old, {"oneOf": [{"type": "string"}]}) == [("SUM_TYPE_NARROWED", "/")]


def test_a_change_inside_a_oneof_branch_is_reported_at_that_branch():
    old = obj({"label": {"oneOf": [{"type": "string", "maxLength": 128}, {"type": "integer"}]}})
    new = obj({"label": {"oneOf": [{"type": "string", "maxLength": 64}, {"type": "integer"}]}})
    assert ("MAX_LENGTH_DECREASED", "/properties/label/oneOf/0/maxLength") in breaking(old, new)


def test_recursive_references_terminate_and_a_change_deep_inside_is_found():
    def tree(leaf_type):
        return {"$ref": "#/definitions/node", "definitions": {"node": {
            "type": "object",
            "properties": {"value": {"type": leaf_type}, "children": {"type": "array",
                                                                      "items": {"$ref": "#/definitions/node"}}}}}}
    assert diff(tree("string"), tree("string")) == []
    assert ("TYPE_CHANGED", "/properties/value") in breaking(tree("string"), tree("number"))


def test_adding_a_format_breaks_and_removing_it_is_compatible():
    assert breaking({"type": "string"}, {"type": "string", "format": "date-time"}) == [("FORMAT_ADDED", "/format")]
    assert breaking({"type": "string", "format": "date-time"}, {"type": "string"}) == []


def test_enum_replaced_by_a_type_is_judged_by_its_values():
    assert breaking({"enum": ["a", 1]}, {"type": ["string", "integer"]}) == []
    [(kind, _)] = breaking({"enum": ["a", 1.5]}, {"type": ["string", "integer"]})
    assert kind == "ENUM_VALUES_REJECTED"


def test_an_unresolvable_reference_is_reported_not_crashed_on():
    with pytest.raises(SchemaProblem, match="#/definitions/missing"):
        diff({"$ref": "#/definitions/missing"}, {"type": "string"})


# .ci/run names the copy it fetched or verified (ML_INFRA_CONFLUENT_VECTORS); without it, the copy beside the
# project. Named but missing is a failure, not a skip.
VECTORS_NAMED = "ML_INFRA_CONFLUENT_VECTORS" in os.environ
VECTORS = Path(
    os.environ.get("ML_INFRA_CONFLUENT_VECTORS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "peer-suites" / "confluent-jsonschema-diff"
)


@pytest.mark.skipif(not VECTORS.is_dir() and not VECTORS_NAMED, reason=f"Confluent's vectors are not at {VECTORS}")
def test_agreement_with_confluent_vectors_is_at_least_99_percent_in_every_file():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "confluent_conformance", Path(__file__).resolve().parents[2] / "scripts" / "confluent_conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    started = time.perf_counter()
    scores = module.measure(VECTORS)
    assert time.perf_counter() - started < 3
    assert {s.name: s.total for s in scores} == {
        "diff-schema-examples.json": 104, "diff-combined-schema-examples.json": 28,
        "diff-schema-examples-2020-12.json": 113, "diff-combined-schema-examples-2020-12.json": 18}
    assert all(s.percent >= 99.0 for s in scores), [(s.name, s.disagreements) for s in scores]
