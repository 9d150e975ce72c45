"""Contracts on Spark give the same verdicts as the single-process validator, lose nothing, and say where every
rejected record came from: generated records across split boundaries, struct rows, the CLI, the registry."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.contracts.catalog import ContractError
from ml_infra.contracts.spark import (
    ContractSpec,
    SparkValidationError,
    contract_from_file,
    contract_from_registry,
    validate_dataframe,
    validate_files,
)
from ml_infra.contracts.validate import validate_stream, validator_for_contract

pytestmark = pytest.mark.spark
runner = CliRunner()

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "at", "score", "kind"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"},
        "score": {"type": "number", "minimum": -1.0, "maximum": 1.0, "multipleOf": 0.25},
        "kind": {"enum": ["a", "b", "c"]},
        "count": {"type": "integer", "maximum": 18446744073709551616},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "maxItems": 3},
        "embedding": {"type": "array", "items": {"type": "number", "minimum": -1, "maximum": 1}},
        "nested": {"type": "object", "properties": {"x": {"type": ["integer", "null"]}}, "required": ["x"]},
    },
}


def generated_lines(n: int, seed: int = 7) -> list[bytes]:
    """Valid records and records broken in every way the schema or the parser can see, including lines that
    are not JSON, empty, not UTF-8, CRLF-terminated, and integers past 64 bits."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        record: dict[str, Any] = {
            "id": f"{rnd.getrandbits(32):08x}-2c1a-4e0b-9a53-1f5b7a2c9d10",
            "at": f"2024-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T12:00:00Z",
            "score": rnd.choice([-1, -0.75, 0, 0.25, 1.0]),
            "kind": rnd.choice("abc"),
            "tags": ["x", "yz"][: rnd.randint(0, 2)],
            "embedding": [rnd.uniform(-1, 1) for _ in range(rnd.randint(0, 8))],
            "nested": {"x": rnd.choice([1, None])},
        }
        mutation = rnd.randrange(16)
        if mutation == 0:
            record["score"] = 0.3
        elif mutation == 1:
            record["kind"] = "d"
        elif mutation == 2:
            del record["at"]
        elif mutation == 3:
            record["tags"] = ["UP", "x", "y", "z"]
        elif mutation == 4:
            record["embedding"] = [0.5, 1.5]
        elif mutation == 5:
            record["extra"] = True
        elif mutation == 6:
            record["count"] = 2**64 + 1
        elif mutation == 7:
            record["count"] = 2**64
        elif mutation == 8:
            record["id"] = "not-a-uuid"
        elif mutation == 9:
            record["nested"] = {"x": "1"}
        line = json.dumps(record).encode()
        if mutation == 10:
            line = line[: len(line) // 2]  # truncated
        elif mutation == 11 and i % 3 == 0:
            line = b""
        elif mutation == 12 and i % 3 == 0:
            line = b'{"id": "\xff\xfe"}'  # not UTF-8
        elif mutation == 13 and i % 3 == 0:
            line += b"\r"  # a CRLF line: JSON allows the \r
        out.append(line)
    return out


def single_process(schema_path: Path, input_path: Path) -> tuple[list[bytes], dict[int, Any], dict[str, Any]]:
    """What the single-process path decides: valid lines, {line: (reasons, record or raw)}, its summary."""
    validator = validator_for_contract(str(schema_path))
    valid, rejected = io.BytesIO(), io.BytesIO()
    summary = validate_stream(validator, input_path, valid, rejected)
    by_line = {}
    for raw in rejected.getvalue().splitlines():
        r = json.loads(raw)
        by_line[r["line"]] = sorted((x["pointer"], x["keyword"], x["message"]) for x in r["reasons"])
    return valid.getvalue().splitlines(), by_line, summary.to_json()


def folder_lines(folder: Path) -> list[bytes]:
    return [line for part in sorted(folder.glob("part-*")) for line in part.read_bytes().splitlines()]


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.schema.json"
    path.write_text(json.dumps(SCHEMA), encoding="utf-8")
    return path


def test_generated_records_get_the_single_process_verdicts_across_splits_and_nothing_is_lost(
    spark: Any, tmp_path: Path, contract_file: Path
):
    lines = generated_lines(3000)
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_bytes(b"\n".join(lines[:2500]) + b"\n")  # ~600 KB: several 64 KB splits
    (data / "b.jsonl").write_bytes(b"\n".join(lines[2500:]) + b"\n")
    run = validate_files(spark, contract_from_file(contract_file), str(data), str(tmp_path / "valid"),
                         str(tmp_path / "rejected"))

    # Per split and in total: read = valid + rejected, and Spark's own line count agrees.
    assert len([s for s in run.balance.splits if s["file"].endswith("a.jsonl")]) > 3
    assert run.balance.balanced and run.balance.spark_read == 3000
    assert all(s["read"] == s["valid"] + s["rejected"] for s in run.balance.splits)

    for name in ("a.jsonl", "b.jsonl"):
        expected_valid, expected_rejected, _ = single_process(contract_file, data / name)
        got = {}
        for raw in folder_lines(tmp_path / "rejected"):
            r = json.loads(raw)
            if r["file"].endswith(name):
                got[r["line"]] = sorted((x["pointer"], x["keyword"], x["message"]) for x in r["reasons"])
        assert got == expected_rejected, name
        assert expected_rejected and expected_valid
    spark_valid = folder_lines(tmp_path / "valid")
    python_valid = single_process(contract_file, data / "a.jsonl")[0] + single_process(contract_file,
                                                                                      data / "b.jsonl")[0]
    assert sorted(spark_valid) == sorted(python_valid)  # the valid lines, byte for byte


def test_malformed_lines_are_rejected_with_their_text_and_exact_bytes(spark: Any, tmp_path: Path,
                                                                    contract_file: Path):
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"id": \n\n{"id": "\xff"}\n[1, 2\n')
    # A folder name with glob characters is written and read back as named, not as a pattern.
    out = tmp_path / "rejected[1]"
    run = validate_files(spark, contract_from_file(contract_file), str(data), None, str(out))
    assert (run.summary.read, run.summary.valid, run.summary.rejected) == (4, 0, 4)
    rows = sorted((json.loads(x) for x in folder_lines(out)), key=lambda r: r["line"])
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["raw"] for r in rows] == ['{"id": ', "", '{"id": "\\xff"}', "[1, 2"]
    assert rows[2]["raw_base64"] == "eyJpZCI6ICL/In0="  # the exact bytes of the line that is not UTF-8
    assert all(r["reasons"][0]["keyword"] == "json" for r in rows)


def test_struct_rows_are_judged_like_their_json_and_rejected_rows_carry_the_key(spark: Any, contract_file: Path):
    validator = validator_for_contract(str(contract_file))
    rows = []
    for i, line in enumerate(generated_lines(400, seed=3)):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "count" not in record and isinstance(record.get("score"), float | int):
            rows.append({"row_id": i, "payload": json.dumps(record)})
    df = spark.createDataFrame(rows, "row_id long, payload string")
    df = df.selectExpr("row_id", "from_json(payload, 'id string, at string, score double, kind string, "
                       "tags array<string>, embedding array<double>, nested struct<x: bigint>, extra boolean') as r")
    df = df.selectExpr("row_id", "r.*")
    result = validate_dataframe(df, contract_from_file(contract_file), column=None, key_columns=["row_id"],
                                record_columns=[c for c in df.columns if c != "row_id"])
    rejected = {r["row_id"]: sorted((x["pointer"], x["keyword"]) for x in r["reasons"])
                for r in result.rejected.collect()}
    # The single-process verdict of the same row as JSON without its null fields, at any depth (how Spark
    # writes it by default).
    def without_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_nulls(v) for k, v in value.items() if v is not None}
        return [without_nulls(v) for v in value] if isinstance(value, list) else value

    expected = {}
    for r in df.collect():
        record = without_nulls({k: v for k, v in r.asDict(recursive=True).items() if k != "row_id"})
        if not validator.is_valid(record):
            expected[r["row_id"]] = sorted((x.pointer, x.keyword) for x in validator.errors(record))
    assert rejected == expected and expected
    assert result.valid.columns == df.columns and result.valid.count() == df.count() - len(expected)


def test_the_contract_is_compiled_once_per_python_worker(spark: Any, contract_file: Path):
    df = spark.createDataFrame([(json.dumps({"id": i}),) for i in range(80)], "value string").repartition(8)
    counts = validate_dataframe(df, contract_from_file(contract_file)).counts.collect()
    assert len(counts) == 8 and sum(c["read"] for c in counts) == 80
    workers = {c["pid"] for c in counts}
    compiled = [c["pid"] for c in counts if c["compiled"]]
    assert len(workers) <= 2 < 8
    assert len(compiled) <= len(workers)  # compiled at most once per process: later tasks reuse it


def test_check_balance_counts_valid_rejected_and_spark_read(spark: Any, contract_file: Path):
    lines = [x.decode("utf-8", "replace") for x in generated_lines(500, seed=11)]
    df = spark.createDataFrame([(x,) for x in lines], "value string").repartition(3)
    balance = validate_dataframe(df, contract_from_file(contract_file)).check_balance()
    assert balance.balanced and balance.read == balance.spark_read == 500
    assert balance.valid + balance.rejected == 500 and balance.rejected > 0
    assert len(balance.splits) == 3


def test_the_cli_on_spark_prints_the_same_summary_and_exit_code_as_the_single_process_path(
    spark: Any, tmp_path: Path, contract_file: Path
):
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"\n".join(generated_lines(600, seed=5)) + b"\n")
    python = runner.invoke(app, ["contracts", "validate", str(contract_file), str(data), "--json"])
    on_spark = runner.invoke(app, ["contracts", "validate", str(contract_file), str(data), "--json",
                                   "--engine", "spark", "--valid", str(tmp_path / "v"),
                                   "--rejected", str(tmp_path / "r")])
    assert python.exit_code == on_spark.exit_code == 1, on_spark.output
    a, b = json.loads(python.stdout), json.loads(on_spark.stdout)
    for key in ("read", "valid", "rejected", "balanced", "top_reasons", "contract"):
        assert a[key] == b[key], key
    assert b["engine"] == "spark"

    good = tmp_path / "good"
    good.mkdir()
    (good / "x.jsonl").write_bytes(b"\n".join(x for x in generated_lines(200, seed=5)
                                              if validator_for_contract(str(contract_file)).is_valid(
                                                  _loads_or_none(x))) + b"\n")
    table = runner.invoke(app, ["contracts", "validate", str(contract_file), f"{good}/*.jsonl", "--engine", "spark"])
    assert table.exit_code == 0, table.output
    assert "rejected" in table.stdout


def _loads_or_none(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_the_cli_on_spark_refuses_outputs_that_exist_or_overlap_the_input_before_writing(
    spark: Any, tmp_path: Path, contract_file: Path
):
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_text('{"id": 1}\n')
    taken = tmp_path / "taken"
    taken.mkdir()
    for args, expected in (
        (["--valid", str(taken)], "already exists"),
        (["--rejected", str(data / "rejected")], "overlaps the input"),
        (["--valid", str(tmp_path / "o"), "--rejected", str(tmp_path / "o" / "r")], "overlap"),
    ):
        result = runner.invoke(app, ["contracts", "validate", str(contract_file), str(data), "--engine", "spark",
                                     *args])
        assert result.exit_code == 2 and expected in result.stderr, result.output
    assert sorted(p.name for p in data.iterdir()) == ["a.jsonl"] and not (tmp_path / "o").exists()
    missing = runner.invoke(app, ["contracts", "validate", str(contract_file), str(tmp_path / "nope*.jsonl"),
                                  "--engine", "spark"])
    assert missing.exit_code == 2 and "no such input" in missing.stderr
    avro = tmp_path / "x.avro"
    avro.write_bytes(b"Obj\x01rest")
    refused = runner.invoke(app, ["contracts", "validate", str(contract_file), str(avro), "--engine", "spark"])
    assert refused.exit_code == 2 and "Avro container file" in refused.stderr


def test_a_registry_contract_validates_like_its_file(spark: Any, contract_file: Path, aws_registry: Any):
    aws_registry.create_registry(RegistryName="ml")
    aws_registry.create_schema(RegistryId={"RegistryName": "ml"}, SchemaName="event", DataFormat="JSON",
                               Compatibility="BACKWARD", SchemaDefinition=contract_file.read_text())
    spec = contract_from_registry("ml", "event", client=aws_registry)
    assert spec.source == "Glue registry ml/event v1" and spec.digest == ContractSpec(
        "event", "JSON", contract_file.read_text(), "x").digest
    lines = [x.decode("utf-8", "replace") for x in generated_lines(300, seed=2)]
    df = spark.createDataFrame([(i, x) for i, x in enumerate(lines)], "n long, value string")
    from_registry = {r["n"] for r in validate_dataframe(df, spec, key_columns=["n"]).rejected.collect()}
    from_file = {r["n"] for r in validate_dataframe(df, contract_from_file(contract_file),
                                                     key_columns=["n"]).rejected.collect()}
    assert from_registry == from_file and from_file


def test_a_failed_balance_is_reported_not_hidden(spark: Any, tmp_path: Path, contract_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Injected fault: the written valid output loses its lines; the run must say so, not report success."""
    import ml_infra.contracts.spark as on_spark

    data = tmp_path / "in.jsonl"
    data.write_bytes(b"\n".join(generated_lines(100)) + b"\n")
    real = on_spark._lines_in
    monkeypatch.setattr(on_spark, "_lines_in", lambda s, f, out, staged: real(s, f, out, staged) - 1)
    with pytest.raises(SparkValidationError, match="do not balance"):
        validate_files(spark, contract_from_file(contract_file), str(data), str(tmp_path / "v"),
                       str(tmp_path / "r"))


def test_an_unusable_contract_is_refused_before_spark_runs(tmp_path: Path):
    bad = tmp_path / "bad.schema.json"
    bad.write_text('{"type": "object", "properties": {"a": {"type": "nope"}}}')
    with pytest.raises(ContractError, match=r"bad\.schema\.json"):
        contract_from_file(bad)
