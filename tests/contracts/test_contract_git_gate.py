"""`ml-infra contracts check` and `compat` from the command line, against a throwaway git repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from contract_helpers import git, write_schema
from typer.testing import CliRunner

from ml_infra.cli import app

runner = CliRunner()

RECORD = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {"id": {"type": "string"}, "label": {"type": "string", "maxLength": 128}},
    "required": ["id"],
}


def manifest(folder: Path, **modes: str) -> None:
    lines = [f"{name}:\n  compatibility: {mode}\n  description: test contract\n" for name, mode in modes.items()]
    (folder / "contracts.yaml").write_text("".join(lines), encoding="utf-8")


def run(repo: Path, *args: str):
    return runner.invoke(app, ["contracts", *args, "--contracts-dir", str(repo / "contracts")])


@pytest.fixture
def committed(contracts_repo: Path) -> Path:
    write_schema(contracts_repo / "contracts", "record.schema.json", RECORD)
    manifest(contracts_repo / "contracts", **{"record.schema.json": "BACKWARD"})
    git(contracts_repo, "add", "-A")
    git(contracts_repo, "commit", "-q", "-m", "v1")
    git(contracts_repo, "checkout", "-q", "-b", "feature")
    return contracts_repo


def test_breaking_change_on_a_branch_exits_1_with_the_change_and_its_pointer(committed: Path):
    changed = json.loads(json.dumps(RECORD))
    changed["properties"]["label"]["maxLength"] = 64
    write_schema(committed / "contracts", "record.schema.json", changed)
    result = run(committed, "check", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    [contract] = report["contracts"]
    assert contract["status"] == "breaking"
    [change] = contract["findings"][0]["changes"]
    assert (change["kind"], change["location"]) == ("MAX_LENGTH_DECREASED", "/properties/label/maxLength")
    assert "merge-base(HEAD, main)" in report["against"]


def test_compatible_change_and_new_contract_pass(committed: Path):
    widened = json.loads(json.dumps(RECORD))
    widened["properties"]["label"]["maxLength"] = 256
    write_schema(committed / "contracts", "record.schema.json", widened)
    write_schema(committed / "contracts", "other.schema.json", {"type": "string"})
    manifest(committed / "contracts", **{"record.schema.json": "BACKWARD", "other.schema.json": "FULL"})
    result = run(committed, "check")
    assert result.exit_code == 0, result.output
    assert "compatible" in result.stdout and "new" in result.stdout


def test_all_modes_compare_with_every_committed_version(committed: Path):
    folder = committed / "contracts"
    manifest(folder, **{"record.schema.json": "BACKWARD_ALL"})
    v2 = json.loads(json.dumps(RECORD))
    v2["properties"]["label"]["maxLength"] = 64  # committed on main: v1 -> v2 was let through
    write_schema(folder, "record.schema.json", v2)
    git(committed, "commit", "-q", "-am", "v2")
    v3 = json.loads(json.dumps(v2))
    v3["properties"]["label"]["maxLength"] = 100  # reads v2 data, not v1 data
    write_schema(folder, "record.schema.json", v3)
    result = run(committed, "check", "--against", "HEAD", "--json")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["contracts"][0]["findings"]
    assert [f["compatible"] for f in findings] == [False, True]


def test_unknown_ref_is_unusable_input_with_a_clear_message(committed: Path):
    result = run(committed, "check", "--against", "no-such-branch")
    assert result.exit_code == 2
    assert "'no-such-branch': unknown git ref" in result.stderr


def test_missing_main_branch_is_unusable_input(committed: Path):
    git(committed, "branch", "-q", "-D", "main")
    result = run(committed, "check")
    assert result.exit_code == 2
    assert "no main branch" in result.stderr and "--against" in result.stderr


def test_outside_a_git_repository_is_unusable_input(committed: Path, tmp_path: Path):
    plain = tmp_path / "plain"
    shutil.copytree(committed / "contracts", plain / "contracts")
    result = runner.invoke(app, ["contracts", "check", "--contracts-dir", str(plain / "contracts")])
    assert result.exit_code == 2
    assert "not inside a git repository" in result.stderr


def test_compat_compares_two_files_and_exits_2_for_a_broken_one(tmp_path: Path):
    old = write_schema(tmp_path, "old.schema.json", RECORD)
    new_doc = json.loads(json.dumps(RECORD))
    new_doc["required"] = ["id", "label"]
    new = write_schema(tmp_path, "new.schema.json", new_doc)
    assert runner.invoke(app, ["contracts", "compat", str(old), str(new)]).exit_code == 1
    assert runner.invoke(app, ["contracts", "compat", str(old), str(new), "--mode", "FORWARD"]).exit_code == 0
    broken = tmp_path / "broken.schema.json"
    broken.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "compat", str(old), str(broken)])
    assert result.exit_code == 2
    assert "broken.schema.json: not valid JSON" in result.stderr
    assert "Traceback" not in result.output


def test_compat_refuses_an_unknown_mode(tmp_path: Path):
    old = write_schema(tmp_path, "old.schema.json", RECORD)
    result = runner.invoke(app, ["contracts", "compat", str(old), str(old), "--mode", "SIDEWAYS"])
    assert result.exit_code == 2
    assert "allowed: NONE" in result.stderr
