"""The program's inputs, read and checked before any resource is declared: the running stack's Pulumi
configuration (validated into a `StackConfig`) and the contract files in `contracts/`.

The engine hands a program its config as a flat map of `namespace:key` strings plus the list of keys that are
secret. This module takes the project's namespace from that map (the offline preview and the tests set the
same map through `pulumi.runtime.set_all_config`). Errors become `pulumi.RunError`s, which Pulumi prints as a
plain message rather than a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.config as runtime_config

from ml_infra.contracts.catalog import Contract, ContractError, load_catalog
from ml_infra.stack_config import ConfigError, ConfigProblem, StackConfig, build_stack_config


class StackConfigError(pulumi.RunError):
    """Raised before any resource is declared when the stack configuration is unusable."""

    def __init__(self, error: ConfigError):
        self.config_error = error
        super().__init__(str(error))


class ContractFilesError(pulumi.RunError):
    """Raised before any resource is declared when a contract file is unusable."""

    def __init__(self, error: ContractError):
        self.contract_error = error
        super().__init__("Contract files are unusable:\n" + "\n".join(f"  - {p}" for p in error.problems))


def _all_config() -> tuple[dict[str, Any], set[str]]:
    # The engine passes config in the PULUMI_CONFIG environment variable; mocks and the automation API set it
    # with set_all_config (the CONFIG context variable). Pulumi has no public call that lists every key, so both
    # sources are read here, the explicit one winning as it does in pulumi.runtime.config.get_config.
    values: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env()) | {
        k for k in values if runtime_config.is_config_secret(k)
    }
    return values, secret


def load_stack_config() -> StackConfig:
    """The validated configuration of the stack being deployed. Raises StackConfigError (no traceback).

    In a preview a SecureString's secret may still be unset (it previews as an unknown value); in an update
    that is refused here, before any resource is declared, with the command that sets it."""
    project = pulumi.get_project()
    stack = pulumi.get_stack()
    prefix = f"{project}:"
    values, secret = _all_config()
    raw = {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}
    secret_keys = {key[len(prefix) :] for key in secret if key.startswith(prefix)}
    try:
        return build_stack_config(project, stack, raw, secret_keys, dry_run=pulumi.runtime.is_dry_run())
    except ConfigError as err:
        raise StackConfigError(err) from None


def load_contracts(contracts_dir: Path, config: StackConfig | None = None) -> list[Contract]:
    """Every contract file, checked. Raises ContractFilesError naming each broken file (no traceback), or
    StackConfigError when `config` names a contract that is not among them (the contract job's)."""
    try:
        contracts = load_catalog(contracts_dir)
    except ContractError as err:
        raise ContractFilesError(err) from None
    job = config.contract_job if config is not None and config.contract_job_enabled else None
    names = sorted(contract.name for contract in contracts)
    if job is not None and job.contract not in names:
        problem = ConfigProblem(
            f"{pulumi.get_project()}:contractJob.contract",
            f"names no contract in {contracts_dir.name}/; allowed: {', '.join(names) or 'none (the folder is empty)'}",
            repr(job.contract),
        )
        raise StackConfigError(ConfigError(config.stack if config else "", [problem])) from None
    return contracts
