"""Run-time model configuration: typed loading, releases, activation and rollback on SSM Parameter Store.

Applications use `ModelConfigLoader` (needs boto3, and Powertools for the cached pointer reads); operators use
`ReleaseManager` or the `ml-infra config` commands. The SSM layout and documents are in `layout`, shared with the
Pulumi program that creates them. Importing this package imports neither Pulumi nor boto3.
"""

from ml_infra.modelconfig.aws import Backoff, ssm_client
from ml_infra.modelconfig.errors import (
    ConfigUnavailableError,
    ConfigValidationError,
    EvictionRiskError,
    InvalidInputError,
    ModelConfigError,
    NotConfirmedError,
    PermissionDeniedError,
    Problem,
    ReleaseExistsError,
    UnknownModelError,
    UnknownReleaseError,
)
from ml_infra.modelconfig.loader import ModelConfigLoader, ModelConfiguration
from ml_infra.modelconfig.releases import ActivationResult, DiffEntry, HistoryEntry, ReleaseManager, ReleaseView
from ml_infra.modelconfig.snapshot import EncryptedFileSnapshot

__all__ = [
    "ActivationResult",
    "Backoff",
    "ConfigUnavailableError",
    "ConfigValidationError",
    "DiffEntry",
    "EncryptedFileSnapshot",
    "EvictionRiskError",
    "HistoryEntry",
    "InvalidInputError",
    "ModelConfigError",
    "ModelConfigLoader",
    "ModelConfiguration",
    "NotConfirmedError",
    "PermissionDeniedError",
    "Problem",
    "ReleaseExistsError",
    "ReleaseManager",
    "ReleaseView",
    "UnknownModelError",
    "UnknownReleaseError",
    "ssm_client",
]
