"""What only Azure App Configuration's primitives have, through the real SDK over the fake: releases as ready
`key` snapshots tagged with their ledger, a failed or raced snapshot, secrets as versioned Key Vault references,
archived releases recovered, foreign snapshots refused, rollback without key-value revisions. The guarantees every
backend keeps run on this store in `tests/modelconfig/test_guarantees.py`."""

from __future__ import annotations

import pytest

from ml_infra.modelconfig.azure_appconfig import ConcurrentActivationError
from ml_infra.modelconfig.errors import (
    ConfigValidationError,
    ModelConfigError,
    UnknownModelError,
    UnknownReleaseError,
)

from .conftest import ENV, LAYOUT, MODEL, TOKEN_V2, Store


def test_a_release_is_a_ready_key_snapshot_tagged_with_its_ledger(store: Store) -> None:
    manager = store.manager()
    document = manager.create_release(MODEL, "r1", note="first")
    snapshot = store.state.snapshots[LAYOUT.snapshot_name(MODEL, "r1")]
    assert snapshot.status == "ready" and snapshot.composition_type == "key"
    assert snapshot.filters == [{"key": "ranker:*", "label": ENV}]
    assert snapshot.tags["release_id"] == "r1" and snapshot.tags["created_by"] == "alice@example.com"
    assert snapshot.tags["note"] == "first" and snapshot.tags["parent"] == ""
    assert set(document.keys) == {"max_results", "threshold", "use_gpu", "features", "routing", "api_token"}
    assert document.keys["api_token"].ssm_type == "SecureString"
    manager.activate(MODEL, "r1")
    assert manager.create_release(MODEL, "r2").parent_release_id == "r1"


def test_a_snapshot_that_does_not_become_ready_fails_clearly_and_activates_nothing(store: Store) -> None:
    store.state.fail_next_snapshot = "injected"
    with pytest.raises(ModelConfigError, match=r"ml-infra\.dev\.ranker\.r1.*nothing was activated"):
        store.manager().create_release(MODEL, "r1")
    assert (LAYOUT.pointer_key(MODEL), ENV) not in store.state.key_values


def test_a_value_set_while_the_snapshot_is_cut_makes_the_release_refused(store: Store) -> None:
    manager = store.manager()

    def sneak(method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "PUT" and path.startswith("/snapshots/"):
            store.transport.before_request = None
            store.put(LAYOUT.key(MODEL, "max_results"), "777")

    store.transport.before_request = sneak
    with pytest.raises(ConcurrentActivationError, match="max_results changed"):
        manager.create_release(MODEL, "r1")
    assert store.state.snapshots[LAYOUT.snapshot_name(MODEL, "r1")].status == "archived"


def test_set_stages_values_as_new_versions_and_refuses_bad_ones_whole(store: Store) -> None:
    manager = store.manager()
    staged = manager.set_values(MODEL, {"max_results": "30", "features": "a,b,c", "api_token": TOKEN_V2})
    assert [(s.key, s.version) for s in staged] == [("max_results", 2), ("features", 2), ("api_token", 2)]
    view = manager.view(MODEL, "staged")
    assert view.keys["features"].text == "a,b,c" and view.keys["api_token"].text == TOKEN_V2
    with pytest.raises(ConfigValidationError) as raised:
        manager.set_values(MODEL, {"max_results": "31", "api_token": "https://vault.example/secrets/t"})
    assert [p.key for p in raised.value.problems] == ["api_token"]  # an unversioned secret URI
    assert manager.view(MODEL, "staged").keys["max_results"].text == "30"  # nothing written


def test_activate_checks_the_target_and_writes_the_pointer_once(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    with pytest.raises(UnknownReleaseError, match="nope"):
        manager.activate(MODEL, "nope")
    store.transport.reset_counts()
    result = manager.activate(MODEL, "r1", reason="launch")
    writes = [r for r in store.transport.requests if r.method != "GET"]
    assert [(w.method, w.path) for w in writes] == [("PUT", "/kv/_active:ranker")]
    assert result.changed and result.previous_release_id is None
    assert manager.activate(MODEL, "r1").changed is False
    state = manager.pointer_state(MODEL)
    assert state.release_id == "r1" and state.activation is not None and state.activation.reason == "launch"


def test_an_archived_release_is_recovered_before_it_is_activated(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    store.client().archive_snapshot(LAYOUT.snapshot_name(MODEL, "r1"))
    manager.activate(MODEL, "r1")
    assert store.state.snapshots[LAYOUT.snapshot_name(MODEL, "r1")].status == "ready"


def test_a_foreign_snapshot_is_not_a_release(store: Store) -> None:
    from azure.appconfiguration import ConfigurationSettingsFilter

    name = LAYOUT.snapshot_name(MODEL, "forged")
    store.client().begin_create_snapshot(name, [ConfigurationSettingsFilter(key="*", label=ENV)]).result()
    with pytest.raises(ModelConfigError, match="not a release of model ranker"):
        store.manager().activate(MODEL, "forged")


def test_rollback_is_one_conditional_write_to_the_ledgers_previous_release(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    manager.set_values(MODEL, {"max_results": "30"})
    manager.create_release(MODEL, "r2")
    manager.activate(MODEL, "r2")
    store.state.revisions.clear()  # revisions expire; rollback must not need them
    store.transport.reset_counts()
    result = manager.rollback(MODEL, reason="bad results")
    writes = [r for r in store.transport.requests if r.method != "GET"]
    assert len(writes) == 1 and result.release_id == "r1" and result.action == "rollback"
    assert manager.view(MODEL).keys["max_results"].text == "20"
    store.state.revisions.clear()
    assert [(h.release_id, h.action) for h in manager.history(MODEL)] == [("r1", "rollback")]  # all it still knows


def test_an_unknown_model_names_the_store_and_the_key(store: Store) -> None:
    with pytest.raises(UnknownModelError, match=r"fake-store.*_schema:nobody"):
        store.manager().schema("nobody")


def test_a_rollback_decided_from_a_pointer_that_changed_meanwhile_is_refused(store: Store) -> None:
    manager = store.manager()
    for release, value in (("r1", None), ("r2", "30"), ("r3", "40")):
        if value:
            manager.set_values(MODEL, {"max_results": value})
        manager.create_release(MODEL, release)
    manager.activate(MODEL, "r1")
    manager.activate(MODEL, "r2")

    def sneak(method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "GET" and path == f"/snapshots/{LAYOUT.snapshot_name(MODEL, 'r1')}":
            store.transport.before_request = None
            store.manager("bob").activate(MODEL, "r3")

    store.transport.before_request = sneak
    with pytest.raises(ConcurrentActivationError, match="nothing was written"):
        manager.rollback(MODEL)
    assert manager.active(MODEL).release_id == "r3"  # type: ignore[union-attr]
