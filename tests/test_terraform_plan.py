"""`ml-infra preview --format terraform-plan`: the offline preview as Terraform plan JSON that plan scanners
(Checkov, Trivy, conftest) read. Checkov itself runs on both stacks in CI (.ci/run), with a negative control;
these tests hold the translation to what `terraform show -json` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.preview import Evaluation
from ml_infra.terraform_plan import TERRAFORM_TYPES, plan_document, snake_case, terraform_values

STACKS = ("dev", "prod")


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_and_gcp_resource_becomes_a_terraform_resource_and_azure_is_listed_as_skipped(
    stack: str, request: pytest.FixtureRequest
):
    evaluation: Evaluation = request.getfixturevalue(stack)
    document = plan_document(evaluation)
    custom = [r for r in evaluation.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    bridged = [r for r in custom if r.type.split(":")[0] in ("aws", "gcp")]
    missing = sorted({r.type for r in bridged} - set(TERRAFORM_TYPES))
    assert missing == [], f"add these types to TERRAFORM_TYPES (from the provider's bridge-metadata.json): {missing}"
    planned = document["planned_values"]["root_module"]["resources"]
    assert len(planned) == len(bridged) == len(document["resource_changes"])
    assert len({r["address"] for r in planned}) == len(planned)  # addresses are unique
    assert all(r["address"] == f"{r['type']}.{r['name']}" and r["name"].isidentifier() for r in planned)
    skipped = document["skipped"]
    assert {s["type"].split(":")[0] for s in skipped} == {"azure-native"}
    assert len(skipped) == len(custom) - len(bridged)
    assert all("not bridged from a Terraform provider" in s["reason"] for s in skipped)


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_does_not_depend_on_the_order_resources_registered_in(stack: str, request: pytest.FixtureRequest):
    """Mocked (and real) resources register as their inputs resolve, in an order that varies between runs."""
    import dataclasses
    import random

    evaluation: Evaluation = request.getfixturevalue(stack)
    expected = json.dumps(plan_document(evaluation), sort_keys=False)
    for seed in range(3):
        shuffled = list(evaluation.resources)
        random.Random(seed).shuffle(shuffled)
        assert json.dumps(plan_document(dataclasses.replace(evaluation, resources=shuffled))) == expected


def test_nested_blocks_are_lists_renamed_fields_are_terraforms_and_maps_stay_maps():
    values = terraform_values(
        {
            "bucket": "b",
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}],
            "tags": {"cost-center": "ml", "team": "platform"},
        }
    )
    assert values == {
        "bucket": "b",
        "rule": [
            {"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}], "bucket_key_enabled": True}
        ],
        "tags": {"cost-center": "ml", "team": "platform"},
    }
    assert snake_case("enableKeyRotation") == "enable_key_rotation"
    assert snake_case("kmsKeyARN") == "kms_key_arn"


def test_the_s3_bucket_encryption_reads_as_terraform_writes_it(prod: Evaluation):
    planned = {r["address"]: r for r in plan_document(prod)["planned_values"]["root_module"]["resources"]}
    encryption = planned["aws_s3_bucket_server_side_encryption_configuration.serving_capture_encryption"]["values"]
    (rule,) = encryption["rule"]
    assert rule["bucket_key_enabled"] is True
    assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    key = planned["aws_kms_key.serving_key"]["values"]
    assert key["enable_key_rotation"] is True and key["deletion_window_in_days"] == 30


def test_references_between_resources_are_kept_in_the_configuration(prod: Evaluation):
    configured = {r["address"]: r for r in plan_document(prod)["configuration"]["root_module"]["resources"]}
    association = configured["aws_wafv2_web_acl_association.model_registry_waf_association"]["expressions"]
    assert association["resource_arn"]["references"][0] == "aws_appsync_graphql_api.model_registry_api.arn"
    logging = configured["aws_s3_bucket_logging.serving_capture_access_logs_logging"]["expressions"]
    assert logging["bucket"]["references"][-1] == "aws_s3_bucket.serving_capture"


def test_no_secret_reaches_the_plan(project_dir: Path):
    from ml_infra.preview import evaluate, read_stack_files

    files = read_stack_files(project_dir, "dev")
    secret = "tok-never-in-a-plan-file"
    evaluation = evaluate(
        project_dir,
        "dev",
        config={**files.config, "ml-infra:fraudScoringApiKey": secret},
        secret_keys=["ml-infra:fraudScoringApiKey"],
    )
    document = plan_document(evaluation)
    assert secret not in json.dumps(document)
    planned = {r["name"]: r for r in document["planned_values"]["root_module"]["resources"]}
    parameter = planned["model_params_fraud_detector_scoring_service_api_key"]
    assert "value_wo" not in parameter["values"] and parameter["sensitive_values"] == {"value_wo": True}


def test_the_command_writes_the_plan_file_and_never_over_an_input(project_dir: Path, tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "prod.tfplan.json"
    args = ["preview", "--stack", "prod", "--project-dir", str(project_dir), "--format", "terraform-plan"]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["format_version"] == "1.2" and document["planned_values"]["root_module"]["resources"]
    assert not list(tmp_path.glob(".*.partial"))

    stack_file = project_dir / "Pulumi.prod.yaml"
    before = stack_file.read_bytes()
    refused = runner.invoke(app, [*args, "--output", str(stack_file)])
    assert refused.exit_code == 2
    assert "would overwrite an input of the preview" in refused.output
    assert stack_file.read_bytes() == before
