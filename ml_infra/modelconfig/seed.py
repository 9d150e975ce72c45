"""Local development: write a stack's model parameters into SSM exactly as `pulumi up` would, for a moto server
or LocalStack, so `ml-infra config` and `ModelConfigLoader` can be tried without a cloud account.

"Exactly as `pulumi up` would" is taken literally: the Pulumi program itself is evaluated for the stack on the
offline preview's mock runtime (`ml_infra.preview.evaluate`), and every `aws:ssm/parameter:Parameter` it declares
is written with the inputs it declares (name, type, value, description, tier, allowed pattern), in the order
Pulumi creates them (keys, `_schema`, `_release/initial`, then the pointer that depends on it). Nothing here
re-derives the layout, so the seed cannot drift from the program. Two things differ, both because a local
endpoint has no Pulumi state: the KMS key of SecureStrings is the alias the program declares, created in the
target if missing; and a SecureString's value, which only `pulumi config set --secret` holds, is the given one
or a placeholder (`PLACEHOLDER_SECRET`).

It refuses a real AWS account unless told explicitly: seeding is allowed only when an endpoint URL names a host
outside AWS (AWS_ENDPOINT_URL, as for moto or LocalStack), or when `real_account` names the caller's account.
A model that already has any of its parameters is skipped whole (as `pulumi up` changes nothing there).

The Pulumi SDK is imported only when a seed runs (the `pulumi` extra); the rest of `ml_infra.modelconfig` never
imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml_infra.modelconfig.aws import error_code, ssm_client, sts_client, translate
from ml_infra.modelconfig.errors import InvalidInputError, ModelConfigError
from ml_infra.modelconfig.layout import RELEASE_SEGMENT, SCHEMA_SUFFIX

PLACEHOLDER_SECRET = "local-dev-placeholder-secret"
_PARAMETER = "aws:ssm/parameter:Parameter"
_ALIAS = "aws:kms/alias:Alias"
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


@dataclass
class SeedResult:
    stack: str
    endpoint: str | None
    written: dict[str, list[str]] = field(default_factory=dict)  # model -> parameter names
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    placeholders: list[str] = field(default_factory=list)  # SecureStrings given the placeholder


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL") or None


def check_target(real_account: str | None, sts: Any = None) -> str | None:
    """The local endpoint seeding may write to, or None for the real account the caller named explicitly;
    InvalidInputError (exit 2) for a real account that was not named."""
    endpoint = _endpoint()
    host = (urlparse(endpoint).hostname or "") if endpoint else ""
    local = bool(endpoint) and not host.endswith(_AWS_HOST_SUFFIXES)
    if local:
        return endpoint
    if real_account is None:
        where = f"AWS_ENDPOINT_URL={endpoint!r} is an AWS endpoint" if endpoint else "no AWS_ENDPOINT_URL is set"
        raise InvalidInputError(
            f"refusing to seed a real AWS account: {where}. Seeding is for a local moto server or LocalStack: set "
            "AWS_ENDPOINT_URL=http://127.0.0.1:5000 (moto) or http://localhost:4566 (LocalStack); to seed a real "
            "account on purpose, pass --real-account ACCOUNT_ID"
        )
    try:
        account = str((sts or sts_client()).get_caller_identity()["Account"])
    except Exception as err:
        raise translate(err, doing="identify the caller's account (sts:GetCallerIdentity)") from None
    if account != real_account:
        raise InvalidInputError(
            f"--real-account {real_account}: the credentials in use belong to account {account}; nothing written"
        )
    return None


def declared_parameters(project_dir: Path, stack: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What the program declares for `stack`: every SSM parameter's inputs (secrets revealed where known), and the
    KMS alias names by the key id they target."""
    try:
        from ml_infra.preview import ProjectFileError, evaluate
        from ml_infra.program_inputs import ContractFilesError, StackConfigError
    except ImportError as err:
        raise InvalidInputError(
            f"seeding evaluates the Pulumi program and needs the Pulumi SDK ({err}); install it with "
            "pip install -e '.[pulumi]'"
        ) from None
    try:
        evaluation = evaluate(project_dir, stack)
    except ProjectFileError as err:
        raise InvalidInputError("; ".join(err.problems)) from None
    except StackConfigError as err:
        raise InvalidInputError(
            f"Pulumi.{stack}.yaml: " + "; ".join(str(p) for p in err.config_error.problems)
        ) from None
    except ContractFilesError as err:
        raise InvalidInputError("; ".join(str(p) for p in err.contract_error.problems)) from None
    parameters = [r.revealed_inputs for r in evaluation.resources if r.type == _PARAMETER]
    aliases = {
        str(r.revealed_inputs.get("targetKeyId")): str(r.revealed_inputs["name"])
        for r in evaluation.resources
        if r.type == _ALIAS
    }
    return parameters, aliases


def _model_of(name: str) -> str:
    # /project/environment/model/...
    return name.split("/")[3]


def _order(name: str) -> int:
    leaf = name.split("/", 4)[4]
    if leaf == SCHEMA_SUFFIX:
        return 1
    if leaf == f"{RELEASE_SEGMENT}/initial":
        return 2
    if leaf.startswith(RELEASE_SEGMENT):
        return 3
    return 0


def seed_stack(
    project_dir: Path,
    stack: str,
    *,
    real_account: str | None = None,
    secrets: Mapping[str, str] | None = None,
    client: Any = None,
    kms: Any = None,
    sts: Any = None,
) -> SeedResult:
    """Write what the program declares for `stack` into SSM (see the module docstring). `secrets` maps a
    SecureString parameter's key to its value."""
    endpoint = check_target(real_account, sts)
    parameters, aliases = declared_parameters(project_dir, stack)
    client = client if client is not None else ssm_client(max_attempts=3)
    result = SeedResult(stack=stack, endpoint=endpoint)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for inputs in parameters:
        by_model.setdefault(_model_of(str(inputs["name"])), []).append(inputs)
    key_arns: dict[str, str] = {}
    for model, declared in sorted(by_model.items()):
        names = [str(p["name"]) for p in declared]
        existing = _existing(client, names)
        if existing:
            result.skipped[model] = f"already has {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''}"
            continue
        written: list[str] = []
        for inputs in sorted(declared, key=lambda p: _order(str(p["name"]))):
            name = str(inputs["name"])
            kwargs: dict[str, Any] = {
                "Name": name,
                "Type": str(inputs["type"]),
                "Tier": str(inputs.get("tier") or "Standard"),
                "Overwrite": False,
            }
            if inputs.get("description"):
                kwargs["Description"] = str(inputs["description"])
            if inputs.get("allowedPattern"):
                kwargs["AllowedPattern"] = str(inputs["allowedPattern"])
            if kwargs["Type"] == "SecureString":
                key = name.rsplit("/", 1)[-1]
                value = (secrets or {}).get(key)
                if value is None:
                    value = PLACEHOLDER_SECRET
                    result.placeholders.append(name)
                kwargs["Value"] = value
                kwargs["KeyId"] = _key_arn(kms, aliases, str(inputs.get("keyId") or ""), key_arns)
            else:
                kwargs["Value"] = str(inputs["value"])
            try:
                client.put_parameter(**kwargs)
            except Exception as err:
                done = ", ".join(written) or "none"
                failure = translate(err, doing=f"write {name}", write=True)
                raise ModelConfigError(
                    f"{failure.message}. Written for model {model} before the failure: {done}; the rest of the stack "
                    "was not written"
                ) from None
            written.append(name)
        result.written[model] = written
    return result


def _existing(client: Any, names: list[str]) -> list[str]:
    found: list[str] = []
    for start in range(0, len(names), 10):
        try:
            response = client.get_parameters(Names=names[start : start + 10])
        except Exception as err:
            raise translate(err, doing="check which parameters exist already") from None
        found.extend(p["Name"] for p in response.get("Parameters", []))
    return sorted(found)


def _key_arn(kms: Any, aliases: Mapping[str, str], declared_key: str, cache: dict[str, str]) -> str:
    """The ARN of the key behind the alias the program declares for `declared_key`, created if missing."""
    key_id = declared_key.rsplit("/", 1)[-1]
    alias = aliases.get(key_id)
    if alias is None:
        raise ModelConfigError(f"the program declares SecureStrings with key {declared_key} but no alias for it")
    if alias in cache:
        return cache[alias]
    if kms is None:
        from ml_infra.modelconfig.aws import boto3_session, client_config

        kms = boto3_session().client("kms", config=client_config(max_attempts=3))
    try:
        arn = str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except Exception as err:
        if error_code(err) != "NotFoundException":
            raise translate(err, doing=f"read the KMS key {alias}") from None
        try:
            arn = str(
                kms.create_key(Description=f"Local stand-in for {alias} (ml-infra config seed)")["KeyMetadata"]["Arn"]
            )
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        except Exception as create_err:
            raise translate(create_err, doing=f"create the KMS key {alias}", write=True) from None
    cache[alias] = arn
    return arn
