"""Fixtures for the contract tests: a throwaway git repository, AWS settings for moto."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_helpers import git


@pytest.fixture
def contracts_repo(tmp_path: Path) -> Path:
    """A git repository with a `contracts/` folder and a `main` branch, nothing committed yet."""
    repo = tmp_path / "repo"
    (repo / "contracts").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard AWS settings pointing nowhere real: moto's in-process mock answers."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GLUE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
