"""The examples of docs/model-config-azure.md run as written, against the fake store: the Python block with
the loader's Azure seams (credential, transport, Key Vault) pointed at the fake, the shell block through the CLI
with its one client seam (`routing.azure_client`) pointed at the fake."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from appconfig_fake import StaticTokenCredential
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import azure_appconfig, routing

from .conftest import MODEL, Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "model-config-azure.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_loader_example_runs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    real = azure_appconfig.AzureConfigLoader

    class OnTheFake(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.update(credential=StaticTokenCredential(), transport=store.transport)
            kwargs.setdefault("secret_resolver", store.resolve)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(azure_appconfig, "AzureConfigLoader", OnTheFake)
    (example,) = blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(example, str(DOC), "exec"), namespace)
    config = namespace["config"]
    assert config.release_id == "r1" and config["max_results"] == 20  # type: ignore[attr-defined]


def test_the_command_line_example_runs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "azure_client", lambda endpoint: (store.client(), StaticTokenCredential()))
    monkeypatch.setenv("ML_INFRA_OPERATOR", "alice@example.com")
    manager = store.manager()
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    (example,) = blocks("bash")
    ran = 0
    for line in example.strip().splitlines():
        words = shlex.split(line)
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                monkeypatch.setenv(name, value)
            continue
        assert words[:2] == ["ml-infra", "config"], line
        result = CliRunner().invoke(app, words[1:])
        assert result.exit_code == 0, (line, result.stdout, result.stderr)
        ran += 1
    assert ran == 5
    assert manager.active(MODEL).release_id == "r1"  # type: ignore[union-attr]  # rolled back from r2
    assert [h.release_id for h in manager.history(MODEL)] == ["r1", "r2", "r1"]
