"""Helpers for the contract tests: schema files written into a folder, git commands in a throwaway repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def write_schema(folder: Path, name: str, document: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()
