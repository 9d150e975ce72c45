"""Helpers for the contract tests: schema files written into a folder, git commands in a throwaway repository."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
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


def bench_module() -> Any:
    """bench/bench_validate.py as a module (its schemas and record generators), loaded once per process."""
    if "bench_validate" in sys.modules:
        return sys.modules["bench_validate"]
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_validate.py"
    spec = importlib.util.spec_from_file_location("bench_validate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
