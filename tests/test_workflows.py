"""The GitHub workflows: they parse, preview every stack file with the guardrails policy pack on pull
requests, run the README's test command, deploy every stack on main with prod behind its environment's
approval, and reach the clouds through OpenID Connect only (no stored long-lived key)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = ("preview.yml", "deploy.yml", "pulumi-up.yml")
# Long-lived cloud keys that must never reach a workflow.
STORED_KEYS = re.compile(
    r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|ARM_CLIENT_SECRET|AZURE_CLIENT_SECRET|"
    r"ARM_CLIENT_CERTIFICATE|GOOGLE_CREDENTIALS|GOOGLE_APPLICATION_CREDENTIALS|credentials_json|creds:"
)


def load(project_dir: Path, name: str) -> dict[Any, Any]:
    document = yaml.safe_load((project_dir / ".github" / "workflows" / name).read_text())
    assert isinstance(document, dict)
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def stack_names(project_dir: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if str(step.get("uses", "")).startswith(f"{action}@")]


def readme_command(project_dir: Path, name: str) -> str:
    text = (project_dir / "README.md").read_text()
    match = re.search(rf"<!-- readme-command: {name} -->\n```bash\n(.*?)\n```", text, re.DOTALL)
    assert match, f"README has no {name} command"
    return match.group(1).strip()


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_parses_and_uses_oidc_without_stored_cloud_keys(project_dir: Path, name: str):
    workflow = load(project_dir, name)
    text = (project_dir / ".github" / "workflows" / name).read_text()
    assert not STORED_KEYS.search(text), STORED_KEYS.search(text)
    assert "secrets." not in text  # identifiers come from variables; credentials from OIDC
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        if "steps" in job and steps_using(job, "aws-actions/configure-aws-credentials"):
            assert job["permissions"]["id-token"] == "write"
            (aws,) = steps_using(job, "aws-actions/configure-aws-credentials")
            assert "role-to-assume" in aws["with"]
            (azure,) = steps_using(job, "azure/login")
            assert {"client-id", "tenant-id", "subscription-id"} <= set(azure["with"])
            (gcp,) = steps_using(job, "google-github-actions/auth")
            assert "workload_identity_provider" in gcp["with"]
            assert steps_using(job, "pulumi/auth-actions")


def test_pull_requests_preview_every_stack_with_the_policy_pack_and_run_the_tests(project_dir: Path):
    workflow = load(project_dir, "preview.yml")
    assert "pull_request" in workflow["on"]
    preview = workflow["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == stack_names(project_dir)
    (pulumi,) = steps_using(preview, "pulumi/actions")
    assert pulumi["uses"] == "pulumi/actions@v6"
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config.${{ matrix.stack }}.json"
    assert "${{ matrix.stack }}" in pulumi["with"]["stack-name"]
    test_runs = [step["run"] for step in workflow["jobs"]["tests"]["steps"] if "run" in step]
    assert readme_command(project_dir, "tests") in test_runs


def test_main_deploys_every_stack_dev_first_and_prod_behind_its_environment(project_dir: Path):
    deploy = load(project_dir, "deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    assert sorted(job["with"]["stack"] for job in jobs.values()) == stack_names(project_dir)
    assert all(job["uses"] == "./.github/workflows/pulumi-up.yml" for job in jobs.values())
    assert all(job["permissions"]["id-token"] == "write" for job in jobs.values())
    assert jobs["prod"]["needs"] == "dev"

    up = load(project_dir, "pulumi-up.yml")
    assert "workflow_call" in up["on"]
    job = up["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"  # the prod environment carries the approval
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config.${{ inputs.stack }}.json"


def test_policy_pack_configs_named_by_the_workflows_exist_for_every_stack(project_dir: Path):
    for stack in stack_names(project_dir):
        assert (project_dir / "policy" / f"config.{stack}.json").is_file()


def test_pull_requests_run_the_contract_gate_and_the_resolver_checks(project_dir: Path):
    jobs = load(project_dir, "preview.yml")["jobs"]
    gate = jobs["contracts"]
    assert steps_using(gate, "actions/checkout")[0]["with"]["fetch-depth"] == 0
    runs = [step.get("run", "") for step in gate["steps"]]
    assert any("ml-infra contracts check --against" in run for run in runs)
    assert any(
        step.get("run", "").startswith("npm ci") and "npm test" in step["run"] for step in jobs["tests"]["steps"]
    )
