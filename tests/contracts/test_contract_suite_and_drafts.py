"""Correctness of `ml-infra contracts validate` against what we did not write: the official JSON Schema test
suite through the command itself, drafts chosen by `$schema`, exact numbers, and schemas the engine cannot
compile refused with exit 2 naming the contract and the JSON pointer."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from contract_helpers import write_schema
from typer.testing import CliRunner

from ml_infra.cli import app

ROOT = Path(__file__).resolve().parents[2]
# .ci/run names the copy it fetched or verified (ML_INFRA_JSON_SCHEMA_SUITE); without it, the copy beside the
# project. Named but missing is a failure, not a skip.
SUITE_NAMED = "ML_INFRA_JSON_SCHEMA_SUITE" in os.environ
SUITE = Path(
    os.environ.get("ML_INFRA_JSON_SCHEMA_SUITE") or ROOT.parent / "shared" / "peer-suites" / "json-schema-test-suite"
)
runner = CliRunner()


def _suite_script():
    spec = importlib.util.spec_from_file_location("json_schema_suite", ROOT / "scripts" / "json_schema_suite.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # some 900 cases through the command: seconds of CPU
@pytest.mark.skipif(not (SUITE / "tests" / "draft7").is_dir() and not SUITE_NAMED,
                    reason=f"the official JSON-Schema-Test-Suite is not at {SUITE} (CI has it there)")
def test_every_draft7_core_case_of_the_official_suite_passes_through_the_cli():
    sections, remote = _suite_script().run_suite(SUITE, {"core"})
    [core] = sections
    assert core.total > 850
    assert core.failures == [] and core.passed == core.total
    # refRemote fetches from the network: each of its groups is refused (exit 2), never half-run.
    assert remote.total > 0 and remote.failures == []


def validate(schema: Path, lines: list[str], tmp_path: Path, *extra: str):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    rejected = tmp_path / "rejected.jsonl"
    result = runner.invoke(app, ["contracts", "validate", str(schema), str(data), "--rejected", str(rejected),
                                 *extra])
    bad = [json.loads(x)["line"] for x in rejected.read_bytes().split(b"\n") if x] if rejected.exists() else []
    return result, bad


def test_a_schema_without_dollar_schema_is_judged_as_draft_07_and_says_so(tmp_path: Path):
    # `dependencies` is a draft-07 keyword that 2020-12 dropped: judged as 2020-12 it would be ignored.
    schema = write_schema(tmp_path, "dep.schema.json", {"dependencies": {"a": ["b"]}})
    result, bad = validate(schema, ['{"a": 1}', '{"a": 1, "b": 2}'], tmp_path)
    assert result.exit_code == 1 and bad == [1]
    assert "JSON Schema draft-07" in result.stdout


def test_a_plain_file_may_declare_2020_12_and_is_judged_under_it(tmp_path: Path):
    schema = write_schema(tmp_path, "new.schema.json", {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "prefixItems": [{"type": "integer"}], "items": False})
    result, bad = validate(schema, ["[1]", "[1, 2]", '["x"]'], tmp_path)
    assert result.exit_code == 1 and bad == [2, 3]
    assert "JSON Schema 2020-12" in result.stdout


def test_compat_accepts_2020_12_files_and_prints_the_draft(tmp_path: Path):
    draft = "https://json-schema.org/draft/2020-12/schema"
    old = write_schema(tmp_path, "a.schema.json", {"$schema": draft, "type": "string", "maxLength": 5})
    new = write_schema(tmp_path, "b.schema.json", {"$schema": draft, "type": "string", "maxLength": 3})
    result = runner.invoke(app, ["contracts", "compat", str(old), str(new)])
    assert result.exit_code == 1, result.output
    assert "judged as JSON Schema 2020-12" in result.stdout and "MAX_LENGTH_DECREASED" in result.stdout


def test_the_catalog_refuses_a_draft_glue_does_not_support(tmp_path: Path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "x.schema.json", {"$schema": "https://json-schema.org/draft/2020-12/schema"})
    (folder / "contracts.yaml").write_text("x.schema.json:\n  compatibility: BACKWARD\n", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "validate", "x", str(folder / "contracts.yaml"),
                                 "--contracts-dir", str(folder)])
    assert result.exit_code == 2
    assert "x.schema.json: $schema:" in result.stderr and "draft-04, -06 or -07" in result.stderr
    assert "Glue" in result.stderr


@pytest.mark.parametrize("draft", ["draft-04", "draft-06", "draft-07"])
def test_the_catalog_accepts_the_drafts_glue_supports(tmp_path: Path, draft: str):
    from ml_infra.contracts.catalog import load_catalog

    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "x.schema.json", {"$schema": f"http://json-schema.org/{draft}/schema#", "type": "object"})
    (folder / "contracts.yaml").write_text("x.schema.json:\n  compatibility: BACKWARD\n", encoding="utf-8")
    [contract] = load_catalog(folder)
    assert contract.draft == draft


def test_integers_beyond_64_bits_are_compared_exactly(tmp_path: Path):
    schema = write_schema(tmp_path, "big.schema.json", {"maximum": 2**64})
    result, bad = validate(schema, [str(2**64), str(2**64 + 1), str(-(2**70))], tmp_path)
    assert result.exit_code == 1 and bad == [2]


def test_decimals_are_compared_exactly_whatever_a_float_would_make_of_them(tmp_path: Path):
    schema = write_schema(tmp_path, "dec.schema.json", {"maximum": 1, "multipleOf": 0.01})
    lines = ["1", "1.00000000000000000001", "0.57", "0.571", "0.1", "1e400", "-12345678901234567890.12"]
    result, bad = validate(schema, lines, tmp_path)
    assert result.exit_code == 1 and bad == [2, 4, 6]


def test_a_rejected_exact_number_is_kept_with_its_exact_text(tmp_path: Path):
    schema = write_schema(tmp_path, "dec.schema.json", {"type": "object", "properties": {"x": {"maximum": 1}}})
    result, _ = validate(schema, ['{"x": 1.00000000000000000001}'], tmp_path)
    assert result.exit_code == 1
    assert b'"record":{"x":1.00000000000000000001}' in (tmp_path / "rejected.jsonl").read_bytes()


def _nested(depth: int) -> str:
    return '{"items": ' * depth + '{"type": "integer"}' + "}" * depth


@pytest.mark.parametrize(("schema", "pointer", "what"), [
    (_nested(3000), "/items/items/items/items", "nests deeper than"),
    ({"properties": {"a": {"$ref": "#/definitions/missing"}}}, "/properties/a/$ref", "cannot be compiled"),
    ({"properties": {"a": {"type": "string", "pattern": "(?<!a"}}}, "/properties/a/pattern", "cannot be compiled"),
    ({"properties": {"a": {"$ref": "https://example.com/other.json"}}}, "/properties/a/$ref", "remote references"),
])
def test_a_schema_the_engine_cannot_compile_is_exit_2_naming_contract_and_pointer(
        tmp_path: Path, schema: dict | str, pointer: str, what: str):
    path = tmp_path / "broken.schema.json"
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema), encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text("1\n", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "validate", str(path), str(data)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "broken.schema.json" in result.stderr and pointer in result.stderr and what in result.stderr
    assert "Traceback" not in result.output


def test_a_remote_ref_is_refused_when_the_catalog_is_loaded(tmp_path: Path):
    from ml_infra.contracts.catalog import ContractError, load_catalog

    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "x.schema.json", {"properties": {"a": {"$ref": "http://localhost:1234/integer.json"}}})
    (folder / "contracts.yaml").write_text("x.schema.json:\n  compatibility: BACKWARD\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"x.schema.json: /properties/a/\$ref: .*remote references are refused"):
        load_catalog(folder)
