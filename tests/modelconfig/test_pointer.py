"""The pointer cannot carry a mix: it names a release and the digest of its document, the loader checks both, and
a pointer that fails is refused (last known good served, stale, with the reason) and reported by `show`. Every
corrupt state has a way out with the CLI alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import ConfigUnavailableError, CorruptDocumentError, ModelConfigLoader
from ml_infra.modelconfig.layout import (
    PointerDocument,
    ReleaseDocument,
    active_release_parameter_name,
    pointer_for,
    release_parameter_name,
)

from .conftest import ENV, NO_SLEEP, PROJECT, RANKER_SCHEMA, RANKER_VALUES, MotoServer, manager, seed_model, ssm

POINTER = active_release_parameter_name(PROJECT, ENV, "ranker")


def write_pointer(client, text: str) -> None:
    client.put_parameter(Name=POINTER, Value=text, Type="String", Overwrite=True)


def stored(client, release_id: str) -> str:
    return client.get_parameter(Name=release_parameter_name(PROJECT, ENV, "ranker", release_id))["Parameter"]["Value"]


def two_releases(client) -> None:
    operator = manager(client)
    operator.set_values("ranker", {"max_results": "30"})
    operator.create_release("ranker", "r2")


def loader(client) -> ModelConfigLoader:
    return ModelConfigLoader(PROJECT, ENV, client=client, ttl_seconds=0, retry_interval=0, backoff=NO_SLEEP)


def tampered_pointers(client) -> dict[str, str]:
    """Pointers that must be refused, each the way someone allowed to write the pointer could write it."""
    r1_text, r2_text = stored(client, "initial"), stored(client, "r2")
    r1 = ReleaseDocument.model_validate_json(r1_text)
    r2 = ReleaseDocument.model_validate_json(r2_text)
    return {
        "missing release": pointer_for(r1.model_copy(update={"release_id": "r9"}), r1_text).model_dump_json(),
        "r1 with r2's digest": pointer_for(r1, r2_text).model_dump_json(),
        # A pointer in the old format (a full copy), labelled r1 but carrying r2's key versions.
        "r1 label, r2 versions": r2.model_copy(update={"release_id": "initial"}).model_dump_json(),
        "garbage": "not json {",
        "another model": pointer_for(r1.model_copy(update={"model": "scorer"}), r1_text).model_dump_json(),
    }


@pytest.mark.parametrize(
    "case", ["missing release", "r1 with r2's digest", "r1 label, r2 versions", "garbage", "another model"]
)
def test_a_tampered_pointer_is_refused_and_the_last_known_good_is_served_with_the_reason(
    ranker: ReleaseDocument, case: str
):
    client = ssm()
    two_releases(client)
    the_loader = loader(client)
    good = the_loader.load("ranker")
    assert (good.release_id, good["max_results"]) == ("initial", 20)
    write_pointer(client, tampered_pointers(client)[case])
    config = the_loader.load("ranker")
    assert config.stale and config.release_id == "initial" and config["max_results"] == 20
    assert "is refused" in (config.stale_reason or "")
    # A process that starts now, with nothing to fall back on, refuses too: never a mix, never silently.
    with pytest.raises(CorruptDocumentError, match="is refused"):
        loader(client).load("ranker")


def test_a_legacy_full_copy_pointer_that_matches_its_release_still_loads(ranker: ReleaseDocument):
    client = ssm()
    write_pointer(client, stored(client, "initial"))  # what the Pulumi program wrote before the digest existed
    assert loader(client).load("ranker").release_id == "initial"


def test_a_rewritten_release_document_is_refused_by_its_digest(ranker: ReleaseDocument):
    client = ssm()
    two_releases(client)
    manager(client).activate("ranker", "r2")
    rewritten = ReleaseDocument.model_validate_json(stored(client, "initial"))
    client.put_parameter(
        Name=release_parameter_name(PROJECT, ENV, "ranker", "r2"),
        Value=rewritten.model_copy(update={"release_id": "r2"}).model_dump_json(),
        Type="String",
        Overwrite=True,
    )
    with pytest.raises(CorruptDocumentError, match="digest"):
        loader(client).load("ranker")


# -- the way out, with the CLI alone ---------------------------------------------------------------------------


@pytest.fixture
def server(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    client = moto_server.client()
    seed_model(client, "ranker", RANKER_SCHEMA, RANKER_VALUES)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ML_INFRA_ENV", ENV)
    code, _, err = run("set", "ranker", "max_results=30")
    assert code == 0, err
    code, _, err = run("release", "ranker", "--id", "r2")
    assert code == 0, err
    yield moto_server


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def active_id(server: MotoServer) -> str:
    text = server.client().get_parameter(Name=POINTER)["Parameter"]["Value"]
    return PointerDocument.model_validate_json(text).release_id


def test_show_reports_a_refused_pointer_with_the_reason_and_the_way_out(server: MotoServer):
    write_pointer(server.client(), "garbage[/]")
    code, out, err = run("show", "ranker")
    assert code == 1 and "is refused" in err and "ml-infra config activate ranker RELEASE" in err
    code, out, _ = run("show", "ranker", "--json")
    assert code == 1 and json.loads(out)["error"]["type"] == "CorruptDocumentError"


@pytest.mark.parametrize("command", [["activate", "ranker", "r2"], ["rollback", "ranker", "--to", "r2"]])
def test_activate_and_rollback_replace_a_corrupt_pointer_after_confirmation(server: MotoServer, command: list[str]):
    write_pointer(server.client(), "not a document")
    code, _, err = run(*command, input="n\n")
    assert code == 1 and "is refused" in err and "not confirmed" in err
    assert server.client().get_parameter(Name=POINTER)["Parameter"]["Value"] == "not a document"

    code, out, err = run(*command, input="y\n")
    assert code == 0, err
    assert active_id(server) == "r2"
    code, out, _ = run("show", "ranker", "--json")
    assert code == 0 and json.loads(out)["release_id"] == "r2"
    # The corrupt pointer stays in the history, listed as such.
    code, out, _ = run("history", "ranker", "--json")
    activations = json.loads(out)["activations"]
    assert code == 0 and activations[1]["action"] == "corrupt" and activations[0]["release_id"] == "r2"


def test_releases_history_and_set_survive_a_garbage_initial_release_and_pointer(server: MotoServer):
    client = server.client()
    client.put_parameter(
        Name=release_parameter_name(PROJECT, ENV, "ranker", "initial"), Value="{oops", Type="String", Overwrite=True
    )
    write_pointer(client, "{oops")
    code, out, err = run("releases", "ranker", "--json")
    assert code == 0, err
    listed = {r["release_id"]: r for r in json.loads(out)["releases"]}
    assert listed["initial"]["status"] == "corrupt" and "not a valid release document" in listed["initial"]["problem"]
    assert listed["r2"]["status"] == "ok"
    code, out, _ = run("releases", "ranker")
    assert code == 0 and "CORRUPT" in out
    code, out, _ = run("history", "ranker")
    assert code == 0 and "corrupt" in out
    code, _, err = run("set", "ranker", "max_results=31")
    assert code == 0, err
    code, _, err = run("activate", "ranker", "r2", "--yes")
    assert code == 0, err
    assert active_id(server) == "r2"


def test_a_pointer_to_nothing_at_all_is_unavailable_not_a_crash(ranker: ReleaseDocument):
    client = ssm()
    client.delete_parameter(Name=POINTER)
    with pytest.raises(ConfigUnavailableError, match="no active release"):
        loader(client).load("ranker")
