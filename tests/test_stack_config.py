"""The stack config model: what a stack file may say, and the errors a user gets when it says something wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_infra.stack_config import (
    SCALAR_KEYS,
    STRUCTURED_KEYS,
    ConfigError,
    StackConfig,
    build_stack_config,
    config_reference_markdown,
)

SECRET = "s3cr3t-Value-that-must-never-leak"


def minimal(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"environment": "dev", "aws": {"region": "eu-west-1"}}
    raw.update(overrides)
    return raw


def problems_of(raw: dict[str, Any], secret_keys: set[str] | None = None, stack: str = "dev") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build_stack_config("ml-infra", stack, raw, secret_keys or set())
    return [str(problem) for problem in caught.value.problems]


def model_with(parameter: dict[str, Any]) -> dict[str, Any]:
    return {"m": {"parameters": {"k": parameter}}}


def test_values_arrive_as_engine_strings_and_are_typed():
    config = build_stack_config(
        "ml-infra",
        "dev",
        {
            "environment": "dev",
            "awsEnabled": "true",
            "kmsDeletionWindowDays": "7",
            "aws": '{"region": "eu-west-1"}',
            "models": '{"m": {"parameters": {"k": {"value": 3}}}}',
        },
    )
    assert config.aws_enabled is True
    assert config.kms_deletion_window_days == 7
    assert config.aws is not None and config.aws.region == "eu-west-1"
    assert config.models["m"].parameters["k"].value == "3"


def test_every_problem_is_reported_at_once_each_naming_its_key():
    problems = problems_of(
        {
            "environment": "qa",
            "kmsDeletionWindowDays": "3",
            "aws": {"region": "Ireland"},
            "models": {"Fraud": {}, "ok": {"parameters": {"_internal": {"value": "x"}}}},
            "tgas": {"team": "x"},
        }
    )
    text = "\n".join(problems)
    assert len(problems) == 6, text
    assert "ml-infra:environment: Input should be 'dev', 'staging' or 'prod' (got 'qa')" in text
    assert "ml-infra:kmsDeletionWindowDays: Input should be greater than or equal to 7 (got '3')" in text
    assert "ml-infra:aws.region: is not an AWS region; allowed: a region of botocore's partitions, e.g. " in text
    assert "ml-infra:models.Fraud: model name 'Fraud' must be" in text
    assert "ml-infra:models.ok.parameters._internal: key '_internal' starts with '_'" in text
    # The misspelt key is reported by name, with the keys that are known.
    assert any(p.startswith("ml-infra:tgas: is not a known config key; known keys: ") for p in problems)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"protectStatefulResources": False}, "ml-infra:protectStatefulResources: must be true in prod"),
        ({"allowPublicNetworkAccess": True}, "ml-infra:allowPublicNetworkAccess: must be false in prod"),
        ({"kmsDeletionWindowDays": 7}, "ml-infra:kmsDeletionWindowDays: must be 30 in prod"),
        ({"aws": {"region": "eu-west-1"}}, "ml-infra:aws: needs accountId in prod"),
        (
            {"azureEnabled": True, "azure": {"location": "westeurope"}},
            "ml-infra:azure: needs subscriptionId in prod",
        ),
    ],
)
def test_prod_refuses_each_relaxation(override: dict[str, Any], message: str):
    raw = {"environment": "prod", "aws": {"region": "eu-west-1", "accountId": "210987654321"}, **override}
    problems = problems_of(raw, stack="prod")
    assert any(p.startswith(message) for p in problems), problems


def test_the_same_relaxations_are_allowed_in_dev():
    config = build_stack_config(
        "ml-infra",
        "dev",
        minimal(protectStatefulResources=False, allowPublicNetworkAccess=True, kmsDeletionWindowDays=7),
    )
    assert not config.protect_stateful_resources and config.allow_public_network_access


def test_a_cloud_needs_its_settings_when_enabled():
    problems = problems_of(minimal(gcpEnabled=True, azureEnabled=True))
    assert any(p.startswith("ml-infra:gcp: is required when gcpEnabled is true") for p in problems)
    assert any(p.startswith("ml-infra:azure: is required when azureEnabled is true") for p in problems)
    assert problems_of({"environment": "dev"})[0].startswith("ml-infra:aws: is required when awsEnabled is true")


def test_secure_string_reads_an_encrypted_config_key():
    config = build_stack_config(
        "ml-infra",
        "dev",
        minimal(models=model_with({"type": "SecureString", "secret": "apiKey"}), apiKey=SECRET),
        {"apiKey"},
    )
    parameter = config.models["m"].parameters["k"]
    assert parameter.secret is not None and parameter.secret.value.get_secret_value() == SECRET
    assert SECRET not in repr(config)


def test_secure_string_refuses_a_plaintext_config_key_and_a_missing_one():
    problems = problems_of(minimal(models=model_with({"type": "SecureString", "secret": "apiKey"}), apiKey=SECRET))
    assert problems == [
        "ml-infra:models.m.parameters.k.secret: names config key 'ml-infra:apiKey', which is stored in plain text; "
        "store it encrypted with `pulumi config set --secret apiKey <value> --stack dev` (got 'apiKey')"
    ]
    problems = problems_of(minimal(models=model_with({"type": "SecureString", "secret": "missing"})))
    assert "set it with `pulumi config set --secret missing <value> --stack dev`" in problems[0]


def test_a_secret_written_as_a_plain_value_is_refused_without_echoing_it():
    problems = problems_of(minimal(models=model_with({"type": "SecureString", "value": SECRET})))
    text = "\n".join(problems)
    assert "`value` would put the secret in the stack file in plain text" in text
    assert SECRET not in text


def test_secret_values_are_redacted_from_validation_errors():
    raw = minimal(
        models=model_with({"type": "SecureString", "secret": "apiKey", "allowedPattern": "^[0-9]+$"}), apiKey=SECRET
    )
    problems = problems_of(raw, {"apiKey"})
    assert problems == ["ml-infra:models.m.parameters.k: value [secret] does not match the allowed pattern '^[0-9]+$'"]


def test_an_unreferenced_secret_and_a_secret_in_a_plain_key_are_reported():
    problems = problems_of(minimal(stray=SECRET, environment="dev"), {"stray", "environment"})
    assert "ml-infra:environment: is stored as a secret, but is not secret data" in problems[0]
    assert "ml-infra:stray: is a secret that no SecureString parameter names" in problems[1]
    assert SECRET not in "\n".join(problems)


def test_string_list_items_may_not_contain_commas():
    problems = problems_of(minimal(models=model_with({"type": "StringList", "values": ["a", "b,c"]})))
    assert problems == [
        "ml-infra:models.m.parameters.k.values: item 1 ('b,c') contains a comma; StringList items are comma-separated"
    ]
    assert "at least one item" in problems_of(minimal(models=model_with({"type": "StringList", "values": []})))[0]


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"value": "1.5", "valueType": "integer"}, "value '1.5' is not an integer"),
        ({"value": 2, "valueType": "number", "maximum": 1}, "value '2' is above the maximum 1"),
        ({"value": "yes", "valueType": "boolean"}, "value 'yes' is not a boolean; allowed: true, false"),
        ({"value": "{", "valueType": "json"}, "value '{' is not valid JSON"),
        ({"value": "gpu", "allowedValues": ["cpu"]}, "value 'gpu' is not one of the allowed values ['cpu']"),
        ({"value": "v1", "allowedPattern": "^[0-9]+$"}, "value 'v1' does not match the allowed pattern '^[0-9]+$'"),
        ({"value": "x", "allowedPattern": "("}, "is not a pattern the linear-time engine (RE2) accepts (missing ): ("),
        ({"values": ["a"]}, "`values` does not apply to a String parameter (use `value`)"),
        ({"type": "StringList", "values": ["a"], "valueType": "integer"}, "valueType 'integer' does not fit"),
    ],
)
def test_values_are_checked_against_their_declared_type_and_constraints(parameter: dict[str, Any], message: str):
    problems = problems_of(minimal(models=model_with(parameter)))
    assert len(problems) == 1 and message in problems[0], problems


def test_tier_is_chosen_by_value_size_and_oversized_values_are_refused():
    def tier_of(size: int) -> str:
        config = build_stack_config("ml-infra", "dev", minimal(models=model_with({"value": "x" * size})))
        return config.models["m"].parameters["k"].tier

    assert tier_of(4096) == "Standard"
    assert tier_of(4097) == "Advanced"
    assert tier_of(8192) == "Advanced"
    assert "SSM parameters hold at most 8192 bytes" in problems_of(minimal(models=model_with({"value": "x" * 8193})))[0]


def test_pulumi_yaml_declares_every_scalar_key_with_the_models_type_and_default(project_dir: Path):
    declared = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(SCALAR_KEYS)
    pulumi_types = {bool: "boolean", int: "integer", str: "string"}
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        if key not in SCALAR_KEYS:
            continue
        spec = declared[key]
        if field.is_required():
            assert "default" not in spec, key
            assert spec["type"] == "string", key
        else:
            assert spec["default"] == field.default, key
            assert spec["type"] == pulumi_types[type(field.default)], key
    assert set(SCALAR_KEYS) | set(STRUCTURED_KEYS) == {
        f.alias or n for n, f in StackConfig.model_fields.items() if not f.exclude
    }


def test_readme_config_reference_is_the_one_generated_from_the_model(project_dir: Path):
    readme = (project_dir / "README.md").read_text()
    match = re.search(r"<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->", readme, re.S)
    assert match, "README.md has no generated config reference block"
    assert match.group(1) == config_reference_markdown(), (
        "README's config reference is stale: regenerate it with `python -m ml_infra.stack_config > /tmp/ref.md`"
    )


SAGEMAKER = {
    "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraud:1.0",
    "modelDataUrl": "s3://models-bucket/fraud/1.0/model.tar.gz",
}
PROD_AWS = {"region": "eu-west-1", "accountId": "123456789012"}  # the account of SAGEMAKER's image


def test_an_nvme_instance_type_is_refused_while_volume_encryption_is_on():
    problems = problems_of(minimal(sagemakerEnabled=True, sagemaker={**SAGEMAKER, "instanceType": "ml.g5.xlarge"}))
    assert problems[0].startswith("ml-infra:sagemaker: instanceType ml.g5.xlarge has local NVMe storage")
    config = build_stack_config(
        "ml-infra",
        "dev",
        minimal(
            sagemakerEnabled=True, sagemaker={**SAGEMAKER, "instanceType": "ml.g5.xlarge", "volumeEncryption": False}
        ),
    )
    assert config.sagemaker is not None and config.sagemaker.instance_type == "ml.g5.xlarge"


def test_previous_generation_and_malformed_instance_types_are_refused():
    problems = problems_of(minimal(sagemakerEnabled=True, sagemaker={**SAGEMAKER, "instanceType": "ml.m4.xlarge"}))
    assert "m4 is a previous-generation family" in problems[0]
    problems = problems_of(minimal(sagemakerEnabled=True, sagemaker={**SAGEMAKER, "instanceType": "m7i.xlarge"}))
    assert "must be a SageMaker instance type such as ml.m7i.xlarge" in problems[0]


def test_prod_endpoint_needs_a_vpc():
    raw = {"environment": "prod", "aws": PROD_AWS, "sagemakerEnabled": True, "sagemaker": SAGEMAKER}
    assert problems_of(raw, stack="prod") == [
        "ml-infra:sagemaker: needs vpc (subnetIds, securityGroupIds) in prod: the model runs in private subnets"
    ]


def test_prod_api_refuses_api_keys_verbose_logs_and_introspection():
    raw = {
        "environment": "prod",
        "aws": PROD_AWS,
        "appsyncEnabled": True,
        "appsync": {"apiKeyEnabled": True, "fieldLogLevel": "ALL", "introspectionEnabled": True},
    }
    assert problems_of(raw, stack="prod") == [
        "ml-infra:appsync: in prod: apiKeyEnabled must be false (no API keys in prod); fieldLogLevel must be ERROR "
        "(ALL logs request data); introspectionEnabled must be false"
    ]


def test_a_model_whose_release_would_not_fit_one_parameter_is_refused():
    many = {f"feature-weight-{index:03d}-{'x' * 40}": {"value": "1"} for index in range(120)}
    problems = problems_of(minimal(models={"m": {"parameters": many}}))
    assert len(problems) == 1
    assert problems[0].startswith("ml-infra:models.m: has 120 keys: a release of them could reach ")
    assert "split the model or use shorter key names" in problems[0]
