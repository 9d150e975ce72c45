"""The Spark task body and contract sources, without a Spark session (fast): what each Arrow batch becomes, the
counts a task reports, the per-process compile cache, and contracts fetched from the Glue registry (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ml_infra.contracts import spark as on_spark
from ml_infra.contracts.catalog import ContractError
from ml_infra.contracts.spark import (
    ADDED,
    BLOCK_COL,
    FILE_COL,
    INPUT_COL,
    ContractSpec,
    contract_from_catalog,
    contract_from_registry,
    validate_batches,
)

SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "maximum": 10}}}
SPEC = ContractSpec("n", "JSON", json.dumps(SCHEMA), "test")


def batch(values: list[bytes | None], file: str | None = None, block: int = 0) -> pa.RecordBatch:
    columns: dict[str, Any] = {"value": pa.array(values, pa.binary()), INPUT_COL: pa.array(values, pa.binary())}
    if file is not None:
        columns[FILE_COL] = pa.array([file] * len(values), pa.string())
        columns[BLOCK_COL] = pa.array([block] * len(values), pa.int64())
    return pa.RecordBatch.from_pydict(columns)


def run(batches: list[pa.RecordBatch], offsets: dict[tuple[str, int], int] | None = None) -> list[dict[str, Any]]:
    passthrough = [n for n in batches[0].schema.names if n != INPUT_COL]
    out = list(validate_batches(batches, SPEC, passthrough, offsets))
    for b in out:
        assert b.schema.names == [*passthrough, *ADDED]
    return [row for b in out for row in b.to_pylist()]


def test_every_input_row_comes_out_once_with_a_verdict_and_the_task_counts_balance():
    rows = run([batch([b'{"n": 1}', b'{"n": 11}', b"{", None]), batch([b'{"n": 2}'])])
    verdicts = [r["_contract_verdict"] for r in rows]
    assert verdicts == ["valid", "rejected", "rejected", "rejected", "valid", "count"]
    assert [r["value"] for r in rows[:5]] == [b'{"n": 1}', b'{"n": 11}', b"{", None, b'{"n": 2}']  # untouched
    assert rows[1]["_contract_reasons"][0]["keyword"] == "maximum" and rows[1]["_contract_record"] == '{"n": 11}'
    assert rows[2]["_contract_raw"] == "{" and rows[2]["_contract_reasons"][0]["keyword"] == "json"
    assert rows[3]["_contract_reasons"][0]["message"] == "no value (null)"
    count = rows[-1]
    assert (count["_contract_read"], count["_contract_valid"], count["_contract_rejected"]) == (5, 2, 3)


def test_line_numbers_continue_across_batches_and_start_after_the_lines_of_earlier_splits():
    offsets = {("f", 0): 0, ("f", 4096): 7}
    rows = run([batch([b"{}", b'{"n": 1}'], "f", 4096), batch([b"{}"], "f", 4096), batch([b"{}"], "f", 0)], offsets)
    rejected = [(r["_contract_line"], r[FILE_COL]) for r in rows if r["_contract_verdict"] == "rejected"]
    assert rejected == [(8, "f"), (10, "f"), (1, "f")]
    counts = {(r[FILE_COL], r[BLOCK_COL]): r["_contract_read"] for r in rows if r["_contract_verdict"] == "count"}
    assert counts == {("f", 4096): 3, ("f", 0): 1}  # one count row per split


def test_a_value_that_is_not_utf8_keeps_its_exact_bytes():
    rows = run([batch([b'{"n": "\xff"}'])])
    assert rows[0]["_contract_raw_base64"] == "eyJuIjogIv8ifQ=="
    assert rows[0]["_contract_raw"] == '{"n": "\\xff"}'  # readable, the bad byte as \xNN


def test_a_task_that_reads_nothing_still_reports_its_count_row():
    schema = pa.schema([("value", pa.binary()), (INPUT_COL, pa.binary())])
    out = list(validate_batches([], SPEC, ["value"], None, pa.schema([schema.field("value")])))
    [row] = [r for b in out for r in b.to_pylist()]
    assert (row["_contract_verdict"], row["_contract_read"]) == ("count", 0)


def test_the_contract_is_compiled_once_per_process_and_recompiled_when_its_text_changes():
    on_spark._COMPILED.clear()
    first, compiled = on_spark.compiled_validator(SPEC)
    again, compiled_again = on_spark.compiled_validator(ContractSpec("other-name", "JSON", SPEC.text, "x"))
    assert compiled and not compiled_again and first is again  # keyed by the contract's digest, not its name
    changed = ContractSpec("n", "JSON", json.dumps({**SCHEMA, "required": []}), "test")
    assert on_spark.compiled_validator(changed)[1]


def test_a_catalog_contract_is_found_by_name(project_dir: Path):
    spec = contract_from_catalog("training-record", project_dir / "contracts")
    assert spec.data_format == "JSON" and spec.source.endswith("training-record.schema.json")
    with pytest.raises(ContractError, match="no contract named 'nope'"):
        contract_from_catalog("nope", project_dir / "contracts")


@pytest.fixture
def glue(aws_env: None) -> Any:
    with mock_aws():
        client = boto3.client("glue")
        client.create_registry(RegistryName="ml")
        yield client


def test_the_latest_or_a_numbered_registry_version_is_fetched(glue: Any):
    glue.create_schema(RegistryId={"RegistryName": "ml"}, SchemaName="n", DataFormat="JSON",
                       Compatibility="NONE", SchemaDefinition=json.dumps(SCHEMA))
    relaxed = {**SCHEMA, "required": []}
    glue.register_schema_version(SchemaId={"RegistryName": "ml", "SchemaName": "n"},
                                 SchemaDefinition=json.dumps(relaxed))
    latest = contract_from_registry("ml", "n", client=glue)
    first = contract_from_registry("ml", "n", 1, client=glue)
    assert json.loads(latest.text) == relaxed and latest.source == "Glue registry ml/n v2"
    assert json.loads(first.text) == SCHEMA and first.digest == SPEC.digest


def test_a_missing_registry_schema_is_unusable_input_naming_it(glue: Any):
    with pytest.raises(ContractError, match="Glue registry ml/none"):
        contract_from_registry("ml", "none", client=glue)


def test_a_registry_version_that_is_not_available_or_not_a_schema_is_refused(aws_env: None):
    client = boto3.client("glue")
    with Stubber(client) as stub:
        stub.add_response("get_schema_version", {"VersionNumber": 3, "Status": "FAILURE", "DataFormat": "JSON",
                                                 "SchemaDefinition": "{}"})
        with pytest.raises(ContractError, match="v3: has status 'FAILURE'"):
            contract_from_registry("ml", "n", 3, client=client)
        stub.add_response("get_schema_version", {"VersionNumber": 1, "Status": "AVAILABLE",
                                                 "DataFormat": "PROTOBUF", "SchemaDefinition": "x"})
        with pytest.raises(ContractError, match="PROTOBUF"):
            contract_from_registry("ml", "n", client=client)
        stub.add_response("get_schema_version", {"VersionNumber": 1, "Status": "AVAILABLE", "DataFormat": "JSON",
                                                 "SchemaDefinition": '{"type": "nope"}'})
        with pytest.raises(ContractError, match=r"^Glue registry ml/n v1: /type: not a valid draft-07"):
            contract_from_registry("ml", "n", client=client)
