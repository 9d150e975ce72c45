"""IAM pieces every AWS component of the stack builds the same way.

Today one: the trust policy of a role that an AWS service assumes on the stack's behalf.
"""

from __future__ import annotations

import pulumi


def service_trust_policy(service: str, account: pulumi.Input[str]) -> pulumi.Output[str]:
    """A trust policy that lets `service` (for example "glue.amazonaws.com") assume the role, and only on behalf
    of `account`: the aws:SourceAccount condition is AWS's guard against the confused deputy."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
    )
