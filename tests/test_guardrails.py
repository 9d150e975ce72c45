"""The guardrail rules, through the CrossGuard adapter exactly as the Pulumi engine calls them: every rule
catches a deliberately insecure resource and passes a secure one; environment-dependent rules default to
prod; unknown preview values defer the policy; and the real stack files pass with no mandatory violation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from ml_infra.guardrails.core import ENVIRONMENTS, name_looks_secret
from ml_infra.guardrails.docs import rules_markdown
from ml_infra.guardrails.offline import check_evaluation
from ml_infra.guardrails.policy_pack import build_policies, policy_config
from ml_infra.guardrails.rules import NO_RESOURCE_LEVEL_ACTIONS, RULES, RULES_BY_ID
from ml_infra.preview import Evaluation

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1111"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/runner"
POLICIES = {policy.name: policy for policy in build_policies()}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


ROOT_ADMIN = {
    "Sid": "AccountManagesKeyThroughIam",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
SAGEMAKER_TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
}
TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
SECURE_BUCKET = [
    ("aws:s3/bucket:Bucket", "capture", {"bucket": "b"}),
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "capture-pab",
        {
            "bucket": "b",
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
    ),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "capture-sse",
        {
            "bucket": "b",
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}}],
        },
    ),
    (
        "aws:s3/bucketVersioning:BucketVersioning",
        "capture-ver",
        {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}},
    ),
    ("aws:s3/bucketPolicy:BucketPolicy", "capture-policy", {"bucket": "b", "policy": document(TLS_ONLY)}),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "capture-lifecycle",
        {"bucket": "b", "rules": [{"id": "expire", "status": "Enabled", "expiration": {"days": 30}}]},
    ),
    (
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "capture-own",
        {"bucket": "b", "rule": {"objectOwnership": "BucketOwnerEnforced"}},
    ),
]


def bucket_with(type_token: str, props: dict[str, Any] | None) -> list[tuple[str, str, dict[str, Any]]]:
    """The secure bucket with one companion replaced (props) or removed (None)."""
    out = [r for r in SECURE_BUCKET if r[0] != type_token]
    if props is not None:
        out.append((type_token, "companion", {"bucket": "b", **props}))
    return out


# The secure bucket "b" logging to a log bucket "logs" (which, receiving logs, is exempt and uses SSE-S3).
ACCESS_LOGGED = [
    ("aws:s3/bucketLogging:BucketLogging", "capture-logging", {"bucket": "b", "targetBucket": "logs"}),
    ("aws:s3/bucket:Bucket", "logs", {"bucket": "logs"}),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "logs-sse",
        {"bucket": "logs", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
    ),
]
API_ARN = "arn:aws:appsync:eu-west-1:210987654321:apis/abc123"
ACL_ARN = "arn:aws:wafv2:eu-west-1:210987654321:regional/webacl/registry/1"
RATE_RULE = {
    "name": "rate",
    "priority": 0,
    "action": {"block": {}},
    "statement": {"rateBasedStatement": {"limit": 1000, "aggregateKeyType": "IP"}},
}
MANAGED_RULE = {
    "name": "common",
    "priority": 1,
    "overrideAction": {"none": {}},
    "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": "AWSManagedRulesCommonRuleSet"}},
}
FIREWALL = [
    ("aws:wafv2/webAcl:WebAcl", "acl", {"arn": ACL_ARN, "scope": "REGIONAL", "rules": [RATE_RULE, MANAGED_RULE]}),
    ("aws:wafv2/webAclAssociation:WebAclAssociation", "assoc", {"resourceArn": API_ARN, "webAclArn": ACL_ARN}),
]


@dataclass
class Case:
    """An insecure and a secure example for one rule. Resource rules: (type, props). Stack rules: a list of
    (type, name, props) resources plus stack outputs as (name, value)."""

    rule: str
    bad: Any
    good: Any
    environment: str = "prod"
    expect: str = ""  # a fragment of the insecure example's message
    outputs_bad: list[tuple[str, Any]] = field(default_factory=list)
    outputs_good: list[tuple[str, Any]] = field(default_factory=list)


SSM = "aws:ssm/parameter:Parameter"
KMS = "aws:kms/key:Key"
API = "aws:appsync/graphQLApi:GraphQLApi"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
TABLE = "aws:dynamodb/table:Table"
STORE = "azure-native:appconfiguration:ConfigurationStore"
GOOD_API = {
    "authenticationType": "AWS_IAM",
    "logConfig": {"cloudwatchLogsRoleArn": ROLE_ARN, "fieldLogLevel": "ERROR", "excludeVerboseContent": True},
    "xrayEnabled": True,
    "introspectionConfig": "DISABLED",
}
GOOD_STORE = {
    "disableLocalAuth": True,
    "publicNetworkAccess": "Disabled",
    "enablePurgeProtection": True,
    "sku": {"name": "standard"},
}
GOOD_VARIANT = {"variantName": "primary", "instanceType": "ml.m7i.xlarge", "initialInstanceCount": 1}
GOOD_ENDPOINT_CONFIG = {
    "kmsKeyArn": KEY_ARN,
    "productionVariants": [GOOD_VARIANT],
    "dataCaptureConfig": {"enableCapture": True, "kmsKeyId": KEY_ARN, "destinationS3Uri": "s3://b/capture"},
}
VPC = {"subnets": ["subnet-0a1b2c3d"], "securityGroupIds": ["sg-0a1b2c3d"]}
GOOD_TABLE = {
    "pointInTimeRecovery": {"enabled": True},
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN},
    "deletionProtectionEnabled": True,
}

GOOD_GLUE_ENCRYPTION = {
    "s3Encryption": {"s3EncryptionMode": "SSE-KMS", "kmsKeyArn": KEY_ARN},
    "cloudwatchEncryption": {"cloudwatchEncryptionMode": "SSE-KMS", "kmsKeyArn": KEY_ARN},
    "jobBookmarksEncryption": {"jobBookmarksEncryptionMode": "CSE-KMS", "kmsKeyArn": KEY_ARN},
}

CASES = [
    Case(
        "ssm-securestring-customer-key",
        (SSM, {"type": "SecureString", "name": "/p/dev/m/token", "keyId": "alias/aws/ssm"}),
        (SSM, {"type": "SecureString", "name": "/p/dev/m/token", "keyId": KEY_ARN}),
        expect="alias/aws/ssm",
    ),
    Case(
        "ssm-credentials-are-securestring",
        (SSM, {"type": "String", "name": "/p/dev/m/scoring-service-api-key", "value": "abc"}),
        (SSM, {"type": "String", "name": "/p/dev/m/decision-threshold", "value": "0.8"}),
        expect="named like a credential",
    ),
    Case(
        "kms-key-rotation",
        (KMS, {"enableKeyRotation": False, "policy": document(ROOT_ADMIN)}),
        (KMS, {"enableKeyRotation": True, "policy": document(ROOT_ADMIN)}),
        expect="enable_key_rotation=True",
    ),
    Case(
        "kms-explicit-key-policy",
        (KMS, {"policy": document(ROOT_ADMIN, {**ROOT_ADMIN, "Sid": "Anyone", "Principal": {"AWS": "*"}})}),
        # The account root with kms:* is the recommended delegation to IAM: not a wildcard grant.
        (KMS, {"policy": document(ROOT_ADMIN)}),
        expect="'Anyone' allows any principal",
    ),
    Case(
        "kms-deletion-window",
        (KMS, {"deletionWindowInDays": 7}),
        (KMS, {"deletionWindowInDays": 30}),
        expect="30",
    ),
    Case(
        "iam-no-wildcard-actions",
        ("aws:iam/policy:Policy", {"policy": document(allow("s3:*", "arn:aws:s3:::b/*"))}),
        ("aws:iam/policy:Policy", {"policy": document(allow("s3:GetObject", "arn:aws:s3:::b/*"))}),
        expect="allows 's3:*'",
    ),
    Case(
        "iam-no-partial-wildcard-actions",
        ("aws:iam/rolePolicy:RolePolicy", {"policy": document(allow("s3:Get*", "arn:aws:s3:::b/*"))}),
        ("aws:iam/rolePolicy:RolePolicy", {"policy": document(allow(["s3:GetObject"], "arn:aws:s3:::b/*"))}),
        expect="'s3:Get*'",
    ),
    Case(
        "iam-no-wildcard-resources",
        ("aws:iam/rolePolicy:RolePolicy", {"policy": document(allow(["ecr:GetAuthorizationToken", "s3:GetObject"]))}),
        # ecr:GetAuthorizationToken supports no resource-level permission: "*" is its only resource.
        ("aws:iam/rolePolicy:RolePolicy", {"policy": document(allow("ecr:GetAuthorizationToken"))}),
        expect="grants s3:GetObject on every resource",
    ),
    Case(
        "iam-no-aws-managed-policies",
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"},
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/invoke"},
        ),
        expect="AWS-managed policy",
    ),
    Case(
        "iam-trust-service-principal",
        ("aws:iam/role:Role", {"assumeRolePolicy": document({**SAGEMAKER_TRUST, "Principal": {"AWS": "*"}})}),
        ("aws:iam/role:Role", {"assumeRolePolicy": document(SAGEMAKER_TRUST)}),
        expect="lets anyone",
    ),
    Case(
        "iam-trust-source-condition",
        (
            "aws:iam/role:Role",
            {"assumeRolePolicy": document({k: v for k, v in SAGEMAKER_TRUST.items() if k != "Condition"})},
        ),
        ("aws:iam/role:Role", {"assumeRolePolicy": document(SAGEMAKER_TRUST)}),
        expect="aws:SourceAccount",
    ),
    Case(
        "s3-public-access-block",
        bucket_with("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"blockPublicAcls": True}),
        SECURE_BUCKET,
        expect="blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets off",
    ),
    Case(
        "s3-sse-kms-customer-key",
        bucket_with(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        ),
        SECURE_BUCKET,
        expect="customer-managed KMS key",
    ),
    Case(
        "s3-versioning",
        bucket_with("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Suspended"}}),
        SECURE_BUCKET,
        expect="not versioned",
    ),
    Case(
        "s3-tls-only",
        bucket_with("aws:s3/bucketPolicy:BucketPolicy", None),
        SECURE_BUCKET,
        expect="without TLS",
    ),
    Case(
        "s3-lifecycle",
        bucket_with("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", None),
        SECURE_BUCKET,
        expect="no enabled lifecycle rule",
    ),
    Case(
        "s3-owner-enforced",
        bucket_with(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls", {"rule": {"objectOwnership": "ObjectWriter"}}
        ),
        SECURE_BUCKET,
        expect="BucketOwnerEnforced",
    ),
    Case(
        "s3-policy-no-public-allow",
        (
            "aws:s3/bucketPolicy:BucketPolicy",
            {"bucket": "b", "policy": document(allow("s3:GetObject", "arn:aws:s3:::b/*", Principal="*"))},
        ),
        ("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": document(TLS_ONLY)}),
        expect="allows anyone",
    ),
    Case(
        "logs-kms",
        (LOGS, {"retentionInDays": 365}),
        (LOGS, {"retentionInDays": 365, "kmsKeyId": KEY_ARN}),
        expect="kms_key_id",
    ),
    Case("logs-retention", (LOGS, {"retentionInDays": 30}), (LOGS, {"retentionInDays": 365}), expect="30 days in prod"),
    Case(
        "sagemaker-endpoint-kms",
        (ENDPOINT_CONFIG, {**GOOD_ENDPOINT_CONFIG, "kmsKeyArn": None}),
        (ENDPOINT_CONFIG, GOOD_ENDPOINT_CONFIG),
        expect="kms_key_arn",
    ),
    Case(
        "sagemaker-data-capture-kms",
        (ENDPOINT_CONFIG, {**GOOD_ENDPOINT_CONFIG, "dataCaptureConfig": {"enableCapture": True}}),
        (ENDPOINT_CONFIG, GOOD_ENDPOINT_CONFIG),
        expect="data_capture_config.kms_key_id",
    ),
    Case(
        "sagemaker-network-isolation",
        (MODEL, {"enableNetworkIsolation": False, "vpcConfig": VPC}),
        (MODEL, {"enableNetworkIsolation": True, "vpcConfig": VPC}),
        expect="enable_network_isolation=True",
    ),
    Case(
        "sagemaker-provisioned-in-prod",
        (
            ENDPOINT_CONFIG,
            {
                "kmsKeyArn": KEY_ARN,
                "productionVariants": [
                    {"variantName": "primary", "serverlessConfig": {"memorySizeInMb": 2048, "maxConcurrency": 5}}
                ],
            },
        ),
        (ENDPOINT_CONFIG, GOOD_ENDPOINT_CONFIG),
        expect="serverless in prod",
    ),
    Case(
        "sagemaker-vpc-in-prod",
        (MODEL, {"enableNetworkIsolation": True}),
        (MODEL, {"vpcConfig": VPC}),
        expect="outside a VPC",
    ),
    Case(
        "appsync-logging-role",
        (API, {**GOOD_API, "logConfig": {"fieldLogLevel": "ERROR", "excludeVerboseContent": True}}),
        (API, GOOD_API),
        expect="cloudwatch_logs_role_arn",
    ),
    Case(
        "appsync-field-logs",
        (API, {**GOOD_API, "logConfig": {**GOOD_API["logConfig"], "fieldLogLevel": "NONE"}}),
        (API, GOOD_API),
        expect="field-level logging NONE",
    ),
    Case(
        "appsync-exclude-verbose-content",
        (API, {**GOOD_API, "logConfig": {**GOOD_API["logConfig"], "excludeVerboseContent": False}}),
        (API, GOOD_API),
        expect="exclude_verbose_content=True",
    ),
    Case("appsync-xray", (API, {**GOOD_API, "xrayEnabled": False}), (API, GOOD_API), expect="xray_enabled=True"),
    Case(
        "appsync-no-api-key-in-prod",
        (API, {**GOOD_API, "additionalAuthenticationProviders": [{"authenticationType": "API_KEY"}]}),
        (API, {**GOOD_API, "additionalAuthenticationProviders": [{"authenticationType": "AMAZON_COGNITO_USER_POOLS"}]}),
        expect="accepts API keys in prod",
    ),
    Case(
        "appsync-introspection-off-in-prod",
        (API, {**GOOD_API, "introspectionConfig": "ENABLED"}),
        (API, GOOD_API),
        expect="introspection",
    ),
    Case(
        "dynamodb-pitr",
        (TABLE, {**GOOD_TABLE, "pointInTimeRecovery": {"enabled": False}}),
        (TABLE, GOOD_TABLE),
        expect="point-in-time",
    ),
    Case(
        "dynamodb-customer-key",
        (TABLE, {**GOOD_TABLE, "serverSideEncryption": {"enabled": True}}),
        (TABLE, GOOD_TABLE),
        expect="kms_key_arn",
    ),
    Case(
        "dynamodb-deletion-protection-in-prod",
        (TABLE, {**GOOD_TABLE, "deletionProtectionEnabled": False}),
        (TABLE, GOOD_TABLE),
        expect="deletion_protection_enabled=True",
    ),
    Case(
        "glue-schema-compatibility",
        ("aws:glue/schema:Schema", {"schemaName": "s", "compatibility": "NONE"}),
        ("aws:glue/schema:Schema", {"schemaName": "s", "compatibility": "BACKWARD"}),
        expect="compatibility NONE",
    ),
    Case(
        "glue-schema-compatibility-disabled",
        ("aws:glue/schema:Schema", {"schemaName": "s", "compatibility": "DISABLED"}),
        ("aws:glue/schema:Schema", {"schemaName": "s", "compatibility": "FULL"}),
        expect="DISABLED",
    ),
    Case(
        "glue-job-security-configuration",
        ("aws:glue/job:Job", {"name": "j", "glueVersion": "5.0"}),
        ("aws:glue/job:Job", {"name": "j", "glueVersion": "5.0", "securityConfiguration": "j-kms"}),
        expect="security_configuration",
    ),
    Case(
        "glue-security-configuration-kms",
        (
            "aws:glue/securityConfiguration:SecurityConfiguration",
            {"encryptionConfiguration": {**GOOD_GLUE_ENCRYPTION, "jobBookmarksEncryption": {
                "jobBookmarksEncryptionMode": "DISABLED"}}},
        ),
        ("aws:glue/securityConfiguration:SecurityConfiguration", {"encryptionConfiguration": GOOD_GLUE_ENCRYPTION}),
        expect="jobBookmarksEncryption.jobBookmarksEncryptionMode to CSE-KMS",
    ),
    Case(
        "azure-appconfig-local-auth-disabled",
        (STORE, {**GOOD_STORE, "disableLocalAuth": False}),
        (STORE, GOOD_STORE),
        expect="access keys",
    ),
    Case(
        "azure-appconfig-private-in-prod",
        (STORE, {**GOOD_STORE, "publicNetworkAccess": "Enabled"}),
        (STORE, GOOD_STORE),
        expect="public network traffic in prod",
    ),
    Case(
        "azure-appconfig-purge-protection",
        (STORE, {**GOOD_STORE, "enablePurgeProtection": False}),
        (STORE, GOOD_STORE),
        expect="enable_purge_protection=True",
    ),
    Case(
        "azure-appconfig-standard-sku",
        (STORE, {**GOOD_STORE, "sku": {"name": "free"}}),
        (STORE, GOOD_STORE),
        expect="free SKU",
    ),
    Case(
        "gcp-vertex-customer-key",
        ("gcp:vertex/aiMetadataStore:AiMetadataStore", {"name": "m", "region": "europe-west4"}),
        ("gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore", {"encryptionSpec": {"kmsKeyName": "projects/p/k"}}),
        expect="Google-managed key",
    ),
    Case(
        "gcp-kms-rotation",
        ("gcp:kms/cryptoKey:CryptoKey", {"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "31536000s"}),
        ("gcp:kms/cryptoKey:CryptoKey", {"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s"}),
        expect="every 365 days",
    ),
    Case(
        "stack-outputs-secret-marked",
        [],
        [],
        # Inside the engine the secret flag is gone (the SDK unwraps secrets): the credential shape decides.
        outputs_bad=[("deployerKey", "AKIAABCDEFGHIJKLMNOP")],
        outputs_good=[("ssmKeyArn", KEY_ARN)],
        expect="carries an AWS access key id",
    ),
    Case(
        "s3-access-logging",
        SECURE_BUCKET,
        [*SECURE_BUCKET, *ACCESS_LOGGED],
        expect="has no access logging",
    ),
    Case(
        "appsync-waf-in-prod",
        [(API, "api", {**GOOD_API, "arn": API_ARN})],
        [(API, "api", {**GOOD_API, "arn": API_ARN}), *FIREWALL],
        expect="has no AWS WAF web ACL",
    ),
]
CASES_BY_RULE = {case.rule: case for case in CASES}


# ---------------------------------------------------------------------------------------------------------------
# Calling the policies as the engine does


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def validate_resource(rule: str, type_token: str, props: dict[str, Any], environment: str | None = "prod") -> list[str]:
    policy = POLICIES[rule]
    assert isinstance(policy, ResourceValidationPolicy)
    config = {"environment": environment} if environment else {}
    args = ResourceValidationArgs(
        type_token,
        unknown_checking_proxy(props),
        f"urn:pulumi:test::ml-infra::{type_token}::target",
        "target",
        options(),
        None,
        config,
    )
    reported: list[str] = []
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def validate_stack(
    rule: str,
    resources: list[tuple[str, str, dict[str, Any]]],
    outputs: list[tuple[str, Any]],
    environment: str = "prod",
) -> list[tuple[str, str | None]]:
    policy = POLICIES[rule]
    assert isinstance(policy, StackValidationPolicy)
    policy_resources = [
        PolicyResource(
            t, unknown_checking_proxy(p), f"urn:pulumi:test::ml-infra::{t}::{n}", n, options(), None, None, [], {}
        )
        for t, n, p in resources
    ]
    if outputs:
        stack_type = "pulumi:pulumi:Stack"
        policy_resources.append(
            PolicyResource(
                stack_type,
                unknown_checking_proxy(dict(outputs)),
                "urn:stack",
                "ml-infra-test",
                options(),
                None,
                None,
                [],
                {},
            )
        )
    reported: list[tuple[str, str | None]] = []
    policy.validate(
        StackValidationArgs(policy_resources, {"environment": environment}),
        lambda message, urn=None: reported.append((message, urn)),
    )
    return reported


def violations(case: Case, bad: bool) -> list[str]:
    example = case.bad if bad else case.good
    if RULES_BY_ID[case.rule].is_stack_rule:
        outputs = case.outputs_bad if bad else case.outputs_good
        return [message for message, _ in validate_stack(case.rule, example, outputs, case.environment)]
    type_token, props = example
    return validate_resource(case.rule, type_token, props, case.environment)


# ---------------------------------------------------------------------------------------------------------------
# Every rule: caught, passed


def test_every_rule_has_an_insecure_and_a_secure_example():
    assert sorted(CASES_BY_RULE) == sorted(RULES_BY_ID)


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_reports_the_insecure_example_with_a_sentence_naming_the_fix(case: Case):
    messages = violations(case, bad=True)
    assert messages, f"{case.rule} missed its insecure example"
    assert any(case.expect in message for message in messages), messages
    assert all(message.endswith(".") and ("; " in message or "set " in message) for message in messages), messages


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_passes_the_secure_example(case: Case):
    assert violations(case, bad=False) == []


def test_policies_carry_the_rule_enforcement_and_the_public_rule_they_mirror():
    for rule in RULES:
        policy = POLICIES[rule.id]
        expected = EnforcementLevel.MANDATORY if rule.enforcement == "mandatory" else EnforcementLevel.ADVISORY
        assert policy.enforcement_level == expected
        assert f"Mirrors {rule.mirrors}." in policy.description
        assert policy.config_schema is not None
        assert policy.config_schema.properties["environment"]["default"] == "prod"


# ---------------------------------------------------------------------------------------------------------------
# Environment, exceptions, unknowns


def test_environment_dependent_rules_default_to_prod_and_relax_only_outside_prod():
    no_vpc = {"enableNetworkIsolation": True}
    assert validate_resource("sagemaker-vpc-in-prod", MODEL, no_vpc, environment=None)  # no config: prod
    assert validate_resource("sagemaker-vpc-in-prod", MODEL, no_vpc, environment="qa")  # typo: strictest
    assert validate_resource("sagemaker-vpc-in-prod", MODEL, no_vpc, environment="dev") == []
    public = {**GOOD_STORE, "publicNetworkAccess": "Enabled"}
    assert validate_resource("azure-appconfig-private-in-prod", STORE, public, environment="dev") == []
    api_key = {**GOOD_API, "authenticationType": "API_KEY"}
    assert validate_resource("appsync-no-api-key-in-prod", API, api_key, environment="dev") == []
    assert validate_resource("appsync-no-api-key-in-prod", "aws:appsync/apiKey:ApiKey", {"apiId": "a"})


def test_cheap_dev_choices_pass_outside_prod_and_fail_in_prod():
    # Serverless SageMaker (no network isolation) and the free App Configuration SKU: explicit per-stack choices
    # for an idle dev stack, each refused by the guardrails in prod.
    serverless = {
        **GOOD_ENDPOINT_CONFIG,
        "productionVariants": [{"variantName": "primary", "serverlessConfig": {"memorySizeInMb": 2048}}],
    }
    assert validate_resource("sagemaker-provisioned-in-prod", ENDPOINT_CONFIG, serverless, environment="dev") == []
    assert validate_resource("sagemaker-provisioned-in-prod", ENDPOINT_CONFIG, serverless, environment="prod")
    open_model = {"enableNetworkIsolation": False}
    assert validate_resource("sagemaker-network-isolation", MODEL, open_model, environment="dev") == []
    assert validate_resource("sagemaker-network-isolation", MODEL, open_model, environment="prod")
    free = {**GOOD_STORE, "sku": {"name": "free"}, "enablePurgeProtection": None}
    assert validate_resource("azure-appconfig-standard-sku", STORE, free, environment="dev") == []
    assert validate_resource("azure-appconfig-purge-protection", STORE, free, environment="dev") == []
    assert validate_resource("azure-appconfig-standard-sku", STORE, free, environment="prod")
    assert validate_resource("azure-appconfig-purge-protection", STORE, free, environment="prod")
    # A standard store outside prod still needs purge protection, and an unknown SKU is refused everywhere.
    standard = {**GOOD_STORE, "enablePurgeProtection": False}
    assert validate_resource("azure-appconfig-purge-protection", STORE, standard, environment="dev")
    developer = {**GOOD_STORE, "sku": {"name": "developer"}}
    assert validate_resource("azure-appconfig-standard-sku", STORE, developer, environment="dev")


def test_endpoint_config_without_a_key_passes_only_on_hardware_encrypted_nvme_instances():
    nvme = {
        **GOOD_ENDPOINT_CONFIG,
        "kmsKeyArn": None,
        "productionVariants": [{**GOOD_VARIANT, "instanceType": "ml.g5.xlarge"}],
    }
    assert validate_resource("sagemaker-endpoint-kms", ENDPOINT_CONFIG, nvme) == []
    mixed = {**nvme, "productionVariants": [*nvme["productionVariants"], GOOD_VARIANT]}
    assert validate_resource("sagemaker-endpoint-kms", ENDPOINT_CONFIG, mixed)


def test_every_allowlisted_wildcard_action_really_supports_no_resource_level_permission():
    import parliament

    privileges = {
        f"{service['prefix']}:{p['privilege']}": p
        for service in parliament.iam_definition
        for p in service["privileges"]
    }
    for action, reason in NO_RESOURCE_LEVEL_ACTIONS.items():
        assert reason
        resource_types = {r["resource_type"] for r in privileges[action]["resource_types"]}
        assert resource_types == {""}, f"{action} supports resources {resource_types}: remove it from the allowlist"


def test_a_value_unknown_during_preview_defers_the_policy_instead_of_passing_it():
    with pytest.raises(UnknownValueError):
        validate_resource("kms-explicit-key-policy", KMS, {"policy": UNKNOWN_STRING_VALUE})
    # Unknown values the rule does not read do not stop it.
    assert validate_resource("kms-key-rotation", KMS, {"enableKeyRotation": True, "policy": UNKNOWN_STRING_VALUE}) == []


def test_stack_output_rule_uses_the_secret_flag_where_it_is_known():
    rule = RULES_BY_ID["stack-outputs-secret-marked"]
    from ml_infra.guardrails.core import Context, StackOutputValue

    assert rule.check_stack is not None
    named = [StackOutputValue("graphqlApiKey", "da2-value", secret=False)]
    assert list(rule.check_stack([], named, Context()))
    assert not list(rule.check_stack([], [StackOutputValue("graphqlApiKey", "da2-value", secret=True)], Context()))
    # The engine's Python SDK drops the flag: a name alone cannot decide there.
    assert not list(rule.check_stack([], [StackOutputValue("graphqlApiKey", "da2-value", secret=None)], Context()))
    leaked = Context(known_secret_values=frozenset({"s3cr3t-value"}))
    assert list(rule.check_stack([], [StackOutputValue("endpoint", "x?k=s3cr3t-value", secret=None)], leaked))


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("scoring-service-api-key", True),
        ("DB_PASSWORD", True),
        ("graphqlApiKey", True),
        ("clientSecret", True),
        ("ssmKeyArn", False),
        ("apiKeyId", False),
        ("tokenEndpoint", False),
        ("feature-columns", False),
        ("keyRotationDays", False),
    ],
)
def test_secret_names_are_told_from_references_to_secrets(name: str, secret: bool):
    assert name_looks_secret(name) is secret


# ---------------------------------------------------------------------------------------------------------------
# The real stacks, the pack's files and the docs


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def stack_environment(project_dir: Path, stack_name: str) -> str:
    config = yaml.safe_load((project_dir / f"Pulumi.{stack_name}.yaml").read_text())["config"]
    return config["ml-infra:environment"]


def test_every_stack_file_passes_the_guardrails_with_no_mandatory_violation(stack: Evaluation, project_dir: Path):
    report = check_evaluation(stack, stack_environment(project_dir, stack.stack))
    assert [f"{v.policy}: {v.message}" for v in report.mandatory] == []
    assert report.undecided == []


def test_guardrails_see_the_resources_they_cover_in_the_real_stacks(prod: Evaluation):
    # A rule whose resources the program never declares would pass vacuously: the stack covers these.
    declared = {r.type for r in prod.resources}
    for rule_id in (
        "kms-key-rotation",
        "iam-no-wildcard-resources",
        "s3-tls-only",
        "sagemaker-endpoint-kms",
        "gcp-vertex-customer-key",
        "azure-appconfig-standard-sku",
        "glue-schema-compatibility",
    ):
        assert declared & set(RULES_BY_ID[rule_id].resource_types), rule_id


def test_policy_config_files_set_each_stacks_environment_for_every_policy(project_dir: Path):
    for stack_file in sorted(project_dir.glob("Pulumi.*.yaml")):
        stack_name = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
        config_file = project_dir / "policy" / f"config.{stack_name}.json"
        environment = stack_environment(project_dir, stack_name)
        assert environment in ENVIRONMENTS
        assert json.loads(config_file.read_text()) == policy_config(environment), (
            f"{config_file} is stale: regenerate it from ml_infra.guardrails.policy_pack.policy_config"
        )


def test_policy_pack_files_are_a_python_pack_that_imports_this_projects_rules(project_dir: Path):
    pack = yaml.safe_load((project_dir / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    requirements = (project_dir / "policy" / "requirements.txt").read_text().splitlines()
    # A hash-locked list (tests/test_packaging.py checks it): no `-e ..`, which hash-checking mode refuses.
    assert "-e .." not in requirements
    assert any(line.startswith("pulumi-policy==") for line in requirements)
    main = (project_dir / "policy" / "__main__.py").read_text()
    assert "build_policies()" in main and "PolicyPack(" in main
    assert "sys.path.insert(0, str(PROJECT_ROOT))" in main


def test_docs_table_lists_every_rule_as_generated(project_dir: Path):
    assert rules_markdown() in (project_dir / "docs" / "guardrails.md").read_text()
    assert rules_markdown() in (project_dir / "README.md").read_text()


def test_the_policy_pack_serves_the_engines_analyzer_protocol(project_dir: Path):
    # What `pulumi preview --policy-pack policy` does after installing the pack: start policy/__main__.py, read
    # the port it prints, and call the Analyzer service with the engine's wire format (secrets wrapped,
    # unknowns as sentinels).
    import subprocess
    import sys

    import grpc
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    server = subprocess.Popen([sys.executable, "policy/__main__.py"], cwd=project_dir, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().decode().strip()
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        assert info.name == "ml-infra-guardrails"
        assert sorted(p.name for p in info.policies) == sorted(RULES_BY_ID)
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={}))

        def analyze(type_token: str, props: dict[str, Any]) -> dict[str, str]:
            message = struct_pb2.Struct()
            message.update(props)
            request = analyzer_pb2.AnalyzeRequest(
                type=type_token, urn=f"urn:x::{type_token}::r", name="r", properties=message
            )
            return {d.policyName: d.message for d in stub.Analyze(request).diagnostics}

        secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cret"}
        reported = analyze(SSM, {"type": "SecureString", "name": "/p/m/k", "keyId": "alias/aws/ssm", "valueWo": secret})
        assert set(reported) == {"ssm-securestring-customer-key"}
        reported = analyze(KMS, {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": UNKNOWN_STRING_VALUE})
        assert set(reported) == {"kms-explicit-key-policy"}
        assert "can't run policy 'kms-explicit-key-policy'" in reported["kms-explicit-key-policy"]
    finally:
        server.kill()
        server.wait()


# ---------------------------------------------------------------------------------------------------------------
# Access logging and the API's web ACL: the details a scanner's id alone does not say


def test_a_bucket_receiving_access_logs_must_use_sse_s3_and_is_not_asked_to_log_itself():
    stack = [*SECURE_BUCKET, *ACCESS_LOGGED]
    assert validate_stack("s3-sse-kms-customer-key", stack, [], "prod") == []
    assert validate_stack("s3-access-logging", stack, [], "prod") == []
    kms_log_bucket = [r for r in stack if r[1] != "logs-sse"] + [
        (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "logs-sse",
            {"bucket": "logs", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        )
    ]
    (message,) = [m for m, _ in validate_stack("s3-sse-kms-customer-key", kms_log_bucket, [], "prod")]
    assert "receives S3 server access logs" in message and "AES256" in message


def test_access_logging_and_the_web_acl_are_required_in_prod_only():
    assert validate_stack("s3-access-logging", SECURE_BUCKET, [], "dev") == []
    assert validate_stack("appsync-waf-in-prod", [(API, "api", {**GOOD_API, "arn": API_ARN})], [], "dev") == []


@pytest.mark.parametrize(
    ("acl_props", "gap"),
    [
        ({"rules": [MANAGED_RULE]}, "a rate-based rule that blocks"),
        ({"rules": [{**RATE_RULE, "action": {"count": {}}}, MANAGED_RULE]}, "a rate-based rule that blocks"),
        ({"rules": [RATE_RULE, {**MANAGED_RULE, "overrideAction": {"count": {}}}]}, "not in count mode"),
        ({"rules": [RATE_RULE, MANAGED_RULE], "scope": "CLOUDFRONT"}, "REGIONAL scope"),
    ],
)
def test_a_web_acl_in_front_of_the_api_that_only_counts_or_does_not_rate_limit_is_reported(
    acl_props: dict[str, Any], gap: str
):
    acl = ("aws:wafv2/webAcl:WebAcl", "acl", {"arn": ACL_ARN, "scope": "REGIONAL", **acl_props})
    stack = [(API, "api", {**GOOD_API, "arn": API_ARN}), acl, FIREWALL[1]]
    messages = [m for m, _ in validate_stack("appsync-waf-in-prod", stack, [], "prod")]
    assert len(messages) == 1 and gap in messages[0], messages


def test_a_web_acl_associated_with_another_resource_does_not_protect_the_api():
    elsewhere = (
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "assoc",
        {"resourceArn": "arn:other", "webAclArn": ACL_ARN},
    )
    stack = [(API, "api", {**GOOD_API, "arn": API_ARN}), FIREWALL[0], elsewhere]
    assert validate_stack("appsync-waf-in-prod", stack, [], "prod")
