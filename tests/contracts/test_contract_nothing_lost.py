"""Nothing lost by `ml-infra contracts validate`: outputs never overwrite the input or each other, a damaged
Avro file stops with the byte offset and the counts after writing exactly what came before, rejected bytes are
kept exactly, and user text is printed literally."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import fastavro
import pytest
from contract_helpers import write_schema
from typer.testing import CliRunner

from ml_infra.cli import app

runner = CliRunner()
SCHEMA = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10}}}
AVRO = {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "long"},
                                                    {"name": "name", "type": "string"}]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    schema = write_schema(tmp_path, "row.schema.json", SCHEMA)
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1}\n{"id": "x"}\n', encoding="utf-8")
    return schema, source


def _run(*args: str):
    return runner.invoke(app, ["contracts", "validate", *args])


@pytest.mark.parametrize("how", ["same-path", "input", "hard-link-to-input", "symlink-to-input",
                                 "symlink-to-other-output", "hard-link-to-other-output"])
def test_overlapping_outputs_are_refused_before_anything_is_written(setup: tuple[Path, Path], tmp_path: Path,
                                                                     how: str):
    schema, source = setup
    before = source.read_bytes()
    valid, rejected = tmp_path / "valid.jsonl", tmp_path / "rejected.jsonl"
    if how == "same-path":
        rejected = valid
    elif how == "input":
        valid = source
    elif how == "hard-link-to-input":
        os.link(source, valid)
    elif how == "symlink-to-input":
        valid.symlink_to(source)
    elif how == "symlink-to-other-output":
        rejected.write_text("keep me\n", encoding="utf-8")
        valid.symlink_to(rejected)
    else:
        rejected.write_text("keep me\n", encoding="utf-8")
        os.link(rejected, valid)
    result = _run(str(schema), str(source), "--valid", str(valid), "--rejected", str(rejected))
    assert result.exit_code == 2, result.output
    assert "is the same file as" in result.stderr and "nothing was written" in result.stderr
    assert source.read_bytes() == before
    if how.endswith("other-output"):
        assert rejected.read_text(encoding="utf-8") == "keep me\n"
    elif how == "same-path":
        assert not valid.exists()


def _avro_file(path: Path, n: int, per_block: int) -> list[int]:
    """An Avro container file of `n` records, `per_block` records per block; returns each block's end offset."""
    rows = [{"id": i, "name": "abcdefgh"[: 1 + i % 8]} for i in range(n)]
    with path.open("wb") as f:
        writer = fastavro.write.Writer(f, fastavro.parse_schema(AVRO), sync_interval=1 << 30)
        for start in range(0, n, per_block):
            for row in rows[start:start + per_block]:
                writer.write(row)
            writer.flush()
    ends = []
    with path.open("rb") as f:
        for block in fastavro.block_reader(f):
            ends.append(block.offset + block.size)
    return ends


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_avro_file_ends_with_exit_2_the_offset_the_counts_and_the_records_before_it(
        tmp_path: Path, damage: str):
    schema = write_schema(tmp_path, "row.avsc", AVRO)
    source = tmp_path / "in.avro"
    _avro_file(source, 30, 10)
    data = bytearray(source.read_bytes())
    with source.open("rb") as f:
        offsets = [b.offset for b in fastavro.block_reader(f)]
    # Damage the third block: cut the file in its middle, or overwrite its sync marker.
    if damage == "truncated":
        data = data[: offsets[2] + 20]
    else:
        data[-16:] = b"\x00" * 16
    source.write_bytes(bytes(data))
    valid, rejected = tmp_path / "valid.avro", tmp_path / "rejected.jsonl"
    result = _run(str(schema), str(source), "--valid", str(valid), "--rejected", str(rejected))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output
    assert str(source) in result.stderr and "byte " in result.stderr
    assert "20 records were read before it (20 valid, 0 rejected)" in result.stderr
    with valid.open("rb") as f:
        assert [r["id"] for r in fastavro.reader(f)] == list(range(20))


def test_an_avro_file_with_a_broken_header_is_exit_2_at_byte_0(tmp_path: Path):
    schema = write_schema(tmp_path, "row.avsc", AVRO)
    source = tmp_path / "in.avro"
    source.write_bytes(b"Obj\x01\xff\xff\xff")
    result = _run(str(schema), str(source))
    assert result.exit_code == 2 and f"{source}: byte 0:" in result.stderr


def test_a_rejected_line_that_is_not_utf8_is_kept_byte_exact(setup: tuple[Path, Path], tmp_path: Path):
    schema, _ = setup
    source = tmp_path / "latin1.jsonl"
    bad = '{"id": 2, "name": "caf\u00e9"}'.encode("latin-1")
    source.write_bytes(b'{"id": 1}\n' + bad + b"\n")
    rejected = tmp_path / "rejected.jsonl"
    result = _run(str(schema), str(source), "--rejected", str(rejected), "--json")
    assert result.exit_code == 1
    [row] = [json.loads(x) for x in rejected.read_bytes().splitlines()]
    assert row["line"] == 2 and base64.b64decode(row["raw_base64"]) == bad
    assert row["raw"] == '{"id": 2, "name": "caf\\xe9"}'
    assert "not UTF-8" in row["reasons"][0]["message"]


def test_messages_cap_the_value_they_embed_but_the_record_is_kept_whole(setup: tuple[Path, Path],
                                                                        tmp_path: Path):
    schema, _ = setup
    long_name = "Q" * 50_000_000  # a 50 MB line
    source = tmp_path / "big.jsonl"
    source.write_bytes(b'{"id": 1, "name": "' + long_name.encode() + b'"}\n')
    rejected = tmp_path / "rejected.jsonl"
    result = _run(str(schema), str(source), "--rejected", str(rejected))
    assert result.exit_code == 1
    assert len(result.stdout) < 10_000  # the human summary shows capped messages, not the value
    assert "more characters)" in result.stdout
    row = json.loads(rejected.read_bytes())
    assert row["record"]["name"] == long_name
    assert all(len(r["message"]) <= 300 for r in row["reasons"])


def test_user_text_in_tables_is_printed_literally(tmp_path: Path):
    schema = write_schema(tmp_path, "row.schema.json", SCHEMA)
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "name": "[/]"}\n{"id": 2, "name": "[bold]x"}\n', encoding="utf-8")
    result = _run(str(schema), str(source))
    assert result.exit_code == 1, result.output
    assert "^[a-z]+$" in result.stdout and '"[/]"' in result.stdout and "[bold]x" in result.stdout
