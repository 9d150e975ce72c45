"""The Python examples in docs/contracts.md run as written from the repository root."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_example_in_the_contracts_guide_runs():
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks
    for block in blocks:
        result = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stderr
