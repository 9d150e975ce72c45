"""`ml-infra cost`: the idle cost of a stack priced from the repository's price file, the resources it cannot
price, the coverage of the price file, the budget gate of the offline preview, and the README's table."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
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
from ml_infra.pricing import Price, PriceFile, default_price_file, load_prices

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
    assert (
        "no ml.m7i.xlarge real-time inference instance-hour price for eu-west-1"
        in unknown[("aws:sagemaker/endpoint:Endpoint", "serving-endpoint")]
    )
    assert ("gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore", "vertex-features") in unknown
    assert (
        "standard store in westeurope"
        in unknown[("azure-native:appconfiguration:ConfigurationStore", "config-store-store")]
    )
    assert all(r["idle_monthly_cost"] is None for r in document["resources"] if (r["type"], r["name"]) in unknown)
    assert document["idle_monthly_total_is_lower_bound"] is True
    assert document["priced_resources"] == document["billable_resources"] - len(unknown)
    # Which priced figures rest on third-party pages is part of the answer, per resource and in total.
    on_third_party = [r for r in document["resources"] if r["third_party_sources"]]
    assert document["priced_on_third_party_figures"] == len(on_third_party) > 0
    assert set(document["third_party_sources"]) == {s for r in on_third_party for s in r["third_party_sources"]}
    assert all(not _provider_page(s) for s in document["third_party_sources"])
    # A usage price that applies but was not read is listed with the reason, not silently left out.
    (table,) = [r for r in document["resources"] if r["type"] == "aws:dynamodb/table:Table"]
    assert any(gap.startswith("request unit: ") for gap in table["usage_unpriced"])


def test_text_report_prints_per_resource_per_cloud_totals_and_the_assumptions(project_dir: Path):
    result = runner.invoke(
        app, ["cost", "--stack", "dev", "--project-dir", str(project_dir), "--requests-per-month", "5000"]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "serving-endpoint" in text and "serverless, scales to zero" in text
    # 30 of 31: every AWS resource is priced (log groups and buckets idle at $0, with per-GB usage prices); the
    # Vertex metadata store is the one unknown.
    assert re.search(r"^  aws: \$3\.20$", text, re.M)
    assert "Idle total: $3.26 (lower bound: 1 unknown); 30 of 31 billable resources priced" in text
    assert "estimated for 5,000 requests" in text
    assert "second of inference: Serverless Inference compute is billed per second" in text
    assert "rest on figures from third-party pages" in text and "https://c3x.dev/" in text


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


# The providers' own hosts, written out here independently of ml_infra.pricing so the test checks the flag
# rather than re-running the code that sets it.
PROVIDER_HOSTS = {
    "aws.amazon.com",
    "docs.aws.amazon.com",
    "pricing.us-east-1.amazonaws.com",
    "cloud.google.com",
    "azure.microsoft.com",
    "learn.microsoft.com",
    "prices.azure.com",
}


def _provider_page(address: str) -> bool:
    host = urlsplit(address).hostname or ""
    return any(host == known or host.endswith("." + known) for known in PROVIDER_HOSTS)


def test_every_price_says_region_unit_source_date_and_whether_the_source_is_the_providers_own():
    today = datetime.date.today()
    document = yaml.safe_load(default_price_file().read_text(encoding="utf-8"))
    for entry in document["prices"]:
        where = f"{entry['resource_type']} {entry['variant']} {entry['kind']} {entry.get('unit')}"
        for key in ("region", "unit", "source", "source_kind", "read"):
            assert entry.get(key) not in (None, ""), f"{where}: no {key}"
        assert entry["source"].startswith("https://") and entry["read"] <= today, where
        # A price read anywhere but on the provider's own pages is flagged third-party, and only then.
        assert entry["source_kind"] == ("first-party" if _provider_page(entry["source"]) else "third-party"), where
        if "cites" in entry:
            assert entry["source_kind"] == "third-party" and _provider_page(entry["cites"]), where


def test_the_price_file_refuses_a_third_party_page_passed_off_as_first_party():
    full = load_prices()
    alarm = next(p for p in full.prices if p.source.startswith("https://c3x.dev/"))
    with pytest.raises(ValueError, match="not a provider's own page"):
        Price.model_validate({**alarm.model_dump(), "source_kind": "first-party"})
    kms = next(p for p in full.prices if p.source == "https://aws.amazon.com/kms/pricing/")
    with pytest.raises(ValueError, match="is a provider's own page"):
        Price.model_validate({**kms.model_dump(), "source_kind": "third-party"})


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
        "error: Pulumi.dev.yaml: ml-infra:budgetMonthlyUsd: the stack costs $3.26 per month left idle (at least: 1 "
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


def test_log_groups_cost_nothing_idle_and_their_usage_follows_the_log_volume_and_retention():
    kept_two_weeks = _registration(
        "aws:cloudwatch/logGroup:LogGroup", "api-logs", {"region": "eu-west-1", "retentionInDays": 14}
    )
    kept_forever = _registration("aws:cloudwatch/logGroup:LogGroup", "audit-logs", {"region": "eu-west-1"})
    elsewhere = _registration("aws:cloudwatch/logGroup:LogGroup", "us-logs", {"region": "us-east-1"})
    evaluation = Evaluation("ml-infra", "test", [kept_two_weeks, kept_forever, elsewhere], {})
    report = cost_report(evaluation, assumptions=Assumptions(log_gb_per_month=10, hours_per_month=720))
    groups = {r.name: r for r in report.resources}
    assert [g.idle_monthly for g in groups.values()] == [0.0, 0.0, 0.0]
    # By hand from prices.yaml (eu-west-1): 10 GB ingested x $0.57 = $5.70; with 14-day retention in a 30-day
    # month the group holds 10 x 14 / 30 = 4.67 GB, x $0.03 = $0.14.
    ingest, store = groups["api-logs"].usage
    assert (ingest.unit, ingest.monthly_estimate) == ("GB ingested", pytest.approx(5.70))
    assert (store.unit, store.monthly_estimate) == ("GB-month stored", pytest.approx(0.14))
    assert "4.67 GB stored" in store.quantity_note and ingest.third_party and store.third_party
    # Logs that never expire grow every month: storage is not estimated, and says why.
    _, forever = groups["audit-logs"].usage
    assert forever.monthly_estimate is None and "never expire" in forever.quantity_note
    assert report.usage_monthly_estimate == pytest.approx(5.70 + 0.14 + 5.70)
    # No price was read for us-east-1: no usage estimate there, and the report says which prices are missing.
    assert groups["us-logs"].usage == ()
    assert sorted(groups["us-logs"].usage_unpriced) == [
        "GB ingested: read for eu-west-1 only",
        "GB-month stored: read for eu-west-1 only",
    ]


def test_capture_storage_is_estimated_for_the_bucket_prod_captures_into_only(prod: Evaluation, dev: Evaluation):
    report = cost_report(prod, assumptions=Assumptions(capture_gb_per_month=30, hours_per_month=720))
    buckets = {r.name: r for r in report.resources if r.type == "aws:s3/bucket:Bucket"}
    # By hand: prod's capture data expires after 90 days, so the bucket holds 30 GB x 90 / 30 = 90 GB, at
    # $0.023 per GB-month = $2.07; the access-log bucket follows no assumption.
    (capture,) = buckets["serving-capture"].usage
    assert capture.monthly_estimate == pytest.approx(2.07) and "90.00 GB stored" in capture.quantity_note
    (access_logs,) = buckets["serving-capture-access-logs-bucket"].usage
    assert access_logs.monthly_estimate is None
    # dev captures nothing (serverless): no bucket is estimated from the capture volume.
    dev_buckets = [r for r in cost_report(dev).resources if r.type == "aws:s3/bucket:Bucket"]
    assert dev_buckets and all(u.monthly_estimate is None for r in dev_buckets for u in r.usage)
