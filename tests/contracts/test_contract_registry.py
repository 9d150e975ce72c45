"""The Glue registry gate on moto: publish only what passes, verify Glue's status, check against it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from contract_helpers import write_schema
from moto import mock_aws
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.contracts.catalog import load_catalog
from ml_infra.contracts.registry import publish

runner = CliRunner()
REGISTRY = "ml-contracts"
V1 = {"type": "object", "properties": {"id": {"type": "string"}, "note": {"type": "string", "maxLength": 100}},
      "additionalProperties": False}


@pytest.fixture
def glue(aws_env):
    with mock_aws():
        client = boto3.client("glue")
        client.create_registry(RegistryName=REGISTRY)
        yield client


def contracts_dir(tmp_path: Path, document) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    write_schema(folder, "events.schema.json", document)
    (folder / "contracts.yaml").write_text(
        "events.schema.json:\n  compatibility: BACKWARD\n  description: test events\n", encoding="utf-8")
    return folder


def invoke(*args: str):
    return runner.invoke(app, ["contracts", *args])


def versions(glue) -> int:
    return glue.get_schema(SchemaId={"RegistryName": REGISTRY, "SchemaName": "events"})["LatestSchemaVersion"]


def test_publish_creates_then_registers_a_compatible_version_and_verifies_it_is_available(glue, tmp_path):
    folder = contracts_dir(tmp_path, V1)
    first = invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["results"][0]["action"] == "created"
    widened = json.loads(json.dumps(V1))
    widened["properties"]["note"]["maxLength"] = 200
    contracts_dir(tmp_path, widened)
    second = invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder), "--json")
    assert second.exit_code == 0, second.output
    [result] = json.loads(second.stdout)["results"]
    assert (result["action"], result["status"], result["version"]) == ("registered", "AVAILABLE", 2)
    assert versions(glue) == 2


def test_publish_refuses_a_breaking_version_and_registers_nothing(glue, tmp_path):
    folder = contracts_dir(tmp_path, V1)
    assert invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder)).exit_code == 0
    narrowed = json.loads(json.dumps(V1))
    narrowed["properties"]["note"]["maxLength"] = 10
    contracts_dir(tmp_path, narrowed)
    result = invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder), "--json")
    assert result.exit_code == 1
    [outcome] = json.loads(result.stdout)["results"]
    assert outcome["action"] == "refused"
    assert outcome["check"]["findings"][0]["changes"][0]["kind"] == "MAX_LENGTH_DECREASED"
    assert versions(glue) == 1


def test_check_against_registry_reports_the_breaking_change(glue, tmp_path):
    folder = contracts_dir(tmp_path, V1)
    invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder))
    dropped = {**V1, "properties": {"note": V1["properties"]["note"]}}
    contracts_dir(tmp_path, dropped)
    result = invoke("check", "--against-registry", REGISTRY, "--contracts-dir", str(folder), "--json")
    assert result.exit_code == 1
    change = json.loads(result.stdout)["contracts"][0]["findings"][0]["changes"][0]
    assert (change["kind"], change["location"]) == ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "/properties/id")


def test_unknown_registry_is_unusable_input(glue, tmp_path):
    folder = contracts_dir(tmp_path, V1)
    result = invoke("check", "--against-registry", "nope", "--contracts-dir", str(folder))
    assert result.exit_code == 2
    assert "Glue registry 'nope' does not exist" in result.stderr


class _GlueLeavesFailure:
    """Glue's real behaviour that moto does not reproduce: the version is registered, with status FAILURE."""

    def __init__(self, glue):
        self.glue = glue

    def __getattr__(self, name):
        return getattr(self.glue, name)

    def get_schema_version(self, **kwargs):
        answer = self.glue.get_schema_version(**kwargs)
        if "SchemaVersionId" in kwargs:
            answer["Status"] = "FAILURE"
        return answer


def test_publish_fails_when_glue_leaves_the_new_version_in_failure(glue, tmp_path):
    folder = contracts_dir(tmp_path, V1)
    invoke("publish", "--registry", REGISTRY, "--contracts-dir", str(folder))
    widened = json.loads(json.dumps(V1))
    widened["properties"]["note"]["maxLength"] = 200
    contracts_dir(tmp_path, widened)
    [contract] = load_catalog(folder)
    result = publish(_GlueLeavesFailure(glue), REGISTRY, contract, timeout_s=1, poll_s=0.01)
    assert (result.ok, result.action, result.status) == (False, "failed", "FAILURE")
    assert "FAILURE" in result.message
