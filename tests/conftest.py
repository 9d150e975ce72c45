"""Shared fixtures: the project root, and whole-program evaluations of the real stack files on Pulumi's mock
runtime (cached per session: an evaluation is a plain snapshot of what the program registered)."""

from __future__ import annotations

import functools
import gc
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main
import typer.testing

from ml_infra.preview import Evaluation, evaluate

# `CliRunner.invoke` rebuilds the whole click command tree from the Typer app on every call (every command's
# signature and type hints read again: about a tenth of the suite's CPU). The installed `ml-infra` builds it once
# per process; the tests now do the same, once per app.
assert typer.testing._get_command is typer.main.get_command, "typer.testing no longer builds commands this way"
typer.testing._get_command = functools.cache(typer.main.get_command)

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


def _freeze_long_lived_objects() -> None:
    """Move every object alive now out of the cyclic garbage collector's reach (`gc.freeze`).

    Why: the Pulumi SDKs' resource modules, the test modules and the session's evaluations are a few hundred
    thousand objects that live as long as the run, and every full collection walks them again: about 40% of the
    CPU of a program evaluation on the mock runtime. Collected first, so nothing already garbage is kept.
    Objects created later are collected as usual; reference counting frees the frozen ones as always."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_long_lived_objects()


@pytest.hookimpl(trylast=True)  # after pytest's own teardown: the file's fixtures are gone by then
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # Between test files: what the file imported or built for the session (SDK modules of a first evaluation,
    # session fixtures, moto's service models) is long-lived too.
    if nextitem is not None and nextitem.path != item.path:
        _freeze_long_lived_objects()


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
