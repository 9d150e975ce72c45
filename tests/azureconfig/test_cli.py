"""`ml-infra config` on Azure App Configuration: the same commands, output, `--json`, exit codes and prod
confirmations as on SSM, through the real SDK over the fake (the CLI's one seam, `routing.azure_client`, hands
it a client on the fake instead of one with `DefaultAzureCredential`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from appconfig_fake import ENDPOINT, StaticTokenCredential
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import routing

from .conftest import ENV, LAYOUT, MODEL, Store


@pytest.fixture(autouse=True)
def cli_on_the_fake(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "azure_client", lambda endpoint: (store.client(), StaticTokenCredential()))
    monkeypatch.setenv("ML_INFRA_OPERATOR", "alice@example.com")
    for name in ("ML_INFRA_CONFIG_BACKEND", "ML_INFRA_APPCONFIG_ENDPOINT", "ML_INFRA_ENV"):
        monkeypatch.delenv(name, raising=False)


def run(
    *args: str, backend: tuple[str, ...] = ("--backend", "azure", "--endpoint", ENDPOINT), input: str | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", *backend, *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def test_the_first_activation_and_show_with_a_key_vault_reference_hidden(store: Store) -> None:
    # The round trip itself runs on every store in tests/modelconfig/test_guarantees.py.
    assert run("release", MODEL, "--env", ENV, "--id", "r1", "--note", "first")[0] == 0
    code, out, _ = run("activate", MODEL, "r1", "--env", ENV, "--reason", "launch")
    assert code == 0 and "Activated model ranker: (none) -> r1" in out
    code, out, _ = run("show", MODEL, "--env", ENV, "--json")
    shown = {k["key"]: k["value"] for k in json.loads(out)["keys"]}
    assert code == 0 and shown["api_token"] == "[secret]" and "vault.azure.net" not in out
    assert shown["features"] == "age,country"


def test_prod_activation_needs_confirmation(store: Store) -> None:
    from azure.appconfiguration import ConfigurationSetting

    from ml_infra.modelconfig.azure_appconfig import AzureReleaseManager
    from ml_infra.modelconfig.layout import ModelSchema

    from .conftest import INITIAL, PROJECT, RANKER_SCHEMA

    client = store.client()
    schema = ModelSchema(project=PROJECT, environment="prod", model=MODEL, keys=RANKER_SCHEMA)
    client.set_configuration_setting(
        ConfigurationSetting(
            key=LAYOUT.schema_key(MODEL), label="prod", value=schema.model_dump_json(), content_type="application/json"
        )
    )
    for key, (value, content_type) in INITIAL.items():
        client.set_configuration_setting(
            ConfigurationSetting(key=LAYOUT.key(MODEL, key), label="prod", value=value, content_type=content_type)
        )
    AzureReleaseManager(PROJECT, "prod", client=client, identity="ci").create_release(MODEL, "p1")
    code, _, err = run("activate", MODEL, "p1", "--env", "prod", input="n\n")
    assert code == 1 and "not confirmed" in err
    assert (LAYOUT.pointer_key(MODEL), "prod") not in store.state.key_values
    assert run("activate", MODEL, "p1", "--env", "prod", "--yes")[0] == 0
    assert (LAYOUT.pointer_key(MODEL), "prod") in store.state.key_values
    assert (LAYOUT.pointer_key(MODEL), ENV) not in store.state.key_values  # environments stay apart (labels)


def test_errors_name_the_store_the_model_and_the_key(store: Store) -> None:
    code, _, err = run("set", MODEL, "max_results=500", "--env", ENV)
    assert code == 2 and "max_results" in err and "maximum" in err
    code, _, err = run("activate", MODEL, "nope", "--env", ENV)
    assert code == 2 and ENDPOINT in err and "nope" in err and MODEL in err
    code, out, _ = run("show", "nobody", "--env", ENV, "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["type"] == "UnknownModelError" and "_schema:nobody" in error["message"]


def test_azure_needs_an_endpoint(store: Store) -> None:
    code, _, err = run("show", MODEL, "--env", ENV, backend=("--backend", "azure"))
    assert code == 2 and "ML_INFRA_APPCONFIG_ENDPOINT" in err


def test_the_stack_file_chooses_the_backend_per_model(store: Store, tmp_path: Path) -> None:
    (tmp_path / f"Pulumi.{ENV}.yaml").write_text(
        "config:\n  ml-infra:models:\n    ranker:\n      configBackend: azure\n", encoding="utf-8"
    )
    run("release", MODEL, "--env", ENV, "--id", "r1")
    code, out, _ = run(
        "releases", MODEL, "--env", ENV, "--json", backend=("--stack-dir", str(tmp_path), "--endpoint", ENDPOINT)
    )
    assert code == 0 and [r["release_id"] for r in json.loads(out)["releases"]] == ["r1"]
    (tmp_path / f"Pulumi.{ENV}.yaml").write_text(
        "config:\n  ml-infra:models:\n    ranker:\n      configBackend: gcs\n", encoding="utf-8"
    )
    code, _, err = run("releases", MODEL, "--env", ENV, backend=("--stack-dir", str(tmp_path)))
    assert code == 2 and "configBackend" in err and "Pulumi.dev.yaml" in err


def test_a_lost_compare_and_swap_is_exit_1_with_nothing_written(store: Store) -> None:
    run("release", MODEL, "--env", ENV, "--id", "r1")
    run("activate", MODEL, "r1", "--env", ENV)

    def race(method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "PUT" and path == "/kv/_active:ranker":
            store.transport.before_request = None
            store.put(
                LAYOUT.pointer_key(MODEL),
                store.client().get_configuration_setting(LAYOUT.pointer_key(MODEL), label=ENV).value,
                store.state.key_values[(LAYOUT.pointer_key(MODEL), ENV)].content_type,
            )

    run("set", MODEL, "max_results=30", "--env", ENV)
    run("release", MODEL, "--env", ENV, "--id", "r2")
    store.transport.before_request = race
    code, out, _ = run("activate", MODEL, "r2", "--env", ENV, "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["type"] == "ConcurrentActivationError" and "nothing was written" in error["message"]


def test_a_refused_pointer_is_reported_and_replaced_only_when_confirmed(store: Store) -> None:
    from ml_infra.modelconfig.azure_appconfig import SNAPSHOT_REF_CONTENT_TYPE

    run("release", MODEL, "--env", ENV, "--id", "r1")
    run("activate", MODEL, "r1", "--env", ENV)
    store.put(LAYOUT.pointer_key(MODEL), json.dumps({"snapshot_name": "elsewhere"}), SNAPSHOT_REF_CONTENT_TYPE)
    code, out, _ = run("releases", MODEL, "--env", ENV, "--json")
    listed = json.loads(out)
    assert code == 0 and listed["active_release_id"] is None and "elsewhere" in listed["pointer_problem"]
    code, _, err = run("activate", MODEL, "r1", "--env", ENV, input="n\n")
    assert code == 1 and "refused" in err and "not confirmed" in err
    assert run("activate", MODEL, "r1", "--env", ENV, "--yes")[0] == 0
    assert json.loads(run("releases", MODEL, "--env", ENV, "--json")[1])["active_release_id"] == "r1"


def test_retire_archives_releases_but_never_the_active_one(store: Store) -> None:
    run("release", MODEL, "--env", ENV, "--id", "r1")
    run("activate", MODEL, "r1", "--env", ENV)
    run("set", MODEL, "max_results=30", "--env", ENV)
    run("release", MODEL, "--env", ENV, "--id", "r2")
    code, _, err = run("retire", MODEL, "r1", "--env", ENV)
    assert code == 2 and "active" in err
    code, out, _ = run("retire", MODEL, "r2", "--env", ENV, "--json")
    assert code == 0 and json.loads(out)["retired"] == ["r2"]
    assert store.state.snapshots[LAYOUT.snapshot_name(MODEL, "r2")].status == "archived"
    assert run("activate", MODEL, "r2", "--env", ENV)[0] == 0  # recovered on the way
