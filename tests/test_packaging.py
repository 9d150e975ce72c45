"""How the project installs: `pulumi install` gets everything the program needs, and the application-side code
works without any Pulumi SDK installed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from packaging.requirements import Requirement


def test_pulumi_toolchain_installs_the_project_with_its_pulumi_extra(project_dir: Path):
    runtime = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    requirements = [
        line.strip()
        for line in (project_dir / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements == ["-e .[pulumi]"]


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


# Imports every application-side module with Pulumi made unimportable, as on a machine that has only boto3.
BLOCK_PULUMI = """
import importlib, pkgutil, sys

class NoPulumi:
    def find_spec(self, name, path=None, target=None):
        if name == "pulumi" or name.startswith(("pulumi.", "pulumi_")):
            raise ImportError(f"application-side code imported {name}")
        return None

sys.meta_path.insert(0, NoPulumi())
import ml_infra
infrastructure = {"__main__", "preview", "program_inputs", "providers", "ssm_params", "glue_schemas",
                  "config_store", "sagemaker_endpoint", "appsync_api", "guardrails", "aws_kms"}
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
