"""`ml-infra preview`: what it prints for a stack, its JSON contract, and its errors for unusable input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["preview", *args])


def test_json_output_lists_every_resource_with_engine_inputs_and_redacted_secrets(project_dir: Path):
    result = run("--stack", "dev", "--project-dir", str(project_dir), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"resources", "outputs", "violations"}
    assert document["violations"] == []  # the dev stack passes the guardrails
    resources = document["resources"]
    assert all({"type", "name", "parent", "inputs"} <= set(r) for r in resources)
    by_name = {r["name"]: r for r in resources}

    key = by_name["model-params-key"]
    assert key["type"] == "aws:kms/key:Key"
    assert key["parent"] == by_name["model-params"]["urn"]
    assert key["inputs"]["enableKeyRotation"] is True  # camelCase, as the engine receives it

    secure = by_name["model-params-fraud-detector-scoring-service-api-key"]["inputs"]
    assert secure["valueWo"] == "[secret]"
    assert "offline-preview-placeholder" not in result.stdout

    assert document["outputs"]["contractRegistryArn"].startswith("arn:aws:glue:eu-west-1:")
    assert set(document["outputs"]["modelReadPolicyArns"]) == {"fraud-detector", "churn-predictor"}


def test_text_output_shows_the_resource_tree_and_outputs(project_dir: Path):
    result = run("--stack", "prod", "--project-dir", str(project_dir))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Stack ml-infra/prod: ") and lines[0].endswith(" resources")
    assert "  ml-infra:ssm_params:ModelParameters  model-params" in lines
    assert any(
        line.startswith("    aws:kms/key:Key  model-params-key [protected]  enableKeyRotation=true") for line in lines
    )
    assert "Outputs:" in lines


def test_invalid_config_exits_2_with_every_problem_and_no_traceback(project_copy: Callable[[], Path]):
    project = project_copy()
    stack_file = project / "Pulumi.prod.yaml"
    text = stack_file.read_text()
    text = text.replace("ml-infra:protectStatefulResources: true", "ml-infra:protectStatefulResources: false")
    text = text.replace("ml-infra:kmsDeletionWindowDays: 30", "ml-infra:kmsDeletionWindowDays: 90")
    stack_file.write_text(text)
    result = run("--stack", "prod", "--project-dir", str(project))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    # One line per problem, naming the file and the key, then the count.
    assert f"error: {stack_file}: ml-infra:protectStatefulResources: must be true in prod" in result.stderr
    assert (
        f"error: {stack_file}: ml-infra:kmsDeletionWindowDays: Input should be less than or equal to 30 (got '90')"
        in result.stderr
    )
    assert "Stack 'prod' has 2 configuration problem(s); nothing was evaluated or written." in result.stderr


def test_unknown_stack_exits_2_naming_the_stacks_that_exist(project_dir: Path):
    result = run("--stack", "qa", "--project-dir", str(project_dir))
    assert result.exit_code == 2
    assert "Pulumi.qa.yaml: not found; stacks here: dev, prod." in result.stderr


def test_pulumi_yaml_defaults_apply_when_the_stack_file_omits_a_key(project_copy: Callable[[], Path]):
    project = project_copy()
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("  ml-infra:kmsDeletionWindowDays: 7\n", ""))
    result = run("--stack", "dev", "--project-dir", str(project), "--json")
    assert result.exit_code == 0, result.output
    key = next(r for r in json.loads(result.stdout)["resources"] if r["type"] == "aws:kms/key:Key")
    assert key["inputs"]["deletionWindowInDays"] == 30  # the default declared in Pulumi.yaml


@pytest.mark.slow  # a fresh interpreter importing the Pulumi SDKs: seconds of CPU
def test_the_readme_command_runs_as_a_separate_process(project_dir: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "ml_infra", "preview", "--stack", "dev"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Stack ml-infra/dev: ")


INSECURE_KEY = """
import pulumi_aws as aws

# Deliberately insecure: no rotation, no key policy, no deletion window.
aws.kms.Key("insecure-key", enable_key_rotation=False, opts=pulumi.ResourceOptions(provider=providers.aws))
"""


def test_a_mandatory_guardrail_violation_is_listed_by_resource_and_exits_1(project_copy: Callable[[], Path]):
    project = project_copy()
    main = project / "__main__.py"
    main.write_text(main.read_text() + INSECURE_KEY)
    result = run("--stack", "prod", "--project-dir", str(project))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    summary = lines.index("Guardrails (prod): 3 mandatory, 0 advisory violation(s)")
    assert lines[summary + 1] == "  aws:kms/key:Key  insecure-key"
    assert lines[summary + 2].startswith("    [mandatory] kms-deletion-window: KMS key 'insecure-key' has no deletion")
    assert any(line.startswith("    [mandatory] kms-key-rotation: ") for line in lines[summary + 2 : summary + 5])

    document = json.loads(run("--stack", "prod", "--project-dir", str(project), "--json").stdout)
    assert {(v["policy"], v["resourceName"], v["enforcement"]) for v in document["violations"]} == {
        ("kms-key-rotation", "insecure-key", "mandatory"),
        ("kms-explicit-key-policy", "insecure-key", "mandatory"),
        ("kms-deletion-window", "insecure-key", "mandatory"),
    }
