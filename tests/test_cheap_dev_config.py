"""The config options that make a stack cheap to idle, and the combinations the config model refuses: each
trade-off is explicit in the stack file, and prod keeps the hardened choices."""

from __future__ import annotations

from typing import Any

import pytest

from ml_infra.stack_config import ConfigError, build_stack_config

SAGEMAKER = {
    "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraud:1.0",
    "modelDataUrl": "s3://models-bucket/fraud/1.0/model.tar.gz",
}
# A serverless endpoint with everything AWS documents as unsupported turned off explicitly.
SERVERLESS = {
    **SAGEMAKER,
    "serverless": {"memorySizeInMb": 2048, "maxConcurrency": 5},
    "networkIsolation": False,
    "dataCapture": {"enabled": False},
}
VPC = {"subnetIds": ["subnet-0a1b2c3d4e5f60718"], "securityGroupIds": ["sg-0c3d4e5f607182930"]}
PROD = {
    "environment": "prod",
    "aws": {"region": "eu-west-1", "accountId": "210987654321"},
}


def dev(**overrides: Any) -> dict[str, Any]:
    return {"environment": "dev", "aws": {"region": "eu-west-1"}, **overrides}


def problems_of(raw: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build_stack_config("ml-infra", stack, raw)
    return [str(problem) for problem in caught.value.problems]


def test_a_serverless_endpoint_is_accepted_outside_prod_with_its_limits_stated():
    config = build_stack_config("ml-infra", "dev", dev(sagemakerEnabled=True, sagemaker=SERVERLESS))
    assert config.sagemaker is not None and config.sagemaker.serverless is not None
    assert config.sagemaker.serverless.memory_size_in_mb == 2048
    assert not config.sagemaker.network_isolation and not config.sagemaker.data_capture.enabled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vpc": VPC}, "serverless endpoints do not support a VPC; remove vpc or serverless"),
        ({"networkIsolation": True}, "serverless endpoints do not support network isolation; set networkIsolation"),
        ({"dataCapture": {"enabled": True}}, "serverless endpoints do not support data capture; set dataCapture"),
        ({"instanceType": "ml.m7i.large"}, "instanceType describe instances, which serverless endpoints do not have"),
        ({"minInstances": 1, "maxInstances": 2}, "maxInstances, minInstances describe instances"),
    ],
)
def test_serverless_refuses_what_aws_does_not_support_rather_than_dropping_it(change: dict[str, Any], message: str):
    problems = problems_of(dev(sagemakerEnabled=True, sagemaker={**SERVERLESS, **change}))
    assert len(problems) == 1
    assert problems[0].startswith("ml-infra:sagemaker: ")
    assert message in problems[0]


def test_serverless_with_the_secure_defaults_lists_every_unsupported_feature_at_once():
    (problem,) = problems_of(dev(sagemakerEnabled=True, sagemaker={**SAGEMAKER, "serverless": {}}))
    assert "network isolation" in problem and "data capture" in problem


def test_prod_stays_on_provisioned_instances():
    image = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/fraud:1.0"  # prod's own account
    raw = {**PROD, "sagemakerEnabled": True, "sagemaker": {**SERVERLESS, "imageUri": image}}
    (problem,) = problems_of(raw, stack="prod")
    assert problem.startswith("ml-infra:sagemaker: serverless is refused in prod")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"networkIsolation": False}, "networkIsolation can only be false with serverless"),
        ({"dataCapture": {"enabled": False}}, "dataCapture.enabled can only be false with serverless"),
    ],
)
def test_provisioned_endpoints_keep_network_isolation_and_capture(change: dict[str, Any], message: str):
    (problem,) = problems_of(dev(sagemakerEnabled=True, sagemaker={**SAGEMAKER, **change}))
    assert message in problem


def test_serverless_memory_comes_in_the_sizes_aws_offers():
    bad = {**SERVERLESS, "serverless": {"memorySizeInMb": 1500}}
    (problem,) = problems_of(dev(sagemakerEnabled=True, sagemaker=bad))
    assert problem.startswith("ml-infra:sagemaker.serverless.memorySizeInMb: ")


def test_free_app_configuration_is_a_dev_choice_that_needs_public_access():
    config = build_stack_config(
        "ml-infra",
        "dev",
        dev(azureEnabled=True, allowPublicNetworkAccess=True, azure={"location": "westeurope", "sku": "free"}),
    )
    assert config.azure is not None and config.azure.sku == "free"

    (problem,) = problems_of(dev(azureEnabled=True, azure={"location": "westeurope", "sku": "free"}))
    assert problem.startswith("ml-infra:azure: sku free has no private endpoints")

    azure = {"location": "westeurope", "sku": "free", "softDeleteRetentionDays": 3}
    (problem,) = problems_of(dev(azureEnabled=True, allowPublicNetworkAccess=True, azure=azure))
    assert "softDeleteRetentionDays does not apply to the free SKU" in problem


def test_free_app_configuration_is_refused_in_prod():
    azure = {"location": "westeurope", "sku": "free", "subscriptionId": "0b7d4c1e-2f3a-4d5b-8c6d-7e8f9a0b1c2d"}
    (problem,) = problems_of({**PROD, "azureEnabled": True, "azure": azure}, stack="prod")
    assert problem.startswith("ml-infra:azure: sku free is refused in prod")


def test_the_feature_online_store_is_optional_per_stack():
    gcp = {"project": "acme-ml-dev", "region": "europe-west4", "featureOnlineStore": {"enabled": False}}
    config = build_stack_config("ml-infra", "dev", dev(gcpEnabled=True, gcp=gcp))
    assert config.gcp is not None and config.gcp.feature_online_store.enabled is False


def test_the_budget_is_whole_dollars_and_not_negative():
    assert build_stack_config("ml-infra", "dev", dev(budgetMonthlyUsd="25")).budget_monthly_usd == 25
    (problem,) = problems_of(dev(budgetMonthlyUsd=-1))
    assert problem.startswith("ml-infra:budgetMonthlyUsd: ")
