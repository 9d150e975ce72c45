"""Model parameters and secrets in AWS SSM Parameter Store, under `/<project>/<env>/<model>/<key>`.

Per stack: one customer-managed KMS key (rotation on, explicit key policy, deletion window) that encrypts every
SecureString. Per model: one parameter per key (String, StringList or SecureString), the declared schema
(`_schema`), the first release (`_release/initial`) and the active-release pointer (`_release/active`) that the
run-time library in `ml_infra.modelconfig` reads, and a customer-managed IAM policy that lets an application
read exactly that model's path and decrypt exactly that model's parameters with exactly that key, and one that
lets an operator run `ml-infra config` on that model (everything but the declared schema).

Ownership: Pulumi seeds values and owns which keys exist and their declared types (`_schema`). After the first
deployment values change at run time (`ml-infra config set / release / activate`), so the values of the key
parameters, the initial release and the pointer are `ignore_changes`: neither `pulumi up` nor `pulumi refresh`
followed by `pulumi up` reverts an operator's change.

SecureString plaintext never reaches Pulumi state: it is sent through the provider's write-only `value_wo`,
and rewritten only when the parameter's `secretVersion` is bumped in the stack config. Before its secret is
set, a stack previews with the SecureString's value unknown (`pending_secret`); `pulumi up` refuses to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from ml_infra.aws_kms import customer_managed_key
from ml_infra.modelconfig.layout import (
    SCHEMA_SUFFIX,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
    SsmType,
    active_release_parameter_name,
    model_path,
    parameter_name,
    pointer_for,
    release_parameter_name,
    schema_parameter_name,
)
from ml_infra.stack_config import ModelConfig, ParameterConfig, ssm_tier_for

INITIAL_RELEASE_ID = "initial"

_SSM_TYPES = {
    "String": aws.ssm.ParameterType.STRING,
    "StringList": aws.ssm.ParameterType.STRING_LIST,
    "SecureString": aws.ssm.ParameterType.SECURE_STRING,
}

# What the run-time library changes after the first deployment, and Pulumi must therefore not revert: the value,
# and the tier, which it raises to Advanced when a new value or the pointer document outgrows 4 KB.
RUNTIME_OWNED = ["value", "tier"]


def pending_secret() -> pulumi.Output[str]:
    """The value of a SecureString whose secret config key is not set yet, in a dry run only: unknown, and secret.

    Why: the Pulumi CLI decrypts every `secure:` config value before the program starts, so a stack file can
    commit no placeholder ciphertext; a new stack therefore has no value for the secret until an operator runs
    `pulumi config set --secret`. A preview should still show everything else the stack declares, so the
    parameter is declared with its value unknown, exactly as a value computed by another resource would be.

    How: `pulumi.UNKNOWN` (the SDK's unknown value) wrapped by `Output.secret`: the Output is not known, the SDK
    serializes it as the engine's unknown sentinel inside a secret, and the engine and provider plan the
    parameter with its value "(unknown)" and "[secret]".

    Why it is safe: an unknown value exists only in a dry run. Nothing is written in a preview, and
    `build_stack_config` refuses an update (`pulumi up`) whose secret is unset before any resource is
    declared, naming the `pulumi config set --secret ... --stack ...` command; so no SecureString is ever
    created empty or with a made-up value, and no plaintext reaches the state or a log.
    """
    if not pulumi.runtime.is_dry_run():
        raise RuntimeError("a pending secret exists only in a preview; build_stack_config refuses the update")
    return cast("pulumi.Output[str]", pulumi.Output.secret(pulumi.UNKNOWN))


def _secure_value(parameter: ParameterConfig) -> pulumi.Output[str] | None:
    if parameter.secret is None:
        return None
    if parameter.secret.value is None:
        return pending_secret()
    return pulumi.Output.secret(parameter.secret.value.get_secret_value())


@dataclass
class ModelParametersArgs:
    project: str
    environment: str
    models: Mapping[str, ModelConfig]
    kms_deletion_window_days: int
    protect: bool


class ModelParameters(pulumi.ComponentResource):
    """The SSM parameters of every model of a stack, their KMS key and their read policies."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    parameters: dict[str, dict[str, aws.ssm.Parameter]]
    schemas: dict[str, aws.ssm.Parameter]
    initial_releases: dict[str, aws.ssm.Parameter]
    active_releases: dict[str, aws.ssm.Parameter]
    read_policies: dict[str, aws.iam.Policy]
    read_policy_documents: dict[str, pulumi.Output[str]]
    operate_policies: dict[str, aws.iam.Policy]
    operate_policy_documents: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ModelParametersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:ssm_params:ModelParameters", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self))
        self.key = customer_managed_key(
            f"{name}-key",
            description=f"Encrypts the SecureString model parameters of {args.project}/{args.environment}.",
            deletion_window_days=args.kms_deletion_window_days,
            partition=partition.partition,
            account=identity.account_id,
            opts=stateful,
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.project}-{args.environment}-model-parameters",
            target_key_id=self.key.key_id,
            opts=child,
        )

        self.parameters = {}
        self.schemas = {}
        self.initial_releases = {}
        self.active_releases = {}
        self.read_policies = {}
        self.read_policy_documents = {}
        self.operate_policies = {}
        self.operate_policy_documents = {}
        for model, model_config in args.models.items():
            self._declare_model(name, args, model, model_config, region.region, identity.account_id, partition)

        self.register_outputs(
            {
                "key_arn": self.key.arn,
                "read_policy_arns": {model: policy.arn for model, policy in self.read_policies.items()},
                "operate_policy_arns": {model: policy.arn for model, policy in self.operate_policies.items()},
            }
        )

    def _declare_model(
        self,
        name: str,
        args: ModelParametersArgs,
        model: str,
        model_config: ModelConfig,
        region: pulumi.Output[str],
        account_id: pulumi.Output[str],
        partition: pulumi.Output[aws.GetPartitionResult],
    ) -> None:
        project, env = args.project, args.environment
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        runtime_owned = pulumi.ResourceOptions(parent=self, protect=args.protect, ignore_changes=RUNTIME_OWNED)

        declared: dict[str, aws.ssm.Parameter] = {}
        for key, parameter in model_config.parameters.items():
            secure = parameter.type == "SecureString"
            declared[key] = aws.ssm.Parameter(
                f"{name}-{model}-{key}",
                name=parameter_name(project, env, model, key),
                type=_SSM_TYPES[parameter.type],
                description=parameter.description or None,
                tier=parameter.tier,
                allowed_pattern=parameter.allowed_pattern,
                value=None if secure else parameter.stored_text(),
                key_id=self.key.arn if secure else None,
                # Write-only: sent to AWS, never stored in Pulumi state; rewritten when the version changes.
                value_wo=_secure_value(parameter) if secure else None,
                value_wo_version=parameter.secret_version if secure else None,
                # A SecureString is written only when its secretVersion changes, so it has no value to ignore.
                opts=stateful if secure else runtime_owned,
            )
        self.parameters[model] = declared

        schema = ModelSchema(
            project=project,
            environment=env,
            model=model,
            keys={key: parameter.key_schema() for key, parameter in model_config.parameters.items()},
        )
        schema_text = schema.model_dump_json()
        self.schemas[model] = aws.ssm.Parameter(
            f"{name}-{model}-schema",
            name=schema_parameter_name(project, env, model),
            type=aws.ssm.ParameterType.STRING,
            value=schema_text,
            tier=ssm_tier_for(len(schema_text.encode("utf-8"))),
            description=f"Declared configuration keys of model {model} (owned by Pulumi).",
            opts=stateful,
        )

        ssm_types: dict[str, SsmType] = {key: parameter.type for key, parameter in model_config.parameters.items()}
        versions = {key: parameter.version for key, parameter in declared.items()}

        def initial_release(resolved: Mapping[str, int]) -> str:
            return ReleaseDocument(
                release_id=INITIAL_RELEASE_ID,
                project=project,
                environment=env,
                model=model,
                keys={key: ReleasedKey(version=int(resolved[key]), ssm_type=ssm_types[key]) for key in resolved},
                created_by="pulumi",
                note="Seeded by the Pulumi program at the first deployment.",
            ).model_dump_json()

        release_text = pulumi.Output.all(**versions).apply(initial_release)
        # Both documents are a few hundred bytes per key; the Advanced tier is only needed past 4 KB, which a
        # model reaches at about 60 keys. The size is known before deployment from the key names alone.
        estimated = len(initial_release({key: 1 for key in declared}).encode("utf-8")) + 8 * len(declared)
        release_tier = ssm_tier_for(estimated)
        self.initial_releases[model] = aws.ssm.Parameter(
            f"{name}-{model}-release-initial",
            name=release_parameter_name(project, env, model, INITIAL_RELEASE_ID),
            type=aws.ssm.ParameterType.STRING,
            value=release_text,
            tier=release_tier,
            description=f"The first release of model {model}, seeded by Pulumi (immutable).",
            opts=runtime_owned,
        )
        # The pointer names the initial release and the digest of exactly the text written above, as
        # `ml-infra config activate` would; the loader refuses a pointer whose digest does not match.
        pointer_text = release_text.apply(
            lambda text: pointer_for(ReleaseDocument.model_validate_json(text), text).model_dump_json()
        )
        self.active_releases[model] = aws.ssm.Parameter(
            f"{name}-{model}-release-active",
            name=active_release_parameter_name(project, env, model),
            type=aws.ssm.ParameterType.STRING,
            value=pointer_text,
            tier="Standard",
            description=f"The active release of model {model}; changed by `ml-infra config activate`.",
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                ignore_changes=RUNTIME_OWNED,
                depends_on=[self.initial_releases[model]],
            ),
        )

        path_arn = pulumi.Output.concat(
            "arn:", partition.partition, ":ssm:", region, ":", account_id, ":parameter", model_path(project, env, model)
        )
        parameters = [path_arn, pulumi.Output.concat(path_arn, "/*")]
        # SSM encrypts each SecureString with its own ARN as encryption context: the condition limits the key to
        # this model's parameters, used through SSM.
        through_ssm_for_this_model = {
            "StringEquals": {"kms:ViaService": pulumi.Output.concat("ssm.", region, ".amazonaws.com")},
            "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": pulumi.Output.concat(path_arn, "/*")},
        }
        read = [
            {
                "Sid": "ReadModelParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                "Resource": parameters,
            },
            {
                "Sid": "DecryptModelSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": self.key.arn,
                "Condition": through_ssm_for_this_model,
            },
        ]
        # What `ml-infra config` needs to stage values, create, activate and roll back releases and read their
        # history. The declared schema stays Pulumi's: operators may not write it.
        operate = [
            {
                "Sid": "OperateModelConfiguration",
                "Effect": "Allow",
                "Action": [
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:GetParametersByPath",
                    "ssm:GetParameterHistory",
                    "ssm:PutParameter",
                    "ssm:LabelParameterVersion",
                    "ssm:UnlabelParameterVersion",
                ],
                "Resource": parameters,
            },
            {
                # `ml-infra config retire` deletes retired release documents (and nothing else).
                "Sid": "RetireReleases",
                "Effect": "Allow",
                "Action": "ssm:DeleteParameter",
                "Resource": pulumi.Output.concat(path_arn, "/_release/*"),
            },
            {
                # ssm:DescribeParameters supports no resource-level permission; it returns metadata (names,
                # versions, labels), never values.
                "Sid": "DescribeParameterVersions",
                "Effect": "Allow",
                "Action": "ssm:DescribeParameters",
                "Resource": "*",
            },
            {
                "Sid": "UseKeyForModelSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": self.key.arn,
                "Condition": through_ssm_for_this_model,
            },
            {
                "Sid": "DeclaredSchemaIsPulumis",
                "Effect": "Deny",
                "Action": [
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                    "ssm:LabelParameterVersion",
                    "ssm:UnlabelParameterVersion",
                ],
                "Resource": pulumi.Output.concat(path_arn, "/", SCHEMA_SUFFIX),
            },
            {
                # The pointer is replaced by activation, never deleted (a deleted pointer would stop every load).
                "Sid": "PointerIsNeverDeleted",
                "Effect": "Deny",
                "Action": "ssm:DeleteParameter",
                "Resource": pulumi.Output.concat(path_arn, "/_release/active"),
            },
        ]
        for kind, statements, description in (
            ("read", read, f"Read the configuration of model {model} in {env} and decrypt its secrets."),
            ("operate", operate, f"Stage, release, activate and roll back the configuration of {model} in {env}."),
        ):
            document = pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})
            policy = aws.iam.Policy(
                f"{name}-{model}-{kind}",
                name=f"{project}-{env}-{model}-{kind}-config",
                description=description,
                policy=document,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if kind == "read":
                self.read_policy_documents[model], self.read_policies[model] = document, policy
            else:
                self.operate_policy_documents[model], self.operate_policies[model] = document, policy
