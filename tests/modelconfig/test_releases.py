"""Releases, activation, rollback, audit, eviction protection and validation refusals, on moto."""

from __future__ import annotations

import itertools
import threading

import pytest

from ml_infra.modelconfig import (
    ActivationResult,
    ConcurrentChangeError,
    ConfigValidationError,
    EvictionRiskError,
    ModelConfigError,
    ModelConfigLoader,
    UnknownModelError,
    UnknownReleaseError,
)
from ml_infra.modelconfig.layout import (
    KeySchema,
    ModelSchema,
    PointerDocument,
    ReleaseDocument,
    active_release_parameter_name,
    parameter_name,
    release_digest,
    release_parameter_name,
    schema_parameter_name,
)

from .conftest import (
    CMK_ALIAS,
    ENV,
    NO_SLEEP,
    PROJECT,
    RANKER_SCHEMA,
    RANKER_VALUES,
    ApiCalls,
    MotoServer,
    manager,
    seed_model,
    ssm,
)

MOTO_ARN = "arn:aws:sts::123456789012:user/moto"


def labels(client, model: str, key: str) -> dict[int, list[str]]:
    history = client.get_parameter_history(Name=parameter_name(PROJECT, ENV, model, key), MaxResults=50)
    return {p["Version"]: p.get("Labels", []) for p in history["Parameters"]}


def pointer(client, model: str = "ranker") -> PointerDocument:
    text = client.get_parameter(Name=active_release_parameter_name(PROJECT, ENV, model))["Parameter"]["Value"]
    return PointerDocument.model_validate_json(text)


def stored_release(client, release_id: str, model: str = "ranker") -> tuple[str, ReleaseDocument]:
    text = client.get_parameter(Name=release_parameter_name(PROJECT, ENV, model, release_id))["Parameter"]["Value"]
    return text, ReleaseDocument.model_validate_json(text)


# -- set: validated before anything is written ------------------------------------------------------------


def test_set_refuses_bad_values_naming_each_key_and_writes_nothing(ranker: ReleaseDocument):
    client = ssm()
    with pytest.raises(ConfigValidationError) as refused:
        manager(client).set_values(
            "ranker", {"max_results": "many", "threshold": "1.5", "use_gpu": "yes", "mode": "slow", "features": "a,,b"}
        )
    reasons = {p.key: p.reason for p in refused.value.problems}
    assert "is not an integer" in reasons["max_results"]
    assert "above the maximum 1" in reasons["threshold"]
    assert "allowed: true, false" in reasons["use_gpu"]
    assert "not one of the allowed values ['fast', 'exact']" in reasons["mode"]
    assert "empty item" in reasons["features"]
    assert refused.value.exit_code == 2
    assert all(max(labels(client, "ranker", key)) == 1 for key in reasons)  # no new version anywhere


def test_set_names_an_unknown_key_and_lists_the_declared_ones(ranker: ReleaseDocument):
    with pytest.raises(
        ConfigValidationError, match=r"max_result: is not a key of model ranker; declared keys: api_token"
    ):
        manager().set_values("ranker", {"max_result": "5"})


def test_set_of_a_secret_keeps_the_stacks_kms_key_and_description(ranker: ReleaseDocument):
    client = ssm()
    manager(client).set_values("ranker", {"api_token": "tok-rotated"})
    described = client.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [parameter_name(PROJECT, ENV, "ranker", "api_token")]}]
    )["Parameters"][0]
    assert described["KeyId"] == CMK_ALIAS and described["Description"] == "Vendor API token"
    assert described["Version"] == 2


# -- releases ---------------------------------------------------------------------------------------------


def test_release_snapshots_the_latest_versions_records_who_and_protects_them(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30"})
    release = operator.create_release("ranker", "r2", note="more results")
    assert release.keys["max_results"].version == 2 and release.keys["mode"].version == 1
    assert (release.created_by, release.parent_release_id, release.note) == (MOTO_ARN, "initial", "more results")
    assert labels(client, "ranker", "max_results") == {1: ["released-v1"], 2: ["released-v2"]}
    assert labels(client, "ranker", "mode") == {1: ["released-v1"]}
    stored = client.get_parameter(Name=release_parameter_name(PROJECT, ENV, "ranker", "r2"))["Parameter"]["Value"]
    assert ReleaseDocument.model_validate_json(stored) == release


def test_release_ids_are_generated_when_not_given(ranker: ReleaseDocument):
    first, second = manager().create_release("ranker"), manager().create_release("ranker")
    assert first.release_id != second.release_id


def test_unknown_model_and_release_are_named(ranker: ReleaseDocument):
    with pytest.raises(UnknownModelError, match="unknown model 'scorer'"):
        manager().create_release("scorer")
    named = r"no release 'r9' \(/ml-infra/dev/ranker/_release/r9 does not exist\); releases \(latest 10\): initial"
    with pytest.raises(UnknownReleaseError, match=named):
        manager().activate("ranker", "r9")


# -- activation and rollback ------------------------------------------------------------------------------


def test_activation_is_one_write_of_the_pointer_recording_who_and_what_was_active(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"mode": "exact"})
    operator.create_release("ranker", "r2")
    calls = ApiCalls(client)
    result = operator.activate("ranker", "r2", reason="exact mode for the audit")
    assert calls.counts["PutParameter"] == 1 and "LabelParameterVersion" not in calls.counts
    active = pointer(client)
    assert active.release_id == "r2" and active.activation is not None
    assert (active.activation.activated_by, active.activation.previous_release_id) == (MOTO_ARN, "initial")
    # The pointer names the release and the digest of its stored document, no key versions of its own.
    text, _ = stored_release(client, "r2")
    assert active.digest == release_digest(text)
    assert (result.previous_release_id, result.pointer_version, result.changed) == ("initial", 2, True)


def test_activating_the_active_release_writes_nothing(ranker: ReleaseDocument):
    client = ssm()
    calls = ApiCalls(client)
    result = manager(client).activate("ranker", "initial")
    assert not result.changed and calls.counts["PutParameter"] == 0


def test_pulumis_initial_release_is_labelled_on_first_use(ranker: ReleaseDocument):
    client = ssm()
    assert labels(client, "ranker", "threshold") == {1: []}
    manager(client).set_values("ranker", {"threshold": "0.6"})
    # The version the active (Pulumi-seeded) release names is protected before the new version is written.
    assert labels(client, "ranker", "threshold") == {1: ["released-v1"], 2: []}
    manager(client).create_release("ranker", "r2")
    manager(client).activate("ranker", "initial")  # already active: nothing written, but validated and labelled
    assert all(labels(client, "ranker", key)[1] == ["released-v1"] for key in RANKER_SCHEMA)


def test_rollback_returns_to_the_previous_release_in_one_command(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30"})
    operator.create_release("ranker", "r2")
    operator.set_values("ranker", {"max_results": "40"})
    operator.create_release("ranker", "r3")
    operator.activate("ranker", "r2")
    operator.activate("ranker", "r3")
    result = operator.rollback("ranker", reason="r3 regressed")
    assert (result.release_id, result.previous_release_id, result.action) == ("r2", "r3", "rollback")
    loaded = ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP).load("ranker")
    assert (loaded.release_id, loaded["max_results"]) == ("r2", 30)
    assert operator.rollback("ranker", to="initial").release_id == "initial"
    history = operator.history("ranker")
    assert [(h.release_id, h.action) for h in history] == [
        ("initial", "rollback"),
        ("r2", "rollback"),
        ("r3", "activate"),
        ("r2", "activate"),
        ("initial", "deployed"),
    ]
    assert history[1].reason == "r3 regressed" and history[1].activated_by == MOTO_ARN
    assert history[-1].activated_by == "pulumi"


def test_rollback_with_nothing_earlier_says_so(ranker: ReleaseDocument):
    with pytest.raises(ModelConfigError, match="no earlier release to roll back to: initial"):
        manager().rollback("ranker")


def test_activation_is_refused_when_the_release_no_longer_fits_the_schema(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "80"})
    operator.create_release("ranker", "r2")
    # Pulumi tightens the declared maximum and adds a key the release does not have.
    schema = operator.schema("ranker")
    tightened = {**schema.keys, "max_results": schema.keys["max_results"].model_copy(update={"maximum": 50.0})}
    tightened["batch_size"] = KeySchema(ssm_type="String", value_type="integer")
    client.put_parameter(
        Name=schema_parameter_name(PROJECT, ENV, "ranker"),
        Value=ModelSchema(project=PROJECT, environment=ENV, model="ranker", keys=tightened).model_dump_json(),
        Overwrite=True,
    )
    with pytest.raises(ConfigValidationError) as refused:
        operator.activate("ranker", "r2")
    reasons = {p.key: p.reason for p in refused.value.problems}
    assert reasons["max_results"] == "value '80' is above the maximum 50 (version 2)"
    assert reasons["batch_size"].startswith("declared in the schema but not in release r2")
    assert pointer(client).release_id == "initial"


def test_two_operators_activating_at_once_leave_one_whole_release_and_a_true_history(moto_server: MotoServer):
    seeding = moto_server.client()
    seed_model(seeding, "ranker", RANKER_SCHEMA, RANKER_VALUES)
    setup = manager(seeding, endpoint_url=moto_server.url)
    setup.set_values("ranker", {"max_results": "30", "threshold": "0.3", "mode": "exact"})
    r_a = setup.create_release("ranker", "release-a")
    setup.set_values("ranker", {"max_results": "40", "threshold": "0.4", "mode": "fast"})
    r_b = setup.create_release("ranker", "release-b")
    setup.set_values("ranker", {"max_results": "50", "threshold": "0.5", "mode": "fast"})
    r_c = setup.create_release("ranker", "release-c")
    releases = {"release-a": r_a, "release-b": r_b, "release-c": r_c}

    def activate_together(targets: list[str], reason: str) -> tuple[list[ActivationResult], list[BaseException]]:
        operators = [manager(moto_server.client(), endpoint_url=moto_server.url) for _ in targets]
        barrier = threading.Barrier(len(targets))
        results: list[ActivationResult] = []
        errors: list[BaseException] = []

        def activate(operator, release_id: str) -> None:
            try:
                barrier.wait(timeout=5)
                results.append(operator.activate("ranker", release_id, reason=reason))
            except BaseException as err:  # reported by the caller
                errors.append(err)

        threads = [threading.Thread(target=activate, args=pair) for pair in zip(operators, targets, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return results, errors

    orders = [["release-a", "release-b", "release-c"], ["release-c", "release-a", "release-b"]]
    for round_number in range(4):
        results, errors = activate_together(orders[round_number % 2], f"round {round_number}")
        # Whoever lost the compare-and-swap is told so, with nothing written; nobody fails otherwise.
        assert all(isinstance(err, ConcurrentChangeError) and "nothing written" in str(err) for err in errors), errors

        active = pointer(seeding)
        # One whole release is active, never a mix of keys.
        text, document = stored_release(seeding, active.release_id)
        assert active.digest == release_digest(text) and document == releases[active.release_id]
        history = setup.history("ranker")
        assert history[0].release_id == active.release_id
        # Every activation names the release that was really active before it: the one written just before.
        for newer, older in itertools.pairwise(history):
            assert newer.previous_release_id == older.release_id
        truth = {entry.pointer_version: entry.previous_release_id for entry in history}
        for result in results:
            if result.changed:
                assert result.previous_release_id == truth[result.pointer_version]
        config = ModelConfigLoader(PROJECT, ENV, client=moto_server.client(), backoff=NO_SLEEP).load("ranker")
        expected = {"release-a": (30, 0.3, "exact"), "release-b": (40, 0.4, "fast"), "release-c": (50, 0.5, "fast")}
        assert (config["max_results"], config["threshold"], config["mode"]) == expected[active.release_id]


# -- eviction protection ----------------------------------------------------------------------------------


def test_a_released_version_is_never_evicted_and_the_write_that_would_evict_it_is_refused(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    name = parameter_name(PROJECT, ENV, "ranker", "max_results")
    # 98 more versions written around the tool, then one through it: 100 versions, v1 released by "initial".
    for value in range(2, 100):
        client.put_parameter(Name=name, Value=str(value % 90 + 1), Overwrite=True)
    operator.set_values("ranker", {"max_results": "42"})
    with pytest.raises(EvictionRiskError) as refused:
        operator.set_values("ranker", {"max_results": "43"})
    message = refused.value.message
    assert "cannot write max_results of model ranker" in message and "initial (v1)" in message
    assert "Written before the failure: none" in message
    # The released version is still there, and the release still activates and loads.
    assert client.get_parameter(Name=f"{name}:1")["Parameter"]["Value"] == "20"
    operator.create_release("ranker", "r2")
    operator.activate("ranker", "r2")
    assert operator.activate("ranker", "initial").changed
    assert ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP).load("ranker")["max_results"] == 20


def test_an_unreleased_key_keeps_rolling_past_100_versions(ranker: ReleaseDocument):
    client = ssm()
    schema = {"scratch": KeySchema(ssm_type="String", value_type="integer")}
    seed_model(client, "scratchpad", schema, {"scratch": "0"})
    manager(client).set_values("scratchpad", {"scratch": "1"})  # labels v1 (the active release's) only
    name = parameter_name(PROJECT, ENV, "scratchpad", "scratch")
    client.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["released-v1"])
    for value in range(2, 103):
        client.put_parameter(Name=name, Value=str(value), Overwrite=True)
    assert min(labels(client, "scratchpad", "scratch")) > 1  # without a label SSM evicts the oldest
    # A release naming an evicted version is reported as such, not as a generic failure.
    with pytest.raises(EvictionRiskError, match="scratch version 1 is referenced by a release but SSM no longer has"):
        manager(client).activate("scratchpad", "initial")


def test_a_version_with_ten_labels_already_counts_as_protected(ranker: ReleaseDocument):
    client = ssm()
    name = parameter_name(PROJECT, ENV, "ranker", "mode")
    client.label_parameter_version(Name=name, ParameterVersion=1, Labels=[f"team-{i}" for i in range(10)])
    release = manager(client).create_release("ranker", "r2")
    assert release.keys["mode"].version == 1
    assert "released-v1" not in labels(client, "ranker", "mode")[1]  # full: SSM keeps it anyway


# -- diff -------------------------------------------------------------------------------------------------


def test_diff_names_changed_keys_and_never_reveals_a_secret(ranker: ReleaseDocument):
    operator = manager()
    operator.set_values("ranker", {"max_results": "30", "api_token": "tok-rotated-1234"})
    entries = {e.key: e for e in operator.diff("ranker", "active", "staged")}
    assert entries["max_results"].status == "changed" and entries["mode"].status == "unchanged"
    assert (entries["api_token"].status, entries["api_token"].before.version, entries["api_token"].after.version) == (
        "changed",
        1,
        2,
    )
    assert "tok-rotated-1234" not in repr(entries)
