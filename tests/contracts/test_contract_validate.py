"""Record validation: compile once, formats on, every record in exactly one output with every reason."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest
from contract_helpers import write_schema
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.contracts.catalog import ContractError
from ml_infra.contracts.validate import validator_for_contract

runner = CliRunner()

EVENT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "at", "score"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"},
        "score": {"type": "number", "minimum": -1.0, "maximum": 1.0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
}
GOOD = {"id": "4b6f1d1e-2c1a-4e0b-9a53-1f5b7a2c9d10", "at": "2024-05-01T12:00:00Z", "score": 0.5}
AVRO = {"type": "record", "name": "Req", "fields": [
    {"name": "id", "type": "string"}, {"name": "n", "type": "int"},
    {"name": "tag", "type": ["null", "string"], "default": None}]}


@pytest.fixture
def event_schema(tmp_path: Path) -> Path:
    return write_schema(tmp_path, "event.schema.json", EVENT)


def test_the_validator_is_compiled_once_per_contract_file(event_schema: Path):
    assert validator_for_contract(str(event_schema)) is validator_for_contract(str(event_schema))


def test_date_time_and_uuid_formats_are_checked(event_schema: Path):
    v = validator_for_contract(str(event_schema))
    assert v.is_valid(GOOD)
    bad = {**GOOD, "id": "not-a-uuid", "at": "2024-13-01T12:00:00Z"}
    assert not v.is_valid(bad)
    assert {(r.pointer, r.keyword) for r in v.errors(bad)} == {("/id", "format"), ("/at", "format")}


def test_float_bounds_keep_their_meaning_after_compilation(event_schema: Path):
    v = validator_for_contract(str(event_schema))
    assert v.is_valid({**GOOD, "score": 1}) and v.is_valid({**GOOD, "score": -1.0})
    [reason] = v.errors({**GOOD, "score": 1.0000001})
    assert (reason.pointer, reason.keyword) == ("/score", "maximum")


def test_a_contract_is_found_by_name_in_the_catalog_and_an_unknown_name_is_refused(tmp_path: Path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "event.schema.json", EVENT)
    (folder / "contracts.yaml").write_text("event.schema.json:\n  compatibility: FULL\n", encoding="utf-8")
    assert validator_for_contract("event", folder).is_valid(GOOD)
    with pytest.raises(ContractError, match="no contract named 'nope'; contracts there: event"):
        validator_for_contract("nope", folder)


def test_every_line_ends_in_exactly_one_output_and_counts_balance(event_schema: Path, tmp_path: Path):
    lines = [
        json.dumps(GOOD),
        json.dumps({**GOOD, "score": 3, "tags": ["a", "b", "c"], "extra": 1}),
        "{not json",
        "",
        json.dumps({**GOOD, "tags": ["x"]}),
        json.dumps([1, 2]),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    valid, rejected = tmp_path / "valid.jsonl", tmp_path / "rejected.jsonl"
    result = runner.invoke(app, ["contracts", "validate", str(event_schema), str(source), "--valid", str(valid),
                                 "--rejected", str(rejected), "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["valid"], summary["rejected"]) == (6, 2, 4)
    assert summary["balanced"] is True
    assert [json.loads(x) for x in valid.read_text().splitlines()] == [GOOD, {**GOOD, "tags": ["x"]}]
    out = [json.loads(x) for x in rejected.read_text().splitlines()]
    assert [r["line"] for r in out] == [2, 3, 4, 6]
    assert {(x["pointer"], x["keyword"]) for x in out[0]["reasons"]} == {
        ("/score", "maximum"), ("/tags", "maxItems"), ("", "additionalProperties")}
    assert out[1]["raw"] == "{not json" and out[1]["reasons"][0]["keyword"] == "json"
    assert out[2]["reasons"][0]["message"] == "empty line"


def test_all_valid_input_exits_0_and_a_missing_input_exits_2(event_schema: Path, tmp_path: Path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["contracts", "validate", str(event_schema), str(source)]).exit_code == 0
    missing = runner.invoke(app, ["contracts", "validate", str(event_schema), str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "no such input file" in missing.stderr


def test_avro_contract_validates_json_lines_and_reports_every_failing_field(tmp_path: Path):
    schema = write_schema(tmp_path, "req.avsc", AVRO)
    v = validator_for_contract(str(schema))
    assert v.is_valid({"id": "a", "n": 1, "tag": None})
    reasons = v.errors({"n": "x", "tag": 5})
    assert {(r.pointer, r.keyword) for r in reasons} == {("/id", "required"), ("/n", "type"), ("/tag", "type")}


def test_avro_container_file_is_split_into_avro_valid_and_json_rejected(tmp_path: Path):
    schema = write_schema(tmp_path, "req.avsc", AVRO)
    loose = {"type": "record", "name": "Req", "fields": [
        {"name": "id", "type": "string"}, {"name": "n", "type": "long"},
        {"name": "tag", "type": ["null", "string"], "default": None}]}
    source = tmp_path / "in.avro"
    with source.open("wb") as f:
        fastavro.writer(f, fastavro.parse_schema(loose),
                        [{"id": "a", "n": 1, "tag": None}, {"id": "b", "n": 2**40, "tag": "t"}])
    valid, rejected = tmp_path / "valid.avro", tmp_path / "rejected.jsonl"
    result = runner.invoke(app, ["contracts", "validate", str(schema), str(source), "--valid", str(valid),
                                 "--rejected", str(rejected), "--json"])
    assert result.exit_code == 1, result.output
    assert (json.loads(result.stdout)["input_format"], json.loads(result.stdout)["valid"]) == ("avro", 1)
    with valid.open("rb") as f:
        assert [r["id"] for r in fastavro.reader(f)] == ["a"]
    [bad] = [json.loads(x) for x in rejected.read_text().splitlines()]
    assert bad["line"] == 2 and bad["reasons"][0]["pointer"] == "/n"


def test_fast_path_and_full_validator_agree_on_numeric_array_bounds_and_uuid(tmp_path: Path):
    schema = write_schema(tmp_path, "vec.schema.json", {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid", "pattern": "^4"},
            "vec": {"type": "array", "items": {"type": "number", "minimum": -1.0, "exclusiveMaximum": 1}},
            "nested": {"type": "object", "properties": {
                "ints": {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0}}}},
        },
    })
    v = validator_for_contract(str(schema))
    cases = [
        ({"vec": [-1, 0.99], "nested": {"ints": [1, 2]}}, True),
        ({"vec": [0.5, 1]}, False),  # exclusive maximum reached
        ({"vec": [-1.0000001]}, False),
        ({"vec": "not an array"}, False),
        ({"vec": [0.1, True]}, False),  # a boolean is not a number
        ({"nested": {"ints": [0]}}, False),
        ({"nested": "scalar"}, False),
        ({"vec": []}, True),
        ({"id": GOOD["id"]}, True),
        ({"id": "4-not-a-uuid"}, False),
        ({"id": "5b6f1d1e-2c1a-4e0b-9a53-1f5b7a2c9d10"}, False),  # a uuid, but not matching the pattern
    ]
    for record, expected in cases:
        assert v.is_valid(record) is expected, record
        assert (v.errors(record) == []) is expected, record
