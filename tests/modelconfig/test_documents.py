"""The shared documents stay stable for the Pulumi program, and values convert the same way everywhere."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from ml_infra.modelconfig.layout import (
    Activation,
    KeySchema,
    ReleasedKey,
    ReleaseDocument,
    protection_label,
)
from ml_infra.modelconfig.values import ValueProblem, parse_value


def initial() -> ReleaseDocument:
    return ReleaseDocument(
        release_id="initial",
        project="ml-infra",
        environment="dev",
        model="ranker",
        keys={"k": ReleasedKey(version=1, ssm_type="String")},
        created_by="pulumi",
    )


def test_a_release_without_activation_serialises_as_the_pulumi_program_writes_it():
    assert set(json.loads(initial().model_dump_json())) == {
        "format", "release_id", "project", "environment", "model", "keys", "created_at", "created_by",
        "parent_release_id", "note",
    }  # fmt: skip


def test_a_pointer_document_round_trips_and_strips_to_its_release():
    activation = Activation(action="rollback", activated_at="2025-01-01T00:00:00Z", activated_by="arn:x")
    pointer = initial().model_copy(update={"activation": activation})
    parsed = ReleaseDocument.model_validate_json(pointer.model_dump_json())
    assert parsed.activation == activation and parsed.as_release() == initial()


def test_protection_labels_are_valid_ssm_labels_named_after_the_version():
    assert protection_label(7) == "released-v7"
    assert not protection_label(1)[0].isdigit() and not protection_label(1).lower().startswith(("aws", "ssm"))


@pytest.mark.parametrize(
    ("value_type", "text", "expected"),
    [
        ("integer", "42", 42),
        ("number", "0.25", 0.25),
        ("boolean", "false", False),
        ("json", '{"a": [1]}', {"a": [1]}),
        ("list", "a,b", ["a", "b"]),
        ("string", "fast", "fast"),
    ],
)
def test_values_convert_to_their_declared_type(value_type: str, text: str, expected: object):
    ssm_type = "StringList" if value_type == "list" else "String"
    assert parse_value(text, KeySchema(ssm_type=ssm_type, value_type=value_type)) == expected  # type: ignore[arg-type]


def test_a_bad_secret_is_reported_without_its_value():
    schema = KeySchema(ssm_type="SecureString", value_type="secret", allowed_pattern="tok-.*")
    assert isinstance(parse_value("tok-1", schema), SecretStr)
    with pytest.raises(ValueProblem) as problem:
        parse_value("hunter2", schema)
    assert "hunter2" not in str(problem.value) and "[secret]" in str(problem.value)
