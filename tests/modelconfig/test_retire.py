"""Retiring releases frees their key versions for SSM's eviction, so a key that reached SSM's 100 versions can be
set again; the Pulumi-declared initial release is re-baselined rather than deleted. Tested all the way past 100
versions on moto, which answers ParameterMaxVersionLimitExceeded as SSM does."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import (
    ConfigValidationError,
    EvictionRiskError,
    InvalidInputError,
    ModelConfigLoader,
    UnknownReleaseError,
)
from ml_infra.modelconfig.layout import ReleaseDocument, parameter_name, release_parameter_name

from .conftest import ENV, NO_SLEEP, PROJECT, RANKER_SCHEMA, RANKER_VALUES, MotoServer, manager, seed_model, ssm

NAME = parameter_name(PROJECT, ENV, "ranker", "max_results")


def versions_and_labels(client) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    token = None
    while True:
        kwargs = {"Name": NAME, "MaxResults": 50, **({"NextToken": token} if token else {})}
        response = client.get_parameter_history(**kwargs)
        found.update({p["Version"]: p.get("Labels", []) for p in response["Parameters"]})
        token = response.get("NextToken")
        if not token:
            return found


def test_retiring_frees_the_versions_so_a_key_at_100_versions_can_be_set_again(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    for value in range(2, 101):  # v2..v100 through the tool; v1 is the initial release's, protected
        operator.set_values("ranker", {"max_results": str(value % 90 + 1)})
    with pytest.raises(EvictionRiskError) as refused:
        operator.set_values("ranker", {"max_results": "42"})
    assert "ml-infra config retire ranker" in refused.value.message

    # The way out: release and activate what is wanted now, then retire the initial release.
    operator.create_release("ranker", "r2")
    operator.activate("ranker", "r2")
    with pytest.raises(InvalidInputError, match="is the active release"):
        operator.retire("ranker", ["r2"])
    result = operator.retire("ranker", ["initial"])
    assert result.rebaselined and ("max_results", 1) in result.freed
    assert versions_and_labels(client)[1] == []  # v1 is no longer protected

    # The key rolls on past 100 versions: SSM evicts the freed oldest version instead of refusing.
    for value in range(101, 106):
        operator.set_values("ranker", {"max_results": str(value % 90 + 1)})
    held = versions_and_labels(client)
    assert min(held) > 1 and max(held) == 105 and len(held) == 100

    # The re-baselined initial release is what Pulumi computes for it (the latest version of every key when
    # retired), it still validates, activates and loads.
    initial = ReleaseDocument.model_validate_json(
        client.get_parameter(Name=release_parameter_name(PROJECT, ENV, "ranker", "initial"))["Parameter"]["Value"]
    )
    assert initial.keys["max_results"].version == 100 and initial.created_by == "pulumi"
    assert {key: r.version for key, r in initial.keys.items() if key != "max_results"} == {
        key: 1 for key in RANKER_SCHEMA if key != "max_results"
    }
    assert "released-v100" in held[100]
    operator.activate("ranker", "initial")
    loaded = ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP).load("ranker")
    assert (loaded.release_id, loaded["max_results"]) == ("initial", 100 % 90 + 1)


def test_initial_is_not_re_baselined_on_a_latest_value_that_breaks_the_schema(ranker: ReleaseDocument):
    # A value written to SSM outside the tool (console, another script) that the schema refuses: retiring the
    # initial release would re-baseline it on that value, so it is refused, naming the key and its version, and
    # nothing is written (the initial release and its protected versions stay as they were).
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30"})
    operator.create_release("ranker", "r2")
    operator.activate("ranker", "r2")
    client.put_parameter(Name=NAME, Value="500", Type="String", Overwrite=True)  # v3, above the maximum 100
    initial_name = release_parameter_name(PROJECT, ENV, "ranker", "initial")
    before = client.get_parameter(Name=initial_name)["Parameter"]
    labels_before = versions_and_labels(client)
    with pytest.raises(ConfigValidationError) as refused:
        operator.retire("ranker", ["initial"])
    assert refused.value.subject == (
        "cannot re-baseline release initial of model ranker on the latest values; set valid values first"
    )
    assert [p.key for p in refused.value.problems] == ["max_results"]
    assert "(version 3)" in refused.value.problems[0].reason
    after = client.get_parameter(Name=initial_name)["Parameter"]
    assert (after["Version"], after["Value"]) == (before["Version"], before["Value"])
    assert versions_and_labels(client) == labels_before


def test_retiring_a_release_deletes_it_and_unlabels_only_what_no_other_release_names(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30"})
    operator.create_release("ranker", "r2")  # max_results v2
    operator.set_values("ranker", {"threshold": "0.7"})
    operator.create_release("ranker", "r3")  # max_results v2, threshold v2
    result = operator.retire("ranker", ["r2"])
    assert result.freed == []  # r3 still names everything r2 named
    operator.retire("ranker", ["r3"])
    assert "released-v2" not in versions_and_labels(client)[2]
    with pytest.raises(UnknownReleaseError):
        operator.activate("ranker", "r3")
    assert [r.release_id for r in operator.list_releases("ranker")] == ["initial"]


def test_retire_on_the_command_line_asks_in_prod_and_reports_what_it_freed(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
):
    seed_model(moto_server.client(), "ranker", RANKER_SCHEMA, RANKER_VALUES, env="prod")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    runner = CliRunner()
    base = ["config", "--help"]
    assert runner.invoke(app, base).exit_code == 0
    for args in (["set", "ranker", "max_results=30"], ["release", "ranker", "--id", "r2"]):
        assert runner.invoke(app, ["config", *args, "--env", "prod"]).exit_code == 0
    refused = runner.invoke(app, ["config", "retire", "ranker", "r2", "--env", "prod"], input="n\n")
    assert refused.exit_code == 1 and "not confirmed" in refused.stderr
    done = runner.invoke(app, ["config", "retire", "ranker", "r2", "--env", "prod", "--yes", "--json"])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == {
        "model": "ranker",
        "retired": ["r2"],
        "initial_rebaselined": False,
        "freed": [{"key": "max_results", "version": 2}],
    }
