"""Which store holds a model's releases, for `ml-infra config`: SSM Parameter Store or Azure App Configuration.

The choice, in order: `--backend ssm|azure` (or `ML_INFRA_CONFIG_BACKEND`); else the model's `configBackend` in
the stack file `Pulumi.<env>.yaml` of `--stack-dir` (default: the current directory) when that file exists; else
SSM. Azure needs the store's endpoint (`--endpoint` or `ML_INFRA_APPCONFIG_ENDPOINT`; the stack exports it as
`appConfigurationEndpoint`) and authenticates with `DefaultAzureCredential` (environment, workload or managed
identity, `az login`).

`ManagerRouter` gives the commands one object with the release manager's methods; each call goes to the release
manager (`ReleaseManager`, the one core) on the backend of the store that holds the model it names
(`SsmBackend` or `AzureAppConfigBackend`), so the commands, their output, `--json`, exit codes and prod
confirmations are the same code whichever store is underneath.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_infra.modelconfig.errors import InvalidInputError

BACKEND_ENV_VAR = "ML_INFRA_CONFIG_BACKEND"
ENDPOINT_ENV_VAR = "ML_INFRA_APPCONFIG_ENDPOINT"
BACKENDS = ("ssm", "azure")


@dataclass
class BackendSettings:
    backend: str | None = None  # ssm | azure | None (from the stack file, else ssm)
    endpoint: str | None = None
    stack_dir: Path = field(default_factory=Path)


def stack_backend(stack_dir: Path, environment: str, model: str) -> str | None:
    """The model's `configBackend` in `Pulumi.<environment>.yaml` under `stack_dir`, or None when the file does
    not exist or does not name the model."""
    import yaml

    path = stack_dir / f"Pulumi.{environment}.yaml"
    if not path.is_file():
        return None
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise InvalidInputError(f"{path}: cannot be read as YAML ({type(err).__name__}); fix the stack file") from None
    models = ((document.get("config") or {}) if isinstance(document, dict) else {}).get("ml-infra:models")
    model_config = models.get(model) if isinstance(models, dict) else None
    if not isinstance(model_config, dict):
        return None
    chosen = model_config.get("configBackend", "ssm")
    if chosen not in BACKENDS:
        raise InvalidInputError(
            f"{path}: ml-infra:models.{model}.configBackend: {chosen!r} is not a backend; allowed: ssm, azure"
        )
    return str(chosen)


def azure_client(endpoint: str) -> tuple[Any, Any]:
    """An App Configuration client and its credential for the CLI (tests replace this seam with the fake)."""
    from azure.identity import DefaultAzureCredential

    from ml_infra.modelconfig.azure_appconfig import appconfig_client

    credential = DefaultAzureCredential()
    return appconfig_client(endpoint, credential, retry_total=3), credential


class ManagerRouter:
    """The release manager's methods, each sent to the manager of the store that holds the named model."""

    def __init__(
        self,
        project: str,
        environment: str,
        settings: BackendSettings,
        make_ssm: Callable[[], Any],
    ):
        self.project = project
        self.environment = environment
        self.settings = settings
        self._make_ssm = make_ssm
        self._managers: dict[str, Any] = {}

    def backend_for(self, model: str) -> str:
        chosen = self.settings.backend or os.environ.get(BACKEND_ENV_VAR) or None
        if chosen is None:
            chosen = stack_backend(self.settings.stack_dir, self.environment, model) or "ssm"
        if chosen not in BACKENDS:
            raise InvalidInputError(f"--backend / {BACKEND_ENV_VAR}: {chosen!r} is not a backend; allowed: ssm, azure")
        return chosen

    def for_model(self, model: str) -> Any:
        backend = self.backend_for(model)
        if backend not in self._managers:
            self._managers[backend] = self._make_ssm() if backend == "ssm" else self._make_azure()
        return self._managers[backend]

    def _make_azure(self) -> Any:
        from ml_infra.modelconfig.azure_appconfig import AzureAppConfigBackend
        from ml_infra.modelconfig.releases import ReleaseManager

        endpoint = self.settings.endpoint or os.environ.get(ENDPOINT_ENV_VAR)
        if not endpoint:
            raise InvalidInputError(
                f"the azure backend needs the App Configuration endpoint: pass --endpoint or set {ENDPOINT_ENV_VAR} "
                "(the stack output appConfigurationEndpoint, e.g. https://<store>.azconfig.io)"
            )
        client, credential = azure_client(endpoint)
        backend = AzureAppConfigBackend(
            self.project, self.environment, client=client, store=endpoint, credential=credential
        )
        return ReleaseManager(self.project, self.environment, backend=backend)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(model: str, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.for_model(model), name)(model, *args, **kwargs)

        return call
