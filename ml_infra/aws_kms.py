"""The customer-managed KMS keys of the stack, made one way: rotation on (yearly), an explicit key policy whose
first statement lets the account administer the key through IAM, and the configured deletion window.

Each component adds the statements its own principals need; none ever names a `*` principal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws


def account_root(partition: pulumi.Input[str], account: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")


def logs_may_use_key(
    sid: str,
    region: pulumi.Input[str],
    log_groups: pulumi.Input[str] | pulumi.Input[Sequence[pulumi.Input[str]]],
    *,
    operator: str = "ArnEquals",
) -> dict[str, Any]:
    """The key policy statement that lets CloudWatch Logs (in `region`) encrypt the named log groups with the key,
    and no other: a log group's encryption context names its ARN. `operator` is "ArnLike" when `log_groups` is a
    pattern (a job's log groups under one prefix)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": pulumi.Output.concat("logs.", region, ".amazonaws.com")},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {operator: {"kms:EncryptionContext:aws:logs:arn": log_groups}},
    }


def customer_managed_key(
    resource_name: str,
    *,
    description: str,
    deletion_window_days: int,
    partition: pulumi.Input[str],
    account: pulumi.Input[str],
    statements: Sequence[Mapping[str, Any]] = (),
    opts: pulumi.ResourceOptions,
) -> aws.kms.Key:
    """A symmetric key with rotation on and an explicit policy: the account statement, then `statements`."""
    return aws.kms.Key(
        resource_name,
        description=description,
        key_usage="ENCRYPT_DECRYPT",
        customer_master_key_spec="SYMMETRIC_DEFAULT",
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=deletion_window_days,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        # The account administers the key and grants its use through IAM policies. Without
                        # this statement a key can become unmanageable; it names the account, never "*".
                        "Sid": "AccountManagesKeyThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": account_root(partition, account)},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    *statements,
                ],
            }
        ),
        opts=opts,
    )
