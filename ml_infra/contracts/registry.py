"""The AWS Glue Schema Registry as a source of earlier versions, and a publisher that refuses breaking versions.

Glue does not protect its users the way its compatibility modes suggest: `CheckSchemaVersionValidity` checks
syntax only, and an incompatible version is registered with status FAILURE rather than refused, so
infrastructure applies "succeed". `publish` therefore runs this project's own check against the registered
versions first, registers only a compatible version, then waits for Glue's verdict and fails unless the new
version is AVAILABLE.

The boto3 client comes from the standard AWS settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL), so moto
and LocalStack work unchanged. Versions are read with GetSchema + GetSchemaVersion per version number (not
ListSchemaVersions, which moto does not implement); only AVAILABLE versions count as history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ml_infra.contracts.catalog import Contract
from ml_infra.contracts.compat import Version, check
from ml_infra.contracts.report import ContractReport


class RegistryError(Exception):
    """The registry cannot be used as asked (unknown registry, no credentials, a refused call)."""


def glue_client() -> Any:
    # A fresh session reads AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL now, not when boto3 was first used.
    import boto3.session

    return boto3.session.Session().client("glue")


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def registry_versions(client: Any, registry: str, schema: str) -> list[Version]:
    """Every AVAILABLE version of `schema` in `registry`, oldest first; [] when the schema does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    schema_id = {"RegistryName": registry, "SchemaName": schema}
    try:
        info = client.get_schema(SchemaId=schema_id)
    except ClientError as err:
        if _error_code(err) == "EntityNotFoundException":
            _check_registry(client, registry)
            return []
        raise RegistryError(f"Glue GetSchema {registry}/{schema} failed: {err}") from err
    except BotoCoreError as err:
        raise RegistryError(f"cannot reach Glue: {err}") from err
    latest = int(info.get("LatestSchemaVersion") or 0)
    out: list[Version] = []
    for number in range(1, latest + 1):
        try:
            v = client.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number})
        except ClientError as err:
            if _error_code(err) == "EntityNotFoundException":
                continue  # a deleted version
            raise RegistryError(f"Glue GetSchemaVersion {registry}/{schema} v{number} failed: {err}") from err
        if v.get("Status") == "AVAILABLE":
            out.append(Version(f"registry {registry}/{schema} v{number}", v["SchemaDefinition"]))
    return out


def _check_registry(client: Any, registry: str) -> None:
    from botocore.exceptions import ClientError

    try:
        client.get_registry(RegistryId={"RegistryName": registry})
    except ClientError as err:
        if _error_code(err) == "EntityNotFoundException":
            raise RegistryError(f"Glue registry {registry!r} does not exist in this account and region.") from err
        raise RegistryError(f"Glue GetRegistry {registry} failed: {err}") from err


def check_against_registry(client: Any, registry: str, contract: Contract) -> ContractReport:
    history = registry_versions(client, registry, contract.name)
    return check(contract.name, contract.data_format, contract.compatibility, contract.definition, history)


@dataclass
class PublishResult:
    contract: str
    action: str  # created, registered, unchanged, refused, failed
    version: int | None
    status: str
    message: str
    report: ContractReport

    @property
    def ok(self) -> bool:
        return self.action in ("created", "registered", "unchanged")

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "action": self.action,
            "version": self.version,
            "status": self.status,
            "message": self.message,
            "ok": self.ok,
            "check": self.report.to_json(),
        }


def publish(
    client: Any, registry: str, contract: Contract, timeout_s: float = 60.0, poll_s: float = 1.0
) -> PublishResult:
    """Register the contract's current text as a new version, only if it passes the check; then wait for
    Glue's status and verify it is AVAILABLE."""
    from botocore.exceptions import ClientError

    report = check_against_registry(client, registry, contract)
    if not report.ok:
        return PublishResult(contract.name, "refused", None, "", "breaking change: not registered", report)
    if report.status == "unchanged":
        return PublishResult(contract.name, "unchanged", None, "AVAILABLE", report.note, report)
    schema_id = {"RegistryName": registry, "SchemaName": contract.name}
    try:
        if report.status == "new" and not _schema_exists(client, schema_id):
            created = client.create_schema(
                RegistryId={"RegistryName": registry},
                SchemaName=contract.name,
                DataFormat=contract.data_format,
                Compatibility=contract.compatibility,
                Description=contract.description,
                SchemaDefinition=contract.definition,
            )
            version_id = created.get("SchemaVersionId")
            action = "created"
        else:
            registered = client.register_schema_version(SchemaId=schema_id, SchemaDefinition=contract.definition)
            version_id = registered.get("SchemaVersionId")
            action = "registered"
    except ClientError as err:
        raise RegistryError(f"Glue refused to register {contract.name}: {err}") from err

    deadline = time.monotonic() + timeout_s
    while True:
        v = client.get_schema_version(SchemaVersionId=version_id)
        status = v.get("Status", "")
        if status != "PENDING" or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    number = v.get("VersionNumber")
    if status == "AVAILABLE":
        return PublishResult(contract.name, action, number, status, f"version {number} is AVAILABLE", report)
    message = (
        f"Glue left version {number} in status {status}"
        + (" after the timeout" if status == "PENDING" else "")
        + "; it is not usable (Glue marks versions that break its own compatibility check as FAILURE)."
    )
    return PublishResult(contract.name, "failed", number, status, message, report)


def _schema_exists(client: Any, schema_id: dict[str, str]) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.get_schema(SchemaId=schema_id)
        return True
    except ClientError as err:
        if _error_code(err) == "EntityNotFoundException":
            return False
        raise
