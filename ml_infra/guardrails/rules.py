"""The guardrail rules: the checklist of the public IaC scanners (Checkov, cdk-nag, Trivy, Security Hub) for
the services this project deploys, written against the Pulumi engine's view of a resource.

Each rule names the public rule(s) it mirrors so that an auditor can trace it. Properties are read with the
engine's camelCase names; JSON-valued properties (IAM, key and bucket policies) arrive as JSON text. Rules
whose verdict depends on the environment read it from the context (policy config `environment`, `prod` when
unset), and say so with `by_environment=True`.

Resource rules judge one resource's inputs. S3 buckets are configured through companion resources (public
access block, encryption, versioning, policy, lifecycle, ownership) that name the bucket, so the S3 rules are
stack rules: they see every resource's outputs and look for the bucket's companions. The stack-output rule is
a stack rule too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ml_infra.guardrails.core import (
    Context,
    Finding,
    Resource,
    Rule,
    StackOutputValue,
    as_list,
    contains_any,
    credential_in,
    get,
    json_document,
    known,
    name_looks_secret,
    statements,
)
from ml_infra.stack_config import has_local_nvme

# ---------------------------------------------------------------------------------------------------------------
# Shared pieces

IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
# Resources whose documents are identity policies (what the principal holding them may do). Key policies and
# bucket policies are resource policies and have their own rules: in a key policy, `"Resource": "*"` means
# "this key" and `kms:*` for the account root is how AWS recommends delegating the key to IAM.
IDENTITY_POLICY_TYPES = (IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY, IAM_ROLE)

# Actions that support no resource-level permission: `"Resource": "*"` is the only value AWS accepts for them
# (Service Authorization Reference; a test checks each entry against parliament's copy of it). Anything else
# with a `*` resource is a violation.
NO_RESOURCE_LEVEL_ACTIONS: dict[str, str] = {
    "ecr:GetAuthorizationToken": "an ECR login token is account-wide",
    "cloudwatch:PutMetricData": "metrics have no ARN; scope with the cloudwatch:namespace condition",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe* calls take no resource (SageMaker VPC attachment)",
    "ec2:DescribeVpcs": "EC2 Describe* calls take no resource (SageMaker VPC attachment)",
    "ec2:DescribeDhcpOptions": "EC2 Describe* calls take no resource (SageMaker VPC attachment)",
    "ec2:DescribeSubnets": "EC2 Describe* calls take no resource (SageMaker VPC attachment)",
    "ec2:DescribeSecurityGroups": "EC2 Describe* calls take no resource (SageMaker VPC attachment)",
    "xray:PutTraceSegments": "X-Ray segments have no ARN (AppSync / SageMaker tracing)",
    "xray:PutTelemetryRecords": "X-Ray telemetry has no ARN (AppSync / SageMaker tracing)",
    "sts:GetCallerIdentity": "answers who the caller is; needs no permission on a resource",
    "ssm:DescribeParameters": "lists parameter metadata (names, versions, labels), never values (ml-infra config)",
}

AWS_MANAGED_POLICY_PREFIXES = (
    "arn:aws:iam::aws:policy/",
    "arn:aws-us-gov:iam::aws:policy/",
    "arn:aws-cn:iam::aws:policy/",
)


def _identity_documents(resource: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) for every identity-policy document a resource carries."""
    if resource.type == IAM_ROLE:
        for index, inline in enumerate(as_list(get(resource.props, "inlinePolicies"))):
            document = json_document(inline, "policy") if isinstance(inline, Mapping) else None
            if document is not None:
                yield f"inline policy {get(inline, 'name') or index}", document
        return
    document = json_document(resource.props, "policy")
    if document is not None:
        yield "policy", document


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def _principal_is_anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(value) for value in principal.values())
    return False


def _statement_name(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement['Sid']!r}" if statement.get("Sid") else f"statement {index + 1}"


# ---------------------------------------------------------------------------------------------------------------
# SSM


def _ssm_secure_string_cmk(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "type") != "SecureString":
        return
    key = get(resource.props, "keyId")
    if not key:
        yield (
            f"SecureString parameter '{resource.name}' is encrypted with the AWS-managed key alias/aws/ssm; set "
            "key_id to the ARN of a customer-managed KMS key."
        )
    elif str(key).endswith("alias/aws/ssm"):
        yield (
            f"SecureString parameter '{resource.name}' names the AWS-managed key alias/aws/ssm; set key_id to the "
            "ARN of a customer-managed KMS key."
        )


def _ssm_secrets_are_secure(resource: Resource, context: Context) -> Iterable[str]:
    kind = get(resource.props, "type")
    if kind == "SecureString":
        return
    name = str(get(resource.props, "name") or resource.name)
    leaf = name.rstrip("/").rsplit("/", 1)[-1]
    if name_looks_secret(leaf):
        yield (
            f"{kind} parameter '{resource.name}' ({name}) is named like a credential but is stored in plain text; "
            "make it a SecureString encrypted with the stack's KMS key."
        )
    credential = credential_in(get(resource.props, "value")) or credential_in(get(resource.props, "insecureValue"))
    if credential:
        yield (
            f"{kind} parameter '{resource.name}' ({name}) holds {credential} in plain text; store it as a "
            "SecureString encrypted with the stack's KMS key, and rotate the exposed credential."
        )


# ---------------------------------------------------------------------------------------------------------------
# KMS


def _kms_rotation(resource: Resource, context: Context) -> Iterable[str]:
    spec = get(resource.props, "customerMasterKeySpec") or get(resource.props, "keySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT":
        return  # KMS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
    if get(resource.props, "enableKeyRotation") is not True:
        yield f"KMS key '{resource.name}' does not rotate its key material; set enable_key_rotation=True."


def _kms_key_policy(resource: Resource, context: Context) -> Iterable[str]:
    document = json_document(resource.props, "policy")
    if document is None:
        yield (
            f"KMS key '{resource.name}' has no explicit key policy (AWS would apply its default policy); set policy "
            "to a document that names the account and the principals that use the key."
        )
        return
    for index, statement in enumerate(statements(document)):
        # The account root with kms:* is the recommended delegation to IAM, not a wildcard grant: only an
        # unconditioned "*" principal opens the key to anyone.
        if _allows(statement) and _principal_is_anyone(statement.get("Principal")) and not statement.get("Condition"):
            yield (
                f"KMS key '{resource.name}' key policy {_statement_name(statement, index)} allows any principal "
                "('*') without a condition; name the account or role principals, or add a condition such as "
                "aws:PrincipalOrgID."
            )


def _kms_deletion_window(resource: Resource, context: Context) -> Iterable[str]:
    window = get(resource.props, "deletionWindowInDays")
    if window is None:
        yield (
            f"KMS key '{resource.name}' has no deletion window; set deletion_window_in_days (30 in prod) so that "
            "a key scheduled for deletion by mistake can be recovered."
        )
    elif context.is_prod and int(window) != 30:
        yield (
            f"KMS key '{resource.name}' has a deletion window of {int(window)} days in prod; set "
            "deletion_window_in_days=30."
        )


# ---------------------------------------------------------------------------------------------------------------
# IAM


def _allowing_statements(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, statement) for every Allow statement of every identity-policy document a resource carries; the
    label names the document and statement for a violation message."""
    for where, document in _identity_documents(resource):
        for index, statement in enumerate(statements(document)):
            if _allows(statement):
                yield f"IAM {where} of '{resource.name}' {_statement_name(statement, index)}", statement


def _iam_wildcard_actions(resource: Resource, context: Context) -> Iterable[str]:
    for label, statement in _allowing_statements(resource):
        if "NotAction" in statement:
            yield f"{label} allows NotAction, which grants every other action; list the actions it needs under Action."
        for action in as_list(statement.get("Action")):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                yield f"{label} allows {action!r}; list the specific actions it needs."


def _iam_partial_wildcard_actions(resource: Resource, context: Context) -> Iterable[str]:
    for label, statement in _allowing_statements(resource):
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and "*" in action and not (action == "*" or action.endswith(":*")):
                yield (
                    f"{label} allows the pattern {action!r}, which grows as AWS adds actions; list the actions it "
                    "needs."
                )


def _iam_wildcard_resources(resource: Resource, context: Context) -> Iterable[str]:
    for label, statement in _allowing_statements(resource):
        if "NotResource" in statement:
            yield f"{label} uses NotResource, which grants every other resource; list the resources under Resource."
            continue
        if "*" not in as_list(statement.get("Resource")):
            continue
        needing = [a for a in as_list(statement.get("Action")) if a not in NO_RESOURCE_LEVEL_ACTIONS]
        if needing:
            yield (
                f"{label} grants {', '.join(map(str, needing))} on every resource ('*'); name the resource ARNs "
                "(only actions that support no resource-level permission may use '*')."
            )


def _iam_no_aws_managed(resource: Resource, context: Context) -> Iterable[str]:
    arns = [get(resource.props, "policyArn")] if resource.type in IAM_ATTACHMENTS else []
    if resource.type == IAM_ROLE:
        arns += as_list(get(resource.props, "managedPolicyArns"))
    for arn in arns:
        if isinstance(arn, str) and arn.startswith(AWS_MANAGED_POLICY_PREFIXES):
            yield (
                f"'{resource.name}' attaches the AWS-managed policy {arn}; attach a customer-managed policy that "
                "grants only the actions and resources this principal needs."
            )


def _iam_trust_service_principal(resource: Resource, context: Context) -> Iterable[str]:
    document = json_document(resource.props, "assumeRolePolicy")
    if document is None:
        yield f"IAM role '{resource.name}' has no trust policy; set assume_role_policy naming a service principal."
        return
    for index, statement in enumerate(statements(document)):
        if not _allows(statement):
            continue
        principal = statement.get("Principal")
        if _principal_is_anyone(principal):
            yield (
                f"IAM role '{resource.name}' trust policy {_statement_name(statement, index)} lets anyone ('*') "
                "assume it; name the service principal that runs with the role."
            )
        elif not (isinstance(principal, Mapping) and set(principal) == {"Service"}):
            # Every role of this project is run by an AWS service; a role for people, another account or an
            # identity provider would be a new kind of access and needs its own reviewed rule.
            yield (
                f"IAM role '{resource.name}' trust policy {_statement_name(statement, index)} trusts "
                f"{principal!r}, not an AWS service principal; roles of this stack are assumed by services only."
            )


def _iam_trust_confused_deputy(resource: Resource, context: Context) -> Iterable[str]:
    document = json_document(resource.props, "assumeRolePolicy")
    for index, statement in enumerate(statements(document)):
        principal = statement.get("Principal")
        if not (_allows(statement) and isinstance(principal, Mapping) and "Service" in principal):
            continue
        condition = statement.get("Condition") or {}
        keys = {key.lower() for operator in condition.values() if isinstance(operator, Mapping) for key in operator}
        if not keys & {"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid"}:
            yield (
                f"IAM role '{resource.name}' trust policy {_statement_name(statement, index)} lets the service act "
                "for any account; add an aws:SourceAccount or aws:SourceArn condition."
            )


# ---------------------------------------------------------------------------------------------------------------
# S3 (stack rules: the bucket's settings are separate resources that name it)

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
S3_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"


def _access_log_targets(resources: Sequence[Resource]) -> set[str]:
    """Names of the buckets that receive some bucket's S3 server access logs."""
    return {
        str(known(get(r.props, "targetBucket"), f"{r.name}.targetBucket")) for r in resources if r.type == S3_LOGGING
    }


def _bucket_names(bucket: Resource) -> set[str]:
    names = {str(known(get(bucket.props, "bucket"), f"{bucket.name}.bucket"))}
    if get(bucket.props, "id"):
        names.add(str(get(bucket.props, "id")))
    return names


def _buckets_with(resources: Sequence[Resource], companion_type: str) -> Iterator[tuple[Resource, list[Resource]]]:
    """Each bucket and its companions of one type (matched on the bucket name the companion names)."""
    companions: dict[str, list[Resource]] = {}
    for resource in resources:
        if resource.type == companion_type:
            companions.setdefault(str(known(get(resource.props, "bucket"), f"{resource.name}.bucket")), []).append(
                resource
            )
    for bucket in resources:
        if bucket.type != S3_BUCKET:
            continue
        names = {str(known(get(bucket.props, "bucket"), f"{bucket.name}.bucket"))}
        if get(bucket.props, "id"):
            names.add(str(get(bucket.props, "id")))
        yield bucket, [c for name in names for c in companions.get(name, [])]


def _s3_public_access_block(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket, blocks in _buckets_with(resources, S3_PUBLIC_ACCESS_BLOCK):
        if not blocks:
            yield Finding(
                f"S3 bucket '{bucket.name}' has no public access block; add an aws.s3.BucketPublicAccessBlock with "
                "all four flags true.",
                bucket,
            )
        for block in blocks:
            off = [flag for flag in flags if get(block.props, flag) is not True]
            if off:
                yield Finding(
                    f"Public access block '{block.name}' of bucket '{bucket.name}' leaves {', '.join(off)} off; set "
                    "all four flags to true.",
                    block,
                )


def _s3_sse_kms(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    log_targets = _access_log_targets(resources)
    for bucket, configs in _buckets_with(resources, S3_ENCRYPTION):
        if _bucket_names(bucket) & log_targets:
            # S3 server access log delivery writes only into a bucket whose default encryption is SSE-S3: a KMS
            # default would silently stop the logs. Such a bucket must say AES256.
            algorithms = {
                get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                for config in configs
                for rule in as_list(get(config.props, "rules"))
            }
            if algorithms != {"AES256"}:
                yield Finding(
                    f"S3 bucket '{bucket.name}' receives S3 server access logs, which are delivered only into a "
                    "bucket encrypted by default with SSE-S3; set sse_algorithm 'AES256' on it.",
                    bucket,
                )
            continue
        encrypted = False
        for config in configs:
            for rule in as_list(get(config.props, "rules")):
                default = get(rule, "applyServerSideEncryptionByDefault") or {}
                algorithm, key = get(default, "sseAlgorithm"), get(default, "kmsMasterKeyId")
                if algorithm in ("aws:kms", "aws:kms:dsse") and key and not str(key).endswith("alias/aws/s3"):
                    encrypted = True
        if not encrypted:
            yield Finding(
                f"S3 bucket '{bucket.name}' is not encrypted with a customer-managed KMS key by default; add an "
                "aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' and kms_master_key_id "
                "set to the stack's key.",
                bucket,
            )


def _s3_versioning(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    for bucket, configs in _buckets_with(resources, S3_VERSIONING):
        if not any(get(c.props, "versioningConfiguration", "status") == "Enabled" for c in configs):
            yield Finding(
                f"S3 bucket '{bucket.name}' is not versioned; add an aws.s3.BucketVersioning with status 'Enabled'.",
                bucket,
            )


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny" or not _principal_is_anyone(statement.get("Principal")):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    condition = get(statement, "Condition", "Bool", "aws:SecureTransport")
    return str(condition).lower() == "false" or condition is False


def _s3_tls_only(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    for bucket, policies in _buckets_with(resources, S3_POLICY):
        if not any(
            _denies_insecure_transport(statement)
            for policy in policies
            for statement in statements(json_document(policy.props, "policy"))
        ):
            yield Finding(
                f"S3 bucket '{bucket.name}' accepts requests without TLS; add a bucket policy statement that denies "
                "s3:* to '*' when aws:SecureTransport is false.",
                bucket,
            )


def _s3_lifecycle(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    for bucket, configs in _buckets_with(resources, S3_LIFECYCLE):
        if not any(get(rule, "status") == "Enabled" for c in configs for rule in as_list(get(c.props, "rules"))):
            yield Finding(
                f"S3 bucket '{bucket.name}' has no enabled lifecycle rule; add an aws.s3.BucketLifecycleConfiguration "
                "that expires objects after their retention period.",
                bucket,
            )


def _s3_ownership(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    for bucket, controls in _buckets_with(resources, S3_OWNERSHIP):
        if not any(get(c.props, "rule", "objectOwnership") == "BucketOwnerEnforced" for c in controls):
            yield Finding(
                f"S3 bucket '{bucket.name}' still honours ACLs; add an aws.s3.BucketOwnershipControls with "
                "object_ownership 'BucketOwnerEnforced'.",
                bucket,
            )


def _s3_access_logging(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    if not context.is_prod:
        return
    log_targets = _access_log_targets(resources)
    for bucket, loggings in _buckets_with(resources, S3_LOGGING):
        if _bucket_names(bucket) & log_targets:
            continue  # a log bucket logging itself would write its own records into itself, forever
        if not any(get(logging.props, "targetBucket") for logging in loggings):
            yield Finding(
                f"S3 bucket '{bucket.name}' has no access logging; add an aws.s3.BucketLogging that delivers its "
                "server access logs to a hardened log bucket (ml_infra.access_logs.AccessLogBucket).",
                bucket,
            )


def _s3_policy_no_public_allow(resource: Resource, context: Context) -> Iterable[str]:
    for index, statement in enumerate(statements(json_document(resource.props, "policy"))):
        if _allows(statement) and _principal_is_anyone(statement.get("Principal")) and not statement.get("Condition"):
            yield (
                f"Bucket policy '{resource.name}' {_statement_name(statement, index)} allows anyone ('*') without a "
                "condition; name the principals that need access."
            )


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch Logs


def _log_group_kms(resource: Resource, context: Context) -> Iterable[str]:
    if not get(resource.props, "kmsKeyId"):
        yield f"Log group '{resource.name}' is not encrypted with a KMS key; set kms_key_id to the stack's key."


def _log_group_retention(resource: Resource, context: Context) -> Iterable[str]:
    days = get(resource.props, "retentionInDays")
    if not days:
        yield f"Log group '{resource.name}' keeps logs forever; set retention_in_days (365 or more in prod)."
    elif context.is_prod and int(days) < 365:
        yield f"Log group '{resource.name}' keeps logs {int(days)} days in prod; set retention_in_days to 365 or more."


# ---------------------------------------------------------------------------------------------------------------
# SageMaker


def _sagemaker_endpoint_kms(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "kmsKeyArn"):
        return
    variants = as_list(get(resource.props, "productionVariants"))
    types = [get(v, "instanceType") for v in variants]
    # SageMaker refuses a KMS key on instance types with local NVMe storage, which their hardware encrypts
    # (ml_infra.stack_config.has_local_nvme): such an endpoint is compliant without the key.
    if types and all(isinstance(t, str) and has_local_nvme(t) for t in types):
        return
    yield (
        f"SageMaker endpoint configuration '{resource.name}' does not encrypt its instances' storage volumes; set "
        "kms_key_arn to the endpoint's customer-managed key."
    )


def _sagemaker_capture_kms(resource: Resource, context: Context) -> Iterable[str]:
    capture = get(resource.props, "dataCaptureConfig")
    if capture and get(capture, "enableCapture", default=True) and not get(capture, "kmsKeyId"):
        yield (
            f"SageMaker endpoint configuration '{resource.name}' captures request data without a KMS key; set "
            "data_capture_config.kms_key_id to the endpoint's customer-managed key."
        )


def _sagemaker_network_isolation(resource: Resource, context: Context) -> Iterable[str]:
    # Outside prod a model may run without isolation: SageMaker Serverless Inference (the cheap dev option) does
    # not support it, and the stack config allows isolation off only for a serverless endpoint.
    if context.is_prod and get(resource.props, "enableNetworkIsolation") is not True:
        yield (
            f"SageMaker model '{resource.name}' containers can reach the network in prod; set "
            "enable_network_isolation=True."
        )


def _sagemaker_provisioned_in_prod(resource: Resource, context: Context) -> Iterable[str]:
    if not context.is_prod:
        return
    for variant in as_list(get(resource.props, "productionVariants")):
        if get(variant, "serverlessConfig") or not get(variant, "instanceType"):
            name = get(variant, "variantName") or "?"
            yield (
                f"SageMaker endpoint configuration '{resource.name}' serves variant '{name}' serverless in prod, "
                "without a VPC, network isolation or data capture; set instance_type and initial_instance_count "
                "(remove sagemaker.serverless in the stack config)."
            )


def _sagemaker_vpc(resource: Resource, context: Context) -> Iterable[str]:
    if not context.is_prod:
        return
    vpc = get(resource.props, "vpcConfig") or {}
    if not as_list(get(vpc, "subnets")) or not as_list(get(vpc, "securityGroupIds")):
        yield (
            f"SageMaker model '{resource.name}' runs outside a VPC in prod; set vpc_config with private subnets and "
            "security groups (sagemaker.vpc in the stack config)."
        )


# ---------------------------------------------------------------------------------------------------------------
# AppSync

APPSYNC_API = "aws:appsync/graphQLApi:GraphQLApi"
APPSYNC_API_KEY = "aws:appsync/apiKey:ApiKey"


def _appsync_logging_role(resource: Resource, context: Context) -> Iterable[str]:
    if not get(resource.props, "logConfig", "cloudwatchLogsRoleArn"):
        yield (
            f"AppSync API '{resource.name}' does not log to CloudWatch; set log_config.cloudwatch_logs_role_arn to a "
            "role AppSync may assume to write its logs."
        )


def _appsync_field_logs(resource: Resource, context: Context) -> Iterable[str]:
    level = get(resource.props, "logConfig", "fieldLogLevel")
    if level not in ("ERROR", "ALL"):
        yield (
            f"AppSync API '{resource.name}' has field-level logging {level or 'NONE'}; set "
            "log_config.field_log_level to 'ERROR' (or 'ALL' outside prod)."
        )


def _appsync_verbose_content(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "logConfig", "excludeVerboseContent") is not True:
        yield (
            f"AppSync API '{resource.name}' logs headers, context and resolved mapping templates; set "
            "log_config.exclude_verbose_content=True."
        )


def _appsync_xray(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "xrayEnabled") is not True:
        yield f"AppSync API '{resource.name}' is not traced; set xray_enabled=True."


def _appsync_no_api_key(resource: Resource, context: Context) -> Iterable[str]:
    if not context.is_prod:
        return
    if resource.type == APPSYNC_API_KEY:
        yield (
            f"AppSync API key '{resource.name}' exists in prod; remove it and authenticate callers with IAM or Cognito."
        )
        return
    modes = [get(resource.props, "authenticationType")] + [
        get(p, "authenticationType") for p in as_list(get(resource.props, "additionalAuthenticationProviders"))
    ]
    if "API_KEY" in modes:
        yield (
            f"AppSync API '{resource.name}' accepts API keys in prod; remove API_KEY from its authentication "
            "providers and use AWS_IAM or AMAZON_COGNITO_USER_POOLS."
        )


WAF_WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"


def _blocks(rule: Mapping[str, Any]) -> bool:
    return get(rule, "action", "block") is not None


def _web_acl_gaps(acl: Resource) -> list[str]:
    """What a web ACL in front of an API lacks: a blocking rate-based rule, a blocking AWS managed rule group."""
    rules = as_list(get(acl.props, "rules"))
    gaps = []
    if not any(get(rule, "statement", "rateBasedStatement") and _blocks(rule) for rule in rules):
        gaps.append("a rate-based rule that blocks")
    if not any(
        get(rule, "statement", "managedRuleGroupStatement", "vendorName") == "AWS"
        and get(rule, "overrideAction", "count") is None
        for rule in rules
    ):
        gaps.append("an AWS managed rule group that is not in count mode")
    if get(acl.props, "scope") != "REGIONAL":
        gaps.append("REGIONAL scope (AppSync APIs take regional web ACLs)")
    return gaps


def _appsync_waf(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    if not context.is_prod:
        return
    acls = {str(known(get(r.props, "arn"), f"{r.name}.arn")): r for r in resources if r.type == WAF_WEB_ACL}
    associated: dict[str, list[Resource]] = {}
    for association in (r for r in resources if r.type == WAF_ASSOCIATION):
        target = str(known(get(association.props, "resourceArn"), f"{association.name}.resourceArn"))
        acl = acls.get(str(known(get(association.props, "webAclArn"), f"{association.name}.webAclArn")))
        if acl is not None:
            associated.setdefault(target, []).append(acl)
    for api in (r for r in resources if r.type == APPSYNC_API):
        arn = str(known(get(api.props, "arn"), f"{api.name}.arn"))
        if not associated.get(arn):
            yield Finding(
                f"AppSync API '{api.name}' has no AWS WAF web ACL in front of it; associate a regional "
                "aws.wafv2.WebAcl with a rate-based rule and AWS managed rule groups (aws.wafv2.WebAclAssociation).",
                api,
            )
        for acl in associated.get(arn, []):
            gaps = _web_acl_gaps(acl)
            if gaps:
                yield Finding(
                    f"Web ACL '{acl.name}' in front of AppSync API '{api.name}' lacks {'; '.join(gaps)}; add it.",
                    acl,
                )


def _appsync_introspection(resource: Resource, context: Context) -> Iterable[str]:
    if context.is_prod and get(resource.props, "introspectionConfig") != "DISABLED":
        yield (
            f"AppSync API '{resource.name}' answers schema introspection in prod; set introspection_config='DISABLED'."
        )


# ---------------------------------------------------------------------------------------------------------------
# DynamoDB

DYNAMODB_TABLE = "aws:dynamodb/table:Table"


def _dynamodb_pitr(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "pointInTimeRecovery", "enabled") is not True:
        yield (
            f"DynamoDB table '{resource.name}' has no point-in-time recovery; set point_in_time_recovery.enabled=True."
        )


def _dynamodb_cmk(resource: Resource, context: Context) -> Iterable[str]:
    sse = get(resource.props, "serverSideEncryption") or {}
    if get(sse, "enabled") is not True or not get(sse, "kmsKeyArn"):
        yield (
            f"DynamoDB table '{resource.name}' is encrypted with an AWS-owned key; set server_side_encryption with "
            "enabled=True and kms_key_arn of a customer-managed key."
        )


def _dynamodb_deletion_protection(resource: Resource, context: Context) -> Iterable[str]:
    if context.is_prod and get(resource.props, "deletionProtectionEnabled") is not True:
        yield f"DynamoDB table '{resource.name}' can be deleted in prod; set deletion_protection_enabled=True."


# ---------------------------------------------------------------------------------------------------------------
# Glue

GLUE_SCHEMA = "aws:glue/schema:Schema"


def _glue_compatibility(resource: Resource, context: Context) -> Iterable[str]:
    mode = get(resource.props, "compatibility")
    if mode in (None, "", "NONE"):
        yield (
            f"Glue schema '{resource.name}' has compatibility {mode or 'unset'}: any new version is accepted, "
            "breaking readers; set the contract's mode (BACKWARD, FORWARD, FULL or a *_ALL variant)."
        )


def _glue_compatibility_disabled(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "compatibility") == "DISABLED":
        yield (
            f"Glue schema '{resource.name}' has compatibility DISABLED: no new version can be registered; use it "
            "only for a frozen contract."
        )


GLUE_JOB = "aws:glue/job:Job"
GLUE_SECURITY_CONFIGURATION = "aws:glue/securityConfiguration:SecurityConfiguration"
# What each part of a Glue security configuration must be set to: the mode and a customer-managed key.
GLUE_ENCRYPTION_MODES = (
    ("s3Encryption", "s3EncryptionMode", "SSE-KMS", "the job's S3 writes"),
    ("cloudwatchEncryption", "cloudwatchEncryptionMode", "SSE-KMS", "its CloudWatch logs"),
    ("jobBookmarksEncryption", "jobBookmarksEncryptionMode", "CSE-KMS", "its job bookmarks"),
)


def _glue_job_security_configuration(resource: Resource, context: Context) -> Iterable[str]:
    if not get(resource.props, "securityConfiguration"):
        yield (
            f"Glue job '{resource.name}' has no security configuration, so its S3 writes, logs and job bookmarks "
            "are not encrypted with a KMS key; set security_configuration to one that encrypts all three."
        )


def _glue_security_configuration_kms(resource: Resource, context: Context) -> Iterable[str]:
    encryption = get(resource.props, "encryptionConfiguration") or {}
    for part, mode_key, wanted, what in GLUE_ENCRYPTION_MODES:
        settings = get(encryption, part) or {}
        if get(settings, mode_key) != wanted or not get(settings, "kmsKeyArn"):
            yield (
                f"Glue security configuration '{resource.name}' does not encrypt {what} with a KMS key; set "
                f"{part}.{mode_key} to {wanted} with kms_key_arn the job's customer-managed key."
            )


# ---------------------------------------------------------------------------------------------------------------
# Azure App Configuration

AZURE_APP_CONFIG = "azure-native:appconfiguration:ConfigurationStore"


def _azure_local_auth(resource: Resource, context: Context) -> Iterable[str]:
    if get(resource.props, "disableLocalAuth") is not True:
        yield (
            f"App Configuration store '{resource.name}' accepts access keys; set disable_local_auth=True and grant "
            "Azure AD roles instead."
        )


def _azure_private(resource: Resource, context: Context) -> Iterable[str]:
    if context.is_prod and get(resource.props, "publicNetworkAccess") != "Disabled":
        yield (
            f"App Configuration store '{resource.name}' accepts public network traffic in prod; set "
            "public_network_access='Disabled' and reach it through a private endpoint."
        )


def _azure_sku_name(resource: Resource) -> str:
    return str(get(resource.props, "sku", "name") or "").lower()


def _azure_purge_protection(resource: Resource, context: Context) -> Iterable[str]:
    # The free SKU has no purge protection; it is allowed outside prod only (azure-appconfig-standard-sku).
    if not context.is_prod and _azure_sku_name(resource) == "free":
        return
    if get(resource.props, "enablePurgeProtection") is not True:
        yield f"App Configuration store '{resource.name}' can be purged; set enable_purge_protection=True."


def _azure_sku(resource: Resource, context: Context) -> Iterable[str]:
    sku = _azure_sku_name(resource)
    # Outside prod the free SKU is an explicit per-stack choice to idle at no cost (azure.sku in the stack config).
    allowed = ("standard", "premium") if context.is_prod else ("free", "standard", "premium")
    if sku not in allowed:
        yield (
            f"App Configuration store '{resource.name}' uses the {sku or 'default'} SKU, which has no SLA, private "
            "endpoints or soft delete; set sku to 'standard' (or 'premium')."
        )


# ---------------------------------------------------------------------------------------------------------------
# GCP

GCP_VERTEX_ENCRYPTED = (
    "gcp:vertex/aiMetadataStore:AiMetadataStore",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
    "gcp:vertex/aiFeatureStore:AiFeatureStore",
    "gcp:vertex/aiDataset:AiDataset",
)
GCP_CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"


def _gcp_vertex_cmek(resource: Resource, context: Context) -> Iterable[str]:
    if not get(resource.props, "encryptionSpec", "kmsKeyName"):
        yield (
            f"Vertex AI resource '{resource.name}' is encrypted with a Google-managed key; set "
            "encryption_spec.kms_key_name to the stack's Cloud KMS key."
        )


def _gcp_kms_rotation(resource: Resource, context: Context) -> Iterable[str]:
    period = get(resource.props, "rotationPeriod")
    if get(resource.props, "purpose") not in (None, "ENCRYPT_DECRYPT"):
        return  # Cloud KMS rotates only symmetric encryption keys automatically.
    seconds = int(float(str(period).rstrip("s"))) if period else None
    if seconds is None or seconds > 90 * 86400:
        every = "never" if seconds is None else f"every {seconds // 86400} days"
        yield (f"Cloud KMS key '{resource.name}' rotates {every}; set rotation_period to 90 days ('7776000s') or less.")


# ---------------------------------------------------------------------------------------------------------------
# Stack outputs


def _stack_outputs(resources: Sequence[Resource], outputs: Sequence[StackOutputValue], context: Context):
    """An output whose name says secret, whose value has a credential's shape, or that carries one of the stack's
    secret config values must be a Pulumi secret.

    The Python policy SDK hands a stack policy the outputs' plain values without their secret flag, so inside
    the engine `secret` is None and only the value checks (credential shapes) can decide; the offline preview
    and the tests know the flag and check names too.
    """
    for output in outputs:
        if output.secret:
            continue
        value = known(output.value, f"output {output.name}")
        problem = None
        if credential_in(value):
            problem = f"carries {credential_in(value)}"
        elif context.known_secret_values and contains_any(value, context.known_secret_values):
            problem = "carries the value of a secret config key"
        elif output.secret is False and name_looks_secret(output.name):
            problem = "is named like a secret"
        if problem:
            yield Finding(
                f"Stack output '{output.name}' {problem} but is not a secret; export it with "
                "pulumi.Output.secret(...) (or do not export it)."
            )


# ---------------------------------------------------------------------------------------------------------------
# The pack

RULES: tuple[Rule, ...] = (
    Rule(
        "ssm-securestring-customer-key",
        "SSM SecureString parameters are encrypted with a customer-managed KMS key, not alias/aws/ssm.",
        "Checkov CKV_AWS_337",
        ("aws:ssm/parameter:Parameter",),
        check_resource=_ssm_secure_string_cmk,
    ),
    Rule(
        "ssm-credentials-are-securestring",
        "SSM parameters named or valued like a credential are SecureString.",
        "Checkov CKV2_AWS_34 (in spirit: no plaintext credential in a String)",
        ("aws:ssm/parameter:Parameter",),
        check_resource=_ssm_secrets_are_secure,
    ),
    Rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate their key material.",
        "Checkov CKV_AWS_7, cdk-nag AwsSolutions-KMS5, Trivy AVD-AWS-0065",
        ("aws:kms/key:Key",),
        check_resource=_kms_rotation,
    ),
    Rule(
        "kms-explicit-key-policy",
        "KMS keys have an explicit key policy with no '*' principal without a condition.",
        "Checkov CKV_AWS_33, CKV2_AWS_64",
        ("aws:kms/key:Key",),
        check_resource=_kms_key_policy,
    ),
    Rule(
        "kms-deletion-window",
        "KMS keys set a deletion window (30 days in prod).",
        "no public scanner id (30 days in prod, as the stack config requires)",
        ("aws:kms/key:Key",),
        check_resource=_kms_deletion_window,
        by_environment=True,
    ),
    Rule(
        "iam-no-wildcard-actions",
        "Identity policies allow no '*' action, no 'service:*' action and no NotAction.",
        "Checkov CKV_AWS_62, CKV_AWS_63, cdk-nag AwsSolutions-IAM5",
        IDENTITY_POLICY_TYPES,
        check_resource=_iam_wildcard_actions,
    ),
    Rule(
        "iam-no-partial-wildcard-actions",
        "Identity policies list actions rather than patterns such as 's3:Get*'.",
        "cdk-nag AwsSolutions-IAM5 (wildcard actions)",
        IDENTITY_POLICY_TYPES,
        enforcement="advisory",
        check_resource=_iam_partial_wildcard_actions,
    ),
    Rule(
        "iam-no-wildcard-resources",
        "Identity policies grant '*' resources only to actions that support no resource-level permission "
        "(an explicit allowlist) and use no NotResource.",
        "Checkov CKV_AWS_355, cdk-nag AwsSolutions-IAM5",
        IDENTITY_POLICY_TYPES,
        check_resource=_iam_wildcard_resources,
    ),
    Rule(
        "iam-no-aws-managed-policies",
        "No AWS-managed policy is attached to a role, user or group.",
        "cdk-nag AwsSolutions-IAM4",
        (*IAM_ATTACHMENTS, IAM_ROLE),
        check_resource=_iam_no_aws_managed,
    ),
    Rule(
        "iam-trust-service-principal",
        "Role trust policies name an AWS service principal, never '*'.",
        "Checkov CKV_AWS_60",
        (IAM_ROLE,),
        check_resource=_iam_trust_service_principal,
    ),
    Rule(
        "iam-trust-source-condition",
        "Service trust policies limit the service to this account (aws:SourceAccount / aws:SourceArn).",
        "AWS confused-deputy guidance; Trivy/Checkov have no direct id",
        (IAM_ROLE,),
        enforcement="advisory",
        check_resource=_iam_trust_confused_deputy,
    ),
    Rule(
        "s3-public-access-block",
        "Every S3 bucket has a public access block with all four flags on.",
        "Checkov CKV2_AWS_6, CKV_AWS_53..56",
        (S3_BUCKET, S3_PUBLIC_ACCESS_BLOCK),
        check_stack=_s3_public_access_block,
    ),
    Rule(
        "s3-sse-kms-customer-key",
        "Every S3 bucket encrypts by default with SSE-KMS and a customer-managed key (an access-log bucket with "
        "SSE-S3, the only encryption S3 log delivery writes into).",
        "Checkov CKV_AWS_145",
        (S3_BUCKET, S3_ENCRYPTION, S3_LOGGING),
        check_stack=_s3_sse_kms,
    ),
    Rule(
        "s3-versioning",
        "Every S3 bucket is versioned.",
        "Checkov CKV_AWS_21",
        (S3_BUCKET, S3_VERSIONING),
        check_stack=_s3_versioning,
    ),
    Rule(
        "s3-tls-only",
        "Every S3 bucket policy denies requests without TLS (aws:SecureTransport false).",
        "cdk-nag AwsSolutions-S10",
        (S3_BUCKET, S3_POLICY),
        check_stack=_s3_tls_only,
    ),
    Rule(
        "s3-lifecycle",
        "Every S3 bucket has an enabled lifecycle rule.",
        "Checkov CKV2_AWS_61",
        (S3_BUCKET, S3_LIFECYCLE),
        check_stack=_s3_lifecycle,
    ),
    Rule(
        "s3-owner-enforced",
        "Every S3 bucket disables ACLs (object ownership BucketOwnerEnforced).",
        "Checkov CKV2_AWS_65",
        (S3_BUCKET, S3_OWNERSHIP),
        check_stack=_s3_ownership,
    ),
    Rule(
        "s3-access-logging",
        "In prod, every S3 bucket (other than an access-log bucket) delivers its server access logs to a log bucket.",
        "Checkov CKV_AWS_18, cdk-nag AwsSolutions-S1",
        (S3_BUCKET, S3_LOGGING),
        check_stack=_s3_access_logging,
        by_environment=True,
    ),
    Rule(
        "s3-policy-no-public-allow",
        "Bucket policies allow no '*' principal without a condition.",
        "Checkov CKV_AWS_70",
        (S3_POLICY,),
        check_resource=_s3_policy_no_public_allow,
    ),
    Rule(
        "logs-kms",
        "CloudWatch log groups are encrypted with a KMS key.",
        "Checkov CKV_AWS_158",
        ("aws:cloudwatch/logGroup:LogGroup",),
        check_resource=_log_group_kms,
    ),
    Rule(
        "logs-retention",
        "CloudWatch log groups set a retention (at least 365 days in prod).",
        "Checkov CKV_AWS_338 (prod), CKV_AWS_66",
        ("aws:cloudwatch/logGroup:LogGroup",),
        check_resource=_log_group_retention,
        by_environment=True,
    ),
    Rule(
        "sagemaker-endpoint-kms",
        "SageMaker endpoint configurations encrypt instance storage with a KMS key (except instance types with "
        "hardware-encrypted local NVMe storage, which refuse one).",
        "Checkov CKV_AWS_98",
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration",),
        check_resource=_sagemaker_endpoint_kms,
    ),
    Rule(
        "sagemaker-data-capture-kms",
        "SageMaker data capture is encrypted with a KMS key.",
        "no direct public id; companion of Checkov CKV_AWS_98",
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration",),
        check_resource=_sagemaker_capture_kms,
    ),
    Rule(
        "sagemaker-network-isolation",
        "In prod, SageMaker models run with network isolation (outside prod only serverless endpoints, which do not "
        "support it, may run without).",
        "Checkov CKV_AWS_370",
        ("aws:sagemaker/model:Model",),
        check_resource=_sagemaker_network_isolation,
        by_environment=True,
    ),
    Rule(
        "sagemaker-provisioned-in-prod",
        "In prod, SageMaker endpoints run on provisioned instances, not Serverless Inference (no VPC, network "
        "isolation or data capture).",
        "no public scanner rule (project rule: AWS documents these serverless exclusions)",
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration",),
        check_resource=_sagemaker_provisioned_in_prod,
        by_environment=True,
    ),
    Rule(
        "sagemaker-vpc-in-prod",
        "In prod, SageMaker models run in VPC subnets with security groups.",
        "no direct public id; the notebook analogue is Security Hub SageMaker.2",
        ("aws:sagemaker/model:Model",),
        check_resource=_sagemaker_vpc,
        by_environment=True,
    ),
    Rule(
        "appsync-logging-role",
        "AppSync APIs log to CloudWatch through a logging role.",
        "Checkov CKV_AWS_193",
        (APPSYNC_API,),
        check_resource=_appsync_logging_role,
    ),
    Rule(
        "appsync-field-logs",
        "AppSync field-level logs are ERROR or ALL.",
        "Checkov CKV_AWS_194, cdk-nag AwsSolutions-ASC3",
        (APPSYNC_API,),
        check_resource=_appsync_field_logs,
    ),
    Rule(
        "appsync-exclude-verbose-content",
        "AppSync logs exclude verbose content (headers, context, mapping templates).",
        "cdk-nag AwsSolutions-ASC3 (its closest check)",
        (APPSYNC_API,),
        check_resource=_appsync_verbose_content,
    ),
    Rule(
        "appsync-xray",
        "AppSync APIs are traced with X-Ray.",
        "no direct public id; AWS Well-Architected tracing guidance",
        (APPSYNC_API,),
        check_resource=_appsync_xray,
    ),
    Rule(
        "appsync-no-api-key-in-prod",
        "In prod, AppSync APIs accept no API key and no API key resource exists.",
        "Security Hub AppSync.5",
        (APPSYNC_API, APPSYNC_API_KEY),
        check_resource=_appsync_no_api_key,
        by_environment=True,
    ),
    Rule(
        "appsync-introspection-off-in-prod",
        "In prod, AppSync APIs disable schema introspection.",
        "OWASP GraphQL guidance; mirrors the stack config's prod rule",
        (APPSYNC_API,),
        check_resource=_appsync_introspection,
        by_environment=True,
    ),
    Rule(
        "appsync-waf-in-prod",
        "In prod, every AppSync API is behind a regional AWS WAF web ACL with a blocking rate-based rule and a "
        "blocking AWS managed rule group.",
        "Checkov CKV2_AWS_33 (AppSync protected by WAF), CKV_AWS_192 (the known-bad-inputs group)",
        (APPSYNC_API, WAF_WEB_ACL, WAF_ASSOCIATION),
        check_stack=_appsync_waf,
        by_environment=True,
    ),
    Rule(
        "dynamodb-pitr",
        "DynamoDB tables have point-in-time recovery.",
        "Checkov CKV_AWS_28",
        (DYNAMODB_TABLE,),
        check_resource=_dynamodb_pitr,
    ),
    Rule(
        "dynamodb-customer-key",
        "DynamoDB tables are encrypted with a customer-managed KMS key.",
        "Checkov CKV_AWS_119",
        (DYNAMODB_TABLE,),
        check_resource=_dynamodb_cmk,
    ),
    Rule(
        "dynamodb-deletion-protection-in-prod",
        "In prod, DynamoDB tables have deletion protection.",
        "Security Hub DynamoDB.6",
        (DYNAMODB_TABLE,),
        check_resource=_dynamodb_deletion_protection,
        by_environment=True,
    ),
    Rule(
        "glue-schema-compatibility",
        "Glue schemas have a compatibility mode other than NONE.",
        "no public scanner rule (project rule for data contracts)",
        (GLUE_SCHEMA,),
        check_resource=_glue_compatibility,
    ),
    Rule(
        "glue-schema-compatibility-disabled",
        "Glue schemas with compatibility DISABLED are frozen: flagged for review.",
        "no public scanner rule (project rule for data contracts)",
        (GLUE_SCHEMA,),
        enforcement="advisory",
        check_resource=_glue_compatibility_disabled,
    ),
    Rule(
        "glue-job-security-configuration",
        "Glue jobs run with a security configuration.",
        "Checkov CKV_AWS_195",
        (GLUE_JOB,),
        check_resource=_glue_job_security_configuration,
    ),
    Rule(
        "glue-security-configuration-kms",
        "Glue security configurations encrypt S3 writes (SSE-KMS), logs (SSE-KMS) and job bookmarks (CSE-KMS) "
        "with a KMS key.",
        "Checkov CKV_AWS_99",
        (GLUE_SECURITY_CONFIGURATION,),
        check_resource=_glue_security_configuration_kms,
    ),
    Rule(
        "azure-appconfig-local-auth-disabled",
        "App Configuration stores disable local (access key) authentication.",
        "Checkov CKV_AZURE_184",
        (AZURE_APP_CONFIG,),
        check_resource=_azure_local_auth,
    ),
    Rule(
        "azure-appconfig-private-in-prod",
        "In prod, App Configuration stores disable public network access.",
        "Checkov CKV_AZURE_185",
        (AZURE_APP_CONFIG,),
        check_resource=_azure_private,
        by_environment=True,
    ),
    Rule(
        "azure-appconfig-purge-protection",
        "App Configuration stores have purge protection (outside prod, free-SKU stores have none to set).",
        "Checkov CKV_AZURE_187",
        (AZURE_APP_CONFIG,),
        check_resource=_azure_purge_protection,
        by_environment=True,
    ),
    Rule(
        "azure-appconfig-standard-sku",
        "App Configuration stores use the Standard (or Premium) SKU in prod; outside prod the free SKU is allowed.",
        "Checkov CKV_AZURE_188",
        (AZURE_APP_CONFIG,),
        check_resource=_azure_sku,
        by_environment=True,
    ),
    Rule(
        "gcp-vertex-customer-key",
        "Vertex AI metadata stores, feature stores and datasets are encrypted with a customer-managed key.",
        "Checkov CKV_GCP_96, CKV2_GCP_25",
        GCP_VERTEX_ENCRYPTED,
        check_resource=_gcp_vertex_cmek,
    ),
    Rule(
        "gcp-kms-rotation",
        "Cloud KMS encryption keys rotate at least every 90 days.",
        "Checkov CKV_GCP_43",
        (GCP_CRYPTO_KEY,),
        check_resource=_gcp_kms_rotation,
    ),
    Rule(
        "stack-outputs-secret-marked",
        "No stack output carries a secret unmarked (by name, credential shape or secret config value).",
        "Checkov secrets scanning (CKV_SECRET_*), Trivy secret scanning",
        ("pulumi:pulumi:Stack",),
        check_stack=_stack_outputs,
    ),
)

RULES_BY_ID = {rule.id: rule for rule in RULES}
