"""Applications load through the official provider (`azure-appconfiguration-provider`) over the fake: the
pointer followed to its snapshot, checked, typed against `_schema`, secrets resolved from Key Vault references,
and the last known good configuration served stale when the store fails or a new release is refused."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from ml_infra.modelconfig.azure_appconfig import SNAPSHOT_REF_CONTENT_TYPE
from ml_infra.modelconfig.errors import ConfigUnavailableError, ModelConfigError
from ml_infra.modelconfig.layout import ReleaseDocument, pointer_for
from ml_infra.modelconfig.snapshot import EncryptedFileSnapshot

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


def test_staged_values_are_invisible_until_their_release_is_active(store: Store) -> None:
    _release(store, "r1")
    loader = store.loader()
    store.manager().set_values(MODEL, {"max_results": "30"})
    assert loader.load(MODEL, refresh=True)["max_results"] == 20


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


def test_readers_never_see_a_mix_of_two_releases(store: Store) -> None:
    _release(store, "r1")
    _release(store, "r2", max_results="30", threshold="0.7")
    manager = store.manager()
    expected = {"r1": (20, 0.5), "r2": (30, 0.7)}
    seen: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def read() -> None:
        loader = store.loader()
        while not stop.is_set():
            config = loader.load(MODEL, refresh=True)
            seen.append((config.release_id, config["max_results"], config["threshold"]))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for index in range(20):
        manager.rollback(MODEL) if index % 2 == 0 else manager.activate(MODEL, "r2")
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert len(seen) > 3
    assert all(expected[release] == (maximum, threshold) for release, maximum, threshold in seen)


def test_a_pointer_to_a_deleted_snapshot_is_refused_and_the_last_good_is_served_stale(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _release(store, "r1")
    _release(store, "r2", max_results="30")
    loader = store.loader()
    assert loader.load(MODEL).release_id == "r2"
    store.manager().rollback(MODEL)
    store.state.expire_snapshot(LAYOUT.snapshot_name(MODEL, "r1"))
    with caplog.at_level(logging.WARNING):
        config = loader.load(MODEL, refresh=True)
    assert config.stale and config.release_id == "r2" and config["max_results"] == 30
    assert "does not exist" in (config.stale_reason or "")
    # With nothing to fall back on, the same pointer is an error, never an empty configuration.
    with pytest.raises(ModelConfigError, match="does not exist"):
        store.loader().load(MODEL)


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


def test_a_release_that_violates_the_schema_is_served_stale_never_silently(store: Store) -> None:
    _release(store, "r1")
    loader = store.loader()
    loader.load(MODEL)
    # A value the schema forbids, released around the core's checks (a snapshot cut by hand, the pointer written
    # by the backend).
    from azure.appconfiguration import ConfigurationSettingsFilter

    store.put(LAYOUT.key(MODEL, "max_results"), "500", tags={"model": MODEL})
    name = LAYOUT.snapshot_name(MODEL, "sneaky")
    tags = {"release_id": "sneaky", "model": MODEL, "environment": ENV, "project": "ml-infra"}
    filters = [ConfigurationSettingsFilter(key="ranker:*", label=ENV)]
    store.client().begin_create_snapshot(name, filters, tags=tags).result()
    backend = store.manager().backend  # its pointer write checks the snapshot, not the values
    documents = backend.read_documents(MODEL, ["sneaky"])
    stored = documents.releases["sneaky"]
    assert stored is not None and documents.pointer is not None
    pointer = pointer_for(ReleaseDocument.model_validate_json(stored.text), stored.text)
    backend.swap_pointer(MODEL, pointer.model_dump_json(), documents.pointer.revision)
    config = loader.load(MODEL, refresh=True)
    assert config.stale and config.release_id == "r1" and config["max_results"] == 20
    assert "max_results" in (config.stale_reason or "") and "maximum" in (config.stale_reason or "")


def test_an_outage_at_refresh_serves_the_last_good_stale_then_recovers(store: Store) -> None:
    _release(store, "r1")
    loader = store.loader()
    loader.load(MODEL)
    store.transport.outage = True
    config = loader.load(MODEL, refresh=True)
    assert config.stale and config.source == "memory" and "unreachable" in (config.stale_reason or "")
    assert config["max_results"] == 20
    store.transport.outage = False
    _release(store, "r2", max_results="30")
    config = loader.load(MODEL, refresh=True)
    assert not config.stale and config.release_id == "r2"


def test_an_outage_at_load_serves_the_encrypted_snapshot_or_fails_clearly(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _release(store, "r1")
    key = EncryptedFileSnapshot.generate_key()
    store.loader(snapshot=EncryptedFileSnapshot(tmp_path, key)).load(MODEL)
    store.transport.outage = True
    config = store.loader(snapshot=EncryptedFileSnapshot(tmp_path, key)).load(MODEL)
    assert config.stale and config.source == "file" and config.secret("api_token") == "token-one"
    with pytest.raises(ConfigUnavailableError, match="unreachable"):
        store.loader().load(MODEL)
    store.transport.outage = False
    assert not store.loader().load(MODEL).stale


def test_throttling_is_retried_by_the_sdk_honouring_retry_after_ms(store: Store) -> None:
    _release(store, "r1")
    store.transport.throttle(1, retry_after_ms=300)
    config = store.loader().load(MODEL)
    assert not config.stale and 0.3 in store.transport.sleeps


def test_no_active_release_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ConfigUnavailableError, match="no active release"):
        store.loader().load(MODEL)
