"""Run-time model configuration: typed loading, releases, activation and rollback.

Applications use `ModelConfigLoader`; operators use `ReleaseManager` or the `ml-infra config` commands. Both are
backend-agnostic cores over a `ConfigBackend` (`backend`: the storage primitives a service must supply, with what
each must guarantee); `SsmBackend` (SSM Parameter Store, the default) is one. The documents and the SSM layout are
in `layout`, shared with the Pulumi program that creates them. Importing this package imports neither Pulumi nor
boto3.
"""

from ml_infra.modelconfig.aws import ssm_client
from ml_infra.modelconfig.backend import ConfigBackend, ModelDocuments, PointerSwap, StoredDocument, StoredValue
from ml_infra.modelconfig.errors import (
    BackendUnavailableError,
    ConcurrentChangeError,
    ConfigUnavailableError,
    ConfigValidationError,
    CorruptDocumentError,
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
from ml_infra.modelconfig.releases import (
    ActivationResult,
    DiffEntry,
    HistoryEntry,
    LedgerEntry,
    PointerState,
    ReleaseManager,
    ReleaseView,
    RetireResult,
)
from ml_infra.modelconfig.retry import Backoff
from ml_infra.modelconfig.snapshot import EncryptedFileSnapshot
from ml_infra.modelconfig.ssm import SsmBackend

__all__ = [
    "ActivationResult",
    "BackendUnavailableError",
    "Backoff",
    "ConcurrentChangeError",
    "ConfigBackend",
    "ConfigUnavailableError",
    "ConfigValidationError",
    "CorruptDocumentError",
    "DiffEntry",
    "EncryptedFileSnapshot",
    "EvictionRiskError",
    "HistoryEntry",
    "InvalidInputError",
    "LedgerEntry",
    "ModelConfigError",
    "ModelConfigLoader",
    "ModelConfiguration",
    "ModelDocuments",
    "NotConfirmedError",
    "PermissionDeniedError",
    "PointerState",
    "PointerSwap",
    "Problem",
    "ReleaseExistsError",
    "ReleaseManager",
    "ReleaseView",
    "RetireResult",
    "SsmBackend",
    "StoredDocument",
    "StoredValue",
    "UnknownModelError",
    "UnknownReleaseError",
    "ssm_client",
]
