"""Access logging of an S3 bucket into a hardened log bucket the component creates (S3 server access logs).

Chosen over CloudTrail S3 data events because:
- the log bucket belongs to the component that owns the logged bucket: no account-level trail for a stack to
  create (organisations usually run one organisation trail, owned centrally; a second one per stack
  duplicates it) and no per-event charge (data events cost per 100,000 events, access logs only storage);
- every request is recorded, including anonymous and denied ones, with the requester, operation, key, HTTP
  status and bytes: what an investigation of "who read captured payloads" needs;
- it is what Checkov CKV_AWS_18 and cdk-nag AwsSolutions-S1 look for.
What it gives up: delivery is best effort (minutes late, rarely lost), so it is a record, not a tamper-proof
audit trail; a stack that needs that adds CloudTrail data events on top.

The log bucket: all four public-access blocks, ownership enforced (no ACLs: the logging service is granted
by a bucket policy limited to the source bucket and account, as AWS recommends), versioning, a TLS-only
policy, and a lifecycle rule that expires records after the retention. It is encrypted with SSE-S3, not
SSE-KMS: S3 server access log delivery does not support a destination whose default encryption is SSE-KMS.
It does not log itself (its own access logs would be written into it, a loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Records are written under this prefix, partitioned by the event's date (account/region/bucket/yyyy/mm/dd).
LOG_PREFIX = "s3-access-logs/"


@dataclass
class AccessLogBucketArgs:
    source_bucket: aws.s3.Bucket  # the bucket whose requests are logged
    account_id: pulumi.Input[str]
    retention_days: int
    protect: bool


class AccessLogBucket(pulumi.ComponentResource):
    """A hardened bucket receiving the S3 server access logs of one source bucket, and that logging."""

    bucket: aws.s3.Bucket
    public_access: aws.s3.BucketPublicAccessBlock
    ownership: aws.s3.BucketOwnershipControls
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    versioning: aws.s3.BucketVersioning
    lifecycle: aws.s3.BucketLifecycleConfiguration
    policy: aws.s3.BucketPolicy
    logging: aws.s3.BucketLogging

    def __init__(self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:access_logs:AccessLogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", force_destroy=False, opts=pulumi.ResourceOptions(parent=self, protect=args.protect)
        )
        bucket = self.bucket.id
        self.public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            # SSE-S3: the only default encryption S3 server access log delivery writes into.
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket, versioning_configuration={"status": "Enabled"}, opts=child
        )
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket,
            rules=[
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {"prefix": LOG_PREFIX},
                    "expiration": {"days": args.retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                },
                {
                    "id": "abort-incomplete-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "S3ServerAccessLogsFromTheSourceBucketOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": pulumi.Output.concat(self.bucket.arn, "/", LOG_PREFIX, "*"),
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": args.source_bucket.arn},
                                "StringEquals": {"aws:SourceAccount": args.account_id},
                            },
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access]),
        )
        self.logging = aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=args.source_bucket.id,
            target_bucket=bucket,
            target_prefix=LOG_PREFIX,
            target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
            # Delivery starts only once the service may write: the policy first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "logged_bucket": args.source_bucket.bucket})
