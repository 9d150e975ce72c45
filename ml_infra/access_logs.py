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

The log bucket is a `ml_infra.hardened_bucket`: all four public-access blocks, ownership enforced (no ACLs: the
logging service is granted by a bucket policy limited to the source bucket and account, as AWS recommends),
versioning, a TLS-only policy, and a lifecycle rule that expires records after the retention. It is encrypted
with SSE-S3, not SSE-KMS: S3 server access log delivery does not support a destination whose default encryption
is SSE-KMS.
It does not log itself (its own access logs would be written into it, a loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ml_infra.hardened_bucket import Expiry, hardened_bucket
from ml_infra.stack_config import AccessLogSettings

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
        hardened = hardened_bucket(
            name,
            bucket_resource_name=f"{name}-bucket",
            parent=self,
            protect=args.protect,
            # SSE-S3 (no key): the only default encryption S3 server access log delivery writes into.
            kms_key_arn=None,
            expiry=Expiry(rule_id="expire-access-logs", prefix=LOG_PREFIX, days=args.retention_days),
            policy_statements=lambda bucket: [
                {
                    "Sid": "S3ServerAccessLogsFromTheSourceBucketOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(bucket.arn, "/", LOG_PREFIX, "*"),
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": args.source_bucket.arn},
                        "StringEquals": {"aws:SourceAccount": args.account_id},
                    },
                }
            ],
        )
        self.bucket = hardened.bucket
        self.public_access = hardened.public_access
        self.ownership = hardened.ownership
        self.encryption = hardened.encryption
        self.versioning = hardened.versioning
        self.lifecycle = hardened.lifecycle
        self.policy = hardened.policy
        self.logging = aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=args.source_bucket.id,
            target_bucket=self.bucket.id,
            target_prefix=LOG_PREFIX,
            target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
            # Delivery starts only once the service may write: the policy first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "logged_bucket": args.source_bucket.bucket})


def access_logs_for(
    name: str,
    source_bucket: aws.s3.Bucket,
    account_id: pulumi.Input[str],
    settings: AccessLogSettings,
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> AccessLogBucket | None:
    """The `AccessLogBucket` of `source_bucket` when the stack's `accessLogs` turn it on, else None.

    The one place a component decides on its access logs: the endpoint's capture bucket and the contract job's
    bucket are logged the same way, from the same `accessLogs` settings block.
    """
    if not settings.enabled:
        return None
    return AccessLogBucket(
        name,
        AccessLogBucketArgs(
            source_bucket=source_bucket,
            account_id=account_id,
            retention_days=settings.retention_days,
            protect=protect,
        ),
        opts=opts,
    )
