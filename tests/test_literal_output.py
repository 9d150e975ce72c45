"""Every `ml-infra` command that echoes user input prints it literally (issue 14): Rich markup in a stack name, a
path, a contract name, a mode or a config value is neither interpreted (`[bold]` silently eaten, `^[a-z]+$`
printed as `^+$`) nor a crash (`[/]` is a MarkupError when parsed). The `config` commands are covered in
tests/modelconfig/test_literal_output.py, against a moto server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app

MARKUP = ("[/]", "[bold]", "[red]x[/red]", "^[a-z]+$", ":thumbs_up:")


def run(*args: str) -> tuple[int, str, str]:
    # Wide enough that no table cell is folded, so the text can be found whole.
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("text", MARKUP)
def test_preview_echoes_an_unknown_stack_name_literally(project_dir: Path, text: str):
    code, _, err = run("preview", "--stack", f"{text}dev", "--project-dir", str(project_dir))
    assert code == 2
    assert f"error: --stack '{text}dev': is not a stack name; allowed: 1-100 letters, digits" in err


@pytest.mark.parametrize("text", ["[bold]", "[red]x[", "^[a-z]+$"])
def test_preview_echoes_the_project_folder_literally(tmp_path: Path, text: str):
    folder = tmp_path / f"p{text}"
    folder.mkdir()
    code, _, err = run("preview", "--stack", "dev", "--project-dir", str(folder))
    assert code == 2
    assert f"{folder / 'Pulumi.yaml'}: not found" in err


@pytest.mark.parametrize("text", MARKUP)
def test_preview_echoes_a_bad_config_value_literally(project_copy: Callable[[], Path], text: str):
    project = project_copy()
    stack_file = project / "Pulumi.dev.yaml"
    source = stack_file.read_text()
    assert "ml-infra:kmsDeletionWindowDays: 7" in source
    bad = source.replace("ml-infra:kmsDeletionWindowDays: 7", f"ml-infra:kmsDeletionWindowDays: '{text}'")
    stack_file.write_text(bad)
    code, _, err = run("preview", "--stack", "dev", "--project-dir", str(project))
    assert code == 2
    assert "ml-infra:kmsDeletionWindowDays:" in err and f"'{text}'" in err


@pytest.mark.parametrize("text", MARKUP)
def test_contracts_commands_echo_names_paths_and_modes_literally(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
):
    contracts = str(project_dir / "contracts")
    monkeypatch.chdir(tmp_path)  # short relative paths: a table title must fit on one line

    code, out, err = run("contracts", "validate", text, str(tmp_path / "in.jsonl"), "--contracts-dir", contracts)
    assert code == 2 and text in err

    code, out, err = run("contracts", "publish", "--registry", "r", "--contract", text, "--contracts-dir", contracts)
    assert code == 2 and f"no contract named {text!r}" in err

    code, out, err = run("contracts", "check", "--contracts-dir", str(tmp_path / f"c{text}"))
    assert code == 2 and f"c{text}" in err

    schema = project_dir / "contracts" / "training-record.schema.json"
    # A "/" in the text makes a folder: the path still reads `old[/]...`.
    old = Path(f"old{text}.schema.json")
    old.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(schema, old)
    code, out, err = run("contracts", "compat", str(old), str(schema), "--mode", f"FULL{text}")
    assert code == 2 and f"--mode 'FULL{text.upper()}' is not a compatibility mode" in err

    new = Path(f"new{text}.schema.json")
    new.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(schema, new)
    code, out, err = run("contracts", "compat", str(old), str(new))
    assert code == 0, err
    assert f"{old} -> {new}" in out  # the table's title
    name = new.name.removesuffix(".schema.json")
    assert f"│ {name} " in out  # the contract's name, in a cell

    code, out, _ = run("contracts", "compat", str(old), str(new), "--json")
    assert json.loads(out)["contracts"][0]["contract"] == name


@pytest.mark.parametrize("text", MARKUP)
def test_contracts_validate_prints_record_data_literally(project_dir: Path, tmp_path: Path, text: str):
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps(text) + "\n")
    code, out, err = run("contracts", "validate", "training-record", str(records), "--contracts-dir",
                         str(project_dir / "contracts"))
    assert code == 1, err
    assert f"{json.dumps(text)} is not of type \"object\"" in out
