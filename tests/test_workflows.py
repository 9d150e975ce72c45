"""The GitHub workflows: they parse, preview every stack file with the guardrails policy pack on pull
requests (with a PR comment), run every check of .ci/run, deploy every stack on main with prod behind its
environment's approval, reach the clouds through OpenID Connect only (no stored long-lived key), use each
action's current major version and only inputs that version documents."""

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


def test_pull_requests_preview_every_stack_with_the_policy_pack_and_comment(project_dir: Path):
    workflow = load(project_dir, "preview.yml")
    assert "pull_request" in workflow["on"]
    preview = workflow["jobs"]["preview"]
    include = preview["strategy"]["matrix"]["include"]
    assert sorted(entry["stack"] for entry in include) == stack_names(project_dir)
    assert all(entry["suffix"] == entry["stack"].upper() for entry in include)  # variable names are upper case
    (pulumi,) = [step for step in steps_using(preview, "pulumi/actions") if "command" in step.get("with", {})]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config.${{ matrix.stack }}.json"
    assert "${{ matrix.stack }}" in pulumi["with"]["stack-name"]
    assert pulumi["with"]["comment-on-pr"] is True
    assert preview["permissions"]["pull-requests"] == "write"


def test_pull_requests_run_every_check_of_the_ci_script(project_dir: Path):
    checks = load(project_dir, "preview.yml")["jobs"]["checks"]
    assert steps_using(checks, "actions/checkout")[0]["with"]["fetch-depth"] == 0
    assert steps_using(checks, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    assert steps_using(checks, "actions/setup-node")
    assert [step["run"] for step in checks["steps"] if "run" in step] == ["bash .ci/run"]
    ci = (project_dir / ".ci" / "run").read_text()
    for check in (
        "run_readme_command preview",
        "run_readme_command tests",
        "npm test",
        ".venv/bin/pyright",
        ".venv/bin/ruff check .",
        "ml-infra contracts check",
        ".ci/confluent-vectors",
        "scripts/confluent_conformance.py --vectors",
        "--require-hashes -r requirements.txt",
        ".ci/json-schema-test-suite",
    ):
        assert check in ci, check
    # The peer suites are in place and named before any test runs, so that the differential tests over them
    # run (a named copy that is missing fails them) instead of skipping on a machine without ../shared.
    tests_start = ci.index("run_readme_command tests")
    for before_tests in (".ci/confluent-vectors", ".ci/json-schema-test-suite",
                         "export ML_INFRA_CONFLUENT_VECTORS ML_INFRA_JSON_SCHEMA_SUITE"):
        assert ci.index(before_tests) < tests_start, before_tests
    vectors = (project_dir / ".ci" / "confluent-vectors").read_text()
    assert re.search(r"^commit=[0-9a-f]{40}$", vectors, re.MULTILINE)  # a pinned commit, not a branch
    assert len(re.findall(r"[0-9a-f]{64}  diff-", vectors)) == 4
    suite = (project_dir / ".ci" / "json-schema-test-suite").read_text()
    assert re.search(r"^commit=[0-9a-f]{40}$", suite, re.MULTILINE)


# The current major version of every action the workflows use, and the inputs that version's action.yml
# declares (read from each action's repository at that major version).
ACTION_INPUTS: dict[str, tuple[str, set[str]]] = {
    "actions/checkout": ("v7", {"repository", "ref", "token", "fetch-depth", "path", "persist-credentials"}),
    "actions/setup-python": ("v7", {"python-version", "python-version-file", "cache", "architecture"}),
    "actions/setup-node": ("v7", {"node-version", "node-version-file", "cache", "registry-url"}),
    "pulumi/actions": (
        "v7",
        {
            "command",
            "stack-name",
            "work-dir",
            "comment-on-pr",
            "github-token",
            "cloud-url",
            "policyPacks",
            "policyPackConfigs",
            "refresh",
            "upsert",
            "diff",
            "expect-no-changes",
            "message",
            "pulumi-version",
        },
    ),
    "pulumi/auth-actions": (
        "v2",
        {
            "organization",
            "requested-token-type",
            "scope",
            "token-expiration",
            "export-environment-variables",
            "cloud-url",
        },
    ),
    "aws-actions/configure-aws-credentials": (
        "v6",
        {
            "aws-region",
            "role-to-assume",
            "role-session-name",
            "role-duration-seconds",
            "audience",
            "allowed-account-ids",
            "mask-aws-account-id",
        },
    ),
    "azure/login": (
        "v3",
        {
            "client-id",
            "tenant-id",
            "subscription-id",
            "environment",
            "audience",
            "auth-type",
            "allow-no-subscriptions",
            "enable-AzPSSession",
        },
    ),
    "google-github-actions/auth": (
        "v3",
        {
            "workload_identity_provider",
            "service_account",
            "project_id",
            "audience",
            "create_credentials_file",
            "export_environment_variables",
            "token_format",
        },
    ),
}


@pytest.mark.parametrize("name", WORKFLOWS)
def test_actions_are_at_their_current_major_version_with_documented_inputs_only(project_dir: Path, name: str):
    for job in load(project_dir, name)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" not in step:
                continue
            action, _, version = step["uses"].partition("@")
            assert action in ACTION_INPUTS, f"{name}: {action} is not a reviewed action"
            major, documented = ACTION_INPUTS[action]
            assert version == major, f"{name}: {action}@{version}, current major is {major}"
            unknown = set(step.get("with", {})) - documented
            assert not unknown, f"{name}: {action} has no input {unknown}"


@pytest.mark.parametrize(("name", "job"), [("preview.yml", "preview"), ("pulumi-up.yml", "up")])
def test_cloud_jobs_install_both_locked_environments_and_give_azure_native_its_oidc_settings(
    project_dir: Path, name: str, job: str
):
    steps = load(project_dir, name)["jobs"][job]["steps"]
    env = load(project_dir, name)["jobs"][job]["env"]
    assert env["ARM_USE_OIDC"] == "true"
    assert {"ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"} <= set(env)  # dev names no subscription
    runs = [step.get("run", "") for step in steps]
    install = next(i for i, run in enumerate(runs) if "pulumi install" in run)
    assert runs[install] == "pulumi install && cd policy && pulumi install"
    cli_only = [i for i, step in enumerate(steps) if step.get("uses", "").startswith("pulumi/actions@")]
    assert "with" not in steps[cli_only[0]] and cli_only[0] < install < cli_only[-1]


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
    (pulumi,) = [step for step in steps_using(job, "pulumi/actions") if "command" in step.get("with", {})]
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config.${{ inputs.stack }}.json"


def test_policy_pack_configs_named_by_the_workflows_exist_for_every_stack(project_dir: Path):
    for stack in stack_names(project_dir):
        assert (project_dir / "policy" / f"config.{stack}.json").is_file()


def test_pull_requests_run_the_contract_gate_against_the_base_branch(project_dir: Path):
    gate = load(project_dir, "preview.yml")["jobs"]["contracts"]
    assert steps_using(gate, "actions/checkout")[0]["with"]["fetch-depth"] == 0
    runs = [step.get("run", "") for step in gate["steps"]]
    assert any('ml-infra contracts check --against "origin/${{ github.base_ref }}"' in run for run in runs)


def test_ci_runs_checkov_on_every_stack_with_one_reason_per_skipped_check_and_a_negative_control(project_dir: Path):
    ci = (project_dir / ".ci" / "run").read_text()
    assert "for stack in dev prod; do" in ci and "--format terraform-plan" in ci
    assert '--skip-check "$skips"' in ci
    assert 'python3 -m venv "$checkov_venv"' in ci  # its own environment: its pins conflict with ours
    assert "--check CKV_AWS_18,CKV2_AWS_33" in ci  # the negative control expects both ids to fire
    assert not (project_dir / ".ci" / "checkov-skip.prod.txt").exists()  # prod is the hardened reference
    lines = [
        line
        for name in ("checkov-skip.txt", *(f"checkov-skip.{stack}.txt" for stack in stack_names(project_dir)))
        if (project_dir / ".ci" / name).exists()
        for line in (project_dir / ".ci" / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ids = [line.split()[0] for line in lines]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"CKV2?_AWS_\d+", i) for i in ids)
    assert all(len(line.split(None, 1)[1]) > 40 for line in lines)  # a reason, not a placeholder
    everywhere = (project_dir / ".ci" / "checkov-skip.txt").read_text()
    assert "CKV_AWS_18" not in everywhere and "CKV2_AWS_33" not in everywhere  # never skipped for prod
