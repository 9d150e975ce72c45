"""What only the Azure read path has: applications load through the official provider
(`azure-appconfiguration-provider`) over the fake, the pointer followed to its snapshot, secrets resolved from
Key Vault references, an unchanged refresh one conditional request, the pointer's Azure-specific hand edits
refused with their reason, throttling retried by the SDK. The guarantees every backend keeps (no mixed reads,
missing releases, `_schema` violations, outages and the last known good) run on this store in
`tests/modelconfig/test_guarantees.py`."""

from __future__ import annotations

import json

import pytest

from ml_infra.modelconfig.azure_appconfig import SNAPSHOT_REF_CONTENT_TYPE
from ml_infra.modelconfig.errors import ConfigUnavailableError

from .conftest import ENV, LAYOUT, MODEL, TOKEN_V2, Store


def _release(store: Store, release: str, **values: str) -> None:
    manager = store.manager()
    if values:
        manager.set_values(MODEL, values)
    manager.create_release(MODEL, release)
    manager.activate(MODEL, release)


def test_a_load_is_the_active_release_typed_with_its_secret_resolved(store: Store) -> None:
    _release(store, "r1")
    config = store.loader().load(MODEL)
    assert config.release_id == "r1" and not config.stale and config.source == "azure"
    assert config["max_results"] == 20 and config["threshold"] == 0.5 and config["use_gpu"] is False
    assert config["features"] == ["age", "country"] and config["routing"] == {"a": 1}
    assert config.secret("api_token") == "token-one"


def test_an_unchanged_refresh_is_one_conditional_request(store: Store) -> None:
    _release(store, "r1")
    loader = store.loader()
    loader.load(MODEL)
    store.transport.reset_counts()
    loader.load(MODEL, refresh=True)
    assert [(r.method, r.path, r.status) for r in store.transport.requests] == [("GET", "/kv/_active:ranker", 304)]
    store.transport.reset_counts()
    loader.load(MODEL)  # within the TTL: nothing
    assert store.transport.requests == []


def test_activation_and_rollback_reach_the_application_with_the_exact_secret(store: Store) -> None:
    _release(store, "r1")
    loader = store.loader()
    assert loader.load(MODEL).secret("api_token") == "token-one"
    _release(store, "r2", max_results="30", api_token=TOKEN_V2)
    config = loader.load(MODEL, refresh=True)
    assert (config.release_id, config["max_results"], config.secret("api_token")) == ("r2", 30, "token-two")
    store.manager().rollback(MODEL)
    config = loader.load(MODEL, refresh=True)
    assert (config.release_id, config["max_results"], config.secret("api_token")) == ("r1", 20, "token-one")


def test_a_hand_edited_pointer_is_refused_with_its_reason(store: Store) -> None:
    from azure.appconfiguration import ConfigurationSettingsFilter

    _release(store, "r1")
    loader = store.loader()
    loader.load(MODEL)
    forged = LAYOUT.snapshot_name(MODEL, "forged")
    store.client().begin_create_snapshot(forged, [ConfigurationSettingsFilter(key="*", label=ENV)]).result()
    store.put(LAYOUT.pointer_key(MODEL), json.dumps({"snapshot_name": forged}), SNAPSHOT_REF_CONTENT_TYPE)
    config = loader.load(MODEL, refresh=True)
    assert config.stale and config.release_id == "r1" and "not a release of this model" in (config.stale_reason or "")
    store.put(LAYOUT.pointer_key(MODEL), "r1")  # plain text: the provider would not follow it
    config = loader.load(MODEL, refresh=True)
    assert config.stale and "not a snapshot reference" in (config.stale_reason or "")


def test_throttling_is_retried_by_the_sdk_honouring_retry_after_ms(store: Store) -> None:
    _release(store, "r1")
    store.transport.throttle(1, retry_after_ms=300)
    config = store.loader().load(MODEL)
    assert not config.stale and 0.3 in store.transport.sleeps


def test_no_active_release_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ConfigUnavailableError, match="no active release"):
        store.loader().load(MODEL)
