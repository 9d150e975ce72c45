"""Earlier versions of contract files from git, for the compatibility gate (`ml-infra contracts check`).

Reads history with the `git` command (`git show REF:path`, `git log`) through subprocess: git is on every
machine that has the repository, and a Python git library would add a dependency for three read-only
commands. Every failure a user can cause (not a repository, an unknown ref, no main branch to default to)
raises `GitHistoryError` with a sentence saying what to do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ml_infra.contracts.compat import Version

MAIN_BRANCH_CANDIDATES = ("origin/HEAD", "origin/main", "main", "origin/master", "master")


class GitHistoryError(Exception):
    """Git history cannot be read as asked."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, encoding="utf-8"
        )
    except FileNotFoundError as err:
        raise GitHistoryError("the `git` command is not installed; it is needed to read earlier versions.") from err


def repo_root(path: Path) -> Path:
    start = path if path.is_dir() else path.parent
    if not start.exists():
        raise GitHistoryError(f"{path}: does not exist.")
    result = _git(start, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise GitHistoryError(
            f"{path}: not inside a git repository, so there are no earlier versions to compare with "
            "(use `ml-infra contracts compat OLD NEW`, or --against-registry)."
        )
    return Path(result.stdout.strip())


def resolve_ref(repo: Path, ref: str) -> str:
    """The commit id of `ref`, or GitHistoryError naming it."""
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise GitHistoryError(f"{ref!r}: unknown git ref in {repo}; give a branch, tag or commit that exists.")
    return result.stdout.strip()


def default_ref(repo: Path) -> tuple[str, str]:
    """The merge base of HEAD with the main branch: (commit, a label saying how it was found)."""
    for candidate in MAIN_BRANCH_CANDIDATES:
        if _git(repo, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").returncode != 0:
            continue
        base = _git(repo, "merge-base", "HEAD", candidate)
        if base.returncode == 0 and base.stdout.strip():
            commit = base.stdout.strip()
            return commit, f"merge-base(HEAD, {candidate}) {commit[:12]}"
    raise GitHistoryError(
        f"{repo}: found no main branch ({', '.join(MAIN_BRANCH_CANDIDATES)}) to take the merge base with, or "
        "HEAD has no commit yet; pass --against GIT_REF."
    )


def file_at(repo: Path, commit: str, relpath: str) -> str | None:
    """The text of `relpath` at `commit`, or None if the file does not exist there."""
    result = _git(repo, "show", f"{commit}:{relpath}")
    if result.returncode != 0:
        return None
    return result.stdout


def versions(repo: Path, ref: str, ref_label: str, path: Path, all_versions: bool) -> list[Version]:
    """Earlier versions of the contract file `path` as of commit `ref`, oldest first.

    `all_versions`: every committed version reachable from `ref` (for the _ALL modes), else only the one at
    `ref`. Consecutive identical versions are collapsed."""
    relpath = path.resolve().relative_to(repo.resolve()).as_posix()
    if not all_versions:
        text = file_at(repo, ref, relpath)
        return [] if text is None else [Version(f"{ref_label}:{relpath}", text)]
    log = _git(repo, "log", "--format=%H", "--reverse", ref, "--", relpath)
    if log.returncode != 0:
        raise GitHistoryError(f"git log of {relpath} at {ref_label} failed: {log.stderr.strip()}")
    out: list[Version] = []
    for commit in log.stdout.split():
        text = file_at(repo, commit, relpath)
        if text is None or (out and out[-1].text == text):
            continue
        out.append(Version(f"{commit[:12]}:{relpath}", text))
    return out


def contracts_at(repo: Path, commit: str, contracts_dir: Path) -> dict[str, str | None]:
    """The contract files in `contracts_dir` at `commit`, each with its compatibility mode from the manifest
    there (None when the manifest has no usable entry for it): {file name: mode}. Empty when the folder
    did not exist at that commit."""
    import yaml

    from ml_infra.contracts.catalog import MANIFEST_NAME, contract_name

    rel = contracts_dir.resolve().relative_to(repo.resolve()).as_posix()
    listing = _git(repo, "ls-tree", "--name-only", f"{commit}:{rel}")
    if listing.returncode != 0:
        return {}
    names = [n for n in listing.stdout.splitlines() if contract_name(Path(n)) is not None]
    manifest_text = file_at(repo, commit, f"{rel}/{MANIFEST_NAME}")
    try:
        manifest = yaml.safe_load(manifest_text) if manifest_text else None
    except yaml.YAMLError:
        manifest = None
    modes: dict[str, str | None] = {}
    for name in names:
        entry = manifest.get(name) if isinstance(manifest, dict) else None
        mode = entry.get("compatibility") if isinstance(entry, dict) else None
        modes[name] = mode if isinstance(mode, str) else None
    return modes
