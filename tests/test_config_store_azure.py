"""The Azure side of run-time configuration as the program declares it (Pulumi mocks, the real stack files):
data-plane roles for the principals the stack names, each model's schema seeded, and key-values whose run-time
changes the next `pulumi up` leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_infra.config_store import (
    APP_CONFIGURATION_DATA_OWNER_ROLE,
    APP_CONFIGURATION_DATA_READER_ROLE,
    RUNTIME_OWNED_KEY_VALUE_PROPERTIES,
)
from ml_infra.modelconfig.layout import ModelSchema
from ml_infra.preview import Evaluation, evaluate, read_stack_files
from ml_infra.program_inputs import StackConfigError

KEY_VALUE = "azure-native:appconfiguration:KeyValue"
ROLE = "azure-native:authorization:RoleAssignment"
STORE = "azure-native:appconfiguration:ConfigurationStore"


def _roles(evaluation: Evaluation) -> dict[str, str]:
    return {
        r.raw_inputs["principalId"]: r.raw_inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for r in evaluation.of_type(ROLE)
        if r.name != "config-store-deployer-data-owner"
    }


def test_operators_get_data_owner_and_applications_data_reader_on_the_store(dev: Evaluation) -> None:
    assert _roles(dev) == {
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301": APP_CONFIGURATION_DATA_OWNER_ROLE,
        "6ba7b810-9dad-41d1-80b4-00c04fd430c8": APP_CONFIGURATION_DATA_READER_ROLE,
    }
    store = next(r for r in dev.resources if r.type == STORE)
    assert all(r.raw_inputs["scope"] == store.id for r in dev.of_type(ROLE))  # store-wide: RBAC has no finer scope


def test_a_stack_without_principals_grants_nothing_beyond_the_deployer(prod: Evaluation) -> None:
    assert _roles(prod) == {}


def test_each_model_schema_is_seeded_as_the_loader_reads_it(dev: Evaluation) -> None:
    schemas = {r.raw_inputs["keyValueName"]: r for r in dev.of_type(KEY_VALUE) if r.name.endswith("-schema")}
    assert set(schemas) == {"_schema:fraud-detector$dev", "_schema:churn-predictor$dev"}
    seeded = schemas["_schema:fraud-detector$dev"].raw_inputs
    schema = ModelSchema.model_validate_json(seeded["value"])
    assert seeded["contentType"] == "application/json" and schema.model == "fraud-detector"
    assert schema.keys["decision-threshold"].value_type == "number"
    assert schema.keys["scoring-service-api-key"].ssm_type == "SecureString"
    # The schema stays Pulumi's: a change in the stack config must reach the store.
    assert schemas["_schema:fraud-detector$dev"].ignore_changes == []


def test_run_time_changes_to_key_values_are_not_reverted_by_the_next_up(dev: Evaluation) -> None:
    values = [r for r in dev.of_type(KEY_VALUE) if not r.name.endswith("-schema")]
    assert values and all(r.ignore_changes == RUNTIME_OWNED_KEY_VALUE_PROPERTIES for r in values)
    assert RUNTIME_OWNED_KEY_VALUE_PROPERTIES == ["value", "contentType", "tags"]
    features = next(r for r in values if r.raw_inputs["keyValueName"] == "fraud-detector:feature-columns$dev")
    assert json.loads(features.raw_inputs["value"])[0] == "amount"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["ml-infra:azure"].update(operatorPrincipalIds=["not-a-uuid"]),
            "ml-infra:azure.operatorPrincipalIds[0]: must be an Entra object id",
        ),
        (
            lambda c: (
                c.update({"ml-infra:azureEnabled": False}),
                c.pop("ml-infra:azure"),
                c["ml-infra:models"]["churn-predictor"].update(configBackend="azure"),
            ),
            "configBackend azure needs azureEnabled",
        ),
    ],
)
def test_bad_azure_settings_stop_the_program_naming_the_key(project_dir: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    files = read_stack_files(project_dir, "dev")
    config = {k: json.loads(v) if k in ("ml-infra:azure", "ml-infra:models") else v for k, v in files.config.items()}
    change(config)
    as_strings = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in config.items()}
    with pytest.raises(StackConfigError) as caught:
        evaluate(project_dir, "dev", config=as_strings, secret_keys=files.secret_keys)
    assert message in str(caught.value)
