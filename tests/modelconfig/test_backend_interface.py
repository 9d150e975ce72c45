"""The cores run on any `ConfigBackend`: an in-memory store with ETag revisions (strings) and an exact
compare-and-swap, as Azure App Configuration offers, gets the same releases, activation, rollback, history,
pointer checks and loading as SSM, with no SSM code involved."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence

import pytest

from ml_infra.modelconfig import (
    ConcurrentChangeError,
    ConfigBackend,
    CorruptDocumentError,
    ModelConfigLoader,
    ModelDocuments,
    PointerSwap,
    ReleaseExistsError,
    ReleaseManager,
    StoredDocument,
    StoredValue,
)
from ml_infra.modelconfig.layout import KeySchema, ModelSchema, ReleasedKey, ReleaseDocument, pointer_for
from ml_infra.modelconfig.retry import Backoff

NO_SLEEP = Backoff(sleep=lambda _: None)


class MemoryBackend(ConfigBackend):
    """Documents with ETags, key values with versions, an exact conditional write of the pointer."""

    name = "store"
    service = "the in-memory store"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.documents: dict[str, tuple[str, str]] = {}  # location -> (text, etag)
        self.pointer_log: dict[str, list[StoredDocument]] = {}
        self.values: dict[tuple[str, str], list[str]] = {}

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

    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        with self.lock:
            return ModelDocuments(
                schema=self._document(self.schema_location(model)),
                pointer=self._document(self.pointer_location(model)),
                releases={r: self._document(self.release_location(model, r)) for r in release_ids},
            )

    def _value(self, model: str, key: str, version: int) -> StoredValue:
        return StoredValue(key, self.values[(model, key)][version - 1], version, "String")

    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
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


@pytest.fixture
def store() -> MemoryBackend:
    backend = MemoryBackend()
    schema = {"limit": KeySchema(ssm_type="String", value_type="integer", maximum=100)}
    backend.documents["m/_schema"] = (
        ModelSchema(project="p", environment="e", model="m", keys=schema).model_dump_json(),
        "s1",
    )
    version = backend.write_value("m", "limit", "10", schema["limit"])
    initial = ReleaseDocument(
        release_id="initial",
        project="p",
        environment="e",
        model="m",
        keys={"limit": ReleasedKey(version=version, ssm_type="String")},
    )
    text = initial.model_dump_json()
    backend.create_release("m", "initial", text)
    backend.swap_pointer("m", pointer_for(initial, text).model_dump_json(), None)
    return backend


def test_releases_activation_rollback_and_loading_on_another_backend(store: MemoryBackend):
    operator = ReleaseManager("p", "e", backend=store, backoff=NO_SLEEP)
    loader = ModelConfigLoader("p", "e", backend=store, ttl_seconds=0, backoff=NO_SLEEP)
    assert loader.load("m")["limit"] == 10
    operator.set_values("m", {"limit": "20"})
    operator.create_release("m", "r2")
    result = operator.activate("m", "r2", reason="more")
    assert isinstance(result.pointer_version, str) and result.previous_release_id == "initial"
    config = loader.load("m")
    assert (config.release_id, config["limit"], config.source) == ("r2", 20, "store")
    assert operator.rollback("m").release_id == "initial"
    history = operator.history("m")
    assert [(h.release_id, h.action, h.previous_release_id) for h in history] == [
        ("initial", "rollback", "r2"),
        ("r2", "activate", "initial"),
        ("initial", "deployed", None),
    ]
    assert [h.pointer_version for h in history] == [3, 2, 1]  # positions: the revisions are ETags


def test_a_stale_compare_and_swap_loses_and_writes_nothing(store: MemoryBackend):
    operator = ReleaseManager("p", "e", backend=store, backoff=NO_SLEEP)
    operator.set_values("m", {"limit": "30"})
    operator.create_release("m", "r2")
    with pytest.raises(ConcurrentChangeError, match="nothing written"):
        store.swap_pointer("m", "{}", "an-old-etag")
    assert operator.pointer_state("m").release_id == "initial"


def test_a_tampered_pointer_is_refused_on_another_backend_too(store: MemoryBackend):
    loader = ModelConfigLoader("p", "e", backend=store, ttl_seconds=0, retry_interval=0, backoff=NO_SLEEP)
    loader.load("m")
    store.documents["m/_pointer"] = ("{not a pointer", "x")
    config = loader.load("m")
    assert config.stale and "is refused" in (config.stale_reason or "")
    with pytest.raises(CorruptDocumentError):
        ModelConfigLoader("p", "e", backend=store, backoff=NO_SLEEP).load("m")
