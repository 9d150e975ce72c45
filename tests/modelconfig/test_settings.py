"""Bad AWS settings are unusable input (exit 2, one line saying what to set), and non-finite numbers are refused
wherever modelconfig checks a number."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import ConfigValidationError, InvalidInputError, ModelConfigLoader
from ml_infra.modelconfig.layout import (
    KeySchema,
    ReleaseDocument,
    active_release_parameter_name,
    parameter_name,
    pointer_for,
    release_parameter_name,
)
from ml_infra.modelconfig.values import ValueProblem, parse_value

from .conftest import ENV, NO_SLEEP, PROJECT, manager, ssm


@pytest.mark.parametrize(
    ("unset", "setting", "expected"),
    [
        (["AWS_REGION", "AWS_DEFAULT_REGION"], {}, "no AWS region for ssm; set AWS_REGION"),
        ([], {"AWS_ENDPOINT_URL": "not-a-url"}, "AWS_ENDPOINT_URL: 'not-a-url' is not a valid endpoint URL"),
        (
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED": "true"},
            "no AWS credentials found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ),
    ],
    ids=["no-region", "bad-endpoint", "no-credentials"],
)
def test_aws_settings_errors_exit_2_saying_what_to_set(
    monkeypatch: pytest.MonkeyPatch, unset: list[str], setting: dict[str, str], expected: str
):
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    for command in (["show", "ranker"], ["activate", "ranker", "r2", "--yes"], ["releases", "ranker"]):
        result = CliRunner().invoke(app, ["config", *command, "--env", ENV])
        assert result.exit_code == 2, (command, result.stderr, result.exception)
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_the_loader_says_what_to_set_too(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(InvalidInputError, match="set AWS_REGION"):
        ModelConfigLoader(PROJECT, ENV)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_a_number_must_be_finite(text: str):
    bounded = KeySchema(ssm_type="String", value_type="number", minimum=0, maximum=1)
    with pytest.raises(ValueProblem, match="not a finite number"):
        parse_value(text, bounded)


@pytest.mark.parametrize("text", ['{"w": NaN}', "[Infinity]", '{"w": -Infinity}', "[1e999]"])
def test_json_values_must_not_hold_non_finite_numbers(text: str):
    with pytest.raises(ValueProblem, match="not valid JSON"):
        parse_value(text, KeySchema(ssm_type="String", value_type="json"))


@pytest.mark.parametrize("bound", ["minimum", "maximum"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_declared_bound_must_be_finite(bound: str, value: float):
    with pytest.raises(ValidationError):
        KeySchema(ssm_type="String", value_type="number", **{bound: value})


def test_nan_is_refused_by_set_release_and_the_loader(ranker: ReleaseDocument):
    client = ssm()
    operator = manager(client)
    with pytest.raises(ConfigValidationError, match="not a finite number"):
        operator.set_values("ranker", {"threshold": "nan"})
    # Written around the tool: the release and the loader refuse it as well.
    client.put_parameter(Name=parameter_name(PROJECT, ENV, "ranker", "threshold"), Value="NaN", Overwrite=True)
    with pytest.raises(ConfigValidationError, match="not a finite number"):
        operator.create_release("ranker", "r2")
    client.put_parameter(Name=parameter_name(PROJECT, ENV, "ranker", "routing"), Value="[NaN]", Overwrite=True)
    with pytest.raises(ConfigValidationError, match="not valid JSON"):
        operator.create_release("ranker", "r3")
    # A release naming the NaN version, written around the tool and pointed at: the loader refuses it.
    keys = {**ranker.keys, "threshold": ranker.keys["threshold"].model_copy(update={"version": 2})}
    forged = ranker.model_copy(update={"release_id": "forged", "keys": keys})
    text = forged.model_dump_json()
    client.put_parameter(Name=release_parameter_name(PROJECT, ENV, "ranker", "forged"), Value=text, Type="String")
    client.put_parameter(
        Name=active_release_parameter_name(PROJECT, ENV, "ranker"),
        Value=pointer_for(forged, text).model_dump_json(),
        Type="String",
        Overwrite=True,
    )
    loader = ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP)
    with pytest.raises(ConfigValidationError, match="threshold: value 'NaN' is not a finite number"):
        loader.load("ranker")
