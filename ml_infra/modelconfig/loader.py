"""Loading a model's active configuration as typed values, cheaply, within a deadline, and through faults.

The backend-agnostic core of the application side (the store's primitives come from a `backend.ConfigBackend`,
`ssm.SsmBackend` by default). A load reads the active-release pointer and the declared schema in one backend
read (SSM: one `GetParameters` call), then the release document the pointer names (checked against the
pointer's digest: `layout.verify_release`), then every key at the exact version the release names (SSM:
`name:version` selectors, ten per call). A cold load of N keys on SSM therefore costs ceil(N/10) + 2 calls.
Within the time-to-live nothing is called; after it, one read of the pointer and, if the release did not change,
nothing else: a key version never changes, so fetched versions are kept, and release documents too (for the
current and the previous release, so a rollback costs one call too). Because every key is read at the version
one release names, an application never sees a mix of two releases.

Guarantees kept here, whatever the store: typing and validation against the schema; a deadline per load that
holds whatever the network does (the fetch runs on its own thread; the caller waits at most the deadline,
then gets the last known good configuration or `ConfigUnavailableError`); one lock per model, so a model's
fetch never delays another model; concurrent loads of one model share one fetch (single flight); retries with
backoff inside the deadline; and the last known good configuration (in memory, or from an encrypted local file)
served with `stale=True` and the reason when the store throttles, times out, is down, or serves something that
fails the checks.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from ml_infra.modelconfig.backend import ConfigBackend, StoredValue
from ml_infra.modelconfig.errors import (
    BackendUnavailableError,
    ConfigUnavailableError,
    ConfigValidationError,
    CorruptDocumentError,
    InvalidInputError,
    ModelConfigError,
    Problem,
    UnknownModelError,
)
from ml_infra.modelconfig.layout import (
    MODEL_NAME_PATTERN,
    RELEASE_ID_PATTERN,
    DocumentProblem,
    KeySchema,
    ModelSchema,
    ReleaseDocument,
    parse_pointer,
    release_digest,
    verify_release,
)
from ml_infra.modelconfig.retry import Backoff
from ml_infra.modelconfig.snapshot import EncryptedFileSnapshot, SnapshotRecord
from ml_infra.modelconfig.values import ValueProblem, parse_value

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "ml-infra"
ENVIRONMENT_ENV_VAR = "ML_INFRA_ENV"
_DEFAULT_VALUE_TYPES = {"String": "string", "StringList": "list", "SecureString": "secret"}

Model = TypeVar("Model", bound=BaseModel)
# Where a configuration came from: the backend's name (`ConfigBackend.name`, "ssm") when fresh.
Source = Literal["ssm", "azure", "store", "memory", "file"]


@dataclass(frozen=True)
class ModelConfiguration:
    """A model's configuration as an application uses it: typed values of one release.

    `stale` is True when the store could not be read (or served something that failed the checks) and this is
    the last known good configuration (`source` says
    where it came from, `stale_reason` why). Secrets are `pydantic.SecretStr`: `secret(key)` gives the text.
    """

    project: str
    environment: str
    model: str
    release_id: str
    values: Mapping[str, Any]
    versions: Mapping[str, int]
    fetched_at: datetime
    source: Source = "ssm"
    stale: bool = False
    stale_reason: str | None = None
    missing: tuple[str, ...] = field(default=())

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"model {self.model} has no key {key!r}; keys: {', '.join(sorted(self.values))}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def secret(self, key: str) -> str:
        value = self[key]
        if not isinstance(value, SecretStr):
            raise TypeError(f"key {key!r} of model {self.model} is not a secret")
        return value.get_secret_value()

    def parse_as(self, model_class: type[Model]) -> Model:
        """The values validated into the application's own pydantic model (declare secrets as SecretStr)."""
        try:
            return model_class.model_validate(dict(self.values))
        except ValidationError as err:
            problems = [Problem(".".join(str(p) for p in e["loc"]) or "(model)", e["msg"]) for e in err.errors()]
            raise ConfigValidationError(
                f"configuration of model {self.model} (release {self.release_id}) does not fit {model_class.__name__}",
                problems,
            ) from None


@dataclass
class _State:
    pointer_text: str
    schema_text: str
    texts: dict[str, str]
    config: ModelConfiguration
    release_text: str = ""
    # Until when (loader clock) the configuration is served without asking the store: the TTL after a fresh
    # load, the retry interval after a failure.
    valid_until: float = 0.0
    # The key versions of this state's release (the slot keeps fetched values for this and the previous state's).
    versions: frozenset[tuple[str, int]] = frozenset()


@dataclass
class _Flight:
    """One fetch of one model in progress, shared by every load of that model that arrives meanwhile."""

    future: Future[ModelConfiguration]
    started: float  # time.monotonic()
    deadline: float  # seconds


@dataclass
class _Slot:
    """Everything the loader holds for one model, under the model's own lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    state: _State | None = None
    flight: _Flight | None = None
    generation: int = 0
    values: dict[tuple[str, int], StoredValue] = field(default_factory=dict)
    # Stored texts of release documents by id (verified against the pointer's digest on every use).
    releases: dict[str, str] = field(default_factory=dict)


def _seconds(name: str, value: float, *, positive: bool = False) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        allowed = "a finite number of seconds above 0" if positive else "a finite number of seconds, 0 or more"
        raise InvalidInputError(f"{name}={value!r} is not usable; allowed: {allowed}")
    return number


class ModelConfigLoader:
    """Loads the active configuration of models of one project and environment.

    `backend` is the store (default: `SsmBackend` over `client`, a boto3 SSM client from the standard AWS
    settings). `ttl_seconds` is how long a loaded configuration is used without asking the store (a float:
    0.5 means half a second); `retry_interval` how long a stale configuration is served before the store is
    tried again; `deadline_seconds` the most a `load` blocks, whatever the network does (override per call).
    `backoff` retries transient faults within the deadline. `snapshot` keeps the last known good configuration
    on disk, encrypted, for a process that starts during an outage.
    """

    def __init__(
        self,
        project: str = DEFAULT_PROJECT,
        environment: str | None = None,
        *,
        client: Any = None,
        backend: ConfigBackend | None = None,
        ttl_seconds: float = 30.0,
        retry_interval: float = 5.0,
        deadline_seconds: float = 8.0,
        backoff: Backoff | None = None,
        snapshot: EncryptedFileSnapshot | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        environment = environment or os.environ.get(ENVIRONMENT_ENV_VAR)
        if not environment:
            raise InvalidInputError(f"no environment given; pass environment= or set {ENVIRONMENT_ENV_VAR}")
        self.project = project
        self.environment = environment
        self.ttl_seconds = _seconds("ttl_seconds", ttl_seconds)
        self.retry_interval = _seconds("retry_interval", retry_interval)
        self.deadline_seconds = _seconds("deadline_seconds", deadline_seconds, positive=True)
        if backend is None:
            from ml_infra.modelconfig.ssm import SsmBackend

            backend = SsmBackend(project, environment, client=client)
        self.backend = backend
        self.backoff = backoff or Backoff(deadline=self.deadline_seconds)
        self.snapshot = snapshot
        self._clock = clock
        self._slots_lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    @property
    def client(self) -> Any:
        """The SSM client of the default backend (None for another backend)."""
        return getattr(self.backend, "client", None)

    def load(self, model: str, *, refresh: bool = False, deadline_seconds: float | None = None) -> ModelConfiguration:
        """The active configuration of `model`; `refresh=True` ignores the time-to-live.

        Returns within `deadline_seconds` (default: the loader's): fresh, or the last known good configuration
        marked stale with the reason. Raises UnknownModelError for a model that has no schema,
        ConfigValidationError when the active release does not fit the schema, and ConfigUnavailableError or
        PermissionDeniedError when the store cannot be read in time; each only when there is no last known good
        configuration to serve instead.
        """
        if not MODEL_NAME_PATTERN.match(model):
            raise InvalidInputError(
                f"model name {model!r} must be 1-63 characters: lower-case letters, digits and '-', "
                "starting with a letter"
            )
        deadline = (
            self.deadline_seconds
            if deadline_seconds is None
            else _seconds("deadline_seconds", deadline_seconds, positive=True)
        )
        started = time.monotonic()
        slot = self._slot(model)
        with slot.lock:
            state = slot.state
            if state is not None and not refresh and self._clock() < state.valid_until:
                return state.config
            flight = slot.flight
            if flight is None or flight.future.done() or time.monotonic() > flight.started + flight.deadline:
                # No fetch running, or the running one is past its own deadline (hung): start another; the
                # abandoned one's result is ignored when it arrives.
                flight = self._start(model, slot, state, refresh, deadline)
        try:
            return flight.future.result(timeout=max(0.0, started + deadline - time.monotonic()))
        except FutureTimeout:
            err: Exception = BackendUnavailableError(
                f"{self.backend.service} did not answer within the {deadline:g} s deadline"
            )
        except Exception as failure:
            err = failure
        return self._fall_back(model, slot, err)

    def invalidate(self, model: str | None = None) -> None:
        """Forget cached documents so the next load asks the store (fetched key versions are kept: they never
        change)."""
        with self._slots_lock:
            slots = [self._slots[model]] if model in self._slots else [] if model else list(self._slots.values())
        for slot in slots:
            with slot.lock:
                if slot.state is not None:
                    slot.state.valid_until = 0.0

    # -- internals ----------------------------------------------------------------------------------------

    def _slot(self, model: str) -> _Slot:
        with self._slots_lock:
            slot = self._slots.get(model)
            if slot is None:
                slot = self._slots[model] = _Slot()
            return slot

    def _start(self, model: str, slot: _Slot, state: _State | None, refresh: bool, deadline: float) -> _Flight:
        """Start a fetch on its own daemon thread (a hung connection must hold neither the caller nor the
        interpreter's exit). Called with the slot's lock held."""
        slot.generation += 1
        generation = slot.generation
        future: Future[ModelConfiguration] = Future()
        flight = _Flight(future, time.monotonic(), deadline)
        slot.flight = flight

        def run() -> None:
            outcome: ModelConfiguration | None = None
            error: BaseException | None = None
            try:
                outcome = self._fetch(model, slot, generation, state, refresh, deadline)
            except BaseException as err:  # handed to every waiting caller
                error = err
            # The slot forgets the flight before its callers learn the outcome, so that a load that follows
            # a finished fetch starts a new one.
            with slot.lock:
                if slot.flight is flight:
                    slot.flight = None
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(outcome)  # type: ignore[arg-type]

        future.set_running_or_notify_cancel()
        threading.Thread(target=run, name=f"modelconfig-load-{model}", daemon=True).start()
        return flight

    def _fetch(
        self, model: str, slot: _Slot, generation: int, state: _State | None, refresh: bool, deadline: float
    ) -> ModelConfiguration:
        budget = replace(self.backoff, deadline=min(self.backoff.deadline, deadline)).start()
        documents = budget.call(lambda: self.backend.read_documents(model))
        if documents.schema is None:
            raise UnknownModelError(
                f"unknown model {model!r} in {self.project}/{self.environment}: "
                f"{self.backend.schema_location(model)} does not exist"
            )
        if documents.pointer is None:
            raise ConfigUnavailableError(
                f"model {model!r} has no active release ({self.backend.pointer_location(model)} does not exist); "
                "create and activate one with `ml-infra config release` and `ml-infra config activate`"
            )
        if documents.pointer.problem:
            raise CorruptDocumentError(self._refused(model, documents.pointer.problem))
        pointer_text, schema_text = documents.pointer.text, documents.schema.text
        if state is not None and (pointer_text, schema_text) == (state.pointer_text, state.schema_text):
            with slot.lock:
                current = slot.state if slot.generation == generation else None
                if current is None:
                    return state.config
                if current.config.stale:
                    current.config = replace(current.config, stale=False, stale_reason=None, source=self._source())
                current.valid_until = self._clock() + self.ttl_seconds
                return current.config
        schema = self._parse_schema(model, schema_text)
        release_text = self._release_text(model, slot, pointer_text, budget)
        release = self._verify(model, pointer_text, release_text)
        wanted = {key: released.version for key, released in release.keys.items()}
        stable = self.backend.stable_versions
        missing = {key: v for key, v in wanted.items() if not stable or (key, v) not in slot.values}
        if missing:
            found = budget.call(lambda: self.backend.read_versions(model, missing, release.release_id))
            lost = [f"{key} v{version}" for key, version in missing.items() if key not in found]
            if lost:
                raise ConfigUnavailableError(
                    f"active release {release.release_id} of model {model} names key versions "
                    f"{self.backend.service} does not have (deleted or evicted): {', '.join(lost)}"
                )
            with slot.lock:
                for key, value in found.items():
                    slot.values[(key, value.version)] = value
        texts = {key: slot.values[(key, version)].text for key, version in wanted.items()}
        fetched_at = datetime.now(UTC)
        config = self._build(model, release, schema, texts, fetched_at=fetched_at, source=self._source())
        current_versions = frozenset(wanted.items())
        with slot.lock:
            if release_text is not None:
                slot.releases[release.release_id] = release_text
            if slot.generation != generation:
                return config  # abandoned: a newer fetch owns the state
            # Keep what the current and the previous release need (a rollback then costs one call), nothing older:
            # a long-lived process must not accumulate every release it ever loaded.
            previous = slot.state.versions if slot.state is not None else frozenset()
            previous_id = slot.state.config.release_id if slot.state is not None else None
            for pair in [p for p in slot.values if p not in current_versions and p not in previous]:
                del slot.values[pair]
            for release_id in [r for r in slot.releases if r not in (release.release_id, previous_id)]:
                del slot.releases[release_id]
            slot.state = _State(
                pointer_text,
                schema_text,
                texts,
                config,
                release_text=release_text or "",
                valid_until=self._clock() + self.ttl_seconds,
                versions=current_versions,
            )
        if self.snapshot is not None:
            self._save_snapshot(model, pointer_text, release_text or "", schema_text, texts, fetched_at)
        return config

    def _source(self) -> Source:
        name = self.backend.name
        return name if name in ("ssm", "azure") else "store"  # type: ignore[return-value]

    def _parse_schema(self, model: str, schema_text: str) -> ModelSchema:
        try:
            return ModelSchema.model_validate_json(schema_text)
        except ValidationError as err:
            raise ModelConfigError(f"the schema of model {model} is not a valid schema document: {err}") from None

    def _release_text(self, model: str, slot: _Slot, pointer_text: str, budget: Any) -> str | None:
        """The stored text of the release the pointer names: from the slot (release documents are immutable, and
        `_verify` checks the digest anyway), or one read."""
        try:
            pointer, legacy = parse_pointer(pointer_text)
        except DocumentProblem as problem:
            raise CorruptDocumentError(self._refused(model, str(problem))) from None
        named = pointer if pointer is not None else legacy
        assert named is not None
        if not RELEASE_ID_PATTERN.match(named.release_id):
            raise CorruptDocumentError(self._refused(model, f"it names an invalid release id {named.release_id!r}"))
        with slot.lock:
            cached = slot.releases.get(named.release_id)
        if cached is not None and pointer is not None and release_digest(cached) == pointer.digest:
            return cached
        documents = budget.call(lambda: self.backend.read_documents(model, [named.release_id]))
        stored = documents.releases.get(named.release_id)
        if stored is not None and stored.problem:
            raise CorruptDocumentError(self._refused(model, stored.problem))
        return stored.text if stored is not None else None

    def _verify(self, model: str, pointer_text: str, release_text: str | None) -> ReleaseDocument:
        """The release the pointer names, or CorruptDocumentError saying why the pointer is refused."""
        try:
            pointer, legacy = parse_pointer(pointer_text)
            release = verify_release(pointer, legacy, release_text, (self.project, self.environment, model))
        except DocumentProblem as problem:
            raise CorruptDocumentError(self._refused(model, str(problem))) from None
        return release

    def _refused(self, model: str, why: str) -> str:
        return f"the active-release pointer of model {model} ({self.backend.pointer_location(model)}) is refused: {why}"

    def _build(
        self,
        model: str,
        release: ReleaseDocument,
        schema: ModelSchema,
        texts: Mapping[str, str],
        *,
        fetched_at: datetime,
        source: Source,
    ) -> ModelConfiguration:
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, released in release.keys.items():
            declared = schema.keys.get(key) or KeySchema(
                ssm_type=released.ssm_type,
                value_type=_DEFAULT_VALUE_TYPES[released.ssm_type],  # type: ignore[arg-type]
            )
            try:
                values[key] = parse_value(texts[key], declared)
            except ValueProblem as problem:
                problems.append(Problem(key, str(problem)))
        if problems:
            raise ConfigValidationError(
                f"active release {release.release_id} of model {model} does not fit its schema", problems
            )
        return ModelConfiguration(
            project=self.project,
            environment=self.environment,
            model=model,
            release_id=release.release_id,
            values=MappingProxyType(values),
            versions=MappingProxyType({key: r.version for key, r in release.keys.items()}),
            fetched_at=fetched_at,
            source=source,
            missing=tuple(sorted(set(schema.keys) - set(release.keys))),
        )

    def _fall_back(self, model: str, slot: _Slot, err: Exception) -> ModelConfiguration:
        failure = _loading_error(model, err)
        with slot.lock:
            state = slot.state
            if state is None and self.snapshot is not None:
                state = self._state_from_snapshot(model, slot)
            if state is None:
                raise failure from None
            log.warning("serving the last known good configuration of model %s: %s", model, failure.message)
            state.valid_until = self._clock() + self.retry_interval
            source: Source = state.config.source if state.config.stale else "memory"
            state.config = replace(state.config, stale=True, stale_reason=failure.message, source=source)
            return state.config

    def _save_snapshot(
        self,
        model: str,
        pointer_text: str,
        release_text: str,
        schema_text: str,
        texts: dict[str, str],
        fetched_at: datetime,
    ) -> None:
        assert self.snapshot is not None
        record = SnapshotRecord(
            project=self.project,
            environment=self.environment,
            model=model,
            pointer_text=pointer_text,
            release_text=release_text,
            schema_text=schema_text,
            texts=texts,
            fetched_at=fetched_at.isoformat(),
        )
        try:
            self.snapshot.save(record)
        except OSError as err:
            log.warning("could not write the config snapshot of model %s: %s", model, err)

    def _state_from_snapshot(self, model: str, slot: _Slot) -> _State | None:
        """The snapshot's configuration as the model's state (called with the slot's lock held)."""
        assert self.snapshot is not None
        record = self.snapshot.load(self.project, self.environment, model)
        if record is None:
            return None
        try:
            schema = self._parse_schema(model, record.schema_text)
            release = self._verify(model, record.pointer_text, record.release_text)
            config = self._build(
                model,
                release,
                schema,
                record.texts,
                fetched_at=datetime.fromisoformat(record.fetched_at),
                source="file",
            )
        except (ModelConfigError, KeyError, ValueError) as err:
            log.warning("ignoring the config snapshot of model %s: %s", model, err)
            return None
        config = replace(config, stale=True)
        state = _State(record.pointer_text, record.schema_text, dict(record.texts), config, record.release_text)
        slot.state = state
        return state


def _loading_error(model: str, err: Exception) -> ModelConfigError:
    """The error a failed load reports: the library's own class, the message prefixed with the model."""
    if not isinstance(err, ModelConfigError):
        return ModelConfigError(f"cannot load model {model}: {type(err).__name__}: {err}")
    if isinstance(err, UnknownModelError | ConfigValidationError | InvalidInputError):
        return err
    prefix = f"cannot load model {model}: "
    if err.message.startswith(prefix):
        return err
    wrapped = type(err).__new__(type(err))
    wrapped.__dict__.update(err.__dict__)
    wrapped.message = prefix + err.message
    wrapped.args = (wrapped.message,)
    return wrapped
