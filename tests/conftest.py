"""Shared fixtures: the project root, and whole-program evaluations of the real stack files on Pulumi's mock
runtime (cached per session: an evaluation is a plain snapshot of what the program registered)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ml_infra.preview import Evaluation, evaluate

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def dev() -> Evaluation:
    return evaluate(PROJECT_DIR, "dev")


@pytest.fixture(scope="session")
def prod() -> Evaluation:
    return evaluate(PROJECT_DIR, "prod")


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[], Path]:
    """A copy of the project's program, stack files and contracts, for tests that break one of them."""

    def make() -> Path:
        target = tmp_path / "project"
        target.mkdir()
        for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
            shutil.copy(PROJECT_DIR / name, target / name)
        shutil.copytree(PROJECT_DIR / "contracts", target / "contracts")
        return target

    return make
