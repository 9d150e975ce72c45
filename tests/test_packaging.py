"""How the project installs: `pulumi install` gets everything the program needs, and the application-side code
works without any Pulumi SDK installed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement


def locked_requirements(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, hashes) of a `uv pip compile --generate-hashes` output."""
    logical = re.sub(r"\\\n\s*", " ", path.read_text())
    locked: dict[str, tuple[str, list[str]]] = {}
    for line in logical.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith(("-e", "-r", "-c", ".", "/", "git+")), f"{path.name}: {line}"
        spec, *options = line.split(" --hash=")
        requirement = Requirement(spec.strip())
        pinned = [str(s) for s in requirement.specifier]
        assert len(pinned) == 1 and pinned[0].startswith("=="), f"{path.name}: {requirement} is not pinned"
        locked[requirement.name.lower()] = (pinned[0][2:], [o.strip() for o in options])
    return locked


def bounds(project: dict, *extras: str) -> dict[str, Requirement]:
    declared = [*project["dependencies"], *(r for e in extras for r in project["optional-dependencies"][e])]
    return {Requirement(r).name.lower(): Requirement(r) for r in declared}


@pytest.mark.parametrize(
    ("lock", "extra", "project_file"),
    [("requirements.txt", "pulumi", "Pulumi.yaml"), ("policy/requirements.txt", "policy", "policy/PulumiPolicy.yaml")],
)
def test_pulumi_install_builds_its_own_environment_from_a_hash_locked_list(
    project_dir: Path, lock: str, extra: str, project_file: str
):
    runtime = yaml.safe_load((project_dir / project_file).read_text())["runtime"]
    assert runtime["name"] == "python"
    # `pulumi install` (toolchain pip) creates this venv, upgrades pip/setuptools/wheel in it, then installs
    # requirements.txt: it must never be the tests' `.venv`, whose IAM linter needs pkg_resources.
    assert runtime["options"] == {"toolchain": "pip", "virtualenv": "venv"}
    assert ".venv" in readme_tests_command(project_dir)

    locked = locked_requirements(project_dir / lock)
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    for name, requirement in bounds(project, extra).items():
        assert name in locked, f"{lock} does not lock {name}"
        assert locked[name][0] in requirement.specifier, f"{lock}: {name}=={locked[name][0]} outside {requirement}"
    for name, (_version, hashes) in locked.items():
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{lock}: {name} has no sha256 hash"
    header = (project_dir / lock).read_text().splitlines()[1]
    assert f"uv pip compile pyproject.toml --extra {extra} --generate-hashes" in header


def readme_tests_command(project_dir: Path) -> str:
    text = (project_dir / "README.md").read_text()
    match = re.search(r"<!-- readme-command: tests -->\n```bash\n(.*?)\n```", text, re.DOTALL)
    assert match
    return match.group(1)


def test_an_update_bot_keeps_both_locks_current(project_dir: Path):
    config = json.loads((project_dir / "renovate.json").read_text())
    patterns = config["pip-compile"]["managerFilePatterns"]
    for lock in ("requirements.txt", "policy/requirements.txt"):
        assert any(re.search(p.strip("/"), lock) for p in patterns), lock
    assert config["lockFileMaintenance"]["enabled"] is True
    # The source of both locks is pyproject.toml; its own manager must stay on so bounds are raised too.
    assert "pep621" in config["enabledManagers"] and "github-actions" in config["enabledManagers"]


def test_pulumi_extra_bounds_every_sdk_the_program_imports_to_its_major_version(project_dir: Path):
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    extra = {Requirement(r).name: Requirement(r).specifier for r in project["optional-dependencies"]["pulumi"]}
    expected_majors = {"pulumi": 3, "pulumi-aws": 7, "pulumi-azure-native": 3}
    for name, major in expected_majors.items():
        assert version(name) in extra[name], f"{name} {version(name)} (installed) is outside {extra[name]}"
        assert f"{major + 1}.0" not in extra[name], f"{name} must stay below major version {major + 1}"
    assert "pulumi-gcp" in extra
    base = {Requirement(r).name for r in project["dependencies"]}
    assert not any(name.startswith("pulumi") for name in base), "the base install must not need Pulumi"


# Imports every application-side module with Pulumi and Powertools (the benchmarks' baseline, extra `bench`) made
# unimportable, as on a machine that has only the base install.
BLOCK_PULUMI = """
import importlib, pkgutil, sys

class NoPulumi:
    def find_spec(self, name, path=None, target=None):
        if name in ("pulumi", "aws_lambda_powertools") or name.startswith(("pulumi.", "pulumi_", "aws_lambda_power")):
            raise ImportError(f"application-side code imported {name}")
        return None

sys.meta_path.insert(0, NoPulumi())
import ml_infra
infrastructure = {"__main__", "preview", "program_inputs", "providers", "ssm_params", "glue_schemas",
                  "config_store", "sagemaker_endpoint", "appsync_api", "guardrails", "aws_kms", "access_logs", "waf",
                  "terraform_plan", "hardened_bucket", "contract_job", "aws_iam"}
imported = []
for module in pkgutil.walk_packages(ml_infra.__path__, "ml_infra."):
    top = module.name.split(".")[1]
    if top in infrastructure:
        continue
    importlib.import_module(module.name)
    imported.append(module.name)
print(len(imported))
"""


def test_application_side_code_imports_no_pulumi_sdk(project_dir: Path):
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_PULUMI], cwd=project_dir, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert int(completed.stdout) >= 4  # cli, stack_config, the contracts and modelconfig packages
    help_run = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_PULUMI.split("import ml_infra")[0] + "from ml_infra.cli import app; app(['--help'])",
        ],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Usage:" in help_run.stdout, help_run.stderr
