"""`ml-infra config` prints user text literally: Rich markup in a model name, a key, a value, a note or a pattern
is neither interpreted (`[bold]` eaten) nor a crash (`[/]` is a markup error when parsed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig.layout import KeySchema

from .conftest import RANKER_SCHEMA, RANKER_VALUES, MotoServer, seed_model

MARKUP = ("[/]", "[bold]", "[red]x[/red]", "^[a-z]+$")


@pytest.fixture
def server(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    schema = {**RANKER_SCHEMA, "label": KeySchema(ssm_type="String", value_type="string", allowed_pattern="^[a-z]+$")}
    seed_model(moto_server.client(), "ranker", schema, {**RANKER_VALUES, "label": "abc"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ML_INFRA_ENV", "dev")
    yield moto_server


def run(*args: str) -> tuple[int, str, str]:
    # Wide enough that no table cell is folded, so the text can be found whole.
    result = CliRunner().invoke(app, ["config", *args], env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("text", MARKUP)
def test_a_bad_model_name_is_echoed_literally(server: MotoServer, text: str):
    code, out, err = run("show", text)
    assert code == 2 and out == ""
    assert err.startswith(f"error: model name {text!r} must be")


@pytest.mark.parametrize("text", MARKUP)
def test_a_refused_value_and_the_allowed_pattern_are_echoed_literally(server: MotoServer, text: str):
    code, _, err = run("set", "ranker", f"mode={text}", f"label={text}")
    assert code == 2
    assert f"mode: value {text!r} is not one of the allowed values" in err
    assert f"label: value {text!r} does not match the allowed pattern '^[a-z]+$'" in err


@pytest.mark.parametrize("text", MARKUP)
def test_release_notes_and_values_print_literally_in_tables(server: MotoServer, text: str):
    code, _, err = run("set", "ranker", f"features={text},b")
    assert code == 0, err
    code, _, err = run("release", "ranker", "--id", "r1", "--note", f"note {text}")
    assert code == 0, err
    code, out, err = run("releases", "ranker")
    assert code == 0, err
    assert f"note {text}" in out
    code, out, err = run("show", "ranker", "--release", "r1")
    assert code == 0, err
    assert f"{text},b" in out
    code, out, err = run("diff", "ranker", "active", "r1")
    assert code == 0, err
    assert f"{text},b" in out
