"""`ml-infra config seed` writes exactly what the Pulumi program declares for a stack's models, and refuses a
real AWS account unless told explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import ModelConfigLoader, ReleaseManager
from ml_infra.modelconfig.aws import boto3_session
from ml_infra.modelconfig.seed import PLACEHOLDER_SECRET, declared_parameters, seed_stack

from .conftest import NO_SLEEP, REGION, ssm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (None, "no AWS_ENDPOINT_URL is set"),
        ("https://ssm.eu-west-1.amazonaws.com", "is an AWS endpoint"),
    ],
)
def test_seeding_a_real_account_is_refused_unless_named(
    monkeypatch: pytest.MonkeyPatch, endpoint: str | None, expected: str
):
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    result = CliRunner().invoke(app, ["config", "seed", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 2 and expected in result.stderr and "--real-account" in result.stderr


def test_a_named_real_account_must_be_the_callers(aws: None):
    sts = boto3_session().client("sts", region_name=REGION)
    from ml_infra.modelconfig import InvalidInputError
    from ml_infra.modelconfig.seed import check_target

    with pytest.raises(InvalidInputError, match="belong to account 123456789012; nothing written"):
        check_target("999999999999", sts)
    assert check_target("123456789012", sts) is None  # named on purpose: allowed


@pytest.mark.slow  # three evaluations of the program and a KMS-encrypted write of every parameter: seconds of CPU
def test_the_seed_writes_what_the_program_declares_and_the_loader_accepts_it(
    aws: None, monkeypatch: pytest.MonkeyPatch
):
    client = ssm()
    kms = boto3_session().client("kms", region_name=REGION)
    sts = boto3_session().client("sts", region_name=REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a local endpoint (the clients are moto's own)
    result = seed_stack(ROOT, "dev", client=client, kms=kms, secrets={"scoring-service-api-key": "tok-local"})
    declared, _ = declared_parameters(ROOT, "dev")
    assert sorted(n for names in result.written.values() for n in names) == sorted(p["name"] for p in declared)
    assert result.placeholders == []
    for inputs in declared:
        stored = client.get_parameter(Name=inputs["name"], WithDecryption=True)["Parameter"]
        assert (stored["Type"], stored["Version"]) == (inputs["type"], 1)
        if inputs["type"] != "SecureString":
            assert stored["Value"] == inputs["value"]  # byte for byte, pointer and documents included
    described = client.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/ml-infra/dev/fraud-detector/scoring-service-api-key"]}]
    )["Parameters"][0]
    alias = kms.describe_key(KeyId="alias/ml-infra-dev-model-parameters")["KeyMetadata"]["Arn"]
    assert described["KeyId"] == alias

    config = ModelConfigLoader("ml-infra", "dev", client=client, backoff=NO_SLEEP).load("fraud-detector")
    assert (config.release_id, config["decision-threshold"], config.secret("scoring-service-api-key")) == (
        "initial",
        0.82,
        "tok-local",
    )
    assert ReleaseManager("ml-infra", "dev", client=client, sts=sts).history("fraud-detector")[0].action == "deployed"

    # A second seed changes nothing, as a second `pulumi up` would not.
    again = seed_stack(ROOT, "dev", client=client, kms=kms)
    assert again.written == {} and set(again.skipped) == set(result.written)
    assert PLACEHOLDER_SECRET not in client.get_parameter(
        Name="/ml-infra/dev/fraud-detector/scoring-service-api-key", WithDecryption=True
    )["Parameter"]["Value"]
