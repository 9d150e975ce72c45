"""The model-configuration examples of README.md and docs/model-config.md run as written from a fresh copy of the
repository: start moto with the dummy credentials the README states, seed it with `ml-infra config seed`, run the
loader examples and the operator commands. The only changes made to the text: the port (a free one instead of
5000), so that parallel test runs on one machine do not collide, and the README's `kill` of the server moved
after the docs' examples."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# A fresh interpreter per command (a moto server, the seed, a dozen `ml-infra config` runs): about 30 s of CPU.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def example(name: str, language: str, document: str = "README.md", kind: str = "readme") -> str:
    """The fenced block of `language` after the marker `<!-- KIND-example: NAME -->` in `document`."""
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- {kind}-example: {name} -->")
    assert lines[start + 1] == f"```{language}", f"{name}: the marker must be followed by a {language} block"
    end = lines.index("```", start + 2)
    return "\n".join(lines[start + 2 : end]) + "\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    """The tracked files of the repository as they are now, without any local state (venvs, caches)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    copy = tmp_path / "clone"
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


def test_the_readme_config_examples_run_as_written_against_moto(fresh_copy: Path, tmp_path: Path):
    port = str(free_port())
    script = (
        example("config-setup", "bash")
        + "python - <<'PY'\n"
        + example("config-loader", "python")
        + "PY\n"
        + example("config-operator", "bash").replace("kill $MOTO_PID", "")
        + "python - <<'PY'\n"
        + example("config-loader", "python", "docs/model-config.md", "docs")
        + "PY\n"
        + example("config-commands", "bash", "docs/model-config.md", "docs")
        + "kill $MOTO_PID\n"
    ).replace("5000", port)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ML_INFRA_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # no ~/.aws of the machine's
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=fresh_copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the moto server, if a command failed before `kill`
    assert process.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "seeded model fraud-detector" in out
    assert "initial 0.82 False" in out  # the loader example's print
    assert "Activated model fraud-detector: initial -> r2" in out
    assert "Rolled back model fraud-detector: r2 -> initial" in out
    assert "initial False None ssm\n0.82" in out  # the docs' loader example
    assert "Activated model fraud-detector: initial -> r3" in out and "Retired r3 of model fraud-detector" in out
