"""Two controls an independent scanner (Checkov, on the Terraform-plan translation) found missing, as the real
program declares them: access logging of the SageMaker capture bucket (CKV_AWS_18) and an AWS WAF web ACL in
front of the AppSync API (CKV2_AWS_33), both required in prod by the config model and by guardrail rules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ml_infra.guardrails.offline import check_evaluation
from ml_infra.preview import Evaluation, evaluate, read_stack_files
from ml_infra.program_inputs import StackConfigError

LOGGING = "aws:s3/bucketLogging:BucketLogging"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"


def test_the_capture_bucket_logs_every_request_to_a_hardened_log_bucket(prod: Evaluation):
    capture = prod.named("serving-capture")
    log_bucket = prod.named("serving-capture-access-logs-bucket")
    (logging,) = prod.of_type(LOGGING)
    assert logging.raw_inputs["bucket"] == capture.state["bucket"]
    assert logging.raw_inputs["targetBucket"] == log_bucket.state["bucket"]
    assert logging.raw_inputs["targetObjectKeyFormat"] == {"partitionedPrefix": {"partitionDateSource": "EventTime"}}
    assert log_bucket.protect  # prod protects it like the bucket it records

    def companion(suffix: str) -> dict:
        return prod.named(f"serving-capture-access-logs-{suffix}").raw_inputs

    assert all(companion("public-access")[flag] is True for flag in ("blockPublicAcls", "restrictPublicBuckets"))
    assert companion("ownership")["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    # SSE-S3: S3 log delivery does not write into a bucket whose default encryption is SSE-KMS.
    assert companion("encryption")["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    assert companion("versioning")["versioningConfiguration"] == {"status": "Enabled"}
    expire = companion("lifecycle")["rules"][0]
    assert expire["expiration"] == {"days": 365} and expire["filter"] == {"prefix": logging.raw_inputs["targetPrefix"]}
    statements = {s["Sid"]: s for s in json.loads(companion("policy")["policy"])["Statement"]}
    delivery = statements["S3ServerAccessLogsFromTheSourceBucketOnly"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"} and delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["ArnLike"] == {"aws:SourceArn": capture.state["arn"]}
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": "210987654321"}
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_appsync_api_sits_behind_a_regional_web_acl_with_a_rate_limit_and_managed_rules(prod: Evaluation):
    api = prod.named("model-registry-api")
    (acl,) = prod.of_type(WEB_ACL)
    inputs = acl.raw_inputs
    assert inputs["scope"] == "REGIONAL" and inputs["defaultAction"] == {"allow": {}}
    rate, *managed = sorted(inputs["rules"], key=lambda rule: rule["priority"])
    assert rate["action"] == {"block": {}}
    assert rate["statement"]["rateBasedStatement"] == {
        "limit": 1000,
        "aggregateKeyType": "IP",
        "evaluationWindowSec": 300,
    }
    assert [rule["statement"]["managedRuleGroupStatement"] for rule in managed] == [
        {"vendorName": "AWS", "name": name}
        for name in (
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList",
        )
    ]
    assert all(rule["overrideAction"] == {"none": {}} for rule in managed)  # the groups block, not only count
    association = prod.named("model-registry-waf-association").raw_inputs
    assert association == {"resourceArn": api.state["arn"], "webAclArn": acl.state["arn"]}

    logs = prod.named("model-registry-waf-logs").raw_inputs
    assert (
        logs["name"].startswith("aws-waf-logs-") and logs["kmsKeyId"] == prod.named("model-registry-key").state["arn"]
    )
    logging = prod.named("model-registry-waf-logging").raw_inputs
    assert logging["logDestinationConfigs"] == [prod.named("model-registry-waf-logs").state["arn"]]
    assert {field["singleHeader"]["name"] for field in logging["redactedFields"]} == {"authorization", "x-api-key"}
    key_policy = json.loads(prod.named("model-registry-key").raw_inputs["policy"])
    (logs_statement,) = [s for s in key_policy["Statement"] if s["Sid"] == "LogsEncryptThisApisLogGroup"]
    allowed = logs_statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    assert any(arn.endswith(":log-group:" + logs["name"]) for arn in allowed)


def _prod_with(project_dir: Path, section: str, change: dict) -> tuple[dict[str, str], list[str]]:
    files = read_stack_files(project_dir, "prod")
    config = dict(files.config)
    value = json.loads(config[f"ml-infra:{section}"])
    value.update(change)
    config[f"ml-infra:{section}"] = json.dumps(value)
    return config, files.secret_keys


@pytest.mark.parametrize(
    ("section", "change", "message"),
    [
        ("sagemaker", {"accessLogs": {"enabled": False}}, "needs accessLogs.enabled in prod"),
        ("appsync", {"waf": {"enabled": False}}, "waf.enabled must be true"),
    ],
)
def test_prod_refuses_to_turn_either_control_off(project_dir: Path, section: str, change: dict, message: str):
    config, secret_keys = _prod_with(project_dir, section, change)
    with pytest.raises(StackConfigError, match=message):
        evaluate(project_dir, "prod", config=config, secret_keys=secret_keys)


def test_a_dev_stack_may_turn_both_off_explicitly(project_dir: Path):
    files = read_stack_files(project_dir, "dev")
    config = dict(files.config)
    for section, change in (
        ("sagemaker", {"accessLogs": {"enabled": False}}),
        ("appsync", {"waf": {"enabled": False}}),
    ):
        value = json.loads(config[f"ml-infra:{section}"])
        value.update(change)
        config[f"ml-infra:{section}"] = json.dumps(value)
    evaluation = evaluate(project_dir, "dev", config=config, secret_keys=files.secret_keys)
    assert not evaluation.of_type(LOGGING) and not evaluation.of_type(WEB_ACL)
    assert check_evaluation(evaluation, "dev").mandatory == []


@pytest.mark.parametrize(
    ("dropped", "rules"),
    [
        # Without the logging, the log bucket is an ordinary bucket again: it too lacks logging and a CMK.
        (LOGGING, {"s3-access-logging", "s3-sse-kms-customer-key"}),
        ("aws:wafv2/webAclAssociation:WebAclAssociation", {"appsync-waf-in-prod"}),
    ],
)
def test_the_guardrails_catch_the_prod_stack_without_either_control(prod: Evaluation, dropped: str, rules: set[str]):
    assert check_evaluation(prod, "prod").violations == []
    without = dataclasses.replace(prod, resources=[r for r in prod.resources if r.type != dropped])
    violations = check_evaluation(without, "prod").violations
    assert {v.policy for v in violations} == rules
    assert "serving-capture" in {v.resource_name for v in violations} or dropped != LOGGING
