"""Under throttling, timeouts and outages the loader retries with backoff, then serves the last known good
configuration (from memory, or from the encrypted local file) and says that it is stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_infra.modelconfig import (
    Backoff,
    ConfigUnavailableError,
    EncryptedFileSnapshot,
    InvalidInputError,
    ModelConfigLoader,
    PermissionDeniedError,
)
from ml_infra.modelconfig.layout import ReleaseDocument, pointer_for

from .conftest import ENV, PROJECT, RANKER_SCHEMA, RANKER_VALUES, ApiCalls, Faults, MotoServer, manager, seed_model, ssm


class Sleeps:
    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def loader(client, sleeps: Sleeps, **kwargs) -> ModelConfigLoader:
    backoff = Backoff(attempts=4, base_delay=0.1, max_delay=1.0, sleep=sleeps, jitter=lambda: 1.0)
    return ModelConfigLoader(PROJECT, ENV, client=client, backoff=backoff, retry_interval=0, **kwargs)


def test_throttling_is_retried_with_growing_backoff_and_the_load_is_fresh(ranker: ReleaseDocument):
    client, sleeps = ssm(), Sleeps()
    faults, calls = Faults(client), ApiCalls(client)
    faults.add("throttle", "GetParameters", times=2)
    config = loader(client, sleeps).load("ranker")
    assert not config.stale and config["max_results"] == 20
    assert sleeps.asked == [0.1, 0.2]
    assert calls.counts["GetParameters"] == 5  # 2 throttled + pointer and schema + the release + the 7 keys


def test_persistent_throttling_serves_the_last_known_good_configuration_marked_stale(ranker: ReleaseDocument):
    client, sleeps = ssm(), Sleeps()
    faults = Faults(client)
    the_loader = loader(client, sleeps, ttl_seconds=0)
    good = the_loader.load("ranker")
    faults.add("throttle")
    calls = ApiCalls(client)
    stale = the_loader.load("ranker")
    assert stale.stale and stale.source == "memory" and "ThrottlingException" in (stale.stale_reason or "")
    assert dict(stale.values) == dict(good.values) and stale.release_id == good.release_id
    assert calls.total == 4 and sleeps.asked == [0.1, 0.2, 0.4]  # bounded: 4 attempts, then stale

    faults.clear()
    fresh = the_loader.load("ranker")
    assert not fresh.stale and fresh.stale_reason is None


def test_while_stale_ssm_is_not_asked_again_before_the_retry_interval(ranker: ReleaseDocument):
    client, sleeps = ssm(), Sleeps()
    now = [0.0]
    the_loader = ModelConfigLoader(
        PROJECT,
        ENV,
        client=client,
        ttl_seconds=0,
        retry_interval=5.0,
        backoff=Backoff(attempts=2, sleep=sleeps, jitter=lambda: 0.0),
        clock=lambda: now[0],
    )
    the_loader.load("ranker")
    faults = Faults(client)
    faults.add("outage")
    assert the_loader.load("ranker").stale
    calls = ApiCalls(client)
    now[0] = 4.0
    assert the_loader.load("ranker").stale
    assert calls.total == 0
    now[0] = 6.0
    faults.clear()
    assert not the_loader.load("ranker").stale
    assert calls.total == 1


@pytest.mark.parametrize("fault", ["outage", "timeout", "server"])
def test_a_cold_start_during_an_outage_without_a_snapshot_fails_clearly(ranker: ReleaseDocument, fault: str):
    client, sleeps = ssm(), Sleeps()
    Faults(client).add(fault)
    with pytest.raises(ConfigUnavailableError, match="load model ranker"):
        loader(client, sleeps).load("ranker")
    assert len(sleeps.asked) == 3


def test_missing_permission_is_not_retried_and_names_the_cause(ranker: ReleaseDocument):
    client, sleeps = ssm(), Sleeps()
    Faults(client).add("deny")
    with pytest.raises(PermissionDeniedError, match="cannot load model ranker: AWS denied permission to read"):
        loader(client, sleeps).load("ranker")
    assert sleeps.asked == []


def test_a_new_process_during_an_outage_starts_from_the_encrypted_snapshot(ranker: ReleaseDocument, tmp_path: Path):
    key = EncryptedFileSnapshot.generate_key()
    first = loader(ssm(), Sleeps(), snapshot=EncryptedFileSnapshot(tmp_path, key))
    good = first.load("ranker")

    client = ssm()
    Faults(client).add("outage")
    restarted = loader(client, Sleeps(), snapshot=EncryptedFileSnapshot(tmp_path, key))
    config = restarted.load("ranker")
    assert config.stale and config.source == "file" and "unreachable" in (config.stale_reason or "")
    assert dict(config.values).keys() == dict(good.values).keys()
    assert config["max_results"] == 20 and config.secret("api_token") == RANKER_VALUES["api_token"]


def test_the_snapshot_is_encrypted_private_and_useless_with_another_key(ranker: ReleaseDocument, tmp_path: Path):
    snapshot = EncryptedFileSnapshot(tmp_path, EncryptedFileSnapshot.generate_key())
    loader(ssm(), Sleeps(), snapshot=snapshot).load("ranker")
    path = snapshot.path(PROJECT, ENV, "ranker")
    data = path.read_bytes()
    assert RANKER_VALUES["api_token"].encode() not in data and b"max_results" not in data
    assert path.stat().st_mode & 0o077 == 0

    client = ssm()
    Faults(client).add("outage")
    other_key = EncryptedFileSnapshot(tmp_path, EncryptedFileSnapshot.generate_key())
    with pytest.raises(ConfigUnavailableError):
        loader(client, Sleeps(), snapshot=other_key).load("ranker")


def test_a_bad_snapshot_key_is_refused_at_construction(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="Fernet key"):
        EncryptedFileSnapshot(tmp_path, "not-a-key")


def test_a_release_naming_a_vanished_version_keeps_the_previous_configuration(ranker: ReleaseDocument):
    client = ssm()
    the_loader = loader(client, Sleeps(), ttl_seconds=0)
    assert the_loader.load("ranker")["max_results"] == 20
    broken = ranker.model_copy(
        update={
            "release_id": "broken",
            "keys": {**ranker.keys, "max_results": ranker.keys["max_results"].model_copy(update={"version": 7})},
        }
    )
    text = broken.model_dump_json()
    client.put_parameter(Name=f"/{PROJECT}/{ENV}/ranker/_release/broken", Value=text, Type="String")
    client.put_parameter(
        Name=f"/{PROJECT}/{ENV}/ranker/_release/active",
        Value=pointer_for(broken, text).model_dump_json(),
        Type="String",
        Overwrite=True,
    )
    config = the_loader.load("ranker")
    assert config.stale and config.release_id == "initial" and config["max_results"] == 20
    assert "max_results v7" in (config.stale_reason or "")


def test_a_stopped_moto_server_is_an_outage_and_stale_is_served(own_moto_server: MotoServer):
    client = own_moto_server.client(connect_timeout=0.5, read_timeout=0.5)
    seed_model(client, "ranker", RANKER_SCHEMA, RANKER_VALUES)
    the_loader = loader(client, Sleeps(), ttl_seconds=0)
    assert not the_loader.load("ranker").stale
    own_moto_server.server.stop()
    config = the_loader.load("ranker")
    assert config.stale and config["mode"] == "fast"


def test_operators_writes_are_retried_through_throttling(moto_server: MotoServer):
    # Against the server: an injected fault stops the request before it is sent, as a real throttle would.
    client = moto_server.client()
    seed_model(client, "ranker", RANKER_SCHEMA, RANKER_VALUES)
    faults, calls = Faults(client), ApiCalls(client)
    faults.add("throttle", "PutParameter", times=2)
    staged = manager(client, endpoint_url=moto_server.url).set_values("ranker", {"max_results": "25"})
    assert [(s.key, s.version) for s in staged] == [("max_results", 2)]
    assert calls.counts["PutParameter"] == 3
