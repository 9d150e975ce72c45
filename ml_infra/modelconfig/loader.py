"""Loading a model's active configuration as typed values, cheaply, and through SSM faults.

A load reads the active-release pointer and the declared schema in one `GetParameters` call, then every key at
the exact version the active release names (`name:version` selectors, ten per call). A cold load of N keys
therefore costs ceil(N/10) + 1 calls. Within the time-to-live nothing is called; after it, one call re-reads the
pointer and, if the release did not change, nothing else: a key version never changes, so fetched versions are
kept (for the current and the previous release, so a rollback costs one call too). Because every key is read at
the version one release names, an application never sees a mix of two releases.

Built on AWS Lambda Powertools' `SSMProvider` for the pointer and schema (batched, cached with a max age; it
works outside Lambda). What Powertools lacks is written here: version selectors (see `aws.get_parameters`),
typing and validation against the schema, retries bounded by a deadline, and serving the last known good
configuration (in memory, or from an encrypted local file) with `stale=True` when SSM throttles, times out or is
down, and when a new release cannot be loaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from ml_infra.modelconfig.aws import Backoff, SSMClient, get_parameters, split_selector, ssm_client, translate
from ml_infra.modelconfig.errors import (
    ConfigUnavailableError,
    ConfigValidationError,
    InvalidInputError,
    ModelConfigError,
    Problem,
    UnknownModelError,
)
from ml_infra.modelconfig.layout import (
    MODEL_NAME_PATTERN,
    KeySchema,
    ModelSchema,
    ReleaseDocument,
    active_release_parameter_name,
    parameter_name,
    schema_parameter_name,
)
from ml_infra.modelconfig.snapshot import EncryptedFileSnapshot, SnapshotRecord
from ml_infra.modelconfig.values import ValueProblem, parse_value

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "ml-infra"
ENVIRONMENT_ENV_VAR = "ML_INFRA_ENV"
_DEFAULT_VALUE_TYPES = {"String": "string", "StringList": "list", "SecureString": "secret"}

Model = TypeVar("Model", bound=BaseModel)
Source = Literal["ssm", "memory", "file"]


@dataclass(frozen=True)
class ModelConfiguration:
    """A model's configuration as an application uses it: typed values of one release.

    `stale` is True when SSM could not be read and this is the last known good configuration (`source` says
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
    retry_at: float = 0.0
    # Fetched key versions, by selector: immutable, so kept for the current and the previous release.
    selectors: frozenset[str] = frozenset()


class ModelConfigLoader:
    """Loads the active configuration of models of one project and environment.

    `client` is a boto3 SSM client (default: from the standard AWS settings, botocore retries off because
    `backoff` retries). `ttl_seconds` is how long a loaded configuration is used without asking SSM;
    `retry_interval` how long a stale configuration is served before SSM is tried again. `snapshot` keeps the
    last known good configuration on disk, encrypted, for a process that starts during an SSM outage.
    """

    def __init__(
        self,
        project: str = DEFAULT_PROJECT,
        environment: str | None = None,
        *,
        client: SSMClient | None = None,
        ttl_seconds: float = 30.0,
        retry_interval: float = 5.0,
        backoff: Backoff | None = None,
        snapshot: EncryptedFileSnapshot | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        environment = environment or os.environ.get(ENVIRONMENT_ENV_VAR)
        if not environment:
            raise InvalidInputError(f"no environment given; pass environment= or set {ENVIRONMENT_ENV_VAR}")
        self.project = project
        self.environment = environment
        self.client = client if client is not None else ssm_client()
        self.ttl_seconds = ttl_seconds
        self.retry_interval = retry_interval
        self.backoff = backoff or Backoff()
        self.snapshot = snapshot
        self._clock = clock
        self._lock = threading.RLock()
        self._states: dict[str, _State] = {}
        self._values: dict[str, Any] = {}  # selector -> StoredParameter
        self._provider: Any = None

    def load(self, model: str, *, refresh: bool = False) -> ModelConfiguration:
        """The active configuration of `model`; `refresh=True` ignores the time-to-live.

        Raises UnknownModelError for a model that has no schema, ConfigValidationError when the active release
        does not fit the schema, and ConfigUnavailableError or PermissionDeniedError when SSM cannot be read;
        each only when there is no last known good configuration to serve instead.
        """
        if not MODEL_NAME_PATTERN.match(model):
            raise InvalidInputError(
                f"model name {model!r} must be 1-63 characters: lower-case letters, digits and '-', "
                "starting with a letter"
            )
        with self._lock:
            state = self._states.get(model)
            if state is not None and not refresh and self._clock() < state.retry_at:
                return state.config
            try:
                return self._fetch(model, state, refresh)
            except Exception as err:
                return self._fall_back(model, err)

    def invalidate(self, model: str | None = None) -> None:
        """Forget cached documents so the next load asks SSM (fetched key versions are kept: they never change)."""
        with self._lock:
            if self._provider is not None:
                self._provider.clear_cache()
            for name in [model] if model else list(self._states):
                state = self._states.get(name)
                if state is not None:
                    state.retry_at = 0.0

    # -- internals ----------------------------------------------------------------------------------------

    def _ssm_provider(self) -> Any:
        if self._provider is None:
            # Imported here: Powertools is needed only once an application loads.
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider(boto3_client=self.client)
        return self._provider

    def _documents(self, model: str, budget: Any, refresh: bool) -> tuple[str, str]:
        """The texts of the pointer and the schema: one GetParameters call, or none within the TTL."""
        pointer = active_release_parameter_name(self.project, self.environment, model)
        schema = schema_parameter_name(self.project, self.environment, model)
        provider = self._ssm_provider()
        if refresh:
            provider.clear_cache()
        result = budget.call(
            lambda: provider.get_parameters_by_name(
                {pointer: {}, schema: {}}, max_age=int(self.ttl_seconds), raise_on_error=False
            )
        )
        texts: dict[str, str] = {}
        for name in (schema, pointer):  # an unknown model is reported as such, not as a missing release
            if name in result:
                texts[name] = str(result[name])
                continue
            # Powertools reports a missing parameter and a swallowed server error alike: ask once more, alone,
            # to tell "does not exist" from a fault.
            texts[name] = self._get_one(model, name, budget)
        return texts[pointer], texts[schema]

    def _get_one(self, model: str, name: str, budget: Any) -> str:
        from botocore.exceptions import ClientError

        try:
            response = budget.call(lambda: self.client.get_parameter(Name=name))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ParameterNotFound":
                raise
            if name.endswith("/_schema"):
                raise UnknownModelError(
                    f"unknown model {model!r} in {self.project}/{self.environment}: {name} does not exist"
                ) from None
            raise ConfigUnavailableError(
                f"model {model!r} has no active release ({name} does not exist); create and activate one with "
                "`ml-infra config release` and `ml-infra config activate`"
            ) from None
        return str(response["Parameter"]["Value"])

    def _fetch(self, model: str, state: _State | None, refresh: bool) -> ModelConfiguration:
        budget = self.backoff.start()
        pointer_text, schema_text = self._documents(model, budget, refresh)
        if state is not None and (pointer_text, schema_text) == (state.pointer_text, state.schema_text):
            if state.config.stale:
                state.config = replace(state.config, stale=False, stale_reason=None, source="ssm")
            state.retry_at = 0.0
            return state.config
        release, schema = self._parse_documents(model, pointer_text, schema_text)
        selectors = {
            key: f"{parameter_name(self.project, self.environment, model, key)}:{released.version}"
            for key, released in release.keys.items()
        }
        wanted = [s for s in selectors.values() if s not in self._values]
        if wanted:
            found, invalid = get_parameters(self.client, wanted, budget=budget, decrypt=True)
            self._values.update(found)
            if invalid:
                lost = ", ".join(f"{split_selector(s)[0].rsplit('/', 1)[-1]} v{split_selector(s)[1]}" for s in invalid)
                raise ConfigUnavailableError(
                    f"active release {release.release_id} of model {model} names key versions SSM does not have "
                    f"(deleted or evicted): {lost}"
                )
        texts = {key: self._values[selector].text for key, selector in selectors.items()}
        fetched_at = datetime.now(UTC)
        config = self._build(model, release, schema, texts, fetched_at=fetched_at, source="ssm")
        previous = state.selectors if state is not None else frozenset()
        current = frozenset(selectors.values())
        for selector in [s for s in self._values if s.startswith(self._prefix(model))]:
            if selector not in current and selector not in previous:
                del self._values[selector]
        self._states[model] = _State(pointer_text, schema_text, texts, config, selectors=current | previous)
        if self.snapshot is not None:
            self._save_snapshot(model, pointer_text, schema_text, texts, fetched_at)
        return config

    def _prefix(self, model: str) -> str:
        return parameter_name(self.project, self.environment, model, "")

    def _parse_documents(self, model: str, pointer_text: str, schema_text: str) -> tuple[ReleaseDocument, ModelSchema]:
        try:
            schema = ModelSchema.model_validate_json(schema_text)
        except ValidationError as err:
            raise ModelConfigError(f"the schema of model {model} is not a valid schema document: {err}") from None
        try:
            release = ReleaseDocument.model_validate_json(pointer_text)
        except ValidationError as err:
            raise ModelConfigError(f"the active release of model {model} is not a valid release: {err}") from None
        where = (self.project, self.environment, model)
        if (release.project, release.environment, release.model) != where:
            raise ModelConfigError(
                f"the active release of model {model} belongs to {release.project}/{release.environment}/"
                f"{release.model}, not {'/'.join(where)}"
            )
        return release, schema

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

    def _fall_back(self, model: str, err: Exception) -> ModelConfiguration:
        reason = translate(err, doing=f"load model {model}").message
        state = self._states.get(model)
        if state is None and self.snapshot is not None:
            state = self._state_from_snapshot(model)
        if state is None:
            if isinstance(err, ModelConfigError):
                raise err
            raise translate(err, doing=f"load model {model}") from err
        log.warning("serving the last known good configuration of model %s: %s", model, reason)
        state.retry_at = self._clock() + self.retry_interval
        source: Source = state.config.source if state.config.stale else "memory"
        state.config = replace(state.config, stale=True, stale_reason=reason, source=source)
        return state.config

    def _save_snapshot(
        self, model: str, pointer_text: str, schema_text: str, texts: dict[str, str], fetched_at: datetime
    ) -> None:
        assert self.snapshot is not None
        record = SnapshotRecord(
            project=self.project,
            environment=self.environment,
            model=model,
            pointer_text=pointer_text,
            schema_text=schema_text,
            texts=texts,
            fetched_at=fetched_at.isoformat(),
        )
        try:
            self.snapshot.save(record)
        except OSError as err:
            log.warning("could not write the config snapshot of model %s: %s", model, err)

    def _state_from_snapshot(self, model: str) -> _State | None:
        assert self.snapshot is not None
        record = self.snapshot.load(self.project, self.environment, model)
        if record is None:
            return None
        try:
            release, schema = self._parse_documents(model, record.pointer_text, record.schema_text)
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
        state = _State(record.pointer_text, record.schema_text, dict(record.texts), config)
        self._states[model] = state
        return state
