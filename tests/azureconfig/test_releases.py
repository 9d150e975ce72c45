"""Releases, activation and rollback on Azure App Configuration, through the real SDK over the fake."""

from __future__ import annotations

import threading

import pytest

from ml_infra.modelconfig.azure_appconfig import ConcurrentActivationError
from ml_infra.modelconfig.errors import (
    ConfigValidationError,
    InvalidInputError,
    ModelConfigError,
    ReleaseExistsError,
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


def test_a_release_id_is_never_reused(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    with pytest.raises(ReleaseExistsError, match="r1"):
        manager.create_release(MODEL, "r1")
    with pytest.raises(InvalidInputError, match="reserved"):
        manager.create_release(MODEL, "active")


def test_a_release_that_violates_the_schema_is_refused_naming_each_key(store: Store) -> None:
    store.put(LAYOUT.key(MODEL, "max_results"), "500")
    store.put(LAYOUT.key(MODEL, "use_gpu"), "yes")
    with pytest.raises(ConfigValidationError) as raised:
        store.manager().create_release(MODEL, "bad")
    assert {p.key for p in raised.value.problems} == {"max_results", "use_gpu"}
    assert LAYOUT.snapshot_name(MODEL, "bad") not in store.state.snapshots


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


def test_a_missing_or_deleted_snapshot_is_never_activated(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    manager.set_values(MODEL, {"max_results": "30"})
    manager.create_release(MODEL, "r2")
    store.state.expire_snapshot(LAYOUT.snapshot_name(MODEL, "r2"))
    with pytest.raises(UnknownReleaseError, match="r2"):
        manager.activate(MODEL, "r2")
    assert manager.active(MODEL).release_id == "r1"  # type: ignore[union-attr]


def test_a_foreign_snapshot_is_not_a_release(store: Store) -> None:
    from azure.appconfiguration import ConfigurationSettingsFilter

    name = LAYOUT.snapshot_name(MODEL, "forged")
    store.client().begin_create_snapshot(name, [ConfigurationSettingsFilter(key="*", label=ENV)]).result()
    with pytest.raises(ModelConfigError, match="not a release of model ranker"):
        store.manager().activate(MODEL, "forged")


def test_two_concurrent_activations_exactly_one_wins(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    for release, value in (("r2", "30"), ("r3", "40")):
        manager.set_values(MODEL, {"max_results": value})
        manager.create_release(MODEL, release)
    barrier = threading.Barrier(2)

    def hold(method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "PUT" and path == "/kv/_active:ranker":
            barrier.wait(timeout=5)  # both have read the same ETag before either writes

    store.transport.before_request = hold
    outcomes: dict[str, object] = {}

    def run(release: str, who: str) -> None:
        try:
            outcomes[release] = store.manager(who).activate(MODEL, release)
        except ModelConfigError as err:
            outcomes[release] = err

    threads = [threading.Thread(target=run, args=(r, w)) for r, w in (("r2", "alice"), ("r3", "bob"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    store.transport.before_request = None
    errors = [o for o in outcomes.values() if isinstance(o, ModelConfigError)]
    winners = [r for r, o in outcomes.items() if not isinstance(o, ModelConfigError)]
    assert len(errors) == 1 and len(winners) == 1
    assert isinstance(errors[0], ConcurrentActivationError) and "nothing was written" in errors[0].message
    history = manager.history(MODEL)
    assert [h.release_id for h in history] == [winners[0], "r1"]
    assert history[0].previous_release_id == "r1"


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


def test_diff_and_releases_read_the_snapshots(store: Store) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.set_values(MODEL, {"max_results": "30"})
    manager.create_release(MODEL, "r2")
    changes = {d.key: d.status for d in manager.diff(MODEL, "r1", "r2")}
    assert changes["max_results"] == "changed" and changes["threshold"] == "unchanged"
    assert [r.release_id for r in manager.list_releases(MODEL)] == ["r1", "r2"]


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
