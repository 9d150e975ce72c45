"""The documentation a reader follows: commands that act on a stack name it, no reference to a tracker the
reader cannot see, and the repository carries the license the package declares and a security policy."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

STACK_COMMAND = re.compile(r"\bpulumi (?:preview|up|refresh|destroy|config set|stack output)\b[^`\n]*")
TRACKER_REFERENCE = re.compile(r"\b(?:issues?|PR|pull request)\s*#?\d+\b", re.IGNORECASE)


def documents(project_dir: Path) -> list[Path]:
    return [project_dir / "README.md", project_dir / "SECURITY.md", *sorted((project_dir / "docs").glob("*.md"))]


def commands(text: str) -> list[str]:
    """Stack commands with arguments, in code blocks and code spans (bare names in prose are not commands)."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL) + re.findall(r"`([^`\n]+)`", text):
        for match in STACK_COMMAND.finditer(block):
            command = match.group(0).split("#", 1)[0].strip()
            if command.split()[1:] and len(command.split()) > 2:
                found.append(command)
    return found


def test_every_documented_command_that_acts_on_a_stack_names_the_stack(project_dir: Path):
    checked = 0
    for path in documents(project_dir):
        for command in commands(path.read_text()):
            checked += 1
            assert "--stack" in command, f"{path.name}: `{command}` acts on whichever stack is selected"
    assert checked >= 5


def test_the_stack_check_catches_a_command_without_its_stack():
    assert commands("```bash\npulumi preview --policy-pack policy\n```") == ["pulumi preview --policy-pack policy"]
    assert commands("run `pulumi up` on main") == []


@pytest.mark.parametrize("name", ["README.md", "SECURITY.md", "docs"])
def test_documentation_cites_no_tracker_the_reader_cannot_see(project_dir: Path, name: str):
    paths = [project_dir / name] if name.endswith(".md") else sorted((project_dir / name).glob("*.md"))
    for path in paths:
        for line in path.read_text().splitlines():
            assert not TRACKER_REFERENCE.search(line), f"{path.name}: {line}"


def test_the_license_file_is_the_license_the_package_declares(project_dir: Path):
    declared = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared == "Apache-2.0"
    text = (project_dir / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 190  # the full text
    assert "Report a\nvulnerability" in (project_dir / "SECURITY.md").read_text()
