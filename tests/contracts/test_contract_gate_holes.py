"""Holes the compatibility gate must not have: a deleted or renamed contract, a mode changed together with
the schema, a relaxed mode, Avro defaults Glue would refuse; and the shipped training-record contract accepts
the integer labels it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from contract_helpers import git, write_schema
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.contracts.catalog import ContractError, load_catalog
from ml_infra.contracts.validate import validator_for_contract

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
RECORD = {"type": "object", "properties": {"id": {"type": "string"}, "note": {"type": "string"}},
          "required": ["id"]}


def manifest(folder: Path, **modes: str) -> None:
    (folder / "contracts.yaml").write_text(
        "".join(f"{name}:\n  compatibility: {mode}\n" for name, mode in modes.items()), encoding="utf-8")


def check(repo: Path, *args: str):
    result = runner.invoke(app, ["contracts", "check", "--against", "main", "--json",
                                 "--contracts-dir", str(repo / "contracts"), *args])
    return result.exit_code, {c["contract"]: c for c in json.loads(result.stdout)["contracts"]}


@pytest.fixture
def repo(contracts_repo: Path) -> Path:
    folder = contracts_repo / "contracts"
    write_schema(folder, "record.schema.json", RECORD)
    write_schema(folder, "other.schema.json", {"type": "string"})
    manifest(folder, **{"record.schema.json": "BACKWARD", "other.schema.json": "FULL"})
    git(contracts_repo, "add", "-A")
    git(contracts_repo, "commit", "-q", "-m", "v1")
    git(contracts_repo, "checkout", "-q", "-b", "feature")
    return contracts_repo


def test_a_deleted_contract_is_breaking_unless_allowed_explicitly(repo: Path):
    (repo / "contracts" / "other.schema.json").unlink()
    manifest(repo / "contracts", **{"record.schema.json": "BACKWARD"})
    code, reports = check(repo)
    assert code == 1 and reports["other"]["status"] == "breaking"
    assert reports["other"]["findings"][0]["changes"][0]["kind"] == "CONTRACT_DELETED"
    code, reports = check(repo, "--allow-delete", "other")
    assert code == 0 and reports["other"]["status"] == "deleted"


def test_a_renamed_contract_is_a_deletion_plus_a_new_one(repo: Path):
    git(repo, "mv", "contracts/other.schema.json", "contracts/renamed.schema.json")
    manifest(repo / "contracts", **{"record.schema.json": "BACKWARD", "renamed.schema.json": "FULL"})
    code, reports = check(repo)
    assert code == 1
    assert reports["other"]["status"] == "breaking" and reports["renamed"]["status"] == "new"


def test_a_mode_change_with_a_schema_change_is_judged_under_both_modes(repo: Path):
    # A new required property breaks BACKWARD (old records lack it) but not FORWARD: switching the mode in the
    # same change must not let it through.
    changed = {**RECORD, "required": ["id", "note"]}
    write_schema(repo / "contracts", "record.schema.json", changed)
    manifest(repo / "contracts", **{"record.schema.json": "FORWARD", "other.schema.json": "FULL"})
    code, reports = check(repo, "--allow-mode-change", "record")
    assert code == 1
    record = reports["record"]
    assert record["status"] == "breaking" and record["mode"] == "BACKWARD -> FORWARD"
    assert any("under the old mode BACKWARD" in f["against"] and not f["compatible"] for f in record["findings"])


def test_relaxing_a_mode_is_reported_and_breaking_unless_allowed(repo: Path):
    manifest(repo / "contracts", **{"record.schema.json": "BACKWARD", "other.schema.json": "BACKWARD"})
    code, reports = check(repo)
    assert code == 1 and reports["other"]["status"] == "breaking"
    kinds = [c["kind"] for f in reports["other"]["findings"] for c in f["changes"]]
    assert kinds == ["MODE_RELAXED"]
    code, reports = check(repo, "--allow-mode-change", "other")
    assert code == 0 and "relaxed" in reports["other"]["note"]


def test_tightening_a_mode_with_a_compatible_change_passes(repo: Path):
    widened = {**RECORD, "properties": {**RECORD["properties"], "extra": {}}}
    write_schema(repo / "contracts", "record.schema.json", widened)
    manifest(repo / "contracts", **{"record.schema.json": "BACKWARD_ALL", "other.schema.json": "FULL"})
    code, reports = check(repo)
    assert code == 0, reports
    assert reports["record"]["status"] == "compatible"


@pytest.mark.parametrize(("field", "why"), [
    ({"name": "n", "type": "int", "default": "x"}, "default does not match its type"),
    ({"name": "tag", "type": ["null", "string"], "default": "x"}, "first branch of its union"),
])
def test_avro_defaults_are_checked_against_their_types_at_load(tmp_path: Path, field: dict, why: str):
    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "r.avsc", {"type": "record", "name": "R", "fields": [field]})
    manifest(folder, **{"r.avsc": "BACKWARD"})
    with pytest.raises(ContractError) as caught:
        load_catalog(folder)
    assert "r.avsc" in caught.value.problems[0] and why in caught.value.problems[0]


def test_a_union_default_of_the_first_branch_is_accepted(tmp_path: Path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    write_schema(folder, "r.avsc", {"type": "record", "name": "R", "fields": [
        {"name": "tag", "type": ["string", "null"], "default": "x"}]})
    manifest(folder, **{"r.avsc": "BACKWARD"})
    assert [c.name for c in load_catalog(folder)] == ["r"]


def test_the_shipped_training_record_contract_accepts_integer_labels():
    v = validator_for_contract("training-record", ROOT / "contracts")
    base = {"record_id": "4b6f1d1e-2c1a-4e0b-9a53-1f5b7a2c9d10", "model_name": "churn", "dataset_version": "v1",
            "split": "train", "event_time": "2024-05-01T12:00:00Z",
            "features": {"embedding": [0.1, 0.2], "numeric": {"age": 41}}}
    for label in (0, 7, -3, 2.5, "cat"):
        assert v.validate_line(json.dumps({**base, "label": label}).encode()) == [], label
    for label in (True, None, "x" * 129):
        assert v.validate_line(json.dumps({**base, "label": label}).encode()) != [], label
