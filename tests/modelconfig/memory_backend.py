"""An in-memory `ConfigBackend` with ETag revisions (strings) and an exact compare-and-swap, as Azure App
Configuration offers: the shared scenario tests (`test_guarantees`) run the cores on it next to SSM and Azure,
with no service code involved."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence

from ml_infra.modelconfig import (
    BackendUnavailableError,
    ConcurrentChangeError,
    ConfigBackend,
    ModelDocuments,
    PointerSwap,
    ReleaseExistsError,
    StoredDocument,
    StoredValue,
)
from ml_infra.modelconfig.layout import KeySchema, SsmType


class MemoryBackend(ConfigBackend):
    """Documents with ETags, key values with versions, an exact conditional write of the pointer. `down` makes
    every read fail as an unreachable store does."""

    name = "store"
    service = "the in-memory store"

    def __init__(self) -> None:
        self.down = False
        self.lock = threading.Lock()
        self.documents: dict[str, tuple[str, str]] = {}  # location -> (text, etag)
        self.pointer_log: dict[str, list[StoredDocument]] = {}
        self.values: dict[tuple[str, str], list[str]] = {}
        self.kinds: dict[tuple[str, str], SsmType] = {}

    def schema_location(self, model: str) -> str:
        return f"{model}/_schema"

    def pointer_location(self, model: str) -> str:
        return f"{model}/_pointer"

    def release_location(self, model: str, release_id: str) -> str:
        return f"{model}/releases/{release_id}"

    def key_location(self, model: str, key: str) -> str:
        return f"{model}/{key}"

    def _document(self, location: str) -> StoredDocument | None:
        found = self.documents.get(location)
        return StoredDocument(location, found[0], found[1]) if found else None

    def _reachable(self) -> None:
        if self.down:
            raise BackendUnavailableError(f"{self.service} is unreachable (injected outage)")

    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        self._reachable()
        with self.lock:
            return ModelDocuments(
                schema=self._document(self.schema_location(model)),
                pointer=self._document(self.pointer_location(model)),
                releases={r: self._document(self.release_location(model, r)) for r in release_ids},
            )

    def _value(self, model: str, key: str, version: int) -> StoredValue:
        return StoredValue(key, self.values[(model, key)][version - 1], version, self.kinds.get((model, key), "String"))

    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
        self._reachable()
        with self.lock:
            return {
                k: self._value(model, k, v) for k, v in wanted.items() if 0 < v <= len(self.values.get((model, k), []))
            }

    def read_latest(self, model: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        with self.lock:
            return {k: self._value(model, k, len(self.values[(model, k)])) for k in keys if (model, k) in self.values}

    def list_releases(self, model: str) -> list[StoredDocument]:
        prefix = self.release_location(model, "")
        with self.lock:
            return [StoredDocument(loc, t, e) for loc, (t, e) in self.documents.items() if loc.startswith(prefix)]

    def pointer_history(self, model: str) -> list[StoredDocument]:
        with self.lock:
            return list(self.pointer_log.get(model, []))

    def write_value(self, model: str, key: str, text: str, declared: KeySchema) -> int:
        with self.lock:
            self.kinds[(model, key)] = declared.ssm_type
            self.values.setdefault((model, key), []).append(text)
            return len(self.values[(model, key)])

    def create_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        location = self.release_location(model, release_id)
        with self.lock:
            if location in self.documents:
                raise ReleaseExistsError(f"release {release_id} exists")
            self.documents[location] = (text, uuid.uuid4().hex)
            return StoredDocument(location, text, self.documents[location][1])

    def replace_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        location = self.release_location(model, release_id)
        with self.lock:
            self.documents[location] = (text, uuid.uuid4().hex)
            return StoredDocument(location, text, self.documents[location][1])

    def delete_release(self, model: str, release_id: str) -> None:
        with self.lock:
            self.documents.pop(self.release_location(model, release_id), None)

    def swap_pointer(self, model: str, text: str, expected: int | str | None) -> PointerSwap:
        location = self.pointer_location(model)
        with self.lock:
            current = self.documents.get(location)
            if (current[1] if current else None) != expected:
                raise ConcurrentChangeError(f"the pointer of {model} changed; nothing written")
            etag = uuid.uuid4().hex
            self.documents[location] = (text, etag)
            self.pointer_log.setdefault(model, []).append(StoredDocument(location, text, etag))
            return PointerSwap(etag, exclusive=True)

    def retain(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        return 0  # this store never evicts

    def release_retention(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        return 0

    def identity(self) -> str:
        return "user:alice"
