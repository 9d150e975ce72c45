"""Shared fixtures: the project root, and whole-program evaluations of the real stack files on Pulumi's mock
runtime (cached per session: an evaluation is a plain snapshot of what the program registered)."""

from __future__ import annotations

import copy
import functools
import gc
import hashlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import botocore.hooks
import pytest
import typer.main
import typer.testing

import ml_infra.preview
from ml_infra.preview import Evaluation

# `CliRunner.invoke` rebuilds the whole click command tree from the Typer app on every call (every command's
# signature and type hints read again: about a tenth of the suite's CPU). The installed `ml-infra` builds it once
# per process; the tests now do the same, once per app.
assert typer.testing._get_command is typer.main.get_command, "typer.testing no longer builds commands this way"
typer.testing._get_command = functools.cache(typer.main.get_command)

# Every botocore session renames (aliases) the names of the few hundred event handlers it registers, and caches the
# renamings per session: a test suite that builds fresh sessions and clients for every command pays it each time
# (about a third of a client's creation). The renaming is a pure function of the event name and botocore's own
# alias table, so sessions using that table share one cache here; the renamings themselves are botocore's.
_shared_alias_names: dict[str, str] = {}
_event_aliaser_init = botocore.hooks.EventAliaser.__init__


def _event_aliaser_sharing_its_cache(self: botocore.hooks.EventAliaser, event_emitter: object, event_aliases=None):
    _event_aliaser_init(self, event_emitter, event_aliases)
    if event_aliases is None:
        self._alias_name_cache = _shared_alias_names


assert hasattr(botocore.hooks.EventAliaser(botocore.hooks.HierarchicalEmitter()), "_alias_name_cache")
botocore.hooks.EventAliaser.__init__ = _event_aliaser_sharing_its_cache

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


def _program_fingerprint(project_dir: Path) -> str:
    """What an evaluation of the project's own program reads: the project and stack files, the program, and the
    contracts it declares (path, size and mtime: a test that edited one would change it)."""
    digest = hashlib.sha256()
    for path in sorted([*project_dir.glob("Pulumi*.yaml"), project_dir / "__main__.py"]):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in sorted((project_dir / "contracts").rglob("*")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


_evaluate_uncached = ml_infra.preview.evaluate
_evaluations: dict[tuple[object, ...], Evaluation] = {}


@functools.wraps(_evaluate_uncached)
def _evaluate_once(
    project_dir: Path,
    stack: str,
    *,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    program: Path | None = None,
    dry_run: bool = True,
) -> Evaluation:
    """`evaluate`, run once per distinct input of the project's own program, every caller getting its own copy.

    Why: an evaluation costs about half a second of CPU on the mock runtime, and tests and the commands they
    invoke (preview, cost, terraform-plan) evaluate the same stacks dozens of times. The program is deterministic
    in its inputs, so the key is every argument plus a fingerprint of the files it reads; only the project's own
    folder is cached (copies in tmp folders are what tests edit), and only successful runs (a refusal runs again,
    so its exception and messages are the test's own). Each caller gets a deep copy: nothing one test or
    command does to its evaluation is seen by another."""
    uncached = lambda: _evaluate_uncached(  # noqa: E731
        project_dir, stack, config=config, secret_keys=secret_keys, program=program, dry_run=dry_run
    )
    if project_dir.resolve() != PROJECT_DIR or program is not None:
        return uncached()
    key = (
        stack,
        None if config is None else tuple(sorted(config.items())),
        None if secret_keys is None else tuple(secret_keys),
        dry_run,
        _program_fingerprint(PROJECT_DIR),
    )
    if key not in _evaluations:
        _evaluations[key] = uncached()
    return copy.deepcopy(_evaluations[key])


# Module attribute replaced before the test modules import it: `from ml_infra.preview import evaluate` in a test
# and the commands' own calls (looked up in the module at call time) all get the cached one.
ml_infra.preview.evaluate = _evaluate_once


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
    return _evaluate_once(PROJECT_DIR, "dev")


@pytest.fixture(scope="session")
def prod() -> Evaluation:
    return _evaluate_once(PROJECT_DIR, "prod")


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
