"""The last known good configuration on local disk, encrypted at rest, for a process that starts while SSM is
unreachable.

The file holds decrypted secrets, so it is written only encrypted (Fernet from `cryptography`: AES-128-CBC with
an HMAC-SHA256, authenticated, so a tampered or foreign file is refused, never half-read), readable by the owner
only, and replaced atomically so a crash never leaves a torn file. The key is the application's: keep it where
its other secrets are (an environment variable filled from a secret store, a KMS-decrypted data key).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_infra.modelconfig.errors import InvalidInputError

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
KEY_ENV_VAR = "ML_INFRA_CONFIG_SNAPSHOT_KEY"


@dataclass(frozen=True)
class SnapshotRecord:
    """What a snapshot holds: the documents and the raw texts of one loaded configuration."""

    project: str
    environment: str
    model: str
    pointer_text: str
    schema_text: str
    texts: dict[str, str]
    fetched_at: str
    release_text: str = ""  # the release document the pointer names (checked against its digest when read)

    def to_json(self) -> bytes:
        return json.dumps({"format": SNAPSHOT_FORMAT, **self.__dict__}).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> SnapshotRecord:
        raw: dict[str, Any] = json.loads(data)
        if raw.pop("format", None) != SNAPSHOT_FORMAT:
            raise ValueError("unknown snapshot format")
        return cls(**raw)


class EncryptedFileSnapshot:
    """One encrypted file per model under `directory`: written after every fresh load that changed, read when
    SSM fails and the process has nothing in memory yet."""

    def __init__(self, directory: str | os.PathLike[str], key: str | bytes):
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise InvalidInputError(
                "the snapshot key must be a Fernet key (32 url-safe base64-encoded bytes); make one with "
                "EncryptedFileSnapshot.generate_key()"
            ) from None
        self.directory = Path(directory)

    @classmethod
    def from_env(cls, directory: str | os.PathLike[str], env_var: str = KEY_ENV_VAR) -> EncryptedFileSnapshot:
        key = os.environ.get(env_var)
        if not key:
            raise InvalidInputError(f"{env_var} is not set; it must hold the snapshot key (a Fernet key)")
        return cls(directory, key)

    @staticmethod
    def generate_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    def path(self, project: str, environment: str, model: str) -> Path:
        return self.directory / f"{project}.{environment}.{model}.snapshot"

    def save(self, record: SnapshotRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(record.project, record.environment, record.model)
        token = self._fernet.encrypt(record.to_json())
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=target.name, suffix=".tmp")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "wb") as stream:
                stream.write(token)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, project: str, environment: str, model: str) -> SnapshotRecord | None:
        """The stored record, or None when there is none or it cannot be trusted (wrong key, tampered, other
        model); the reason is logged, never the content."""
        from cryptography.fernet import InvalidToken

        target = self.path(project, environment, model)
        try:
            token = target.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = SnapshotRecord.from_json(self._fernet.decrypt(token))
        except InvalidToken:
            log.warning("ignoring config snapshot %s: wrong key or tampered file", target)
            return None
        except (ValueError, TypeError):
            log.warning("ignoring config snapshot %s: unreadable content", target)
            return None
        if (record.project, record.environment, record.model) != (project, environment, model):
            log.warning("ignoring config snapshot %s: it belongs to another model", target)
            return None
        return record
