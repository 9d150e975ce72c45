"""`ml-infra config` end to end against a moto server reached through AWS_ENDPOINT_URL, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig.layout import PointerDocument, active_release_parameter_name

from .conftest import ENV, PROJECT, RANKER_SCHEMA, RANKER_VALUES, REGION, Faults, MotoServer, manager, seed_model

SECRET = RANKER_VALUES["api_token"]


@pytest.fixture
def server(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server with the ranker model seeded as Pulumi seeds it, reached through the standard settings."""
    seed_model(moto_server.client(), "ranker", RANKER_SCHEMA, RANKER_VALUES)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ML_INFRA_ENV", ENV)
    yield moto_server


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def active(server: MotoServer) -> PointerDocument:
    text = server.client().get_parameter(Name=active_release_parameter_name(PROJECT, ENV, "ranker"))
    return PointerDocument.model_validate_json(text["Parameter"]["Value"])


def test_show_prints_a_table_of_the_active_values_with_secrets_hidden(server: MotoServer):
    code, out, _ = run("show", "ranker")
    assert code == 0
    assert "release initial" in out and "max_results" in out and "age,country,clicks" in out
    assert "[secret]" in out and SECRET not in out


def test_show_json_is_one_object_with_secrets_hidden(server: MotoServer):
    code, out, _ = run("show", "ranker", "--json")
    assert code == 0
    shown = json.loads(out)
    rows = {row["key"]: row for row in shown["keys"]}
    assert shown["release_id"] == "initial" and rows["max_results"]["value"] == "20"
    assert rows["api_token"] == {**rows["api_token"], "value": "[secret]", "version": 1}
    assert SECRET not in out


def test_the_whole_operator_flow_set_release_activate_history_rollback_diff(server: MotoServer):
    code, out, _ = run("set", "ranker", "max_results=30", "mode=exact", "--json")
    assert code == 0 and json.loads(out)["staged"] == [
        {"key": "max_results", "version": 2},
        {"key": "mode", "version": 2},
    ]

    code, out, _ = run("diff", "ranker", "--json")
    assert code == 0
    assert {c["key"]: c["after"]["value"] for c in json.loads(out)["changes"]} == {"max_results": "30", "mode": "exact"}

    code, out, _ = run("release", "ranker", "--id", "r2", "--note", "exact mode", "--json")
    assert code == 0 and json.loads(out)["keys"]["max_results"]["version"] == 2

    code, out, _ = run("activate", "ranker", "r2", "--reason", "ticket 42")
    assert code == 0 and "initial -> r2" in out
    assert active(server).release_id == "r2"

    code, out, _ = run("history", "ranker", "--json")
    activations = json.loads(out)["activations"]
    assert [(a["release_id"], a["action"]) for a in activations] == [("r2", "activate"), ("initial", "deployed")]
    assert activations[0]["activated_by"].startswith("arn:aws:sts::") and activations[0]["reason"] == "ticket 42"

    code, out, _ = run("rollback", "ranker")
    assert code == 0 and "Rolled back" in out and "r2 -> initial" in out
    assert active(server).release_id == "initial"

    code, out, _ = run("history", "ranker")
    assert code == 0 and "rollback" in out and "r2" in out

    code, out, _ = run("releases", "ranker", "--json")
    listed = json.loads(out)
    assert listed["active_release_id"] == "initial"
    assert [r["release_id"] for r in listed["releases"]] == ["initial", "r2"]

    code, out, _ = run("diff", "ranker", "initial", "r2")
    assert code == 0 and "max_results" in out and "v2: 30" in out


def test_a_secret_is_read_from_stdin_never_from_argv_and_never_printed(server: MotoServer):
    code, _, err = run("set", "ranker", f"api_token={SECRET}-new")
    assert code == 2 and "use --secret api_token" in err

    code, out, err = run("set", "ranker", "--secret", "api_token", input="tok-rotated-5678\n")
    assert code == 0 and "tok-rotated-5678" not in out + err
    value = server.client().get_parameter(Name=f"/{PROJECT}/{ENV}/ranker/api_token", WithDecryption=True)
    assert value["Parameter"]["Value"] == "tok-rotated-5678"

    code, out, _ = run("diff", "ranker", "active", "staged", "--json")
    change = json.loads(out)["changes"][0]
    assert change == {"key": "api_token", "status": "changed", "before": {"version": 1, "value": "[secret]"},
                      "after": {"version": 2, "value": "[secret]"}}  # fmt: skip


def test_prod_activation_asks_first_and_a_no_changes_nothing(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch):
    client = moto_server.client()
    seed_model(client, "ranker", RANKER_SCHEMA, RANKER_VALUES, env="prod")
    manager(client, env="prod", endpoint_url=moto_server.url).create_release("ranker", "r2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    pointer = active_release_parameter_name(PROJECT, "prod", "ranker")

    code, _, err = run("activate", "ranker", "r2", "--env", "prod", input="n\n")
    assert code == 1 and "not confirmed: nothing changed in prod" in err
    assert client.get_parameter(Name=pointer)["Parameter"]["Version"] == 1

    code, _, err = run("activate", "ranker", "r2", "--env", "prod")  # no terminal, no answer: refused
    assert code == 1 and "not confirmed" in err

    code, _, err = run("activate", "ranker", "r2", "--env", "prod", input="y\n")
    assert code == 0 and "Activate release r2 of model ranker in prod (active now: initial)?" in err
    code, _, _ = run("rollback", "ranker", "--env", "prod", "--yes")
    assert code == 0 and client.get_parameter(Name=pointer)["Parameter"]["Version"] == 3


def test_user_mistakes_get_one_clear_line_and_exit_2(server: MotoServer):
    code, out, err = run("show", "scorer")
    assert code == 2 and out == "" and err.startswith("error: unknown model 'scorer' in ml-infra/dev")
    assert "Traceback" not in err

    code, out, _ = run("activate", "ranker", "r9", "--json", "--yes")
    assert code == 2 and json.loads(out)["error"]["type"] == "UnknownReleaseError"

    code, _, err = run("set", "ranker", "max_results=lots", "threshold=2")
    assert code == 2
    assert "max_results: value 'lots' is not an integer" in err and "threshold: value '2' is above the maximum 1" in err

    result = CliRunner().invoke(app, ["config", "show", "ranker"], env={"ML_INFRA_ENV": ""})
    assert result.exit_code == 2 and "--env" in result.stderr


def test_a_refused_release_exits_1_with_every_key_and_reason(server: MotoServer):
    server.client().put_parameter(Name=f"/{PROJECT}/{ENV}/ranker/mode", Value="slow", Overwrite=True)
    code, out, _ = run("release", "ranker", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["type"] == "ConfigValidationError"
    assert error["problems"] == [
        {"key": "mode", "reason": "value 'slow' is not one of the allowed values ['fast', 'exact'] (version 2)"}
    ]


def test_missing_permission_is_reported_without_a_traceback(server: MotoServer, monkeypatch: pytest.MonkeyPatch):
    from ml_infra.modelconfig import cli

    def denied_manager(project: str, environment: str):
        operator = manager(server.client(), env=environment, endpoint_url=server.url)
        Faults(operator.client).add("deny", "PutParameter")
        return operator

    monkeypatch.setattr(cli, "_manager", denied_manager)
    code, _, err = run("set", "ranker", "max_results=30")
    assert code == 1 and err.startswith("error: AWS denied permission to write /ml-infra/dev/ranker/max_results")
    assert "Traceback" not in err


def test_eviction_risk_is_a_clear_refusal(server: MotoServer):
    client = server.client()
    name = f"/{PROJECT}/{ENV}/ranker/max_results"
    run("set", "ranker", "max_results=21")  # protects v1, which the active release names
    for value in range(3, 101):
        client.put_parameter(Name=name, Value=str(value % 90 + 1), Overwrite=True)
    code, _, err = run("set", "ranker", "max_results=22")
    assert code == 1 and "SSM keeps at most 100 versions" in err and "initial (v1)" in err


def test_the_installed_command_runs_against_the_server_with_the_standard_aws_settings(server: MotoServer):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": server.url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ML_INFRA_ENV": ENV,
    }
    env.pop("AWS_DEFAULT_REGION", None)
    done = subprocess.run(
        [sys.executable, "-m", "ml_infra", "config", "show", "ranker", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["release_id"] == "initial" and SECRET not in done.stdout
