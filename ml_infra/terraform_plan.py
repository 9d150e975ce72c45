"""The offline preview as Terraform plan JSON (`ml-infra preview --format terraform-plan`), so that scanners that
read Terraform plans (Checkov, Trivy, conftest/OPA) can judge what a stack declares. No public IaC scanner reads a
Pulumi program; they all read `terraform show -json` output.

Why this is possible at all: pulumi-aws and pulumi-gcp are bridged from the Terraform providers, so every
Pulumi resource type of theirs *is* a Terraform resource type under another name, and its inputs are that
resource's arguments in camelCase. The bridge records the renames in each provider's `bridge-metadata.json`
(`renames.resources`: token -> Terraform type; `renamedProperties`: the fields it pluralised). This module
carries the part of that mapping the program uses, transcribed from there, and a test fails when the program
declares a type that is not in it. azure-native is generated from Azure's REST specifications, not from a
Terraform provider: its resources have no Terraform equivalent and are listed under `skipped`.

Hand-written because no library translates Pulumi state into a Terraform plan. What the translation does and
does not preserve is in docs/terraform-plan.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from ml_infra.preview import Evaluation, Registration, reveal_secrets

FORMAT_VERSION = "1.2"
# The Terraform version the document claims to come from (scanners check the format, not the binary).
TERRAFORM_VERSION = "1.9.8"
PROVIDERS = {
    "aws": "registry.terraform.io/hashicorp/aws",
    "gcp": "registry.terraform.io/hashicorp/google",
}

# Pulumi type token -> Terraform resource type, from `renames.resources` of pulumi-aws's and pulumi-gcp's
# bridge-metadata.json. Only types the program declares (tests/test_terraform_plan.py keeps it complete).
TERRAFORM_TYPES: dict[str, str] = {
    "aws:appautoscaling/policy:Policy": "aws_appautoscaling_policy",
    "aws:appautoscaling/target:Target": "aws_appautoscaling_target",
    "aws:appsync/apiKey:ApiKey": "aws_appsync_api_key",
    "aws:appsync/dataSource:DataSource": "aws_appsync_datasource",
    "aws:appsync/graphQLApi:GraphQLApi": "aws_appsync_graphql_api",
    "aws:appsync/resolver:Resolver": "aws_appsync_resolver",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:dynamodb/table:Table": "aws_dynamodb_table",
    "aws:glue/job:Job": "aws_glue_job",
    "aws:glue/registry:Registry": "aws_glue_registry",
    "aws:glue/schema:Schema": "aws_glue_schema",
    "aws:glue/securityConfiguration:SecurityConfiguration": "aws_glue_security_configuration",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketObjectv2:BucketObjectv2": "aws_s3_object",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:sagemaker/endpoint:Endpoint": "aws_sagemaker_endpoint",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "aws_sagemaker_endpoint_configuration",
    "aws:sagemaker/model:Model": "aws_sagemaker_model",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    "aws:wafv2/webAcl:WebAcl": "aws_wafv2_web_acl",
    "aws:wafv2/webAclAssociation:WebAclAssociation": "aws_wafv2_web_acl_association",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": "aws_wafv2_web_acl_logging_configuration",
    "gcp:kms/cryptoKey:CryptoKey": "google_kms_crypto_key",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "google_kms_crypto_key_iam_member",
    "gcp:kms/keyRing:KeyRing": "google_kms_key_ring",
    "gcp:projects/service:Service": "google_project_service",
    "gcp:projects/serviceIdentity:ServiceIdentity": "google_project_service_identity",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": "google_vertex_ai_feature_online_store",
    "gcp:vertex/aiMetadataStore:AiMetadataStore": "google_vertex_ai_metadata_store",
}

# Fields the bridge renamed (it pluralises repeated blocks: Terraform's `rule` is Pulumi's `rules`), by
# Pulumi field name at any depth -> Terraform field name. Every other field is camelCase -> snake_case.
RENAMED_FIELDS: dict[str, str] = {
    "rules": "rule",
    "attributes": "attribute",
    "globalSecondaryIndexes": "global_secondary_index",
    "keySchemas": "key_schema",
    "productionVariants": "production_variant",
    "additionalAuthenticationProviders": "additional_authentication_provider",
    "inlinePolicies": "inline_policy",
}

# Arguments that are maps in the Terraform schema (their keys are data, not field names) rather than blocks.
MAP_FIELDS = frozenset(
    {"tags", "tagsAll", "labels", "dimensions", "environment", "defaultTags", "defaultArguments", "metadata"}
)

# Computed attributes a reference may point at, in the order tried.
REFERENCE_ATTRIBUTES = ("arn", "id", "bucket", "name", "keyId", "apiId")


def snake_case(name: str) -> str:
    """`enableKeyRotation` -> `enable_key_rotation`; `kmsKeyARN` -> `kms_key_arn`."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def terraform_field(name: str) -> str:
    return RENAMED_FIELDS.get(name, snake_case(name))


def terraform_values(value: Any, field: str | None = None) -> Any:
    """Pulumi input values as Terraform plan values: snake_case field names, nested blocks as lists of one
    object (as `terraform show -json` writes them), map arguments kept as maps."""
    if isinstance(value, Mapping):
        if field in MAP_FIELDS:
            return {str(key): item for key, item in value.items()}
        return {terraform_field(key): _nested(terraform_field(key), key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [terraform_values(item) for item in value]
    if isinstance(value, pulumi.FileAsset):
        return value.path  # Terraform's `source` of an S3 object is the path of the file it uploads
    return value


def _nested(tf_field: str, field: str, item: Any) -> Any:
    converted = terraform_values(item, field)
    if isinstance(item, Mapping) and field not in MAP_FIELDS:
        return [converted]  # a nested block: a list, even when it can occur only once
    return converted


def resource_name(logical_name: str) -> str:
    """A Terraform resource name (an identifier) for a Pulumi logical name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", logical_name)
    return name if re.match(r"[A-Za-z_]", name) else f"r_{name}"


def _package(type_token: str) -> str:
    return type_token.split(":", 1)[0]


def plan_document(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as one Terraform plan JSON document, with a `skipped` list of what has no equivalent."""
    translated: list[tuple[Registration, str, str]] = []
    skipped: list[dict[str, str]] = []
    for registration in evaluation.resources:
        if not registration.custom or registration.type.startswith("pulumi:providers:"):
            continue
        tf_type = TERRAFORM_TYPES.get(registration.type)
        if tf_type is None:
            reason = (
                "azure-native is not bridged from a Terraform provider: no Terraform resource type"
                if _package(registration.type) == "azure-native"
                else "no Terraform resource type recorded in ml_infra.terraform_plan.TERRAFORM_TYPES"
            )
            skipped.append({"type": registration.type, "name": registration.name, "reason": reason})
            continue
        translated.append((registration, tf_type, resource_name(registration.name)))
    # Resources register in the order their inputs resolve, which varies between runs: by address instead, so
    # that the same program gives the same document (and a value two resources share, as mock values can,
    # always refers to the same one).
    translated.sort(key=lambda entry: (entry[1], entry[2]))
    skipped.sort(key=lambda entry: (entry["type"], entry["name"]))

    # Values that identify a resource (its ARN, id, bucket name...) -> the Terraform address of that attribute:
    # an input carrying one of them was a reference in the program, and becomes one in `configuration`.
    referable: dict[str, str] = {}
    for registration, tf_type, name in translated:
        for attribute in REFERENCE_ATTRIBUTES:
            value = registration.state.get(attribute)
            if isinstance(value, str) and value and value not in referable:
                referable[value] = f"{tf_type}.{name}.{snake_case(attribute)}"

    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    for registration, tf_type, name in translated:
        inputs = reveal_secrets(_without_secrets(registration.raw_inputs))
        values = terraform_values(inputs)
        sensitive = {terraform_field(key): True for key in _secret_fields(registration.raw_inputs)}
        address = f"{tf_type}.{name}"
        provider = PROVIDERS[_package(registration.type)]
        planned.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": provider,
                "schema_version": 0,
                "values": values,
                "sensitive_values": sensitive,
            }
        )
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": provider,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": {},
                    "before_sensitive": False,
                    "after_sensitive": sensitive,
                },
            }
        )
        configured.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_config_key": "google" if _package(registration.type) == "gcp" else "aws",
                "expressions": _expressions(inputs, referable),
                "schema_version": 0,
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "full_name": PROVIDERS["aws"]},
                "google": {"name": "google", "full_name": PROVIDERS["gcp"]},
            },
            "root_module": {"resources": configured},
        },
        # Not part of Terraform's format (scanners ignore unknown keys): what was left out, and why.
        "skipped": skipped,
        "source": {"project": evaluation.project, "stack": evaluation.stack, "tool": "ml-infra preview"},
    }


def _secret_fields(raw_inputs: Mapping[str, Any]) -> list[str]:
    from ml_infra.preview import is_secret_value

    return [key for key, value in raw_inputs.items() if is_secret_value(value)]


def _without_secrets(raw_inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with every secret top-level field left out: a plan written to disk never carries a secret."""
    secret = set(_secret_fields(raw_inputs))
    return {key: value for key, value in raw_inputs.items() if key not in secret}


def _expressions(inputs: Mapping[str, Any], referable: Mapping[str, str]) -> dict[str, Any]:
    """Terraform `configuration` expressions: a constant, or the references of a value another resource owns."""
    expressions: dict[str, Any] = {}
    for key, value in inputs.items():
        refs = _references(value, referable)
        if refs:
            expressions[terraform_field(key)] = {"references": refs}
        else:
            expressions[terraform_field(key)] = {"constant_value": terraform_values({key: value})[terraform_field(key)]}
    return expressions


def _references(value: Any, referable: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    if isinstance(value, str):
        if value in referable:
            attribute = referable[value]
            found += [attribute, attribute.rsplit(".", 1)[0]]  # as Terraform lists them: attribute, resource
        else:
            try:
                document = json.loads(value)
            except ValueError:
                document = None
            if isinstance(document, dict | list):
                found += _references(document, referable)
    elif isinstance(value, Mapping):
        for item in value.values():
            found += _references(item, referable)
    elif isinstance(value, list):
        for item in value:
            found += _references(item, referable)
    return list(dict.fromkeys(found))


def write_plan(evaluation: Evaluation, output: Path | None, project_dir: Path) -> int:
    """Write the plan document to `output` (atomically: a complete file or none) or stdout, and a one-line
    summary to stderr. Returns 0, or 2 when `output` would overwrite one of the preview's inputs or cannot be
    written."""
    from ml_infra import console

    document = plan_document(evaluation)
    text = json.dumps(document, indent=2) + "\n"
    count = len(document["planned_values"]["root_module"]["resources"])
    skipped = len(document["skipped"])
    if output is None:
        console.line(text.rstrip("\n"))
        console.line(f"{count} resources as Terraform plan JSON; {skipped} skipped (see `skipped`)", stderr=True)
        return 0
    target = output.resolve()
    root = project_dir.resolve()
    inputs = {root / "Pulumi.yaml", root / "__main__.py", *root.glob("Pulumi.*.yaml")}
    if target in inputs or (root / "contracts") in target.parents:
        console.error(f"{output}: --output: would overwrite an input of the preview; choose a path outside them")
        return 2
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        console.error(f"{output}: --output: cannot be written ({error.strerror}); nothing was written")
        return 2
    console.line(
        f"wrote {count} resources as Terraform plan JSON to {output}; {skipped} skipped (see `skipped`)",
        stderr=True,
    )
    return 0
