"""The README's config reference names each key's type as the model declares it: a section is an object, a
number field a number, whatever the section's class happens to be called."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel

from ml_infra.stack_config import StackConfig, _reference_rows, _type_name, config_reference_markdown


def rows() -> list[tuple[str, str, str, str]]:
    return list(_reference_rows(StackConfig, ""))


def test_every_key_with_nested_keys_is_an_object_and_every_object_has_a_meaning():
    table = rows()
    keys = [key for key, *_ in table]
    for key, type_name, _default, description in table:
        has_children = any(other.startswith(f"{key}.") for other in keys)
        if has_children:
            assert type_name == "object", f"{key} has nested keys but is documented as {type_name}"
        assert description, key
    by_key = {key: type_name for key, type_name, *_ in table}
    assert by_key["sagemaker.alarms"] == "object"
    assert by_key["sagemaker.alarms.maxModelLatencyMs"] == "integer"
    assert by_key["models.<model>.parameters.<key>.minimum"] == "number"
    assert by_key["environment"] == "dev \\| staging \\| prod"


class PointSettings(BaseModel):  # the name contains "int": substring matching called such a class an integer
    x: int = 0


class Floating(BaseModel):
    pass


def test_type_names_come_from_the_annotation_structure_not_its_text():
    assert _type_name(PointSettings) == "object"
    assert _type_name(PointSettings | None) == "object"
    assert _type_name(Floating) == "object"
    assert _type_name(bool) == "boolean"
    assert _type_name(int | None) == "integer"
    assert _type_name(float) == "number"
    assert _type_name(Annotated[str, AfterValidator(str.strip)] | None) == "string"
    assert _type_name(list[Annotated[str, AfterValidator(str.strip)]]) == "list"
    assert _type_name(dict[str, PointSettings]) == "object"
    assert _type_name(Literal["a", "b"]) == "a \\| b"


def test_the_generated_table_has_one_row_per_key():
    table = config_reference_markdown().splitlines()
    keys = [line.split("|")[1].strip() for line in table[2:]]
    assert len(keys) == len(set(keys))
