"""Fixtures for the Azure App Configuration tests: the in-process fake of the data plane (`appconfig_fake`),
driven only through the official SDK and provider with `transport=`, and a model seeded the way the Pulumi
program seeds it (`ml_infra.config_store`): every non-secret key-value labelled with the environment, and the
schema document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from appconfig_fake import ENDPOINT, AppConfigState, FakeAppConfigTransport, StaticTokenCredential
from azure.appconfiguration import AzureAppConfigurationClient, ConfigurationSetting

from ml_infra.modelconfig.azure_appconfig import (
    API_VERSION,
    KEY_VAULT_REF_CONTENT_TYPE,
    AzureConfigLoader,
    AzureLayout,
    AzureReleaseManager,
)
from ml_infra.modelconfig.layout import KeySchema, ModelSchema

PROJECT = "ml-infra"
ENV = "dev"
MODEL = "ranker"
LAYOUT = AzureLayout(PROJECT, ENV)

RANKER_SCHEMA = {
    "max_results": KeySchema(ssm_type="String", value_type="integer", minimum=1, maximum=100),
    "threshold": KeySchema(ssm_type="String", value_type="number", minimum=0, maximum=1),
    "use_gpu": KeySchema(ssm_type="String", value_type="boolean"),
    "features": KeySchema(ssm_type="StringList", value_type="list"),
    "routing": KeySchema(ssm_type="String", value_type="json"),
    "api_token": KeySchema(ssm_type="SecureString", value_type="secret"),
}
VAULT = "https://ml-infra-dev.vault.azure.net"
TOKEN_V1 = f"{VAULT}/secrets/ranker-api-token/0a1b2c3d4e5f"
TOKEN_V2 = f"{VAULT}/secrets/ranker-api-token/9f8e7d6c5b4a"
INITIAL = {
    "max_results": ("20", None),
    "threshold": ("0.5", None),
    "use_gpu": ("false", None),
    "features": (json.dumps(["age", "country"]), "application/json"),
    "routing": ('{"a": 1}', "application/json"),
    "api_token": (json.dumps({"uri": TOKEN_V1}), KEY_VAULT_REF_CONTENT_TYPE),
}


@dataclass
class Store:
    """One fake store and everything a test needs to talk to it."""

    state: AppConfigState
    transport: FakeAppConfigTransport
    vault: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> AzureAppConfigurationClient:
        return AzureAppConfigurationClient(
            ENDPOINT, StaticTokenCredential(), transport=self.transport, api_version=API_VERSION, **kwargs
        )

    def manager(self, identity: str = "alice@example.com") -> AzureReleaseManager:
        return AzureReleaseManager(PROJECT, ENV, client=self.client(), store=ENDPOINT, identity=identity)

    def loader(self, **kwargs: Any) -> AzureConfigLoader:
        kwargs.setdefault("ttl_seconds", 30.0)
        kwargs.setdefault("startup_timeout", 1)
        return AzureConfigLoader(
            PROJECT,
            ENV,
            endpoint=ENDPOINT,
            credential=StaticTokenCredential(),
            secret_resolver=self.resolve,
            transport=self.transport,
            retry_total=1,
            **kwargs,
        )

    def resolve(self, uri: str) -> str:
        # Key Vault stand-in: the provider hands over the versioned URI of the reference.
        return self.vault[uri]

    def put(self, key: str, value: str, content_type: str | None = None, tags: dict[str, str] | None = None) -> None:
        self.client().set_configuration_setting(
            ConfigurationSetting(key=key, label=ENV, value=value, content_type=content_type, tags=tags or {})
        )


def seed(store: Store, model: str = MODEL, schema: dict[str, KeySchema] | None = None) -> None:
    """What `pulumi up` writes: the schema document and each key's first value, tagged with the model."""
    keys = schema or RANKER_SCHEMA
    document = ModelSchema(project=PROJECT, environment=ENV, model=model, keys=keys)
    store.put(LAYOUT.schema_key(model), document.model_dump_json(), "application/json")
    for key, (value, content_type) in INITIAL.items():
        if key in keys:
            store.put(LAYOUT.key(model, key), value, content_type, {"model": model})


@pytest.fixture(autouse=True)
def no_failed_load_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider holds a failed cold load until the process has been up 5 s (`delay_failure`, so that a
    crashing application does not restart in a tight loop); the tests of failed loads would each wait for it."""
    import azure.appconfiguration.provider._utils as provider_utils

    monkeypatch.setattr(provider_utils, "min_uptime", 0)


@pytest.fixture
def store() -> Iterator[Store]:
    state = AppConfigState()
    transport = FakeAppConfigTransport(state)
    result = Store(state, transport, {TOKEN_V1: "token-one", TOKEN_V2: "token-two"})
    seed(result)
    yield result
    assert transport.validator.checked > 0
