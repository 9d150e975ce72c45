"""Bad input never reaches the cloud (issue 14): each class of mistake in the files a user edits is fed through
the command a user runs, `ml-infra preview` (or `ml-infra contracts check`), and must exit 2 with one line per
problem naming the file and the config key (`<file>: <key>: <what is wrong>; <what is allowed>`), without a
traceback, and without writing anything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra import cloud_limits
from ml_infra.cli import app


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def project(project_copy: Callable[[], Path]) -> Path:
    return project_copy()


def refused(project: Path, stack: str = "dev") -> str:
    """Run the preview of a broken project: exit 2, nothing written, no stdout; returns stderr."""
    before = snapshot(project)
    code, out, err = run_cli("preview", "--stack", stack, "--project-dir", str(project))
    assert code == 2, err + out
    assert out == ""
    assert snapshot(project) == before, "the preview changed files"
    for line in err.splitlines():
        assert line.startswith("error: ") or "configuration problem(s); nothing was evaluated" in line, line
    return err


# -- Crashes ------------------------------------------------------------------------------------------------------


def test_a_non_utf8_byte_in_a_stack_file_is_named_by_its_offset(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    data = stack_file.read_bytes()
    offset = data.index(b"team: ml-platform") + len(b"team: ml-")
    stack_file.write_bytes(data[:offset] + b"\xe9" + data[offset:])
    err = refused(project)
    line = data[:offset].count(b"\n") + 1
    assert f"error: {stack_file}: byte {offset} (line {line}, column " in err
    assert "0xe9 is not valid UTF-8" in err and "the file must be UTF-8 text" in err


def test_a_non_utf8_byte_in_the_contracts_manifest_is_named(project: Path):
    manifest = project / "contracts" / "contracts.yaml"
    manifest.write_bytes(manifest.read_bytes().replace(b"One labelled", b"One \xff labelled"))
    err = refused(project)
    assert f"error: {manifest}: byte " in err and "0xff is not valid UTF-8" in err
    code, _, err = run_cli("contracts", "check", "--contracts-dir", str(project / "contracts"))
    assert code == 2 and f"{manifest}: byte " in err


def test_a_project_without_a_program_is_refused(project: Path):
    (project / "__main__.py").unlink()
    err = refused(project)
    assert f"error: {project / '__main__.py'}: not found; the Pulumi program of a Python project" in err


# -- Silently resolved ------------------------------------------------------------------------------------------


def test_a_model_given_twice_names_both_lines(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    first = text[: text.index("    churn-predictor:")].count("\n") + 1
    edit(stack_file, "    churn-predictor:\n", "    fraud-detector:\n")
    second = text.count("\n", 0, text.index("    churn-predictor:")) + 1
    err = refused(project)
    assert f"error: {stack_file}: config.ml-infra:models.fraud-detector: is given twice, on line " in err
    assert f"and line {second}; each key may appear once" in err
    assert first == second


def test_a_parameter_given_twice_names_both_lines(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    edit(stack_file, "        batch-size:\n", "        decision-threshold:\n")
    err = refused(project)
    assert "config.ml-infra:models.fraud-detector.parameters.decision-threshold: is given twice, on line" in err


def test_a_contract_listed_twice_in_the_manifest_is_refused(project: Path):
    manifest = project / "contracts" / "contracts.yaml"
    text = manifest.read_text()
    manifest.write_text(text + "training-record.schema.json:\n  compatibility: NONE\n")
    err = refused(project)
    assert f"{manifest}: training-record.schema.json: is given twice, on line 3 and line " in err


# A quoted "true"/"false" reaches the program as the same text as an unquoted one (the engine passes every config
# value as text), so only other spellings can be told apart, and are refused.
@pytest.mark.parametrize("value", ['"yes"', "yes", "on", "'no'", "1", "y"])
def test_only_yaml_12_booleans_are_booleans(project: Path, value: str):
    edit(project / "Pulumi.dev.yaml", "ml-infra:appsyncEnabled: true", f"ml-infra:appsyncEnabled: {value}")
    err = refused(project)
    assert f"error: {project / 'Pulumi.dev.yaml'}: ml-infra:appsyncEnabled: must be true or false; YAML 1.2" in err


def test_a_boolean_inside_an_object_must_be_a_boolean(project: Path):
    edit(project / "Pulumi.dev.yaml", "    apiKeyEnabled: true", '    apiKeyEnabled: "yes"')
    err = refused(project)
    assert "ml-infra:appsync.apiKeyEnabled: must be true or false" in err


@pytest.mark.parametrize(
    ("ciphertext", "what"),
    [
        ('""', "is empty"),
        ("", "is empty"),
        ("[a, b]", "is a list, not text"),
        ("42", "is a number, not text"),
        ('"not ciphertext!"', "is not ciphertext (base64 text)"),
    ],
)
def test_a_secure_value_must_be_a_ciphertext_string(project: Path, ciphertext: str, what: str):
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + f"  ml-infra:fraudScoringApiKey:\n    secure: {ciphertext}\n")
    err = refused(project)
    assert f"error: {stack_file}: ml-infra:fraudScoringApiKey.secure: {what}; allowed: the ciphertext string" in err


def test_a_secure_value_that_is_ciphertext_is_accepted(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    ciphertext = "v1:ZLHvVmXvYzNqvaF4:FZqyqBTlaw3e+5tMGBw8w2pEVsYeAwVmMgDcFjz7QA=="  # the passphrase format
    stack_file.write_text(stack_file.read_text() + f"  ml-infra:fraudScoringApiKey:\n    secure: {ciphertext}\n")
    code, _, err = run_cli("preview", "--stack", "dev", "--project-dir", str(project))
    assert code == 0, err


def test_a_key_without_a_value_is_refused(project: Path):
    edit(project / "Pulumi.dev.yaml", "  ml-infra:kmsDeletionWindowDays: 7", "  ml-infra:kmsDeletionWindowDays:")
    err = refused(project)
    assert "ml-infra:kmsDeletionWindowDays: has no value; give it a value or remove the key" in err


# -- Accepted, then refused by the cloud -----------------------------------------------------------------------


def test_a_log_retention_cloudwatch_does_not_offer_is_refused(project: Path):
    edit(project / "Pulumi.dev.yaml", "    logRetentionDays: 14", "    logRetentionDays: 100")
    err = refused(project)
    assert (
        "ml-infra:appsync.logRetentionDays: is not a retention period CloudWatch Logs offers; allowed: 1, 3, 5" in err
    )
    assert "(got 100)" in err


def test_more_tags_than_aws_allows_are_refused(project: Path):
    tags = "".join(f"    t{i:02d}: v\n" for i in range(60))
    edit(project / "Pulumi.dev.yaml", "    team: ml-platform\n", "    team: ml-platform\n" + tags)
    err = refused(project)
    assert (
        "ml-infra:tags: has 62 tags, which with the 4 standard tags makes 66 on every resource; AWS and Azure "
        "allow at most 50 per resource, so at most 46 here" in err
    )


def test_a_stack_name_that_is_not_a_valid_gcp_label_is_refused(project: Path):
    (project / "Pulumi.dev.yaml").rename(project / "Pulumi.Dev.yaml")
    err = refused(project, stack="Dev")
    assert (
        f"error: {project / 'Pulumi.Dev.yaml'}: stack name 'Dev': becomes the `stack` tag/label on every resource, "
        "and its value 'Dev' is not a valid GCP label value; allowed: 0-63 lower-case letters" in err
    )


def test_a_project_name_that_makes_invalid_names_is_refused_in_pulumi_yaml(project: Path):
    edit(project / "Pulumi.yaml", "name: ml-infra", "name: ML.Infra")
    for stack_file in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        (project / stack_file).write_text((project / stack_file).read_text().replace("ml-infra:", "ML.Infra:"))
    err = refused(project)
    pulumi_yaml = project / "Pulumi.yaml"
    assert f"error: {pulumi_yaml}: project name 'ML.Infra': becomes the `project` tag/label" in err
    assert (
        f"error: {pulumi_yaml}: project name 'ML.Infra': makes the SageMaker endpoint name 'ML.Infra-dev-serving'"
        in err
    )
    assert "makes the Vertex AI store name 'ml.infra_dev'" in err


def test_a_region_that_does_not_exist_is_refused_with_a_suggestion(project: Path):
    edit(project / "Pulumi.dev.yaml", "    region: eu-west-1", "    region: eu-wset-1")
    err = refused(project)
    assert "ml-infra:aws.region: is not an AWS region (did you mean eu-west-1" in err
    assert "(got 'eu-wset-1')" in err


@pytest.mark.parametrize("instance_type", ["ml.m7i.huge", "ml.zz9.xlarge"])
def test_instance_types_sagemaker_does_not_offer_are_refused(project: Path, instance_type: str):
    # prod's endpoint runs on instances (dev's is serverless).
    edit(project / "Pulumi.prod.yaml", "instanceType: ml.m7i.xlarge", f"instanceType: {instance_type}")
    err = refused(project, stack="prod")
    assert "ml-infra:sagemaker.instanceType: is not an instance type SageMaker endpoints offer" in err
    assert f"(got '{instance_type}')" in err
    assert instance_type not in cloud_limits.sagemaker_instance_types()


def test_an_image_in_another_region_than_the_endpoint_is_refused(project: Path):
    edit(project / "Pulumi.dev.yaml", ".dkr.ecr.eu-west-1.amazonaws.com", ".dkr.ecr.eu-central-1.amazonaws.com")
    err = refused(project)
    assert "ml-infra:sagemaker: imageUri is in ECR of eu-central-1, but the endpoint runs in eu-west-1; allowed:" in err


def test_an_image_in_another_account_than_the_prod_stack_is_refused(project: Path):
    edit(project / "Pulumi.prod.yaml", "imageUri: 210987654321.dkr", "imageUri: 111122223333.dkr")
    err = refused(project, stack="prod")
    assert (
        "ml-infra:sagemaker: imageUri is in account 111122223333, but the stack deploys to account 210987654321" in err
    )


def test_a_bucket_name_s3_refuses_is_refused(project: Path):
    edit(project / "Pulumi.dev.yaml", "s3://acme-ml-dev-models/", "s3://acme..models/")
    err = refused(project)
    assert "ml-infra:sagemaker.modelDataUrl: bucket 'acme..models' has two adjacent periods; allowed: S3 bucket" in err


@pytest.mark.parametrize("bound", ["minimum: .nan", "maximum: .inf"])
def test_nan_and_infinite_bounds_are_refused(project: Path, bound: str):
    edit(project / "Pulumi.dev.yaml", "          minimum: 0\n          maximum: 1\n", f"          {bound}\n")
    err = refused(project)
    assert "ml-infra:models.fraud-detector.parameters.decision-threshold." in err
    assert "Input should be a finite number" in err


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinite_values_are_refused(project: Path, value: str):
    edit(
        project / "Pulumi.dev.yaml",
        "          value: 0.82\n          valueType: number\n          minimum: 0\n          maximum: 1\n",
        f"          value: {value}\n          valueType: number\n",
    )
    err = refused(project)
    assert "ml-infra:models.fraud-detector.parameters.decision-threshold: value " in err
    assert "is not a finite number; allowed: finite numbers only" in err


# -- Silently overridden ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["environment", "managed-by"])
def test_a_user_tag_cannot_replace_a_standard_tag(project: Path, key: str):
    edit(project / "Pulumi.prod.yaml", "    team: ml-platform\n", f"    team: ml-platform\n    {key}: dev\n")
    err = refused(project, stack="prod")
    assert (
        f"ml-infra:tags: '{key}' would replace the standard tag the stack sets on every resource; reserved "
        "keys: environment, managed-by, project, stack" in err
    )


# -- Wrong output ---------------------------------------------------------------------------------------------------


def test_a_model_artifact_at_the_bucket_root_is_granted_exactly(project: Path):
    edit(
        project / "Pulumi.dev.yaml",
        "s3://acme-ml-dev-models/fraud-detector/2026.11.2/model.tar.gz",
        "s3://acme-ml-dev-models/model.tar.gz",
    )
    code, out, err = run_cli("preview", "--stack", "dev", "--project-dir", str(project), "--json")
    assert code == 0, err
    policies = [
        json.loads(r["inputs"]["policy"])
        for r in json.loads(out)["resources"]
        if r["type"] == "aws:iam/rolePolicy:RolePolicy" and "ReadModelArtifact" in r["inputs"].get("policy", "")
    ]
    assert len(policies) == 1
    statement = next(s for s in policies[0]["Statement"] if s["Sid"] == "ReadModelArtifact")
    assert statement["Resource"] == "arn:aws:s3:::acme-ml-dev-models/model.tar.gz"


def test_the_limits_come_from_botocore():
    # The documented values the model is checked against, as botocore ships them.
    assert (
        cloud_limits.log_retention_days()[:6] == (1, 3, 5, 7, 14, 30) and 100 not in cloud_limits.log_retention_days()
    )
    assert cloud_limits.aws_max_tags() == cloud_limits.AWS_MAX_TAGS == 50
    assert "eu-west-1" in cloud_limits.aws_regions() and "eu-wset-1" not in cloud_limits.aws_regions()
    assert cloud_limits.aws_regions()["cn-north-1"] == "aws-cn"
    assert "ml.m7i.xlarge" in cloud_limits.sagemaker_instance_types()


def test_a_property_given_twice_in_a_contract_file_is_refused(project: Path):
    contract = project / "contracts" / "training-record.schema.json"
    text = contract.read_text()
    contract.write_text(text.replace('"properties": {', '"properties": {"label": {"type": "string"}, ', 1))
    assert text != contract.read_text()
    err = refused(project)
    assert f"error: {contract}: 'label': is given twice in one object; each key may appear once." in err
    code, _, err = run_cli("contracts", "check", "--contracts-dir", str(project / "contracts"))
    assert code == 2 and f"{contract}: 'label': is given twice" in err


def test_a_non_utf8_byte_in_a_contract_file_is_named_by_its_offset(project: Path):
    contract = project / "contracts" / "training-record.schema.json"
    data = contract.read_bytes()
    contract.write_bytes(data[:10] + b"\xc3\x28" + data[10:])
    err = refused(project)
    assert f"error: {contract}: byte 10 (line " in err and "0xc3 is not valid UTF-8" in err


@pytest.mark.parametrize("stack", ["../prod", "dev/x", "", "a b"])
def test_a_stack_name_pulumi_would_refuse_is_refused(project: Path, stack: str):
    err = refused(project, stack=stack)
    assert f"error: --stack {stack!r}: is not a stack name; allowed: 1-100 letters, digits, '-', '_' and '.'" in err


def test_an_alias_bomb_in_a_stack_file_is_refused_before_it_expands(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    lines = ["  ml-infra:x0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  ml-infra:x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    stack_file.write_text(stack_file.read_text() + "\n".join(lines) + "\n")
    err = refused(project)
    assert f"error: {stack_file}: config.ml-infra:x4: expands through aliases to more than 100000 values" in err


def test_a_stack_file_nested_too_deeply_is_refused(project: Path):
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "  ml-infra:deep: " + "[" * 3000 + "]" * 3000 + "\n")
    err = refused(project)
    assert f"error: {stack_file}: nests too deeply to be read" in err
