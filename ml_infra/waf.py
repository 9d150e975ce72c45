"""An AWS WAF web ACL in front of one regional API (here the AppSync model registry), with its request logs.

Rules, evaluated in this order for every request:
0. a rate-based rule that blocks a client IP sending more than the configured number of requests in any
   5-minute window (flooding, credential stuffing, scraping);
1..n. the configured AWS managed rule groups, blocking (not count mode): by default the common rule set
   (OWASP-style generic attacks), known bad inputs (Log4j and other exploit payloads) and Amazon's IP
   reputation list. The common rule set refuses request bodies over 8 KB (SizeRestrictions_BODY): the
   registry's mutations are far smaller.
Anything no rule blocks is allowed (the API's own IAM authorization still applies).

Requests are logged to a CloudWatch log group (WAF requires the `aws-waf-logs-` name prefix) encrypted with the
API's key, with the `authorization` and `x-api-key` headers redacted: a log never carries a credential.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

RATE_RULE = "rate-limit-per-ip"
REDACTED_HEADERS = ("authorization", "x-api-key")


def metric_name(text: str) -> str:
    """A CloudWatch metric name WAF accepts (letters, digits, '-', '_'; at most 128 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:128]


@dataclass
class ApiFirewallArgs:
    resource_arn: pulumi.Input[str]  # the API the web ACL protects
    acl_name: str  # the web ACL's name, unique in the account and region
    rate_limit_per_five_minutes: int
    managed_rule_groups: Sequence[str]
    log_group_name: str  # must start with aws-waf-logs-
    log_retention_days: int
    kms_key_arn: pulumi.Input[str]  # encrypts the request logs; its policy must let CloudWatch Logs use it


class ApiFirewall(pulumi.ComponentResource):
    """A regional web ACL (rate limit + AWS managed rule groups), associated with one API, logging requests."""

    web_acl: aws.wafv2.WebAcl
    association: aws.wafv2.WebAclAssociation
    log_group: aws.cloudwatch.LogGroup
    logging: aws.wafv2.WebAclLoggingConfiguration

    def __init__(self, name: str, args: ApiFirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:waf:ApiFirewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
            return {
                "cloudwatch_metrics_enabled": True,
                "metric_name": metric_name(metric),
                "sampled_requests_enabled": True,
            }

        rules: list[aws.wafv2.WebAclRuleArgsDict] = [
            {
                "name": RATE_RULE,
                "priority": 0,
                "action": {"block": {}},
                "statement": {
                    "rate_based_statement": {
                        "limit": args.rate_limit_per_five_minutes,
                        "aggregate_key_type": "IP",
                        "evaluation_window_sec": 300,
                    }
                },
                "visibility_config": visibility(f"{args.acl_name}-{RATE_RULE}"),
            }
        ]
        for priority, group in enumerate(args.managed_rule_groups, start=1):
            rules.append(
                {
                    "name": group,
                    "priority": priority,
                    # `none`: the group's own actions (block) apply; `count` would only observe.
                    "override_action": {"none": {}},
                    "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": group}},
                    "visibility_config": visibility(f"{args.acl_name}-{group}"),
                }
            )

        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            name=args.acl_name,
            description=f"Rate limit and AWS managed rules in front of {args.acl_name}.",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=rules,
            visibility_config=visibility(args.acl_name),
            opts=child,
        )
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-association", resource_arn=args.resource_arn, web_acl_arn=self.web_acl.arn, opts=child
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        self.logging = aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )
        self.register_outputs({"web_acl_arn": self.web_acl.arn})
