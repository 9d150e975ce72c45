"""Loading: typed values, the API-call budget (cold ceil(N/10)+2, warm 0), and never a mix of two releases."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, SecretStr

from ml_infra.modelconfig import (
    ConfigUnavailableError,
    ConfigValidationError,
    InvalidInputError,
    ModelConfigLoader,
    UnknownModelError,
)
from ml_infra.modelconfig.layout import ReleaseDocument, active_release_parameter_name

from .conftest import (
    ENV,
    NO_SLEEP,
    PROJECT,
    RANKER_SCHEMA,
    RANKER_VALUES,
    ApiCalls,
    manager,
    many_keys,
    seed_model,
    ssm,
)


def loader(client, **kwargs) -> ModelConfigLoader:
    return ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP, **kwargs)


def test_load_returns_the_declared_types_with_secrets_decrypted(ranker: ReleaseDocument):
    config = loader(ssm()).load("ranker")
    assert config.release_id == "initial" and not config.stale and config.source == "ssm"
    assert config["max_results"] == 20 and isinstance(config["max_results"], int)
    assert config["threshold"] == 0.5
    assert config["use_gpu"] is True
    assert config["features"] == ["age", "country", "clicks"]
    assert config["routing"] == {"primary": "eu", "weights": [0.7, 0.3]}
    assert config["mode"] == "fast"
    assert isinstance(config["api_token"], SecretStr)
    assert config.secret("api_token") == RANKER_VALUES["api_token"]
    # The plaintext is never in a repr or a log line made from the configuration.
    assert RANKER_VALUES["api_token"] not in repr(config)


def test_configuration_validates_into_the_applications_own_model(ranker: ReleaseDocument):
    class RankerSettings(BaseModel):
        max_results: int
        threshold: float
        features: list[str]
        api_token: SecretStr

    settings = loader(ssm()).load("ranker").parse_as(RankerSettings)
    assert settings.max_results == 20 and settings.api_token.get_secret_value() == RANKER_VALUES["api_token"]

    class NeedsMore(BaseModel):
        batch_size: int

    with pytest.raises(ConfigValidationError) as refused:
        loader(ssm()).load("ranker").parse_as(NeedsMore)
    assert refused.value.problems[0].key == "batch_size"


@pytest.mark.parametrize("count", [1, 10, 11, 40])
def test_cold_load_costs_one_call_per_ten_keys_plus_two(aws: None, count: int):
    client = ssm()
    schema, values = many_keys(count)
    seed_model(client, "wide", schema, values)
    calls = ApiCalls(client)
    config = loader(client).load("wide")
    # pointer + schema, the release document the pointer names, then the keys ten per call
    assert calls.total == math.ceil(count / 10) + 2
    assert set(calls.counts) == {"GetParameters"}
    assert [config[k] for k in sorted(values)] == list(range(count))


def test_warm_load_within_the_ttl_makes_no_call(aws: None):
    client = ssm()
    seed_model(client, "wide", *many_keys(40))
    the_loader = loader(client, ttl_seconds=300)
    first = the_loader.load("wide")
    calls = ApiCalls(client)
    for _ in range(5):
        assert the_loader.load("wide") is first
    assert calls.total == 0


def test_after_the_ttl_an_unchanged_release_costs_only_the_pointer_read(aws: None):
    client = ssm()
    seed_model(client, "wide", *many_keys(40))
    the_loader = loader(client, ttl_seconds=0)
    the_loader.load("wide")
    calls = ApiCalls(client)
    the_loader.load("wide")
    assert calls.total == 1  # pointer + schema in one GetParameters; key versions never change


def test_staged_values_are_invisible_until_their_release_is_active(ranker: ReleaseDocument):
    client = ssm()
    the_loader = loader(client, ttl_seconds=0)
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "50", "mode": "exact"})
    assert the_loader.load("ranker")["max_results"] == 20

    operator.create_release("ranker", "r2")
    assert the_loader.load("ranker")["max_results"] == 20

    calls = ApiCalls(client)
    operator.activate("ranker", "r2")
    calls.reset()
    config = the_loader.load("ranker")
    assert (config.release_id, config["max_results"], config["mode"]) == ("r2", 50, "exact")
    # The pointer read, the new release document, then only the two key versions that changed (the others are
    # kept by version).
    assert calls.counts == {"GetParameters": 3}


def test_every_loaded_key_is_at_the_version_its_release_names(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30", "threshold": "0.7"})
    r2 = operator.create_release("ranker", "r2")
    operator.set_values("ranker", {"max_results": "40", "threshold": "0.9"})
    operator.create_release("ranker", "r3")
    operator.activate("ranker", "r2")
    config = loader(client).load("ranker")
    assert dict(config.versions) == {key: released.version for key, released in r2.keys.items()}
    assert (config["max_results"], config["threshold"]) == (30, 0.7)


def test_rollback_is_seen_after_one_pointer_read(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    the_loader = loader(client, ttl_seconds=0)
    assert the_loader.load("ranker")["max_results"] == 20
    operator.set_values("ranker", {"max_results": "30"})
    operator.create_release("ranker", "r2")
    operator.activate("ranker", "r2")
    assert the_loader.load("ranker")["max_results"] == 30
    operator.rollback("ranker")
    calls = ApiCalls(client)
    config = the_loader.load("ranker")
    assert (config.release_id, config["max_results"]) == ("initial", 20)
    assert calls.total == 1  # the previous release's versions are still held


def test_unknown_model_is_reported_by_name(ranker: ReleaseDocument):
    with pytest.raises(UnknownModelError, match="unknown model 'scorer'"):
        loader(ssm()).load("scorer")
    with pytest.raises(InvalidInputError, match="model name 'Bad_Name'"):
        loader(ssm()).load("Bad_Name")


def test_a_model_without_an_active_release_says_how_to_make_one(ranker: ReleaseDocument):
    client = ssm()
    client.delete_parameter(Name=active_release_parameter_name(PROJECT, ENV, "ranker"))
    with pytest.raises(ConfigUnavailableError, match="no active release"):
        loader(client).load("ranker")


def test_a_release_that_no_longer_fits_the_schema_is_not_served_as_fresh(aws: None):
    client = ssm()
    seed_model(client, "ranker", RANKER_SCHEMA, {**RANKER_VALUES, "max_results": "500"})
    with pytest.raises(ConfigValidationError) as refused:
        loader(client).load("ranker")
    assert [(p.key, "above the maximum" in p.reason) for p in refused.value.problems] == [("max_results", True)]


def test_environment_comes_from_ml_infra_env(monkeypatch: pytest.MonkeyPatch, ranker: ReleaseDocument):
    monkeypatch.setenv("ML_INFRA_ENV", ENV)
    assert ModelConfigLoader(client=ssm(), backoff=NO_SLEEP).load("ranker").environment == ENV
    monkeypatch.delenv("ML_INFRA_ENV")
    with pytest.raises(InvalidInputError, match="ML_INFRA_ENV"):
        ModelConfigLoader(client=ssm())


def test_a_long_lived_loader_keeps_only_the_current_and_the_previous_release(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    the_loader = loader(client, ttl_seconds=0)
    for value in range(30, 36):
        operator.set_values("ranker", {"max_results": str(value)})
        operator.create_release("ranker", f"r{value}")
        operator.activate("ranker", f"r{value}")
        assert the_loader.load("ranker")["max_results"] == value
    slot = the_loader._slots["ranker"]
    assert set(slot.releases) == {"r34", "r35"}
    assert {version for key, version in slot.values if key == "max_results"} == {
        r.keys["max_results"].version
        for r in (operator.release_document("ranker", "r34"), operator.release_document("ranker", "r35"))
    }
    operator.rollback("ranker")
    calls = ApiCalls(client)
    assert the_loader.load("ranker")["max_results"] == 34 and calls.total == 1  # still one call
