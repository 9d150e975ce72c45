"""The few exceptions the model-configuration library raises, each with the exit status the CLI gives it.

Every message names the model, key or release concerned, what was wrong and what is allowed, so the CLI prints
it as it is, without a traceback. Status 2 means unusable input, 1 a refusal or a fault the caller cannot fix
by retyping the command.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelConfigError(Exception):
    """Base of every error of ml_infra.modelconfig."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInputError(ModelConfigError):
    """A name, key or value given by the caller is not usable (bad model name, unknown key, malformed value)."""

    exit_code = 2


class UnknownModelError(InvalidInputError):
    """The model has no declared schema (`_schema`) in this project and environment."""


class UnknownReleaseError(InvalidInputError):
    """No release with this id exists for the model."""


class ReleaseExistsError(InvalidInputError):
    """A release id is taken: releases are immutable and never overwritten."""


@dataclass(frozen=True)
class Problem:
    """One reason a value or a release was refused."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


class ConfigValidationError(ModelConfigError):
    """Values violate the model's declared types or constraints; `problems` names every key and reason."""

    def __init__(self, subject: str, problems: list[Problem], *, exit_code: int = 1):
        self.subject = subject
        self.problems = problems
        self.exit_code = exit_code
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"{subject}: {listed}")


class PermissionDeniedError(ModelConfigError):
    """AWS refused an action for lack of permission (IAM or KMS)."""


class EvictionRiskError(ModelConfigError):
    """A write or a release would lose, or depends on, a key version that SSM's 100-version limit evicts."""


class ConfigUnavailableError(ModelConfigError):
    """No configuration can be served: the store failed and no last known good configuration exists."""


class BackendUnavailableError(ConfigUnavailableError):
    """The store was throttled, timed out, unreachable or failed on its side. `retryable` is True when repeating
    the call cannot do harm (any read; a write the store certainly did not apply): the core retries those."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class ConcurrentChangeError(ModelConfigError):
    """Someone else changed the active pointer between reading it and writing it: nothing was written."""


class NotConfirmedError(ModelConfigError):
    """The operator did not confirm a production activation or rollback."""


class CorruptDocumentError(ModelConfigError):
    """A stored pointer or release document fails its checks (unparseable, a release that does not exist, a digest
    that does not match, another model's document): it is refused, never served."""
