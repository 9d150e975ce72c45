"""The hardened S3 bucket every component that stores data uses: one place that says what "hardened" means.

A bucket and the six resources that harden it: all four public-access blocks, owner-enforced object ownership
(no ACLs), default encryption (SSE-KMS with a bucket key when a key is given, else SSE-S3), versioning, a
lifecycle rule that expires objects under one prefix (and their non-current versions a day later) and aborts
incomplete uploads, and a TLS-only bucket policy, to which a caller may add its own statements.

A function rather than a component: it declares the resources as children of the caller's component, under the
names the caller gives. Buckets declared this way before the helper existed keep their URNs (type, parent and
name unchanged), so a deployed stack sees no replacement of a bucket holding data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Expiry:
    """Objects under `prefix` expire `days` after creation (lifecycle rule `rule_id`)."""

    rule_id: str
    prefix: str
    days: int


@dataclass
class HardenedBucket:
    """The bucket and the resources that harden it (attributes for the caller to keep and tests to read)."""

    bucket: aws.s3.Bucket
    public_access: aws.s3.BucketPublicAccessBlock
    ownership: aws.s3.BucketOwnershipControls
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    versioning: aws.s3.BucketVersioning
    lifecycle: aws.s3.BucketLifecycleConfiguration
    policy: aws.s3.BucketPolicy


def hardened_bucket(
    name: str,
    *,
    parent: pulumi.Resource,
    protect: bool,
    expiry: Expiry,
    kms_key_arn: pulumi.Input[str] | None = None,
    policy_statements: Callable[[aws.s3.Bucket], Sequence[dict[str, Any]]] | None = None,
    bucket_resource_name: str | None = None,
) -> HardenedBucket:
    """Declare a hardened bucket as children of `parent`.

    Resources are named `f"{name}-public-access"`, `-ownership`, `-encryption`, `-versioning`, `-lifecycle`,
    `-policy`; the bucket itself `bucket_resource_name` (default `name`). `protect` protects the bucket (the
    data), not the settings around it. `kms_key_arn` None encrypts with SSE-S3 (S3 server access log delivery,
    for one, writes into no other). `policy_statements(bucket)` returns statements placed before the TLS-only
    deny (for grants that name the bucket's ARN).
    """
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        bucket_resource_name or name, force_destroy=False, opts=pulumi.ResourceOptions(parent=parent, protect=protect)
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    rule: aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict = (
        {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
        if kms_key_arn is None
        else {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn},
            # One data key per bucket rather than per object: far fewer KMS calls for small objects.
            "bucket_key_enabled": True,
        }
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id, rules=[rule], opts=child
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
    )
    lifecycle = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            {
                "id": expiry.rule_id,
                "status": "Enabled",
                "filter": {"prefix": expiry.prefix},
                "expiration": {"days": expiry.days},
                # With versioning on, expiry leaves a non-current version: remove it a day later.
                "noncurrent_version_expiration": {"noncurrent_days": 1},
            },
            {
                "id": "abort-incomplete-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            },
        ],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    statements = [*(policy_statements(bucket) if policy_statements else ())]
    statements.append(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
        # S3 refuses a bucket policy while the public-access block is being changed: one after the other.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return HardenedBucket(
        bucket=bucket,
        public_access=public_access,
        ownership=ownership,
        encryption=encryption,
        versioning=versioning,
        lifecycle=lifecycle,
        policy=policy,
    )
