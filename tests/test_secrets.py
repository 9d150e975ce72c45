"""Secrets and the first real run: the committed stack files hold nothing the Pulumi CLI would have to decrypt,
`pulumi preview` works before any secret is set (the SecureString's value is unknown), and `pulumi up` refuses
to start until it is, naming the exact command. Both paths run the real program on the mock runtime, as a dry
run (preview) and as an update."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from ml_infra.preview import evaluate, is_secret_value, read_stack_files
from ml_infra.program_inputs import StackConfigError
from ml_infra.stack_config import build_stack_config

SECURE_PARAMETER = "model-params-fraud-detector-scoring-service-api-key"
STACKS = ("dev", "prod")


def secure_values(node: Any) -> list[Any]:
    """Every `{secure: ...}` value anywhere in a stack file's config."""
    if isinstance(node, dict):
        if "secure" in node:
            return [node["secure"]]
        return [found for value in node.values() for found in secure_values(value)]
    if isinstance(node, list):
        return [found for value in node for found in secure_values(value)]
    return []


def cli_can_decrypt(value: Any, document: dict[str, Any]) -> bool:
    """Whether `value` has the shape of ciphertext the stack's own secrets provider wrote.

    The CLI decrypts every `secure:` value before the program starts (Pulumi's `symmetricCrypter.DecryptValue`:
    "v1:<base64 12-byte nonce>:<base64 ciphertext>" for passphrase and cloud-KMS providers), so anything else
    fails every command, `pulumi preview` included. This project's stacks use a cloud KMS secrets provider
    (README: `pulumi stack init --secrets-provider awskms://...`), whose data key the file must carry."""
    if not isinstance(value, str) or not {"secretsprovider", "encryptedkey"} <= set(document):
        return False
    version, nonce, ciphertext = [*value.split(":"), "", ""][:3] if value.count(":") == 2 else ("", "", "")
    try:
        return (
            version == "v1"
            and len(base64.b64decode(nonce, validate=True)) == 12
            and bool(base64.b64decode(ciphertext, validate=True))
        )
    except binascii.Error:
        return False


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_hold_only_ciphertext_the_cli_can_decrypt(project_dir: Path, stack: str):
    document = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    undecryptable = [value for value in secure_values(document) if not cli_can_decrypt(value, document)]
    assert undecryptable == []


def test_the_ciphertext_check_refuses_placeholders_and_accepts_the_clis_format():
    kms = {"secretsprovider": "awskms://alias/pulumi", "encryptedkey": "AQICAHh..."}
    placeholder = "AAABAJBMAIzHOmHkbFUzRg0m+Offline+Placeholder+Run+pulumi+config+set+secret=="
    assert not cli_can_decrypt(placeholder, kms)
    written = "v1:" + base64.b64encode(b"\x01" * 12).decode() + ":" + base64.b64encode(b"sealed-bytes").decode()
    assert cli_can_decrypt(written, kms)
    assert not cli_can_decrypt(written, {})  # ciphertext without the data key that sealed it


@pytest.mark.parametrize("stack", STACKS)
def test_a_preview_before_the_secret_is_set_declares_the_secure_string_with_an_unknown_secret_value(
    project_dir: Path, stack: str
):
    evaluation = evaluate(project_dir, stack, dry_run=True)
    parameter = evaluation.named(SECURE_PARAMETER).raw_inputs
    assert parameter["type"] == "SecureString"
    assert is_secret_value(parameter["valueWo"])
    # The engine's unknown sentinel, as the monitor deserializes it: "(unknown)" in the CLI's plan.
    assert isinstance(rpc.unwrap_rpc_secret(parameter["valueWo"]), pulumi.output.Unknown)
    assert parameter["valueWoVersion"] == 1


@pytest.mark.parametrize("stack", STACKS)
def test_an_update_without_the_secret_is_refused_before_any_resource_naming_the_command(project_dir: Path, stack: str):
    with pytest.raises(StackConfigError) as caught:
        evaluate(project_dir, stack, dry_run=False)
    message = str(caught.value)
    assert f"pulumi config set --secret fraudScoringApiKey <value> --stack {stack}" in message
    assert "ml-infra:models.fraud-detector.parameters.scoring-service-api-key.secret" in message
    assert len(caught.value.config_error.problems) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_an_update_with_the_secret_set_writes_it_as_a_secret_write_only_value(project_dir: Path, stack: str):
    files = read_stack_files(project_dir, stack)
    config = {**files.config, "ml-infra:fraudScoringApiKey": "tok-set-with-config-set-secret"}
    evaluation = evaluate(project_dir, stack, config=config, secret_keys=["ml-infra:fraudScoringApiKey"], dry_run=False)
    parameter = evaluation.named(SECURE_PARAMETER).raw_inputs
    assert is_secret_value(parameter["valueWo"])
    assert rpc.unwrap_rpc_secret(parameter["valueWo"]) == "tok-set-with-config-set-secret"


def test_a_secret_set_in_plain_text_is_refused_in_both_paths(project_dir: Path):
    files = read_stack_files(project_dir, "prod")
    config = {**files.config, "ml-infra:fraudScoringApiKey": "oops-plain"}
    for dry_run in (True, False):
        with pytest.raises(StackConfigError) as caught:
            evaluate(project_dir, "prod", config=config, secret_keys=[], dry_run=dry_run)
        assert "pulumi config set --secret fraudScoringApiKey <value> --stack prod" in str(caught.value)
        assert "oops-plain" not in str(caught.value)


def test_the_config_model_accepts_a_pending_secret_only_in_a_dry_run():
    raw = {
        "environment": "dev",
        "awsEnabled": True,
        "aws": {"region": "eu-west-1"},
        "models": {"m": {"parameters": {"k": {"type": "SecureString", "secret": "apiKey"}}}},
    }
    pending = build_stack_config("ml-infra", "dev", raw, dry_run=True).models["m"].parameters["k"]
    assert pending.secret is not None and pending.secret.pending
    assert pending.stored_text(reveal=True) is None
    with pytest.raises(Exception, match="pulumi config set --secret apiKey <value> --stack dev"):
        build_stack_config("ml-infra", "dev", raw, dry_run=False)
