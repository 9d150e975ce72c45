"""The fake itself, through the official SDK: the behaviour the service's recorded sessions show, and every
response checked against the REST spec (a response the spec does not allow fails the test that caused it)."""

from __future__ import annotations

import json

import pytest
from appconfig_fake import ENDPOINT, FakeAppConfigTransport, SpecValidator, SpecViolation, StaticTokenCredential
from appconfig_fake.spec import load_spec
from azure.appconfiguration import (
    AzureAppConfigurationClient,
    ConfigurationSetting,
    ConfigurationSettingsFilter,
    ResourceReadOnlyError,
    SnapshotComposition,
    SnapshotStatus,
)
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError

from ml_infra.modelconfig.azure_appconfig import API_VERSION

from .conftest import ENV, Store


def test_a_stale_if_match_is_412_and_writes_nothing(store: Store) -> None:
    client = store.client()
    current = client.get_configuration_setting("ranker:max_results", label=ENV)
    client.set_configuration_setting(ConfigurationSetting(key="ranker:max_results", label=ENV, value="30"))
    stale = ConfigurationSetting(key="ranker:max_results", label=ENV, value="40", etag=current.etag)
    with pytest.raises(ResourceModifiedError) as raised:
        client.set_configuration_setting(stale, match_condition=MatchConditions.IfNotModified)
    assert raised.value.status_code == 412
    assert client.get_configuration_setting("ranker:max_results", label=ENV).value == "30"
    refused = store.transport.requests[-2]
    assert (refused.method, refused.status) == ("PUT", 412)


def test_etag_header_is_quoted_and_body_etag_is_not(store: Store) -> None:
    seen: list[tuple[str, str]] = []
    transport = store.transport
    original = transport._kv_response

    def spy(kv, status=200):  # type: ignore[no-untyped-def]
        result = original(kv, status)
        seen.append((result[1]["ETag"], json.loads(result[2])["etag"]))
        return result

    transport._kv_response = spy  # type: ignore[method-assign]
    setting = store.client().get_configuration_setting("ranker:max_results", label=ENV)
    header, body = seen[-1]
    assert header == f'"{body}"' and setting.etag == body


def test_a_locked_key_refuses_writes_and_deletes_with_409_until_unlocked(store: Store) -> None:
    client = store.client()
    setting = client.get_configuration_setting("ranker:max_results", label=ENV)
    locked = client.set_read_only(setting)
    assert locked.read_only
    with pytest.raises(ResourceReadOnlyError) as raised:
        client.set_configuration_setting(ConfigurationSetting(key="ranker:max_results", label=ENV, value="1"))
    assert raised.value.status_code == 409
    with pytest.raises(ResourceReadOnlyError):
        client.delete_configuration_setting("ranker:max_results", label=ENV)
    client.set_read_only(locked, False)
    client.set_configuration_setting(ConfigurationSetting(key="ranker:max_results", label=ENV, value="1"))
    assert client.get_configuration_setting("ranker:max_results", label=ENV).value == "1"


def test_429_carries_retry_after_ms_and_the_sdk_waits_that_long(store: Store) -> None:
    store.transport.throttle(2, retry_after_ms=750)
    value = store.client(retry_total=3).get_configuration_setting("ranker:max_results", label=ENV).value
    assert value == "20"
    assert store.transport.sleeps[-2:] == [0.75, 0.75]
    assert [r.status for r in store.transport.requests[-3:]] == [429, 429, 200]


def test_snapshot_creation_is_polled_until_ready_then_archived_and_recovered(store: Store) -> None:
    client = store.client()
    poller = client.begin_create_snapshot(
        "s1", [ConfigurationSettingsFilter(key="ranker:*", label=ENV)], composition_type=SnapshotComposition.KEY
    )
    snapshot = poller.result()
    assert snapshot.status == SnapshotStatus.READY and snapshot.items_count == 6
    polls = [r for r in store.transport.requests if r.path == "/operations"]
    assert len(polls) == 3  # Running, Running, Succeeded: as in the recorded session
    assert store.transport.sleeps[:2] == [10.0, 10.0]  # the recorded Retry-After
    archived = client.archive_snapshot("s1")
    assert archived.status == SnapshotStatus.ARCHIVED and archived.expires is not None
    assert client.recover_snapshot("s1").status == SnapshotStatus.READY
    with pytest.raises(HttpResponseError) as raised:
        client.begin_create_snapshot("s1", [ConfigurationSettingsFilter(key="ranker:*", label=ENV)]).result()
    assert raised.value.status_code == 409


def test_a_snapshot_is_immutable_while_the_key_values_change(store: Store) -> None:
    client = store.client()
    client.begin_create_snapshot("s1", [ConfigurationSettingsFilter(key="ranker:*", label=ENV)]).result()
    client.set_configuration_setting(ConfigurationSetting(key="ranker:max_results", label=ENV, value="99"))
    frozen = {s.key: s.value for s in client.list_configuration_settings(snapshot_name="s1")}
    assert frozen["ranker:max_results"] == "20"


def test_a_failed_snapshot_operation_fails_the_poller(store: Store) -> None:
    store.state.fail_next_snapshot = "injected failure"
    poller = store.client().begin_create_snapshot("s2", [ConfigurationSettingsFilter(key="ranker:*", label=ENV)])
    with pytest.raises(HttpResponseError):
        poller.result()
    assert store.state.snapshots["s2"].status == "failed"


def test_lists_page_at_100_with_next_links(store: Store) -> None:
    client = store.client()
    for index in range(230):
        client.set_configuration_setting(ConfigurationSetting(key=f"bulk:{index:03d}", label=ENV, value="x"))
    store.transport.reset_counts()
    keys = [s.key for s in client.list_configuration_settings(key_filter="bulk:*", label_filter=ENV)]
    assert len(keys) == 230 and keys == sorted(keys)
    assert len(store.transport.requests) == 3


def test_only_the_spec_api_version_and_bearer_tokens_are_served() -> None:
    transport = FakeAppConfigTransport()
    other = AzureAppConfigurationClient(ENDPOINT, StaticTokenCredential(), transport=transport)  # SDK default
    with pytest.raises(HttpResponseError) as raised:
        other.get_configuration_setting("k")
    assert raised.value.status_code == 400
    assert API_VERSION in str(raised.value.message) or raised.value.status_code == 400


def test_the_validator_rejects_what_the_spec_does_not_allow() -> None:
    validator = SpecValidator()
    good = json.dumps({"key": "k", "value": "v", "etag": "e", "locked": False}).encode()
    headers = {"Content-Type": "application/vnd.microsoft.appconfig.kv+json; charset=utf-8"}
    assert validator.check("GET", "/kv/k", 200, headers, good) == "GetKeyValue"
    with pytest.raises(SpecViolation, match="label"):  # null where the spec says string
        validator.check("GET", "/kv/k", 200, headers, json.dumps({"key": "k", "label": None}).encode())
    with pytest.raises(SpecViolation, match="description"):  # a field the 2024-09-01 API does not have
        validator.check("GET", "/kv/k", 200, headers, json.dumps({"key": "k", "description": "x"}).encode())
    with pytest.raises(SpecViolation, match="Content-Type"):
        validator.check("GET", "/kv/k", 200, {"Content-Type": "text/plain"}, good)
    with pytest.raises(SpecViolation, match="not declared"):
        validator.check("PUT", "/snapshots/s", 200, {}, b"")
    with pytest.raises(SpecViolation, match="status"):
        snapshot = {"name": "s", "filters": [{"key": "a"}], "status": "deleted"}
        validator.check("GET", "/snapshots/s", 200, {"Content-Type": "application/json"}, json.dumps(snapshot).encode())
    with pytest.raises(SpecViolation, match="no operation"):
        validator.check("POST", "/kv/k", 200, {}, b"")


def test_the_spec_is_read_from_shared_reference_data() -> None:
    spec = load_spec()
    assert spec["info"]["version"] == "2024-09-01" and "/snapshots/{name}" in spec["paths"]
