"""The stack configuration: one typed model of everything a stack's `Pulumi.<stack>.yaml` may say, validated in
one place before any resource is declared.

`build_stack_config` takes the raw Pulumi config of one project namespace (values as the engine delivers them:
strings, objects as JSON text) and the set of keys that are secret, and returns a checked `StackConfig` or
raises `ConfigError` listing every problem at once, each naming the config key, the bad value (secrets
redacted) and what is allowed. Components receive the checked model, never `pulumi.Config`.

This module imports no Pulumi SDK: the offline preview, the tests and the README's config reference all use it
as it is.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ml_infra import cloud_limits
from ml_infra.modelconfig.layout import (
    KEY_PATTERN,
    MODEL_NAME_PATTERN,
    RESERVED_PREFIX,
    KeySchema,
    ReleasedKey,
    ReleaseDocument,
    SsmType,
    ValueType,
)
from ml_infra.modelconfig.values import ValueProblem, allowed_pattern_problem, parse_value

Environment = Literal["dev", "staging", "prod"]

# SSM Parameter Store's size limits per tier: values up to 4 KB fit the free Standard tier, up to 8 KB need
# the Advanced tier, larger values are refused by the service.
SSM_STANDARD_MAX_BYTES = 4096
SSM_ADVANCED_MAX_BYTES = 8192

# One tag set is applied on all three clouds, so tags follow the strictest rules of the three (GCP labels).
TAG_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
TAG_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
SECRET_KEY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
AWS_ACCOUNT_ID = re.compile(r"^\d{12}$")
GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
GCP_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
AZURE_LOCATION = re.compile(r"^[a-z][a-z0-9]{2,39}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

REDACTED = "[redacted]"


class _Strict(BaseModel):
    """Base of every config section: camelCase keys as in the stack file, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, hide_input_in_errors=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _yaml12_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads "yes", "on", "1", "t" as true and true as the integer 1. The Pulumi CLI reads
        # stack files as YAML 1.2, where only true/false are booleans, and hands them to the program as the
        # text "true"/"false": anything else is a mistake (a quoted "yes" is text), refused here.
        field = cls.model_fields.get(info.field_name or "")
        annotation = field.annotation if field is not None else None
        if annotation in (bool, bool | None) and value is not None and not isinstance(value, bool):
            if value in ("true", "false"):
                return value == "true"
            raise ValueError("must be true or false; YAML 1.2 booleans only: yes/no/on/off and quoted values are text")
        if annotation in (int, int | None, float, float | None) and isinstance(value, bool):
            raise ValueError("must be a number, not true/false")
        return value


def _matching(pattern: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"must be {allowed}")
        return value

    return AfterValidator(check)


class SecretRef:
    """A SecureString's value: the name of the secret config key that holds it, and the decrypted value.

    Only `build_stack_config` creates these, from the config the engine delivers; a stack file cannot write
    one, so a plaintext secret can never enter the model from YAML.

    `value` is None only in a dry run (`pulumi preview`) whose stack has not set the secret yet: the program
    then declares the SecureString with an unknown value (see `ml_infra.ssm_params.pending_secret`). An update
    (`pulumi up`) never gets here without the value: `build_stack_config` refuses it first.
    """

    __slots__ = ("config_key", "value")

    def __init__(self, config_key: str, value: SecretStr | None):
        self.config_key = config_key
        self.value = value

    @property
    def pending(self) -> bool:
        """True when the secret is not set yet (dry runs only)."""
        return self.value is None

    def __repr__(self) -> str:
        return f"SecretRef({self.config_key!r}, {REDACTED if self.value is not None else 'pending'})"


def set_secret_command(name: str, stack: str) -> str:
    """The exact command that stores secret config key `name` for `stack`, encrypted with the stack's key."""
    return f"pulumi config set --secret {name} <value> --stack {stack}"


def _parameter_size_problem(size: int) -> str | None:
    if size > SSM_ADVANCED_MAX_BYTES:
        return f"is {size} bytes; SSM parameters hold at most {SSM_ADVANCED_MAX_BYTES} bytes (Advanced tier)"
    return None


def ssm_tier_for(size: int) -> Literal["Standard", "Advanced"]:
    """The cheapest SSM tier that holds a value of `size` bytes (UTF-8)."""
    return "Standard" if size <= SSM_STANDARD_MAX_BYTES else "Advanced"


_DEFAULT_VALUE_TYPE: dict[str, ValueType] = {"String": "string", "StringList": "list", "SecureString": "secret"}
_ALLOWED_VALUE_TYPES: dict[str, set[str]] = {
    "String": {"string", "integer", "number", "boolean", "json"},
    "StringList": {"list"},
    "SecureString": {"secret"},
}


class ParameterConfig(_Strict):
    """One configuration key of a model, stored as one SSM parameter."""

    type: SsmType = Field("String", description="SSM type: String, StringList or SecureString.")
    value: str | None = Field(None, description="String only: the value (numbers and booleans are written as text).")
    values: list[str] | None = Field(None, description="StringList only: the items (no commas inside an item).")
    secret: SecretRef | None = Field(
        None,
        description="SecureString only: the name of the secret config key holding the value "
        "(`pulumi config set --secret <name> <value> --stack <stack>`).",
    )
    secret_version: int = Field(
        1, ge=1, description="SecureString only: bump after changing the secret so the new value is written."
    )
    value_type: ValueType | None = Field(
        None,
        description="Type applications load: string, integer, number, boolean, json (String); list (StringList); "
        "secret (SecureString). Default from the SSM type.",
    )
    description: str = Field("", max_length=1024, description="Shown in SSM and in the run-time tools.")
    allowed_pattern: str | None = Field(
        None,
        description="Regular expression the whole value must match, checked on RE2 (linear time) everywhere; the "
        "syntax RE2 and Java (SSM) share, no look-around or back-references.",
    )
    minimum: float | None = Field(
        None, allow_inf_nan=False, description="integer/number only: smallest allowed value."
    )
    maximum: float | None = Field(None, allow_inf_nan=False, description="integer/number only: largest allowed value.")
    allowed_values: list[str] | None = Field(None, min_length=1, description="string only: the allowed values.")

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("value", mode="before")
    @classmethod
    def _scalar_as_text(cls, value: Any) -> Any:
        # YAML gives numbers and booleans; SSM stores text. Booleans are written the way the loader reads them.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    @field_validator("values")
    @classmethod
    def _list_items(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        if not values:
            raise ValueError("must have at least one item (SSM refuses an empty StringList)")
        for index, item in enumerate(values):
            if "," in item:
                raise ValueError(f"item {index} ({item!r}) contains a comma; StringList items are comma-separated")
            if not item:
                raise ValueError(f"item {index} is empty; StringList items must be non-empty")
        return values

    @field_validator("secret", mode="before")
    @classmethod
    def _resolve_secret(cls, name: Any, info: ValidationInfo) -> Any:
        if name is None:
            return None
        if not isinstance(name, str) or not SECRET_KEY_NAME.match(name):
            raise ValueError("must be the name of a secret config key (letters, digits, '-', '_')")
        context = info.context or {}
        project = context.get("project", "<project>")
        stack = context.get("stack", "<stack>")
        secret_values: Mapping[str, str] = context.get("secret_values", {})
        plain_keys: set[str] = context.get("plain_keys", set())
        if name in plain_keys:
            raise ValueError(
                f"names config key '{project}:{name}', which is stored in plain text; store it encrypted with "
                f"`{set_secret_command(name, stack)}`"
            )
        if name not in secret_values:
            if context.get("dry_run", False):
                # A preview may run before the secret exists: the SecureString is declared with an unknown value.
                return SecretRef(name, None)
            raise ValueError(
                f"names config key '{project}:{name}', which is not set; `pulumi up` cannot write the "
                f"SecureString without it; set it with `{set_secret_command(name, stack)}`"
            )
        return SecretRef(name, SecretStr(secret_values[name]))

    @field_validator("allowed_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        # The engine and the syntax that every check of this pattern uses (preview, `config set`, the loader).
        problem = allowed_pattern_problem(pattern) if pattern is not None else None
        if problem is not None:
            raise ValueError(problem)
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> ParameterConfig:
        problems: list[str] = []
        given = {
            "value": self.value is not None,
            "values": self.values is not None,
            "secret": self.secret is not None,
        }
        needed = {"String": "value", "StringList": "values", "SecureString": "secret"}[self.type]
        if not given[needed]:
            problems.append(f"a {self.type} parameter needs `{needed}`")
        for other in sorted(k for k, v in given.items() if v and k != needed):
            if self.type == "SecureString" and other == "value":
                problems.append(
                    "a SecureString takes its value from the secret config key named by `secret`; `value` would "
                    "put the secret in the stack file in plain text"
                )
            else:
                problems.append(f"`{other}` does not apply to a {self.type} parameter (use `{needed}`)")
        value_type = self.value_type or _DEFAULT_VALUE_TYPE[self.type]
        if value_type not in _ALLOWED_VALUE_TYPES[self.type]:
            allowed = ", ".join(sorted(_ALLOWED_VALUE_TYPES[self.type]))
            problems.append(f"valueType {value_type!r} does not fit a {self.type}; allowed: {allowed}")
        if (self.minimum is not None or self.maximum is not None) and value_type not in ("integer", "number"):
            problems.append("minimum/maximum apply only to valueType integer or number")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            problems.append(f"minimum ({self.minimum:g}) is above maximum ({self.maximum:g}); no value could pass")
        if self.allowed_values is not None and value_type != "string":
            problems.append("allowedValues applies only to valueType string")
        if problems:
            raise ValueError("; ".join(problems))

        text = self.stored_text(reveal=True)
        if text is None:  # pragma: no cover - excluded by the checks above
            return self
        # The run-time library's own conversion: a value Pulumi seeds is one the loader can load.
        try:
            value = parse_value(text, self.key_schema())
        except ValueProblem as problem:
            raise ValueError(str(problem)) from None
        if isinstance(value, float) and not math.isfinite(value):
            # NaN passes every minimum/maximum comparison, and JSON (the loader's consumers) has no NaN or inf.
            raise ValueError(f"value {text!r} is not a finite number; allowed: finite numbers only")
        return self

    def key_schema(self) -> KeySchema:
        """What the `_schema` document declares for this key."""
        return KeySchema(
            ssm_type=self.type,
            value_type=self.effective_value_type,
            description=self.description,
            allowed_pattern=self.allowed_pattern,
            minimum=self.minimum,
            maximum=self.maximum,
            allowed_values=self.allowed_values,
        )

    @property
    def effective_value_type(self) -> ValueType:
        return self.value_type or _DEFAULT_VALUE_TYPE[self.type]

    def stored_text(self, *, reveal: bool = False) -> str | None:
        """The text SSM stores. A SecureString's text is returned only with reveal=True."""
        if self.type == "String":
            return self.value
        if self.type == "StringList":
            return ",".join(self.values or [])
        if self.secret is None or self.secret.value is None:
            return None
        return self.secret.value.get_secret_value() if reveal else REDACTED

    @property
    def tier(self) -> Literal["Standard", "Advanced"]:
        text = self.stored_text(reveal=True) or ""
        return ssm_tier_for(len(text.encode("utf-8")))


def _check_parameter_key(key: str) -> str:
    if key.startswith(RESERVED_PREFIX):
        raise ValueError(f"key {key!r} starts with '{RESERVED_PREFIX}', which is reserved for releases")
    if not KEY_PATTERN.match(key):
        raise ValueError(f"key {key!r} must be 1-128 characters: letters, digits, '_', '.', '-'")
    return key


def _check_model_name(name: str) -> str:
    if not MODEL_NAME_PATTERN.match(name):
        raise ValueError(
            f"model name {name!r} must be 1-63 characters: lower-case letters, digits and '-', starting with a letter"
        )
    return name


ParameterKey = Annotated[str, AfterValidator(_check_parameter_key)]
ModelName = Annotated[str, AfterValidator(_check_model_name)]


class ModelConfig(_Strict):
    """A model served by the platform, and its configuration keys."""

    description: str = Field("", max_length=512, description="What the model is for.")
    parameters: dict[ParameterKey, ParameterConfig] = Field(
        default_factory=dict, description="Configuration keys, stored at /<project>/<env>/<model>/<key>."
    )
    config_backend: Literal["ssm", "azure"] = Field(
        "ssm",
        description="Where `ml-infra config` releases, activates and rolls back this model: SSM Parameter Store "
        "or Azure App Configuration (needs azureEnabled).",
    )

    @model_validator(mode="after")
    def _release_fits_one_parameter(self) -> ModelConfig:
        # A release lists every key with its version in one SSM parameter, so activation is one write. Measure
        # the largest such document this model can produce (long names, seven-digit versions).
        document = ReleaseDocument(
            release_id="r" * 100,
            project="p" * 64,
            environment="staging",
            model="m" * 63,
            keys={key: ReleasedKey(version=9_999_999, ssm_type=p.type) for key, p in self.parameters.items()},
            created_at="2026-01-01T00:00:00.000000+00:00",
            created_by="arn:aws:sts::123456789012:assumed-role/" + "r" * 64 + "/" + "s" * 64,
            parent_release_id="r" * 100,
            note="n" * 256,
        )
        size = len(document.model_dump_json().encode("utf-8"))
        if size > SSM_ADVANCED_MAX_BYTES:
            raise ValueError(
                f"has {len(self.parameters)} keys: a release of them could reach {size} bytes, more than the "
                f"{SSM_ADVANCED_MAX_BYTES} bytes of one SSM parameter; split the model or use shorter key names"
            )
        return self


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _check_aws_region(value: str) -> str:
    # botocore's partitions.json: the regions that exist, so a typo such as eu-wset-1 fails here, not at `up`.
    regions = cloud_limits.aws_regions()
    if value not in regions:
        commercial = ", ".join(sorted(r for r, partition in regions.items() if partition == "aws"))
        raise ValueError(
            f"is not an AWS region{_suggest(value, regions)}; allowed: a region of botocore's partitions, "
            f"e.g. {commercial}"
        )
    return value


class AwsSettings(_Strict):
    region: Annotated[str, AfterValidator(_check_aws_region)] = Field(
        description="Region of every AWS resource (explicit provider)."
    )
    account_id: Annotated[str, _matching(AWS_ACCOUNT_ID, "a 12-digit AWS account id")] | None = Field(
        None, description="The only account the provider may deploy to. Required in prod."
    )


class FeatureOnlineStoreSettings(_Strict):
    enabled: bool = Field(
        True,
        description="Deploy the Vertex AI feature online store. Its Bigtable nodes bill every hour, traffic or not "
        "(at least minNodeCount of them); turn it off in stacks that serve no online features.",
    )
    min_node_count: int = Field(1, ge=1, le=1000, description="Bigtable autoscaling: fewest nodes.")
    max_node_count: int = Field(3, ge=1, le=1000, description="Bigtable autoscaling: most nodes.")
    cpu_utilization_target: int = Field(60, ge=10, le=80, description="Bigtable autoscaling: target CPU percent.")

    @model_validator(mode="after")
    def _bounds(self) -> FeatureOnlineStoreSettings:
        if self.max_node_count < self.min_node_count:
            raise ValueError(
                f"maxNodeCount ({self.max_node_count}) must be at least minNodeCount ({self.min_node_count})"
            )
        return self


class GcpSettings(_Strict):
    project: Annotated[str, _matching(GCP_PROJECT_ID, "a GCP project id (6-30 lower-case letters, digits, '-')")] = (
        Field(description="Project of every GCP resource (explicit provider).")
    )
    region: Annotated[str, _matching(GCP_REGION, "a GCP region such as europe-west4")] = Field(
        description="Region of the Vertex AI resources and their KMS key ring."
    )
    key_rotation_days: int = Field(90, ge=1, le=365, description="Rotation period of the Vertex AI CMEK key.")
    feature_online_store: FeatureOnlineStoreSettings = Field(
        default_factory=lambda: FeatureOnlineStoreSettings.model_validate({}),
        description="Vertex AI feature online store sizing.",
    )


class AzureSettings(_Strict):
    location: Annotated[str, _matching(AZURE_LOCATION, "an Azure location such as westeurope")] = Field(
        description="Location of every Azure resource (explicit provider)."
    )
    subscription_id: Annotated[str, _matching(UUID, "an Azure subscription id (a UUID)")] | None = Field(
        None, description="The subscription to deploy to. Required in prod."
    )
    sku: Literal["free", "standard", "premium"] = Field(
        "standard",
        description="App Configuration SKU. standard (billed per store and day, SLA, private endpoints, soft delete "
        "and purge protection) or premium; free costs nothing but has no SLA, no private endpoints, no soft delete "
        "or purge protection, a small daily request quota and one free store per subscription and region: refused "
        "in prod, and only with allowPublicNetworkAccess true.",
    )
    soft_delete_retention_days: int = Field(
        7, ge=1, le=7, description="Days a deleted App Configuration store can be recovered (standard and premium)."
    )

    # App Configuration RBAC is store-wide: these roles cover every key of every model in the store.
    operator_principal_ids: list[Annotated[str, _matching(UUID, "an Entra object id (a UUID)")]] = Field(
        [],
        description="Entra object ids of the operators (users, groups, CI identities) that run `ml-infra config` "
        "on Azure: granted App Configuration Data Owner on the whole store.",
    )
    application_principal_ids: list[Annotated[str, _matching(UUID, "an Entra object id (a UUID)")]] = Field(
        [],
        description="Entra object ids of the applications (managed identities) that load model configuration: "
        "granted App Configuration Data Reader on the whole store.",
    )

    @model_validator(mode="after")
    def _free_has_no_soft_delete(self) -> AzureSettings:
        if self.sku == "free" and "soft_delete_retention_days" in self.model_fields_set:
            raise ValueError("softDeleteRetentionDays does not apply to the free SKU, which has no soft delete")
        return self


# SageMaker instance families with local NVMe instance storage. SageMaker refuses a `KmsKeyId` on their
# endpoint configurations (their local volumes are encrypted by the instance's hardware module): families with
# a "d" after the generation (m5d, c6id, r6gd, g4dn, p4d, ...) and these accelerated families.
NVME_FAMILIES = frozenset({"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2", "dl1"})
INSTANCE_TYPE = re.compile(r"^ml\.(?P<family>[a-z]+(?P<generation>\d+)(?P<suffix>[a-z-]*))\.(?P<size>[0-9a-z]+)$")
PREVIOUS_GENERATION = frozenset({"t2", "m4", "c4", "p2", "p3", "g4dn", "inf1", "m5", "c5", "r5", "m5d", "c5d", "r5d"})
ECR_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*(:[\w.-]{1,128}|@sha256:[a-f0-9]{64})$"
)
S3_MODEL_ARTIFACT = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+\.tar\.gz)$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
COGNITO_USER_POOL_ID = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d_[0-9a-zA-Z]+$")


def has_local_nvme(instance_type: str) -> bool:
    match = INSTANCE_TYPE.match(instance_type)
    if match is None:
        return False
    return "d" in match["suffix"] or match["family"] in NVME_FAMILIES


def _check_instance_type(value: str) -> str:
    match = INSTANCE_TYPE.match(value)
    if match is None:
        raise ValueError("must be a SageMaker instance type such as ml.m7i.xlarge")
    if match["family"] in PREVIOUS_GENERATION:
        raise ValueError(
            f"{match['family']} is a previous-generation family; use a current one such as ml.m7i or ml.g6"
        )
    # The enum of SageMaker's service model (botocore): the instance types an endpoint variant accepts.
    offered = cloud_limits.sagemaker_instance_types()
    if value not in offered:
        family = sorted(t for t in offered if t.startswith(f"ml.{match['family']}."))
        allowed = ", ".join(family) if family else "see `ProductionVariantInstanceType` in the SageMaker API"
        raise ValueError(
            f"is not an instance type SageMaker endpoints offer{_suggest(value, offered)}; allowed: {allowed}"
        )
    return value


# S3's bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html): the
# pattern above covers length and characters; these are the rules a pattern cannot say well.
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def _bucket_problem(bucket: str) -> str | None:
    wrong = (
        "has two adjacent periods" if ".." in bucket else
        "is formatted as an IP address" if _IP_ADDRESS.match(bucket) else
        "has a prefix S3 reserves" if bucket.startswith(_S3_RESERVED_PREFIXES) else
        "has a suffix S3 reserves" if bucket.endswith(_S3_RESERVED_SUFFIXES) else
        None
    )
    if wrong is None:
        return None
    return (
        f"bucket {bucket!r} {wrong}; allowed: S3 bucket names (3-63 lower-case letters, digits, '.' and '-', "
        "no '..', not an IP address, no xn--/sthree- prefix or -s3alias/--ol-s3 suffix)"
    )


def _check_model_data_url(value: str) -> str:
    match = S3_MODEL_ARTIFACT.match(value)
    if match is None:
        raise ValueError("must be an s3://bucket/key.tar.gz model artifact")
    problem = _bucket_problem(match["bucket"])
    if problem:
        raise ValueError(problem)
    if "//" in match["key"] or match["key"].startswith("/"):
        raise ValueError(f"key {match['key']!r} has an empty path segment; allowed: s3://bucket/prefix/model.tar.gz")
    return value


def _check_log_retention(value: int) -> int:
    # CloudWatch Logs accepts only these periods (the `Days` shape of botocore's Logs model lists them).
    allowed = cloud_limits.log_retention_days()
    if value not in allowed:
        raise ValueError(
            f"is not a retention period CloudWatch Logs offers; allowed: {', '.join(map(str, allowed))} (days)"
        )
    return value


class DataCaptureSettings(_Strict):
    enabled: bool = Field(
        True,
        description="Capture requests and responses to the stack's bucket (what model monitoring reads). Must be "
        "false with serverless, which does not support data capture.",
    )
    sampling_percentage: int = Field(20, ge=1, le=100, description="Percent of requests whose data is captured.")
    capture_inputs: bool = Field(True, description="Capture request payloads.")
    capture_outputs: bool = Field(True, description="Capture response payloads.")
    retention_days: int = Field(30, ge=1, le=3650, description="Days captured data is kept before it expires.")

    @model_validator(mode="after")
    def _something_captured(self) -> DataCaptureSettings:
        if not (self.capture_inputs or self.capture_outputs):
            raise ValueError("captureInputs and captureOutputs are both false; capture at least one")
        return self


class AccessLogSettings(_Strict):
    enabled: bool = Field(
        True,
        description="Record every request to the capture bucket (S3 server access logs) in a hardened log bucket. "
        "Must be true in prod.",
    )
    retention_days: int = Field(365, ge=1, le=3650, description="Days access-log records are kept.")


# AWS managed rule groups the API's web ACL may use (vendor AWS): the common rule set, known bad inputs (Log4j and
# other exploit payloads), Amazon's IP reputation and anonymous-IP lists, and SQL injection.
ManagedRuleGroup = Literal[
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
    "AWSManagedRulesSQLiRuleSet",
]
DEFAULT_MANAGED_RULE_GROUPS: tuple[ManagedRuleGroup, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


class WafSettings(_Strict):
    enabled: bool = Field(
        True,
        description="Put an AWS WAF web ACL in front of the API (a per-IP rate limit and AWS managed rule groups). "
        "Must be true in prod.",
    )
    rate_limit_per_five_minutes: int = Field(
        1000, ge=10, le=2_000_000_000, description="Requests one client IP may send in 5 minutes before it is blocked."
    )
    managed_rule_groups: list[ManagedRuleGroup] = Field(
        default_factory=lambda: list(DEFAULT_MANAGED_RULE_GROUPS),
        min_length=1,
        description="AWS managed rule groups evaluated for every request (blocking).",
    )
    log_retention_days: Annotated[int, AfterValidator(_check_log_retention)] = Field(
        365, description="Days the web ACL's request logs are kept: a period CloudWatch Logs offers."
    )

    @field_validator("managed_rule_groups")
    @classmethod
    def _distinct(cls, groups: list[str]) -> list[str]:
        if len(set(groups)) != len(groups):
            raise ValueError("lists a rule group twice; name each once")
        return groups


class VpcSettings(_Strict):
    subnet_ids: list[Annotated[str, _matching(SUBNET_ID, "a subnet id such as subnet-0abc1234")]] = Field(
        min_length=1, max_length=16, description="Private subnets the model containers run in."
    )
    security_group_ids: list[
        Annotated[str, _matching(SECURITY_GROUP_ID, "a security group id such as sg-0abc1234")]
    ] = Field(min_length=1, max_length=5, description="Security groups of the model containers.")


class EndpointAlarmSettings(_Strict):
    max_server_errors_per_minute: int = Field(
        5, ge=1, description="Invocation 5XX (server) errors per minute that trigger a rollback."
    )
    max_model_latency_ms: int = Field(1000, ge=1, description="Average model latency (ms) that triggers a rollback.")


class ServerlessSettings(_Strict):
    memory_size_in_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = Field(
        2048, description="Memory of each serverless worker (1024-6144 MB in 1 GB steps); compute bills per GB-second."
    )
    max_concurrency: int = Field(5, ge=1, le=200, description="Most concurrent invocations (1-200).")


# Settings that describe instances, which a serverless endpoint does not have.
INSTANCE_ONLY_SETTINGS = (
    "instance_type",
    "initial_instance_count",
    "min_instances",
    "max_instances",
    "target_invocations_per_instance",
    "volume_encryption",
)


class SageMakerSettings(_Strict):
    image_uri: Annotated[str, _matching(ECR_IMAGE, "an ECR image URI with a tag or digest")] = Field(
        description="Inference container image in ECR (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)."
    )
    model_data_url: Annotated[str, AfterValidator(_check_model_data_url)] = Field(
        description="Model artifact in S3 (s3://bucket/prefix/model.tar.gz)."
    )
    instance_type: Annotated[str, AfterValidator(_check_instance_type)] = Field(
        "ml.m7i.xlarge", description="Instance type of the production variant (current generation)."
    )
    initial_instance_count: int = Field(1, ge=1, le=100, description="Instances at creation.")
    min_instances: int = Field(1, ge=1, le=100, description="Autoscaling: fewest instances.")
    max_instances: int = Field(2, ge=1, le=100, description="Autoscaling: most instances.")
    target_invocations_per_instance: int = Field(
        100, ge=1, description="Autoscaling target: invocations per instance per minute."
    )
    volume_encryption: bool = Field(
        True,
        description="Encrypt the instances' storage volume with the endpoint's KMS key. Must be true in prod unless "
        "the instance type has (hardware-encrypted) local NVMe storage, where it must be false.",
    )
    data_capture: DataCaptureSettings = Field(
        default_factory=lambda: DataCaptureSettings.model_validate({}),
        description="Data capture to the stack's bucket.",
    )
    vpc: VpcSettings | None = Field(None, description="VPC of the model containers. Required in prod.")
    alarms: EndpointAlarmSettings = Field(
        default_factory=lambda: EndpointAlarmSettings.model_validate({}),
        description="Thresholds of the alarms that roll back a deployment.",
    )
    invoker_role_names: list[Annotated[str, _matching(IAM_ROLE_NAME, "an IAM role name")]] = Field(
        default_factory=list, description="IAM roles granted the invoke policy (the only principals that may invoke)."
    )
    serverless: ServerlessSettings | None = Field(
        None,
        description="Serve with SageMaker Serverless Inference instead of instances: scales to zero, so an idle "
        "endpoint costs nothing, at the price of cold starts. AWS documents no VPC, no network isolation and no data "
        "capture for serverless endpoints, so it needs networkIsolation false and dataCapture.enabled false, takes no "
        "vpc and no instance settings, and is refused in prod.",
    )
    network_isolation: bool = Field(
        True,
        description="Run the model container with no network access. Only false with serverless, which does not "
        "support it.",
    )
    access_logs: AccessLogSettings = Field(
        default_factory=lambda: AccessLogSettings.model_validate({}),
        description="Access logging of the capture bucket, which holds captured inference payloads.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SageMakerSettings:
        problems = []
        if self.serverless is not None:
            # AWS documents these as unsupported on serverless endpoints: refused rather than silently dropped.
            if self.vpc is not None:
                problems.append("serverless endpoints do not support a VPC; remove vpc or serverless")
            if self.network_isolation:
                problems.append(
                    "serverless endpoints do not support network isolation; set networkIsolation to false to accept "
                    "that, or remove serverless"
                )
            if self.data_capture.enabled:
                problems.append(
                    "serverless endpoints do not support data capture; set dataCapture.enabled to false to accept "
                    "that, or remove serverless"
                )
            instance_settings = sorted(to_camel(n) for n in INSTANCE_ONLY_SETTINGS if n in self.model_fields_set)
            if instance_settings:
                problems.append(
                    f"{', '.join(instance_settings)} describe instances, which serverless endpoints do not have"
                )
            if problems:
                raise ValueError("; ".join(problems))
            return self
        if not self.network_isolation:
            problems.append("networkIsolation can only be false with serverless, which does not support it")
        if not self.data_capture.enabled:
            problems.append("dataCapture.enabled can only be false with serverless, which does not support capture")
        if self.volume_encryption and has_local_nvme(self.instance_type):
            problems.append(
                f"instanceType {self.instance_type} has local NVMe storage, which its hardware encrypts and for which "
                "SageMaker refuses a KMS key; set volumeEncryption to false, or choose an instance type without "
                "local storage (e.g. ml.m7i, ml.c7i, ml.inf2)"
            )
        if self.max_instances < self.min_instances:
            problems.append(f"maxInstances ({self.max_instances}) must be at least minInstances ({self.min_instances})")
        if not self.min_instances <= self.initial_instance_count <= self.max_instances:
            problems.append(
                f"initialInstanceCount ({self.initial_instance_count}) must be between minInstances and maxInstances"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AppSyncSettings(_Strict):
    cognito_user_pool_id: Annotated[str, _matching(COGNITO_USER_POOL_ID, "a Cognito user pool id")] | None = Field(
        None, description="Also accept users of this Cognito user pool (AWS_IAM stays the default)."
    )
    api_key_enabled: bool = Field(False, description="Also accept an API key. Refused in prod.")
    api_key_expires_in_days: int = Field(7, ge=1, le=365, description="Lifetime of the API key.")
    field_log_level: Literal["ERROR", "ALL"] = Field(
        "ERROR", description="Field-level log level (ALL only outside prod)."
    )
    query_depth_limit: int = Field(10, ge=1, le=75, description="Deepest query the API accepts.")
    resolver_count_limit: int = Field(1000, ge=1, le=10000, description="Most resolvers one query may run.")
    introspection_enabled: bool = Field(False, description="Allow schema introspection. Refused in prod.")
    log_retention_days: Annotated[int, AfterValidator(_check_log_retention)] = Field(
        90, description="Days the API's CloudWatch logs are kept: a period CloudWatch Logs offers (1, 3, 5, 7, 14, "
        "30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
    )
    waf: WafSettings = Field(
        default_factory=lambda: WafSettings.model_validate({}),
        description="AWS WAF in front of the API: rate limiting and managed rule groups.",
    )


# S3 locations of the contract job: a bucket and a key prefix of at least one segment (a job never reads or
# writes a whole bucket), without a trailing slash; the wheel it installs is an object ending in .whl.
S3_PREFIX = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^*?\[\]]+?)/?$")
S3_WHEEL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^*?\[\]]+\.whl)$")
CONTRACT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def _check_s3_prefix(value: str) -> str:
    match = S3_PREFIX.match(value)
    if match is None:
        raise ValueError("must be s3://bucket/prefix (a prefix of at least one segment, no wildcards)")
    problem = _bucket_problem(match["bucket"])
    if problem:
        raise ValueError(problem)
    if "//" in match["key"] or match["key"].startswith("/"):
        raise ValueError(f"prefix {match['key']!r} has an empty path segment; allowed: s3://bucket/data/2024-05")
    return value.rstrip("/")


def _check_s3_wheel(value: str) -> str:
    match = S3_WHEEL.match(value)
    if match is None:
        raise ValueError("must be the s3:// location of this project's wheel (s3://bucket/prefix/ml_infra-...whl)")
    problem = _bucket_problem(match["bucket"])
    if problem:
        raise ValueError(problem)
    return value


S3Prefix = Annotated[str, AfterValidator(_check_s3_prefix)]


def s3_prefix_parts(url: str) -> tuple[str, str]:
    """(bucket, key prefix without a trailing slash) of a checked S3Prefix or wheel location."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.rstrip("/")


def _overlaps(a: str, b: str) -> bool:
    """Whether one S3 prefix lies in the other (a prefix of `valid` also covers `valid.staging-*` beside it)."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/") or \
        a.startswith(b + ".") or b.startswith(a + ".")


class ContractJobSettings(_Strict):
    contract: Annotated[str, _matching(CONTRACT_NAME, "a contract name of contracts/ (its file name stem)")] = Field(
        description="The contract the job validates against: a schema of the stack's Glue registry (a file in "
        "contracts/)."
    )
    schema_version: int | None = Field(
        None, ge=1, description="Registry version of the contract to use; none: the latest available version."
    )
    input_url: S3Prefix = Field(description="s3://bucket/prefix of the JSON lines to validate (read only).")
    valid_output_url: S3Prefix = Field(
        description="s3://bucket/prefix the valid lines are written to (a new folder per run; its staging folder "
        "sits beside it)."
    )
    rejected_output_url: S3Prefix = Field(description="s3://bucket/prefix the rejected records are written to.")
    library_wheel_url: Annotated[str, AfterValidator(_check_s3_wheel)] = Field(
        description="s3:// location of this project's wheel (`pip wheel --no-deps .`), installed on every worker "
        "with --additional-python-modules."
    )
    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = Field(
        "G.1X", description="Glue worker type (G.1X: 4 vCPU, 16 GB, 1 DPU per worker)."
    )
    number_of_workers: int = Field(2, ge=2, le=299, description="Workers per run (a run bills DPU-hours).")
    timeout_minutes: int = Field(60, ge=1, le=2880, description="A run is stopped after this many minutes.")
    max_retries: int = Field(0, ge=0, le=10, description="Retries of a failed run.")
    fail_on_rejected: bool = Field(True, description="A run that rejects any record ends as failed.")
    log_retention_days: Annotated[int, AfterValidator(_check_log_retention)] = Field(
        365, description="Days the job's logs are kept: a period CloudWatch Logs offers (365 or more in prod)."
    )
    temporary_retention_days: int = Field(
        7, ge=1, le=365, description="Days Glue's temporary files (--TempDir in the job's bucket) are kept."
    )
    access_logs: AccessLogSettings = Field(
        default_factory=lambda: AccessLogSettings.model_validate({}),
        description="S3 server access logs of the job's bucket (script and temporary files). Required in prod.",
    )

    @model_validator(mode="after")
    def _apart(self) -> ContractJobSettings:
        places = {"inputUrl": self.input_url, "validOutputUrl": self.valid_output_url,
                  "rejectedOutputUrl": self.rejected_output_url}
        names = list(places)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if _overlaps(places[a], places[b]):
                    raise ValueError(
                        f"{a} {places[a]!r} and {b} {places[b]!r} overlap; the input and the two outputs must be "
                        "separate prefixes (outputs never overwrite inputs)"
                    )
        return self


def _endpoint_location_problem(settings: SageMakerSettings, aws: AwsSettings) -> str | None:
    """Where the endpoint runs and where its image lives must agree: SageMaker pulls an inference image only from
    ECR in the endpoint's own region, through the region's partition's domain; and in a stack pinned to an
    account, only from that account (another account's repository would need a policy this stack cannot see)."""
    if aws.region not in cloud_limits.service_regions("api.sagemaker"):
        return f"SageMaker has no endpoint in {aws.region} (botocore's endpoint data); choose another aws.region"
    image = image_location(settings.image_uri)
    partition = cloud_limits.aws_regions()[aws.region]
    suffix = cloud_limits.aws_dns_suffix(partition)
    if image.region != aws.region:
        return (
            f"imageUri is in ECR of {image.region}, but the endpoint runs in {aws.region}; allowed: an image in "
            f"{aws.region} (<account>.dkr.ecr.{aws.region}.{suffix}/<repository>:<tag>); copy or replicate it there"
        )
    if image.domain != suffix:
        return f"imageUri uses the domain {image.domain}, but {aws.region} is in partition {partition} ({suffix})"
    if aws.account_id is not None and image.account != aws.account_id:
        return (
            f"imageUri is in account {image.account}, but the stack deploys to account {aws.account_id}; allowed: an "
            f"image in {aws.account_id}'s ECR (replicate it there)"
        )
    return None


@dataclass(frozen=True)
class ImageLocation:
    account: str
    region: str
    domain: str
    repository: str


_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<domain>[a-z0-9.]+?)/(?P<repo>[^:@]+)"
)


def image_location(image_uri: str) -> ImageLocation:
    """Account, region, DNS domain and repository of an ECR image URI (already checked against ECR_IMAGE)."""
    match = _ECR_HOST.match(image_uri)
    if match is None:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    return ImageLocation(match["account"], match["region"], match["domain"], match["repo"])


def _check_tag_key(key: str) -> str:
    if not TAG_KEY.match(key):
        raise ValueError(f"tag key {key!r} must be 1-63 lower-case letters, digits, '_' or '-' (GCP label rules)")
    return key


def _check_tag_value(value: str) -> str:
    if not TAG_VALUE.match(value):
        raise ValueError(f"tag value {value!r} must be 0-63 lower-case letters, digits, '_' or '-' (GCP label rules)")
    return value


# The keys `standard_tags` sets on every resource; a user tag of the same key would silently replace them.
STANDARD_TAG_KEYS = frozenset({"project", "environment", "stack", "managed-by"})
# AWS (botocore's TagList) and Azure allow 50 tags per resource, GCP 64 labels: the standard ones come first.
MAX_USER_TAGS = min(cloud_limits.AZURE_MAX_TAGS, cloud_limits.AWS_MAX_TAGS) - len(STANDARD_TAG_KEYS)

TagKey = Annotated[str, AfterValidator(_check_tag_key)]
TagValue = Annotated[str, AfterValidator(_check_tag_value)]


class StackConfig(_Strict):
    """Everything one stack configures. Keys are the stack file's `ml-infra:<key>` entries."""

    project: str = Field(exclude=True, description="Pulumi project name (from Pulumi.yaml).")
    stack: str = Field(exclude=True, description="Pulumi stack name.")
    environment: Environment = Field(
        description="Environment tier: dev, staging or prod. prod enforces the hardened settings."
    )
    aws_enabled: bool = Field(True, description="Deploy the AWS part (SSM parameters, Glue contracts).")
    gcp_enabled: bool = Field(False, description="Deploy the GCP part (Vertex AI metadata and feature stores).")
    azure_enabled: bool = Field(False, description="Deploy the Azure part (App Configuration store).")
    protect_stateful_resources: bool = Field(
        True, description="Protect keys, registries, stores and parameters from deletion. Must be true in prod."
    )
    allow_public_network_access: bool = Field(
        False, description="Let the Azure App Configuration store accept public traffic. Must be false in prod."
    )
    kms_deletion_window_days: int = Field(
        30, ge=7, le=30, description="Days a deleted AWS KMS key can be recovered (7-30). Must be 30 in prod."
    )
    aws: AwsSettings | None = Field(
        None, validate_default=True, description="AWS settings. Required when awsEnabled is true."
    )
    gcp: GcpSettings | None = Field(
        None, validate_default=True, description="GCP settings. Required when gcpEnabled is true."
    )
    azure: AzureSettings | None = Field(
        None, validate_default=True, description="Azure settings. Required when azureEnabled is true."
    )
    budget_monthly_usd: int = Field(
        0,
        ge=0,
        description="Most the stack may cost per month left idle, in USD, as `ml-infra cost` estimates it from the "
        "repository's price file; the offline preview (and so CI) fails above it. 0: no budget.",
    )
    sagemaker_enabled: bool = Field(False, description="Deploy the protected SageMaker serving endpoint (AWS).")
    appsync_enabled: bool = Field(False, description="Deploy the AppSync model-registry GraphQL API (AWS).")
    sagemaker: SageMakerSettings | None = Field(
        None, validate_default=True, description="SageMaker endpoint settings. Required when sagemakerEnabled is true."
    )
    appsync: AppSyncSettings | None = Field(
        None, validate_default=True, description="AppSync API settings. Required when appsyncEnabled is true."
    )
    contract_job_enabled: bool = Field(
        False,
        description="Deploy the AWS Glue 5 job that validates a dataset against a contract of the stack's registry "
        "(docs/spark.md), with its KMS-encrypted security configuration and least-privilege role.",
    )
    contract_job: ContractJobSettings | None = Field(
        None, validate_default=True, description="Contract job settings. Required when contractJobEnabled is true."
    )
    models: dict[ModelName, ModelConfig] = Field(
        default_factory=dict, description="The models and their configuration keys."
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        description="Extra tags/labels on every resource that takes them (GCP label rules; at most "
        f"{MAX_USER_TAGS}; not the standard keys {', '.join(sorted(STANDARD_TAG_KEYS))}).",
    )

    @field_validator("tags")
    @classmethod
    def _not_standard(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = sorted(STANDARD_TAG_KEYS & set(tags))
        if reserved:
            raise ValueError(
                f"{', '.join(map(repr, reserved))} would replace the standard tag the stack sets on every resource; "
                f"reserved keys: {', '.join(sorted(STANDARD_TAG_KEYS))}"
            )
        if len(tags) > MAX_USER_TAGS:
            raise ValueError(
                f"has {len(tags)} tags, which with the {len(STANDARD_TAG_KEYS)} standard tags makes "
                f"{len(tags) + len(STANDARD_TAG_KEYS)} on every resource; AWS and Azure allow at most "
                f"{cloud_limits.aws_max_tags()} per resource, so at most {MAX_USER_TAGS} here"
            )
        return tags

    @field_validator("models")
    @classmethod
    def _azure_models_need_azure(cls, value: dict[str, ModelConfig], info: ValidationInfo) -> dict[str, ModelConfig]:
        on_azure = sorted(name for name, model in value.items() if model.config_backend == "azure")
        if on_azure and not info.data.get("azure_enabled"):
            raise ValueError(
                f"{', '.join(on_azure)}: configBackend azure needs azureEnabled: true (the App Configuration store "
                "holds their releases)"
            )
        return value

    @field_validator("protect_stateful_resources")
    @classmethod
    def _prod_protects(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("environment") == "prod" and not value:
            raise ValueError("must be true in prod: stateful resources are protected from deletion there")
        return value

    @field_validator("allow_public_network_access")
    @classmethod
    def _prod_private(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("environment") == "prod" and value:
            raise ValueError("must be false in prod: the configuration store accepts private traffic only")
        return value

    @field_validator("kms_deletion_window_days")
    @classmethod
    def _prod_window(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("environment") == "prod" and value != 30:
            raise ValueError("must be 30 in prod, so that a key scheduled for deletion by mistake can be recovered")
        return value

    @field_validator("aws")
    @classmethod
    def _aws_needed(cls, value: AwsSettings | None, info: ValidationInfo) -> AwsSettings | None:
        if info.data.get("aws_enabled") and value is None:
            raise ValueError('is required when awsEnabled is true, e.g. {"region": "eu-west-1"}')
        if value is not None and info.data.get("environment") == "prod" and value.account_id is None:
            raise ValueError("needs accountId in prod, so that the stack can only deploy to that account")
        return value

    @field_validator("gcp")
    @classmethod
    def _gcp_needed(cls, value: GcpSettings | None, info: ValidationInfo) -> GcpSettings | None:
        if info.data.get("gcp_enabled") and value is None:
            raise ValueError(
                'is required when gcpEnabled is true, e.g. {"project": "my-ml-dev", "region": "europe-west4"}'
            )
        return value

    @field_validator("azure")
    @classmethod
    def _azure_needed(cls, value: AzureSettings | None, info: ValidationInfo) -> AzureSettings | None:
        if info.data.get("azure_enabled") and value is None:
            raise ValueError('is required when azureEnabled is true, e.g. {"location": "westeurope"}')
        if value is not None and info.data.get("environment") == "prod" and value.subscription_id is None:
            raise ValueError("needs subscriptionId in prod, so that the stack can only deploy to that subscription")
        if value is not None and value.sku == "free":
            if info.data.get("environment") == "prod":
                raise ValueError(
                    "sku free is refused in prod (no SLA, private endpoints or purge protection); use standard"
                )
            if not info.data.get("allow_public_network_access"):
                raise ValueError(
                    "sku free has no private endpoints, so the store is reachable only with allowPublicNetworkAccess "
                    "true; set it, or use sku standard"
                )
        return value

    @field_validator("sagemaker")
    @classmethod
    def _sagemaker_checks(cls, value: SageMakerSettings | None, info: ValidationInfo) -> SageMakerSettings | None:
        if info.data.get("sagemaker_enabled") and value is None:
            raise ValueError(
                'is required when sagemakerEnabled is true, e.g. {"imageUri": "...", "modelDataUrl": "s3://..."}'
            )
        if value is not None and info.data.get("sagemaker_enabled") and not info.data.get("aws_enabled"):
            raise ValueError("needs awsEnabled: the endpoint is deployed on AWS")
        aws = info.data.get("aws")
        if value is not None and info.data.get("sagemaker_enabled") and isinstance(aws, AwsSettings):
            problem = _endpoint_location_problem(value, aws)
            if problem:
                raise ValueError(problem)
        if value is not None and info.data.get("environment") == "prod":
            if value.serverless is not None:
                raise ValueError(
                    "serverless is refused in prod: prod stays on provisioned instances in private subnets, with "
                    "network isolation and data capture, none of which serverless supports"
                )
            if value.vpc is None:
                raise ValueError("needs vpc (subnetIds, securityGroupIds) in prod: the model runs in private subnets")
            if not value.volume_encryption and not has_local_nvme(value.instance_type):
                # Local NVMe volumes are encrypted by the instance's hardware; every other volume needs the key.
                raise ValueError("needs volumeEncryption in prod (the instance type has no hardware-encrypted storage)")
            if not value.access_logs.enabled:
                raise ValueError("needs accessLogs.enabled in prod: the capture bucket holds inference payloads")
        return value

    @field_validator("appsync")
    @classmethod
    def _appsync_checks(cls, value: AppSyncSettings | None, info: ValidationInfo) -> AppSyncSettings | None:
        if info.data.get("appsync_enabled") and value is None:
            raise ValueError("is required when appsyncEnabled is true, e.g. {} for the secure defaults")
        if value is not None and info.data.get("appsync_enabled") and not info.data.get("aws_enabled"):
            raise ValueError("needs awsEnabled: the API is deployed on AWS")
        aws = info.data.get("aws")
        if (
            value is not None
            and info.data.get("appsync_enabled")
            and isinstance(aws, AwsSettings)
            and aws.region not in cloud_limits.service_regions("appsync")
        ):
            raise ValueError(f"AppSync has no endpoint in {aws.region} (botocore's endpoint data)")
        if value is not None and info.data.get("environment") == "prod":
            refused = [
                problem
                for problem, present in (
                    ("apiKeyEnabled must be false (no API keys in prod)", value.api_key_enabled),
                    ("fieldLogLevel must be ERROR (ALL logs request data)", value.field_log_level != "ERROR"),
                    ("introspectionEnabled must be false", value.introspection_enabled),
                    ("waf.enabled must be true (rate limiting and managed rules)", not value.waf.enabled),
                )
                if present
            ]
            if refused:
                raise ValueError("in prod: " + "; ".join(refused))
        return value

    @field_validator("contract_job")
    @classmethod
    def _contract_job_checks(
        cls, value: ContractJobSettings | None, info: ValidationInfo
    ) -> ContractJobSettings | None:
        if info.data.get("contract_job_enabled") and value is None:
            raise ValueError(
                'is required when contractJobEnabled is true, e.g. {"contract": "training-record", "inputUrl": '
                '"s3://...", "validOutputUrl": "s3://...", "rejectedOutputUrl": "s3://...", "libraryWheelUrl": '
                '"s3://.../ml_infra-0.1.0-py3-none-any.whl"}'
            )
        if value is not None and info.data.get("contract_job_enabled") and not info.data.get("aws_enabled"):
            raise ValueError("needs awsEnabled: the job runs on AWS Glue against the stack's registry")
        if value is not None and info.data.get("environment") == "prod":
            refused = [
                problem
                for problem, present in (
                    ("accessLogs.enabled must be true (its bucket holds the script)", not value.access_logs.enabled),
                    ("logRetentionDays must be 365 or more", value.log_retention_days < 365),
                )
                if present
            ]
            if refused:
                raise ValueError("in prod: " + "; ".join(refused))
        return value

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def standard_tags(self) -> dict[str, str]:
        """Tags every resource carries: who manages it and where it belongs, plus the stack's own tags (which
        cannot replace a standard one: `tags` refuses the keys in STANDARD_TAG_KEYS)."""
        return {**self.tags, **self._standard_only()}

    def _standard_only(self) -> dict[str, str]:
        return {"project": self.project, "environment": self.environment, "stack": self.stack, "managed-by": "pulumi"}

    @property
    def clouds(self) -> frozenset[str]:
        """The clouds this stack deploys to ("aws", "gcp", "azure"): the ones whose tag rules apply."""
        enabled = {"aws": self.aws_enabled, "gcp": self.gcp_enabled, "azure": self.azure_enabled}
        return frozenset(cloud for cloud, on in enabled.items() if on)


# --------------------------------------------------------------------------------------------------------------
# Building the model from raw Pulumi config


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        shown = f" (got {self.value})" if self.value is not None else ""
        return f"{self.key}: {self.message}{shown}"


class ConfigError(Exception):
    """The stack configuration is unusable. `problems` lists every problem found, each naming its key."""

    def __init__(self, stack: str, problems: list[ConfigProblem]):
        self.stack = stack
        self.problems = problems
        self.summary = f"Stack '{stack}' has {len(problems)} configuration problem(s)"
        lines = [f"{self.summary}:"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


# Keys whose values are objects (JSON text from the engine, nested YAML in the stack file) and keys whose
# values are scalars; the scalars are the ones Pulumi.yaml's project `config:` block declares with types.
STRUCTURED_KEYS = frozenset({"aws", "gcp", "azure", "sagemaker", "appsync", "contractJob", "models", "tags"})
SCALAR_KEYS = (
    frozenset(to_camel(name) for name in StackConfig.model_fields if name not in ("project", "stack")) - STRUCTURED_KEYS
)


def _render_value(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _config_key(project: str, loc: tuple[int | str, ...]) -> str:
    if not loc:
        return f"{project}:<stack>"
    head, *rest = loc
    # A missing key checked through its default (validate_default) is reported under the field's Python name.
    key = f"{project}:{to_camel(head) if isinstance(head, str) and '_' in head else head}"
    for part in rest:
        if part == "[key]":  # pydantic's marker for an error in a mapping's key: the message names the key
            continue
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def build_stack_config(
    project: str,
    stack: str,
    raw: Mapping[str, Any],
    secret_keys: set[str] | frozenset[str] = frozenset(),
    *,
    dry_run: bool = False,
) -> StackConfig:
    """Validate the raw config of the project namespace (keys without the `<project>:` prefix).

    Values may be strings as the engine delivers them ("true", "30", JSON text for objects) or already-parsed
    values. Keys in `secret_keys` are secret: they are accepted only as values of SecureString parameters
    (named by `secret`), and their values never appear in an error.

    `dry_run` (a preview): a secret a SecureString names but the stack has not set yet is accepted as pending
    (`SecretRef.value` None). Otherwise (an update) it is a problem naming the `pulumi config set --secret`
    command that fixes it, raised before any resource is declared.
    """
    problems: list[ConfigProblem] = []
    data: dict[str, Any] = {"project": project, "stack": stack}
    secret_values: dict[str, str] = {}
    plain_keys: set[str] = set()
    known = SCALAR_KEYS | STRUCTURED_KEYS

    for key, value in raw.items():
        if key in secret_keys:
            if key in known:
                problems.append(
                    ConfigProblem(
                        f"{project}:{key}",
                        "is stored as a secret, but is not secret data; "
                        "set it with `pulumi config set` (without --secret)",
                    )
                )
            else:
                secret_values[key] = str(value)
            continue
        if key not in known:
            plain_keys.add(key)
            continue
        if key in STRUCTURED_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                problems.append(ConfigProblem(f"{project}:{key}", f"is not valid JSON/YAML structure: {err.msg}"))
                continue
        data[key] = value

    referenced: set[str] = set()
    models = data.get("models")
    if isinstance(models, dict):
        for model in models.values():
            params = model.get("parameters") if isinstance(model, dict) else None
            if isinstance(params, dict):
                for param in params.values():
                    if isinstance(param, dict) and isinstance(param.get("secret"), str):
                        referenced.add(param["secret"])
    for key in sorted(plain_keys - referenced):
        problems.append(
            ConfigProblem(
                f"{project}:{key}",
                "is not a known config key; known keys: " + ", ".join(sorted(known)),
                _render_value(raw[key]),
            )
        )
    for key in sorted(set(secret_values) - referenced):
        problems.append(
            ConfigProblem(f"{project}:{key}", "is a secret that no SecureString parameter names in its `secret`")
        )

    context = {
        "project": project,
        "stack": stack,
        "secret_values": secret_values,
        "plain_keys": plain_keys,
        "dry_run": dry_run,
    }
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(data, context=context)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            value = None if _redact(loc) else _render_value(error.get("input"))
            problems.append(ConfigProblem(_config_key(project, loc), message, value))
    if config is not None:
        problems += derived_name_problems(config)
    if problems or config is None:
        raise ConfigError(stack, problems)
    return config


# Names the program derives from the project and stack names, and the rules of the services they go to. The
# project name comes from Pulumi.yaml and the stack name from `pulumi stack init`, so neither is a config key:
# problems name them as "project name '<name>'" and "stack name '<name>'".
# - GCP Cloud KMS key ring names: [a-zA-Z0-9_-]{1,63} (https://cloud.google.com/kms/docs/resource-hierarchy#key_rings)
# - Vertex AI metadata/feature store names: a lower-case letter, then [a-z0-9_], at most 60 characters
#   (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.featureOnlineStores/create)
GCP_KEY_RING_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
VERTEX_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def derived_name_problems(config: StackConfig) -> list[ConfigProblem]:
    """What the clouds would refuse in the tags and names derived from the project and stack names."""
    problems: list[ConfigProblem] = []
    project_key, stack_key = f"project name {config.project!r}", f"stack name {config.stack!r}"
    for key, tag, value in ((project_key, "project", config.project), (stack_key, "stack", config.stack)):
        for problem in cloud_limits.tag_problems(tag, value, config.clouds):
            problems.append(
                ConfigProblem(key, f"becomes the `{tag}` tag/label on every resource, and its {problem}")
            )
    base = f"{config.project}-{config.environment}"
    if config.aws_enabled and config.sagemaker_enabled:
        pattern, longest = cloud_limits.sagemaker_endpoint_name()
        name = f"{base}-serving"
        if len(name) > longest or not pattern.fullmatch(name):
            problems.append(
                ConfigProblem(
                    project_key,
                    f"makes the SageMaker endpoint name {name!r}; allowed: at most {longest} letters, digits and "
                    "'-' (botocore's EndpointName), so a shorter project name of letters, digits and '-'",
                )
            )
    if config.gcp_enabled:
        key_ring = f"{base}-vertex"
        vertex = base.replace("-", "_").lower()
        if not GCP_KEY_RING_NAME.match(key_ring):
            problems.append(
                ConfigProblem(
                    project_key,
                    f"makes the Cloud KMS key ring name {key_ring!r}; allowed: 1-63 letters, digits, '_' and '-'",
                )
            )
        if not VERTEX_RESOURCE_NAME.match(vertex):
            problems.append(
                ConfigProblem(
                    project_key,
                    f"makes the Vertex AI store name {vertex!r}; allowed: a letter, then letters, digits and '_', "
                    "at most 60 characters",
                )
            )
    return problems


def _redact(loc: tuple[int | str, ...]) -> bool:
    # Values at a `secret` key are names of secret config keys, not secrets; everything else under a model's
    # parameters could be a mistaken plaintext secret (e.g. `value` on a SecureString), so it is not echoed.
    return "parameters" in loc and loc[-1] not in ("type", "secret", "valueType", "secretVersion")


# --------------------------------------------------------------------------------------------------------------
# Reference documentation, generated from the model (the README's config reference is tested against it)


_SCALAR_TYPE_NAMES: dict[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _type_name(annotation: Any) -> str:
    """The reference table's name for a field's type, read from the annotation's structure (origin and
    arguments), never from its text: a class named `EndpointAlarmSettings` is an object, not an integer."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        names = [_type_name(arg) for arg in args if arg is not type(None)]
        return " \\| ".join(dict.fromkeys(names))
    if origin is Literal:
        return " \\| ".join(str(value) for value in args)
    if annotation in _SCALAR_TYPE_NAMES:
        return _SCALAR_TYPE_NAMES[annotation]
    if annotation is SecretRef:
        return "string (secret key name)"
    if origin is list or annotation is list:
        return "list"
    if origin in (dict, Mapping) or annotation is dict:
        return "object"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    raise TypeError(f"no config reference type name for {annotation!r}")


def _reference_rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{to_camel(name)}"
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = "see below" if name not in ("models", "tags") else "{}"
        else:
            default = json.dumps(field.default) if field.default is not None else "—"
        yield key, _type_name(field.annotation), default, field.description or ""
        nested = {
            "aws": AwsSettings,
            "gcp": GcpSettings,
            "azure": AzureSettings,
            "feature_online_store": FeatureOnlineStoreSettings,
            "sagemaker": SageMakerSettings,
            "data_capture": DataCaptureSettings,
            "serverless": ServerlessSettings,
            "vpc": VpcSettings,
            "alarms": EndpointAlarmSettings,
            "appsync": AppSyncSettings,
            "access_logs": AccessLogSettings,
            "waf": WafSettings,
            "contract_job": ContractJobSettings,
        }.get(name)
        if nested is not None:
            yield from _reference_rows(nested, f"{key}.")
        if name == "models":
            yield from _reference_rows(ModelConfig, f"{key}.<model>.")
        if name == "parameters":
            yield from _reference_rows(ParameterConfig, f"{key}.<key>.")


def config_reference_markdown(project: str = "ml-infra") -> str:
    """The config reference table for the README: every key the stack file may set, generated from the model."""
    lines = [
        f"| key (`{project}:` namespace) | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, type_name, default, description in _reference_rows(StackConfig, ""):
        lines.append(f"| `{key}` | {type_name} | {default} | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # `python -m ml_infra.stack_config` prints the reference table that README.md embeds.
    print(config_reference_markdown(), end="")
