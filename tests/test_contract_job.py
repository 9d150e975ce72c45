"""The optional Glue contract job (ml_infra/contract_job.py) as the program declares it: nothing unless the stack
turns it on, and when on, the properties a security reviewer relies on: everything it writes encrypted with its
own key, a role that reads only the input and writes only the outputs, the documented job script."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml

from ml_infra.cost import billable_types_not_covered, cost_report
from ml_infra.guardrails.offline import check_evaluation
from ml_infra.preview import Evaluation, evaluate, read_stack_files
from ml_infra.pricing import load_prices
from ml_infra.program_inputs import StackConfigError
from ml_infra.stack_config import ConfigError, build_stack_config
from ml_infra.terraform_plan import TERRAFORM_TYPES, plan_document

JOB_TYPES = {
    "aws:glue/job:Job",
    "aws:glue/securityConfiguration:SecurityConfiguration",
    "ml-infra:contract_job:ContractJob",
}
JOB = {
    "contract": "training-record",
    "inputUrl": "s3://acme-ml-data/training/2024-05/",
    "validOutputUrl": "s3://acme-ml-validated/training/2024-05/valid",
    "rejectedOutputUrl": "s3://acme-ml-validated/training/2024-05/rejected",
    "libraryWheelUrl": "s3://acme-ml-artifacts/wheels/ml_infra-0.1.0-py3-none-any.whl",
}


def with_job(project_dir: Path, stack: str, job: dict[str, Any]) -> dict[str, str]:
    config = dict(read_stack_files(project_dir, stack).config)
    config["ml-infra:contractJobEnabled"] = "true"
    config["ml-infra:contractJob"] = json.dumps(job)
    return config


@pytest.fixture(scope="module")
def on(project_dir: Path) -> Evaluation:
    return evaluate(project_dir, "prod", config=with_job(project_dir, "prod", JOB))


def statements(document: str) -> list[dict[str, Any]]:
    return json.loads(document)["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_job_is_off_by_default_and_creates_nothing(dev: Evaluation, prod: Evaluation, project_dir: Path):
    for stack in (dev, prod):
        assert not [r.name for r in stack.resources if r.type in JOB_TYPES or r.name.startswith("contract-job")]
        assert "contractJobName" not in stack.outputs
    config = build_stack_config("ml-infra", "x", {"environment": "dev", "aws": {"region": "eu-west-1"}})
    assert config.contract_job_enabled is False


def test_security_configuration_encrypts_s3_writes_logs_and_bookmarks_with_the_job_key(on: Evaluation):
    key_arn = on.named("contract-job-key").state["arn"]
    security = on.named("contract-job-security").raw_inputs
    assert security["encryptionConfiguration"] == {
        "s3Encryption": {"s3EncryptionMode": "SSE-KMS", "kmsKeyArn": key_arn},
        "cloudwatchEncryption": {"cloudwatchEncryptionMode": "SSE-KMS", "kmsKeyArn": key_arn},
        "jobBookmarksEncryption": {"jobBookmarksEncryptionMode": "CSE-KMS", "kmsKeyArn": key_arn},
    }
    assert on.named("contract-job-key").raw_inputs["enableKeyRotation"] is True
    logs = {s["Sid"]: s for s in statements(on.named("contract-job-key").raw_inputs["policy"])}[
        "LogsEncryptThisJobsLogGroups"
    ]
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(
        ":log-group:/aws-glue/jobs/ml-infra-prod-validate-training-record*"
    )


def test_the_glue_5_job_uses_the_security_configuration_and_installs_the_library(on: Evaluation):
    job = on.named("contract-job-job").raw_inputs
    bucket = on.named("contract-job-bucket").state["bucket"]
    script = on.named("contract-job-script").raw_inputs
    assert job["glueVersion"] == "5.0" and job["command"]["name"] == "glueetl"
    assert job["command"]["scriptLocation"] == f"s3://{bucket}/{script['key']}"
    assert job["securityConfiguration"] == on.named("contract-job-security").raw_inputs["name"]
    args = job["defaultArguments"]
    assert args["--additional-python-modules"] == JOB["libraryWheelUrl"]
    assert args["--registry"] == "ml-infra-prod" and args["--schema"] == "training-record"
    assert args["--input"] == JOB["inputUrl"].rstrip("/")
    assert (args["--valid-output"], args["--rejected-output"]) == (JOB["validOutputUrl"], JOB["rejectedOutputUrl"])
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert args["--TempDir"] == f"s3://{bucket}/temporary/"
    assert args["--custom-logGroup-prefix"] == "/aws-glue/jobs/ml-infra-prod-validate-training-record"
    assert "--schema-version" not in args  # the latest available version unless pinned


def test_the_uploaded_script_is_the_documented_glue_example_encrypted_with_the_key(on: Evaluation, project_dir: Path):
    script = on.named("contract-job-script").raw_inputs
    assert Path(script["source"].path).resolve() == project_dir / "docs" / "examples" / "glue_validate_contract.py"
    assert script["serverSideEncryption"] == "aws:kms"
    assert script["kmsKeyId"] == on.named("contract-job-key").state["arn"]
    (rule,) = on.named("contract-job-bucket-encryption").raw_inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert on.named("contract-job-bucket-public-access").raw_inputs["restrictPublicBuckets"] is True


def test_log_groups_exist_encrypted_and_expire(on: Evaluation):
    key_arn = on.named("contract-job-key").state["arn"]
    for stream in ("output", "error"):
        group = on.named(f"contract-job-logs-{stream}").raw_inputs
        assert group["name"] == f"/aws-glue/jobs/ml-infra-prod-validate-training-record/{stream}"
        assert group["kmsKeyId"] == key_arn and group["retentionInDays"] == 365


def test_the_role_reads_only_the_input_and_writes_only_the_outputs(on: Evaluation):
    document = on.named("contract-job-role-policy").raw_inputs["policy"]
    bucket = on.named("contract-job-bucket").state["bucket"]
    granted: dict[str, set[str]] = {}
    for statement in statements(document):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action.split(":")[1].rstrip("*") and action != "*"
            granted.setdefault(action, set()).update(as_list(statement["Resource"]))
    assert "*" not in set().union(*granted.values())  # every action has a resource
    writes = granted["s3:PutObject"] | granted["s3:DeleteObject"]
    assert writes == {
        "arn:aws:s3:::acme-ml-validated/training/2024-05/valid/*",
        "arn:aws:s3:::acme-ml-validated/training/2024-05/valid.staging-*",
        "arn:aws:s3:::acme-ml-validated/training/2024-05/rejected/*",
        f"arn:aws:s3:::{bucket}/temporary/*",
    }
    # Nothing the job writes falls under its input, and it reads nothing but its own objects.
    assert not any(fnmatch.fnmatch("acme-ml-data/training/2024-05/x", w.split(":::")[1]) for w in writes)
    assert granted["s3:GetObject"] - writes == {
        "arn:aws:s3:::acme-ml-data/training/2024-05/*",
        "arn:aws:s3:::acme-ml-artifacts/wheels/ml_infra-0.1.0-py3-none-any.whl",
        f"arn:aws:s3:::{bucket}/jobs/glue_validate_contract.py",
    }
    assert granted["glue:GetSchemaVersion"] == {
        "arn:aws:glue:eu-west-1:210987654321:registry/ml-infra-prod",
        "arn:aws:glue:eu-west-1:210987654321:schema/ml-infra-prod/training-record",
    }
    assert granted["kms:Decrypt"] == {on.named("contract-job-key").state["arn"]}
    assert all(
        r.startswith("arn:aws:logs:eu-west-1:210987654321:log-group:/aws-glue/jobs/ml-infra-prod-validate-")
        for r in granted["logs:PutLogEvents"]
    )
    assert {a.split(":")[0] for a in granted} == {"s3", "glue", "kms", "logs"}
    findings = [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(document).findings]
    assert not [(f.issue, f.detail) for f in findings if f.severity in ("MEDIUM", "HIGH", "CRITICAL")]


def test_the_role_trusts_glue_in_this_account_only(on: Evaluation):
    (trust,) = statements(on.named("contract-job-role").raw_inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "210987654321"}}
    assert not on.named("contract-job-role").raw_inputs.get("managedPolicyArns")


def test_a_pinned_schema_version_is_passed_to_the_job(project_dir: Path):
    pinned = evaluate(project_dir, "dev", config=with_job(project_dir, "dev", {**JOB, "schemaVersion": 3}))
    assert pinned.named("contract-job-job").raw_inputs["defaultArguments"]["--schema-version"] == "3"


def test_a_contract_the_catalog_does_not_have_is_refused_naming_the_key(project_dir: Path):
    with pytest.raises(StackConfigError) as raised:
        evaluate(project_dir, "dev", config=with_job(project_dir, "dev", {**JOB, "contract": "no-such-contract"}))
    (problem,) = raised.value.config_error.problems
    assert problem.key == "ml-infra:contractJob.contract"
    assert "training-record" in problem.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"validOutputUrl": "s3://acme-ml-data/training/2024-05/valid"}, "overlap"),
        ({"rejectedOutputUrl": "s3://acme-ml-validated/training/2024-05/valid.rejected"}, "overlap"),
        ({"inputUrl": "s3://acme-ml-data"}, "s3://bucket/prefix"),
        ({"inputUrl": "s3://acme-ml-data/training/*"}, "no wildcards"),
        ({"libraryWheelUrl": "https://example.com/ml_infra.whl"}, "wheel"),
        ({"workerType": "G.025X"}, "G.1X"),
        ({"numberOfWorkers": 1}, "greater than or equal to 2"),
    ],
)
def test_unusable_job_settings_are_refused_before_anything_is_declared(change: dict[str, Any], expected: str):
    raw = {
        "environment": "dev",
        "aws": {"region": "eu-west-1"},
        "contractJobEnabled": "true",
        "contractJob": json.dumps({**JOB, **change}),
    }
    with pytest.raises(ConfigError) as raised:
        build_stack_config("ml-infra", "dev", raw)
    assert [p.key.startswith("ml-infra:contractJob") for p in raised.value.problems] == [True]
    assert expected in str(raised.value)


def test_turning_the_job_on_needs_its_settings():
    with pytest.raises(ConfigError, match="contractJob: is required when contractJobEnabled is true"):
        build_stack_config(
            "ml-infra", "dev", {"environment": "dev", "aws": {"region": "eu-west-1"}, "contractJobEnabled": "true"}
        )


def test_the_job_passes_the_guardrails_in_prod(on: Evaluation):
    report = check_evaluation(on, "prod")
    assert [f"{v.policy}: {v.message}" for v in report.mandatory] == []
    assert report.undecided == []
    assert on.named("contract-job-access-logs-logging").raw_inputs["bucket"] == on.named("contract-job-bucket").id


def test_cost_knows_every_job_resource_and_the_job_costs_nothing_idle(on: Evaluation):
    prices = load_prices()
    assert billable_types_not_covered(on, prices) == set()
    report = cost_report(on, prices)
    (job,) = [r for r in report.resources if r.type == "aws:glue/job:Job"]
    assert job.idle_monthly == 0.0 and "DPU-hours" in job.basis


def test_the_terraform_plan_translation_has_the_job_and_its_security_configuration(on: Evaluation):
    document = plan_document(on)
    bridged = {r.type for r in on.resources if r.custom and r.type.split(":")[0] == "aws"}
    assert bridged - set(TERRAFORM_TYPES) == set()
    planned = {r["address"]: r["values"] for r in document["planned_values"]["root_module"]["resources"]}
    job = planned["aws_glue_job.contract_job_job"]
    assert job["default_arguments"]["--TempDir"].endswith("/temporary/")  # a map: its keys are kept as they are
    security = planned["aws_glue_security_configuration.contract_job_security"]["encryption_configuration"]
    assert security[0]["job_bookmarks_encryption"][0]["job_bookmarks_encryption_mode"] == "CSE-KMS"


def test_the_documented_stack_settings_declare_the_job(project_dir: Path):
    text = (project_dir / "docs" / "spark.md").read_text(encoding="utf-8")
    block = text.split("<!-- example: contract-job-config -->\n```yaml\n", 1)[1].split("\n```", 1)[0]
    documented = yaml.safe_load(block)
    config = dict(read_stack_files(project_dir, "dev").config)
    config.update({key: json.dumps(value) if isinstance(value, dict) else str(value).lower()
                   for key, value in documented.items()})
    declared = evaluate(project_dir, "dev", config=config)
    job = declared.named("contract-job-job").raw_inputs
    assert job["name"] == "ml-infra-dev-validate-training-record"
    assert job["defaultArguments"]["--input"] == documented["ml-infra:contractJob"]["inputUrl"]
