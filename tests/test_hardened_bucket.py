"""The shared hardened bucket (`ml_infra.hardened_bucket`): buckets that existed before it keep their URNs (a new
URN is a replacement of a bucket holding data on the next `pulumi up`), and a new caller gets the same hardening
under its own component and names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_infra.preview import Evaluation, evaluate

ENDPOINT = "ml-infra:sagemaker_endpoint:ServingEndpoint"
ACCESS_LOGS = "ml-infra:access_logs:AccessLogBucket"
ROLES = {
    "bucket:Bucket": "",
    "bucketPublicAccessBlock:BucketPublicAccessBlock": "-public-access",
    "bucketOwnershipControls:BucketOwnershipControls": "-ownership",
    "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "-encryption",
    "bucketVersioning:BucketVersioning": "-versioning",
    "bucketLifecycleConfiguration:BucketLifecycleConfiguration": "-lifecycle",
    "bucketPolicy:BucketPolicy": "-policy",
}


def expected_urns(stack: str) -> set[str]:
    """The URNs the capture bucket and its access-log bucket had when they were declared inline."""
    prefix = f"urn:pulumi:{stack}::ml-infra::"
    urns = {f"{prefix}{ENDPOINT}$ml-infra:access_logs:AccessLogBucket::serving-capture-access-logs"}
    for role, suffix in ROLES.items():
        urns.add(f"{prefix}{ENDPOINT}$aws:s3/{role}::serving-capture{suffix}")
        log_name = "serving-capture-access-logs" + (suffix or "-bucket")
        urns.add(f"{prefix}{ACCESS_LOGS}$aws:s3/{role}::{log_name}")
    urns.add(f"{prefix}{ACCESS_LOGS}$aws:s3/bucketLogging:BucketLogging::serving-capture-access-logs-logging")
    return urns


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_capture_and_access_log_buckets_keep_their_urns(stack: str, request: pytest.FixtureRequest):
    evaluation: Evaluation = request.getfixturevalue(stack)
    declared = {r.urn for r in evaluation.resources if r.type.startswith("aws:s3/") or r.type == ACCESS_LOGS}
    assert declared == expected_urns(stack)
    assert evaluation.named("serving-capture").protect == (stack == "prod")
    assert evaluation.named("serving-capture-access-logs-bucket").protect == (stack == "prod")


PROGRAM = '''
import pulumi
from ml_infra.hardened_bucket import Expiry, hardened_bucket

class Owner(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("test:owner:Owner", name, None, None)
        self.scripts = hardened_bucket(
            f"{name}-scripts",
            parent=self,
            protect=True,
            kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
            expiry=Expiry(rule_id="expire-old-scripts", prefix="old/", days=30),
            policy_statements=lambda bucket: [{"Sid": "Extra", "Effect": "Allow", "Principal": {"AWS": "x"},
                                               "Action": "s3:GetObject", "Resource": bucket.arn}],
        )
        self.register_outputs({})

Owner("glue")
'''


def test_a_new_caller_gets_the_hardening_under_its_own_component_and_names(tmp_path: Path, project_dir: Path):
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    evaluation = evaluate(project_dir, "dev", config={}, program=program)
    (owner,) = evaluation.of_type("test:owner:Owner")
    children = {r.name: r for r in evaluation.children_of(owner)}
    assert set(children) == {f"glue-scripts{suffix}" for suffix in ROLES.values()}
    assert children["glue-scripts"].protect and not children["glue-scripts-policy"].protect
    public = children["glue-scripts-public-access"].raw_inputs
    assert all(public[flag] is True for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                 "restrictPublicBuckets"))
    assert children["glue-scripts-encryption"].raw_inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": "arn:aws:kms:eu-west-1:123456789012:key/k",
            },
            "bucketKeyEnabled": True,
        }
    ]
    expire, abort = children["glue-scripts-lifecycle"].raw_inputs["rules"]
    assert expire["id"] == "expire-old-scripts" and expire["filter"] == {"prefix": "old/"}
    assert expire["expiration"] == {"days": 30} and expire["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    assert abort["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    statements = json.loads(children["glue-scripts-policy"].raw_inputs["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["Extra", "DenyInsecureTransport"]
    assert statements[0]["Resource"] == children["glue-scripts"].state["arn"]
