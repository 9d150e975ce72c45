"""The whole Pulumi program, evaluated for the real `dev` and `prod` stack files on Pulumi's mock runtime: the
properties of the declared resources that users and security reviewers rely on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_infra.modelconfig.layout import ModelSchema, ReleaseDocument, parse_pointer, verify_release
from ml_infra.preview import Evaluation, Registration, evaluate, is_secret_value, read_stack_files
from ml_infra.program_inputs import ContractFilesError, StackConfigError

SSM_PARAMETER = "aws:ssm/parameter:Parameter"
KMS_KEY = "aws:kms/key:Key"
PROVIDER_PREFIX = "pulumi:providers:"


def stack_models(project_dir: Path, stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    return doc["config"]["ml-infra:models"]


def parameters_by_name(evaluation: Evaluation) -> dict[str, Registration]:
    return {r.raw_inputs["name"]: r for r in evaluation.of_type(SSM_PARAMETER)}


def only(evaluation: Evaluation, type_token: str) -> Registration:
    found = evaluation.of_type(type_token)
    assert len(found) == 1, f"{len(found)} resources of type {type_token}"
    return found[0]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_uses_an_explicit_provider_of_its_cloud(stack: str, request: pytest.FixtureRequest):
    evaluation: Evaluation = request.getfixturevalue(stack)
    providers = {r.urn: r for r in evaluation.resources if r.type.startswith(PROVIDER_PREFIX)}
    assert {p.name for p in providers.values()} == {"aws", "gcp", "azure"}
    custom = [r for r in evaluation.resources if r.custom and not r.type.startswith(PROVIDER_PREFIX)]
    assert len(custom) > 40
    for resource in custom:
        assert resource.provider is not None, resource.name
        provider = providers[resource.provider.rsplit("::", 1)[0]]
        package = resource.type.split(":")[0]
        assert provider.type == f"{PROVIDER_PREFIX}{package}", resource.name


def test_providers_pin_region_account_and_subscription_in_prod(prod: Evaluation):
    aws = prod.named("aws").raw_inputs
    assert aws["region"] == "eu-west-1"
    assert json.loads(aws["allowedAccountIds"]) == ["210987654321"]
    assert json.loads(aws["defaultTags"])["tags"]["environment"] == "prod"
    assert prod.named("azure").raw_inputs["subscriptionId"] == "0b7d4c1e-2f3a-4d5b-8c6d-7e8f9a0b1c2d"
    gcp = prod.named("gcp").raw_inputs
    assert (gcp["project"], gcp["region"]) == ("acme-ml-prod", "europe-west4")


def test_stack_files_disable_default_providers(project_dir: Path):
    for stack in ("dev", "prod"):
        config = read_stack_files(project_dir, stack).config
        assert json.loads(config["pulumi:disable-default-providers"]) == ["*"]


STATEFUL_TYPES = {
    KMS_KEY,
    "aws:glue/registry:Registry",
    "aws:glue/schema:Schema",
    "azure-native:resources:ResourceGroup",
    "azure-native:appconfiguration:ConfigurationStore",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:vertex/aiMetadataStore:AiMetadataStore",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
}


def test_prod_protects_every_stateful_resource_and_dev_does_not(dev: Evaluation, prod: Evaluation):
    stateful = [r for r in prod.resources if r.type in STATEFUL_TYPES or r.type == SSM_PARAMETER]
    assert {r.type for r in stateful} == STATEFUL_TYPES | {SSM_PARAMETER}
    unprotected = [r.name for r in stateful if not r.protect]
    assert unprotected == []
    for registration in prod.of_type("gcp:vertex/aiMetadataStore:AiMetadataStore"):
        assert registration.raw_inputs["deletionPolicy"] == "PREVENT"
    assert not any(r.protect for r in dev.resources)


def test_secure_strings_use_the_stack_key_and_the_write_only_value(dev: Evaluation):
    key = dev.named("model-params-key")
    secure = [r for r in dev.of_type(SSM_PARAMETER) if r.raw_inputs["type"] == "SecureString"]
    assert [r.raw_inputs["name"] for r in secure] == ["/ml-infra/dev/fraud-detector/scoring-service-api-key"]
    parameter = secure[0].raw_inputs
    assert parameter["keyId"] == key.state["arn"]
    assert "value" not in parameter and "insecureValue" not in parameter
    assert is_secret_value(parameter["valueWo"])
    assert parameter["valueWoVersion"] == 1
    assert "valueWo" not in secure[0].state  # a write-only value is never part of the resource's state


def test_the_stack_kms_key_rotates_has_an_explicit_policy_and_a_deletion_window(dev: Evaluation, prod: Evaluation):
    for evaluation, window in ((dev, 7), (prod, 30)):
        key = evaluation.named("model-params-key").raw_inputs
        assert key["enableKeyRotation"] is True
        assert key["deletionWindowInDays"] == window
        policy = json.loads(key["policy"])
        principals = [s["Principal"] for s in policy["Statement"]]
        assert principals == [
            {"AWS": "arn:aws:iam::" + ("123456789012" if evaluation is dev else "210987654321") + ":root"}
        ]


def test_each_model_read_policy_is_scoped_to_its_path_and_its_parameters_on_the_key(dev: Evaluation):
    key_arn = dev.named("model-params-key").state["arn"]
    policies = {
        r.raw_inputs["name"]: json.loads(r.raw_inputs["policy"])
        for r in dev.of_type("aws:iam/policy:Policy")
        if r.parent == dev.named("model-params").urn and r.raw_inputs["name"].endswith("-read-config")
    }
    assert set(policies) == {"ml-infra-dev-fraud-detector-read-config", "ml-infra-dev-churn-predictor-read-config"}
    read, decrypt = policies["ml-infra-dev-fraud-detector-read-config"]["Statement"]
    path = "arn:aws:ssm:eu-west-1:123456789012:parameter/ml-infra/dev/fraud-detector"
    assert read["Action"] == ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    assert read["Resource"] == [path, path + "/*"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == key_arn
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": path + "/*"},
    }
    assert (
        dev.outputs["modelReadPolicyArns"]
        .value["fraud-detector"]
        .endswith(":policy/ml-infra-dev-fraud-detector-read-config")
    )


def test_each_model_operator_policy_runs_the_config_tools_but_never_writes_the_declared_schema(dev: Evaluation):
    key_arn = dev.named("model-params-key").state["arn"]
    operate = dev.named("model-params-fraud-detector-operate").raw_inputs
    assert operate["name"] == "ml-infra-dev-fraud-detector-operate-config"
    by_sid = {s["Sid"]: s for s in json.loads(operate["policy"])["Statement"]}
    path = "arn:aws:ssm:eu-west-1:123456789012:parameter/ml-infra/dev/fraud-detector"
    assert by_sid["OperateModelConfiguration"]["Resource"] == [path, path + "/*"]
    assert {"ssm:PutParameter", "ssm:LabelParameterVersion", "ssm:GetParameterHistory"} <= set(
        by_sid["OperateModelConfiguration"]["Action"]
    )
    assert by_sid["UseKeyForModelSecrets"]["Resource"] == key_arn
    deny = by_sid["DeclaredSchemaIsPulumis"]
    assert (deny["Effect"], deny["Resource"]) == ("Deny", path + "/_schema")
    assert "ssm:PutParameter" in deny["Action"]
    assert set(dev.outputs["modelOperatePolicyArns"].value) == {"fraud-detector", "churn-predictor"}


def test_parameters_follow_the_hierarchy_with_their_types_tiers_and_patterns(dev: Evaluation, project_dir: Path):
    by_name = parameters_by_name(dev)
    for model, model_config in stack_models(project_dir, "dev").items():
        for key, spec in model_config["parameters"].items():
            parameter = by_name[f"/ml-infra/dev/{model}/{key}"].raw_inputs
            assert parameter["type"] == spec.get("type", "String")
            assert parameter["tier"] == "Standard"
            if "allowedPattern" in spec:
                assert parameter["allowedPattern"] == spec["allowedPattern"]
    assert by_name["/ml-infra/dev/fraud-detector/feature-columns"].revealed_inputs["value"] == (
        "amount,merchant_category,card_age_days,country,hour_of_day"
    )
    assert by_name["/ml-infra/dev/fraud-detector/shadow-mode"].revealed_inputs["value"] == "true"


def test_run_time_owned_values_are_not_reverted_by_pulumi(dev: Evaluation):
    by_name = parameters_by_name(dev)
    for name, registration in by_name.items():
        if name.endswith("/_schema"):
            # Pulumi owns the declared keys and types: a config change there must reach SSM.
            assert registration.ignore_changes == [], name
        elif registration.raw_inputs["type"] == "SecureString":
            assert registration.ignore_changes == [], name  # rewritten only when secretVersion is bumped
        else:
            assert registration.ignore_changes == ["value", "tier"], name


def test_each_model_starts_with_an_initial_release_of_every_key(dev: Evaluation, project_dir: Path):
    by_name = parameters_by_name(dev)
    for model, model_config in stack_models(project_dir, "dev").items():
        initial_text = by_name[f"/ml-infra/dev/{model}/_release/initial"].revealed_inputs["value"]
        initial = ReleaseDocument.model_validate_json(initial_text)
        active_text = by_name[f"/ml-infra/dev/{model}/_release/active"].revealed_inputs["value"]
        # The pointer names the initial release and the digest of exactly the stored text, so the loader accepts it.
        pointer, legacy = parse_pointer(active_text)
        assert legacy is None and pointer is not None
        assert verify_release(pointer, None, initial_text, ("ml-infra", "dev", model)) == initial
        assert initial.release_id == "initial" and initial.model == model and initial.environment == "dev"
        assert set(initial.keys) == set(model_config["parameters"])
        assert {k.version for k in initial.keys.values()} == {1}

        schema = ModelSchema.model_validate_json(by_name[f"/ml-infra/dev/{model}/_schema"].revealed_inputs["value"])
        assert set(schema.keys) == set(model_config["parameters"])
    schema = ModelSchema.model_validate_json(by_name["/ml-infra/dev/fraud-detector/_schema"].revealed_inputs["value"])
    threshold = schema.keys["decision-threshold"]
    assert (threshold.value_type, threshold.minimum, threshold.maximum) == ("number", 0, 1)
    assert schema.keys["scoring-service-api-key"].value_type == "secret"


def test_one_glue_schema_per_contract_file_with_its_mode_and_description(dev: Evaluation, project_dir: Path):
    registry = only(dev, "aws:glue/registry:Registry")
    assert registry.raw_inputs["registryName"] == "ml-infra-dev"
    manifest = yaml.safe_load((project_dir / "contracts" / "contracts.yaml").read_text())
    schemas = {r.raw_inputs["schemaName"]: r.raw_inputs for r in dev.of_type("aws:glue/schema:Schema")}
    assert set(schemas) == {"training-record", "inference-request"}
    for file_name, entry in manifest.items():
        schema = schemas[file_name.split(".")[0]]
        assert schema["compatibility"] == entry["compatibility"]
        assert schema["description"] == entry["description"]
        assert schema["registryArn"] == registry.state["arn"]
        assert schema["schemaDefinition"] == (project_dir / "contracts" / file_name).read_text()
        assert schema["dataFormat"] == ("AVRO" if file_name.endswith(".avsc") else "JSON")


@pytest.mark.parametrize(
    ("stack", "public_access", "sku"),
    # dev idles on the free SKU (explicit in Pulumi.dev.yaml), which has no soft delete or purge protection.
    [("prod", "Disabled", "standard"), ("dev", "Enabled", "free")],
)
def test_app_configuration_store_is_hardened(stack: str, public_access: str, sku: str, request: pytest.FixtureRequest):
    evaluation: Evaluation = request.getfixturevalue(stack)
    store = only(evaluation, "azure-native:appconfiguration:ConfigurationStore")
    group = only(evaluation, "azure-native:resources:ResourceGroup")
    inputs = store.raw_inputs
    assert inputs["sku"] == {"name": sku}
    assert inputs["disableLocalAuth"] is True
    assert inputs["publicNetworkAccess"] == public_access
    if sku == "free":
        # Not set by the component; what remains is the SDK's own default (purge protection off).
        assert inputs["enablePurgeProtection"] is False
    else:
        assert inputs["enablePurgeProtection"] is True
        assert inputs["softDeleteRetentionInDays"] == 7
    assert inputs["identity"] == {"type": "SystemAssigned"}
    assert inputs["dataPlaneProxy"] == {"authenticationMode": "Pass-through", "privateLinkDelegation": "Enabled"}
    assert inputs["resourceGroupName"] == group.state["name"]
    assert inputs["tags"]["environment"] == stack


def test_app_configuration_key_values_are_labelled_by_environment_and_hold_no_secrets(
    prod: Evaluation, project_dir: Path
):
    key_values = {r.raw_inputs["keyValueName"]: r for r in prod.of_type("azure-native:appconfiguration:KeyValue")}
    expected = {
        f"{model}:{key}$prod"
        for model, model_config in stack_models(project_dir, "prod").items()
        for key, spec in model_config["parameters"].items()
        if spec.get("type") != "SecureString"
    } | {f"_schema:{model}$prod" for model in stack_models(project_dir, "prod")}
    assert set(key_values) == expected
    segments = key_values["churn-predictor:segments$prod"].raw_inputs
    assert (json.loads(segments["value"]), segments["contentType"]) == (
        ["consumer", "smb", "enterprise"],
        "application/json",
    )
    role = only(prod, "azure-native:authorization:RoleAssignment").raw_inputs
    assert role["roleDefinitionId"].endswith("/roleDefinitions/5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b")
    assert role["scope"] == only(prod, "azure-native:appconfiguration:ConfigurationStore").id


def test_vertex_stores_are_encrypted_with_the_stack_key_granted_to_the_vertex_agent(prod: Evaluation):
    key = only(prod, "gcp:kms/cryptoKey:CryptoKey")
    assert key.raw_inputs["rotationPeriod"] == f"{90 * 86400}s"
    key_id = key.id
    grant = only(prod, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember").raw_inputs
    agent = only(prod, "gcp:projects/serviceIdentity:ServiceIdentity")
    assert grant == {
        "cryptoKeyId": key_id,
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "member": agent.state["member"],
    }
    metadata = only(prod, "gcp:vertex/aiMetadataStore:AiMetadataStore").raw_inputs
    online = only(prod, "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore").raw_inputs
    for store in (metadata, online):
        assert store["encryptionSpec"] == {"kmsKeyName": key_id}
        assert store["name"] == "ml_infra_prod"
    assert online["bigtable"]["autoScaling"] == {"minNodeCount": 2, "maxNodeCount": 6, "cpuUtilizationTarget": 60}
    assert not prod.of_type("gcp:vertex/aiFeatureStore:AiFeatureStore")  # the legacy product


def _config_with_secret(project_dir: Path, secret: str) -> tuple[dict[str, str], list[str]]:
    files = read_stack_files(project_dir, "dev")
    config = dict(files.config)
    config["ml-infra:fraudScoringApiKey"] = secret
    return config, [*files.secret_keys, "ml-infra:fraudScoringApiKey"]


def test_a_secret_from_config_never_appears_in_plaintext(project_dir: Path):
    secret = "tok-9f8e7d6c5b4a-never-in-state"
    config, secret_keys = _config_with_secret(project_dir, secret)
    evaluation = evaluate(project_dir, "dev", config=config, secret_keys=secret_keys)

    def plaintext_occurrences(value: Any) -> int:
        if is_secret_value(value):
            return 0  # marked secret: the engine encrypts it
        if isinstance(value, dict):
            return sum(plaintext_occurrences(v) for v in value.values())
        if isinstance(value, list):
            return sum(plaintext_occurrences(v) for v in value)
        return int(isinstance(value, str) and secret in value)

    carried = [r for r in evaluation.resources if "valueWo" in r.raw_inputs]
    assert len(carried) == 1 and carried[0].raw_inputs["valueWo"]["value"] == secret  # it did reach the parameter
    assert sum(plaintext_occurrences(r.raw_inputs) + plaintext_occurrences(r.state) for r in evaluation.resources) == 0
    assert all(secret not in json.dumps(out.value) for out in evaluation.outputs.values())
    assert secret not in json.dumps(evaluation.to_json())


def test_bad_config_stops_the_program_before_any_resource(project_dir: Path):
    config, secret_keys = _config_with_secret(project_dir, "x")
    config["ml-infra:environment"] = "production"
    with pytest.raises(StackConfigError) as caught:
        evaluate(project_dir, "dev", config=config, secret_keys=secret_keys)
    assert "ml-infra:environment: Input should be 'dev', 'staging' or 'prod' (got 'production')" in str(caught.value)


def test_a_broken_contract_file_stops_the_program_naming_the_file(project_copy: Callable[[], Path]):
    project = project_copy()
    (project / "contracts" / "training-record.schema.json").write_text('{"type": "object", "required": "id"}')
    (project / "contracts" / "inference-request.avsc").write_text('{"type": "record", "name": "R"}')
    with pytest.raises(ContractFilesError) as caught:
        evaluate(project, "dev")
    problems = caught.value.contract_error.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{project}/contracts/inference-request.avsc: not a valid Avro schema")
    assert problems[1] == (
        f"{project}/contracts/training-record.schema.json: /required: not a valid draft-07 JSON Schema: "
        "'id' is not of type 'array'."
    )


def test_disabling_a_cloud_removes_its_part(project_dir: Path):
    config, secret_keys = _config_with_secret(project_dir, "x")
    config["ml-infra:gcpEnabled"] = "false"
    config["ml-infra:azureEnabled"] = "false"
    evaluation = evaluate(project_dir, "dev", config=config, secret_keys=secret_keys)
    packages = {r.type.split(":")[0] for r in evaluation.resources if r.custom}
    assert packages == {"aws", "pulumi"}
    assert {"ssmKeyArn", "modelReadPolicyArns", "contractRegistryArn"} <= set(evaluation.outputs)
    assert not [name for name in evaluation.outputs if name.startswith(("vertex", "appConfiguration"))]
