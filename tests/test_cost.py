"""`ml-infra cost`: the idle cost of a stack priced from the repository's price file, the resources it cannot
price, the coverage of the price file, the budget gate of the offline preview, and the README's table."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.cost import (
    FREE_TYPES,
    PRICERS,
    Assumptions,
    CostReport,
    billable_types_not_covered,
    cost_report,
    render_comparison_markdown,
)
from ml_infra.preview import Evaluation, Registration, evaluate
from ml_infra.pricing import PriceFile, load_prices

runner = CliRunner()

# A small stack whose idle cost is computed by hand below from the price file: one AWS model whose parameters
# hold one value too big for the Standard tier, a Standard App Configuration store in the one region the price
# file has its price for, and GCP without the feature online store.
BIG_VALUE = "x" * 5000  # 4-8 KB: the Advanced SSM tier
SMALL_STACK = {
    "ml-infra:environment": "dev",
    "ml-infra:aws": json.dumps({"region": "eu-west-1"}),
    "ml-infra:azureEnabled": "true",
    "ml-infra:azure": json.dumps({"location": "eastus2", "sku": "standard"}),
    "ml-infra:gcpEnabled": "true",
    "ml-infra:gcp": json.dumps(
        {"project": "acme-ml-test", "region": "europe-west4", "featureOnlineStore": {"enabled": False}}
    ),
    "ml-infra:models": json.dumps({"m": {"parameters": {"small": {"value": "1"}, "big": {"value": BIG_VALUE}}}}),
}


@pytest.fixture(scope="module")
def small(project_dir: Path) -> Evaluation:
    return evaluate(project_dir, "dev", config=SMALL_STACK, secret_keys=[])


def by_name(report: CostReport) -> dict[str, float | None]:
    return {r.name: r.idle_monthly for r in report.resources}


def test_small_stack_totals_are_the_hand_computed_sum_of_its_priced_resources(small: Evaluation):
    report = cost_report(small)
    # By hand from prices.yaml: the SSM key $1.00/month; the Advanced parameter $0.05/month, every other
    # parameter Standard ($0); the Standard store $1.20/day x 730/24 days = $36.50; the Cloud KMS key version
    # $0.06/month. The Vertex metadata store has no price: unknown, not counted.
    assert by_name(report)["model-params-key"] == 1.00
    assert by_name(report)["model-params-m-big"] == 0.05
    assert by_name(report)["model-params-m-small"] == 0.0
    assert by_name(report)["config-store-store"] == pytest.approx(36.50)
    assert by_name(report)["vertex-key"] == 0.06
    assert report.idle_monthly_total == 37.61
    assert report.idle_by_cloud() == {"aws": 1.05, "azure": 36.50, "gcp": 0.06}
    assert [(r.type, r.name) for r in report.unknown] == [
        ("gcp:vertex/aiMetadataStore:AiMetadataStore", "vertex-metadata")
    ]
    # Usage at the default 100,000 requests a month: $0.03 per 10,000 KMS requests (AWS and GCP alike) and
    # $0.06 per 10,000 App Configuration requests.
    assert report.usage_monthly_estimate == pytest.approx(0.30 + 0.30 + 0.60)


def test_changed_assumptions_change_the_hourly_and_usage_prices(small: Evaluation):
    report = cost_report(small, assumptions=Assumptions(requests_per_month=1_000_000, hours_per_month=720))
    assert by_name(report)["config-store-store"] == pytest.approx(36.00)  # 30 days
    assert report.idle_monthly_total == 37.11
    assert report.usage_monthly_estimate == pytest.approx(3.00 + 3.00 + 6.00)


def test_json_report_has_the_documented_keys_and_lists_unknown_resources(project_dir: Path):
    result = runner.invoke(app, ["cost", "--stack", "prod", "--project-dir", str(project_dir), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {"stack", "currency", "idle_monthly_total", "resources", "unknown"} <= set(document)
    assert (document["stack"], document["currency"]) == ("prod", "USD")
    for resource in document["resources"]:
        assert {"type", "name", "idle_monthly_cost", "pricing_basis"} <= set(resource)
    unknown = {(u["type"], u["name"]): u["reason"] for u in document["unknown"]}
    # prod's instances, Bigtable nodes and Standard store in westeurope have no price in the file: listed with
    # the reason, never guessed, and the total says it is a lower bound.
    assert "2 x ml.m7i.xlarge" in unknown[("aws:sagemaker/endpoint:Endpoint", "serving-endpoint")]
    assert ("gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore", "vertex-features") in unknown
    assert (
        "standard store in westeurope"
        in unknown[("azure-native:appconfiguration:ConfigurationStore", "config-store-store")]
    )
    assert all(r["idle_monthly_cost"] is None for r in document["resources"] if (r["type"], r["name"]) in unknown)
    assert document["idle_monthly_total_is_lower_bound"] is True
    assert document["priced_resources"] == document["billable_resources"] - len(unknown)


def test_text_report_prints_per_resource_per_cloud_totals_and_the_assumptions(project_dir: Path):
    result = runner.invoke(
        app, ["cost", "--stack", "dev", "--project-dir", str(project_dir), "--requests-per-month", "5000"]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "serving-endpoint" in text and "serverless, scales to zero" in text
    # 28 of 31: the capture bucket's access-log bucket is one more (S3 storage, idle $0)
    assert re.search(r"^  aws: \$3\.20 \+ 2 unknown$", text, re.M)
    assert "Idle total: $3.26 (lower bound: 3 unknown); 28 of 31 billable resources priced" in text
    assert "estimated for 5,000 requests" in text


def test_every_billable_type_the_program_declares_is_in_the_price_file(dev: Evaluation, prod: Evaluation):
    prices = load_prices()
    for evaluation in (dev, prod):
        assert billable_types_not_covered(evaluation, prices) == set(), (
            "the program declares billable types with no entry in ml_infra/pricing/prices.yaml: price them, list "
            "them under `unpriced` with the reason, or add them to FREE_TYPES with the reason they cost nothing"
        )


def test_the_coverage_check_fails_for_a_type_missing_from_the_price_file(dev: Evaluation):
    full = load_prices()
    without_kms = PriceFile(
        currency=full.currency,
        prices=[p for p in full.prices if p.resource_type != "aws:kms/key:Key"],
        unpriced=list(full.unpriced),
    )
    assert billable_types_not_covered(dev, without_kms) == {"aws:kms/key:Key"}
    # ... and the report then lists every key as unknown rather than pricing it.
    report = cost_report(dev, without_kms)
    assert {r.name for r in report.unknown} >= {"model-params-key", "serving-key", "model-registry-key"}


def test_price_file_entries_say_region_unit_source_and_date_and_free_types_say_why():
    prices = load_prices()
    today = datetime.date.today()
    for price in prices.prices:
        assert price.source.startswith("https://") and price.read <= today and price.region and price.unit
    # A type is either free or billable, never both; every priced rule has something in the file.
    assert not set(FREE_TYPES) & prices.covered_types()
    assert all(reason.strip() for reason in FREE_TYPES.values())
    assert set(PRICERS) <= prices.covered_types()


def test_budget_gate_fails_the_offline_preview_when_the_idle_cost_exceeds_it(project_copy: Callable[[], Path]):
    from ml_infra.cli import app as cli

    project = project_copy()
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("ml-infra:budgetMonthlyUsd: 10", "ml-infra:budgetMonthlyUsd: 3")
    )
    result = runner.invoke(cli, ["preview", "--stack", "dev", "--project-dir", str(project)])
    assert result.exit_code == 1
    assert (
        "error: Pulumi.dev.yaml: ml-infra:budgetMonthlyUsd: the stack costs $3.26 per month left idle (at least: 3 "
        "billable resource(s) unpriced), more than its budget of $3"
    ) in result.stderr
    assert "Traceback" not in result.output

    stack_file.write_text(
        stack_file.read_text().replace("ml-infra:budgetMonthlyUsd: 3", "ml-infra:budgetMonthlyUsd: 4")
    )
    assert runner.invoke(cli, ["preview", "--stack", "dev", "--project-dir", str(project)]).exit_code == 0


def test_readme_shows_the_dev_and_prod_table_the_command_prints(project_dir: Path, dev: Evaluation, prod: Evaluation):
    readme = (project_dir / "README.md").read_text()
    match = re.search(r"<!-- cost-table:start -->\n(.*?)<!-- cost-table:end -->", readme, re.S)
    assert match, "README.md has no generated cost table"
    assert match.group(1) == render_comparison_markdown([cost_report(dev), cost_report(prod)]), (
        "README's cost table is stale: regenerate it with `ml-infra cost --stack dev --compare prod --markdown`"
    )
    result = runner.invoke(
        app, ["cost", "--stack", "dev", "--compare", "prod", "--markdown", "--project-dir", str(project_dir)]
    )
    assert result.exit_code == 0 and result.stdout == match.group(1)


def _registration(type_token: str, name: str, inputs: dict) -> Registration:
    return Registration(
        urn=f"urn:pulumi:test::ml-infra::{type_token}::{name}",
        id=f"{name}-id",
        type=type_token,
        name=name,
        parent=None,
        custom=True,
        protect=False,
        provider=None,
        ignore_changes=[],
        raw_inputs=inputs,
    )


def _rule(group: str | None) -> dict:
    if group is None:
        return {"name": "rate-limit-per-ip", "statement": {"rateBasedStatement": {"limit": 1000}}}
    return {"name": group, "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": group}}}


def test_a_web_acl_costs_its_own_month_plus_one_per_rule_and_paid_rule_groups_are_unknown():
    free_groups = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    acl = _registration("aws:wafv2/webAcl:WebAcl", "api-acl", {"rules": [_rule(None), *map(_rule, free_groups)]})
    association = _registration("aws:wafv2/webAclAssociation:WebAclAssociation", "api-acl-association", {})
    report = cost_report(Evaluation("ml-infra", "test", [acl, association], {}))
    # By hand from prices.yaml: $5.00 for the web ACL and $1.00 for each of its 3 rules.
    (priced,) = report.resources
    assert priced.idle_monthly == 8.00 and report.free == [(association.type, association.name)]
    assert report.usage_monthly_estimate == pytest.approx(0.06)  # 100,000 requests at $0.60 per million

    bot = _registration("aws:wafv2/webAcl:WebAcl", "bot-acl", {"rules": [_rule("AWSManagedRulesBotControlRuleSet")]})
    (unknown,) = cost_report(Evaluation("ml-infra", "test", [bot], {})).unknown
    assert "AWSManagedRulesBotControlRuleSet" in unknown.basis


def test_the_price_file_refuses_two_idle_prices_for_the_same_thing():
    full = load_prices()
    kms = next(p for p in full.prices if p.resource_type == "aws:kms/key:Key" and p.kind == "idle")
    with pytest.raises(ValueError, match="two prices for"):
        PriceFile(currency="USD", prices=[kms, kms.model_copy(update={"unit": "hour"})])
