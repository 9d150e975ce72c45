"""The operator side: stage values, cut immutable releases, activate, roll back, and read the history and diffs.

This is the backend-agnostic core (see `backend`): what it guarantees holds on every store, and the store's own
primitives come from a `ConfigBackend` (`ssm.SsmBackend` by default):

- staging a value is a new version of its key (`write_value`); applications do not see it: they read the
  versions the active release names;
- a release is a document naming every key's exact version, created only if its id is free (`create_release`),
  so a release can never be rewritten; before it is written its values are validated against `_schema` and
  every version it names is protected from the store's version eviction (`retain`; SSM: the label
  `released-v<version>`);
- activation and rollback are ONE compare-and-swap of the pointer (`swap_pointer`): applications load either the
  old or the new release, never a mix, and of two operators activating at once one wins and the other is told
  that the pointer changed under it (`ConcurrentChangeError`, nothing written);
- the pointer's own revision history (`pointer_history`: who, when) is the activation log, and each pointer
  document also names the caller's identity, the action and what was active before.

Releases seeded by the Pulumi program are not protected yet; every operation that relies on a release's
versions (`set`, `release`, `activate`, `rollback`) protects them first, so a Pulumi-created model is protected
from its first run-time change on. All backend calls go through `backoff`, so throttling and concurrent writers
(SSM's TooManyUpdates) are retried.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from ml_infra.modelconfig.backend import ConfigBackend, StoredDocument, StoredValue
from ml_infra.modelconfig.errors import (
    ConfigValidationError,
    EvictionRiskError,
    InvalidInputError,
    ModelConfigError,
    Problem,
    UnknownModelError,
    UnknownReleaseError,
)
from ml_infra.modelconfig.layout import (
    ACTIVE_RELEASE_ID,
    MODEL_NAME_PATTERN,
    RELEASE_ID_PATTERN,
    RESERVED_RELEASE_IDS,
    STAGED_RELEASE_ID,
    Activation,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
)
from ml_infra.modelconfig.retry import Backoff, RetryBudget
from ml_infra.modelconfig.values import ValueProblem, parse_value

PULUMI_INITIAL_RELEASE_ID = "initial"

T = TypeVar("T")


@dataclass(frozen=True)
class KeyState:
    """One key of a release (or of the staged state): its declared type, the version and the stored text.

    `text` of a SecureString is the decrypted secret: callers that print must use `values.display_text`."""

    key: str
    ssm_type: str
    value_type: str
    version: int
    text: str = field(repr=False)
    description: str = ""

    @property
    def secret(self) -> bool:
        return self.ssm_type == "SecureString"


@dataclass(frozen=True)
class ReleaseView:
    """A release, the active release or the staged state, with every key's value."""

    model: str
    release_id: str
    keys: dict[str, KeyState]
    document: ReleaseDocument | None = None


@dataclass(frozen=True)
class ActivationResult:
    model: str
    release_id: str
    previous_release_id: str | None
    action: Literal["activate", "rollback"]
    changed: bool
    activated_by: str | None = None
    activated_at: str | None = None
    pointer_version: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One activation: a version of the pointer parameter. `modified_by`/`modified_at` are SSM's own record;
    `activated_by` is the identity the library wrote into the document (absent for Pulumi's first deployment)."""

    pointer_version: int
    release_id: str
    action: str
    modified_at: str | None
    modified_by: str | None
    activated_by: str | None
    previous_release_id: str | None
    reason: str


@dataclass(frozen=True)
class DiffEntry:
    key: str
    status: Literal["added", "removed", "changed", "unchanged"]
    before: KeyState | None
    after: KeyState | None


@dataclass(frozen=True)
class StagedKey:
    key: str
    version: int


@dataclass
class _Documents:
    schema: ModelSchema
    pointer: ReleaseDocument | None
    pointer_revision: int | str | None = None
    releases: dict[str, StoredDocument | None] = field(default_factory=dict)


def _utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ReleaseManager:
    """Stage values, create, activate and roll back releases of the models of one project and environment.

    `backend` is the store (default: `SsmBackend` over `client`/`sts`, boto3 SSM and STS clients from the
    standard AWS settings when not given). All backend calls go through `backoff`.
    """

    def __init__(
        self,
        project: str,
        environment: str,
        *,
        client: Any = None,
        sts: Any = None,
        backend: ConfigBackend | None = None,
        backoff: Backoff | None = None,
        now: Callable[[], str] = _utcnow,
    ):
        self.project = project
        self.environment = environment
        if backend is None:
            from ml_infra.modelconfig.ssm import SsmBackend

            backend = SsmBackend(project, environment, client=client, sts=sts)
        self.backend = backend
        self.backoff = backoff or Backoff(attempts=6, deadline=30.0)
        self._now = now

    @property
    def client(self) -> Any:
        """The SSM client of the default backend (None for another backend)."""
        return getattr(self.backend, "client", None)

    # -- reading ------------------------------------------------------------------------------------------

    def schema(self, model: str) -> ModelSchema:
        return self._documents(model).schema

    def active(self, model: str) -> ReleaseDocument | None:
        return self._documents(model).pointer

    def release_document(self, model: str, release_id: str) -> ReleaseDocument:
        if release_id == ACTIVE_RELEASE_ID:
            pointer = self.active(model)
            if pointer is None:
                raise UnknownReleaseError(f"model {model} has no active release")
            return pointer
        self._check_release_id(release_id, creating=False)
        docs = self._documents(model, release_id)
        stored = docs.releases[release_id]
        if stored is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        return self._parse_release(model, stored.text, stored.location)

    def list_releases(self, model: str) -> list[ReleaseDocument]:
        """Every stored release of the model (not the pointer), oldest first."""
        self.schema(model)
        stored = self._retry(self.backoff.start(), lambda: self.backend.list_releases(model))
        releases = [self._parse_release(model, document.text, document.location) for document in stored]
        return sorted(releases, key=lambda r: (r.created_at or "", r.release_id))

    def view(self, model: str, ref: str = ACTIVE_RELEASE_ID) -> ReleaseView:
        """The values of a release id, `active`, or `staged` (the latest version of every declared key)."""
        docs = self._documents(model)
        if ref == STAGED_RELEASE_ID:
            keys, problems = self._staged(model, docs.schema, self.backoff.start())
            if problems:
                raise ConfigValidationError(f"the staged configuration of model {model} is incomplete", problems)
            return ReleaseView(model, STAGED_RELEASE_ID, keys)
        document = self.release_document(model, ref)
        values = self._values_at(model, document, self.backoff.start(), protect=False)
        keys = {}
        for key, released in document.keys.items():
            declared = docs.schema.keys.get(key)
            keys[key] = KeyState(
                key=key,
                ssm_type=released.ssm_type,
                value_type=declared.value_type if declared else "(undeclared)",
                version=released.version,
                text=values[key].text,
                description=declared.description if declared else "",
            )
        return ReleaseView(model, document.release_id, keys, document)

    def history(self, model: str, limit: int | None = None) -> list[HistoryEntry]:
        """Activations of the model, newest first (SSM keeps the last 100 pointer versions; CloudTrail has all)."""
        versions = self._pointer_history(model)
        entries: list[HistoryEntry] = []
        for version in versions:
            document: ReleaseDocument | None
            try:
                document = ReleaseDocument.model_validate_json(version.text)
            except ValueError:
                document = None
            activation = document.activation if document else None
            entries.append(
                HistoryEntry(
                    pointer_version=int(version.revision),
                    release_id=document.release_id if document else "(unreadable document)",
                    action=activation.action if activation else "deployed",
                    modified_at=version.modified_at.isoformat() if version.modified_at else None,
                    modified_by=version.modified_by,
                    activated_by=activation.activated_by if activation else (document.created_by if document else None),
                    previous_release_id=activation.previous_release_id if activation else None,
                    reason=activation.reason if activation else "",
                )
            )
        # What was active before a write is the release of the revision just before it: the store orders the
        # pointer's writes, so this holds even when two activations raced and one document recorded a stale
        # previous release.
        entries.sort(key=lambda e: e.pointer_version)
        for index in range(1, len(entries)):
            older, newer = entries[index - 1], entries[index]
            if newer.previous_release_id != older.release_id:
                entries[index] = replace(newer, previous_release_id=older.release_id)
        entries.reverse()
        return entries[:limit] if limit else entries

    def diff(self, model: str, before: str, after: str) -> list[DiffEntry]:
        """Key by key, how release `after` differs from release `before` (ids, `active` or `staged`)."""
        a, b = self.view(model, before), self.view(model, after)
        entries: list[DiffEntry] = []
        for key in sorted(set(a.keys) | set(b.keys)):
            old, new = a.keys.get(key), b.keys.get(key)
            if old is None:
                status = "added"
            elif new is None:
                status = "removed"
            elif old.text != new.text or old.ssm_type != new.ssm_type:
                status = "changed"
            else:
                status = "unchanged"
            entries.append(DiffEntry(key, status, old, new))  # type: ignore[arg-type]
        return entries

    # -- staging ------------------------------------------------------------------------------------------

    def set_values(self, model: str, assignments: Mapping[str, str]) -> list[StagedKey]:
        """Write new versions of keys (staged: applications see them only once a release naming them is active).

        Every value is checked against the schema first; if any is refused nothing is written.
        """
        if not assignments:
            raise InvalidInputError("nothing to set: give at least one KEY=VALUE")
        budget = self.backoff.start()
        docs = self._documents(model, PULUMI_INITIAL_RELEASE_ID)
        schema = docs.schema
        problems: list[Problem] = []
        for key, text in assignments.items():
            declared = schema.keys.get(key)
            if declared is None:
                allowed = ", ".join(sorted(schema.keys)) or "(none)"
                problems.append(Problem(key, f"is not a key of model {model}; declared keys: {allowed}"))
                continue
            try:
                parse_value(text, declared)
            except ValueProblem as problem:
                problems.append(Problem(key, str(problem)))
        if problems:
            raise ConfigValidationError(f"refused to set values of model {model}", problems, exit_code=2)

        # Protect on first use: the versions that the active and the Pulumi-seeded release name must be protected
        # before a new version could push them out of the store's version window.
        referenced: dict[str, set[int]] = {}
        initial = docs.releases[PULUMI_INITIAL_RELEASE_ID]
        for document in (docs.pointer, self._parse_release(model, initial.text, initial.location) if initial else None):
            if document is None:
                continue
            for key in assignments:
                if key in document.keys:
                    referenced.setdefault(key, set()).add(document.keys[key].version)
        self._protect(model, [(key, v) for key, versions in referenced.items() for v in sorted(versions)], budget)

        written: list[StagedKey] = []
        for key, text in assignments.items():
            declared = schema.keys[key]
            try:
                version = self._retry(
                    budget,
                    lambda key=key, text=text, declared=declared: self.backend.write_value(model, key, text, declared),
                )
            except ModelConfigError as failure:
                if isinstance(failure, EvictionRiskError):
                    referencing = self._releases_referencing(model, key)
                    failure = EvictionRiskError(
                        f"{failure.message}. Releases naming versions of {key}: {referencing or 'none found'}. "
                        f"Retire the oldest of them (remove its label with `aws ssm unlabel-parameter-version "
                        f"--name {self.backend.key_location(model, key)} ...`) only if it will never be activated again"
                    )
                done = ", ".join(f"{w.key} (v{w.version})" for w in written)
                untouched = [k for k in assignments if k != key and k not in {w.key for w in written}]
                detail = f"{failure.message}. Written before the failure: {done or 'none'}"
                if untouched:
                    detail += f"; not written: {', '.join(untouched)}"
                detail += ". Staged values are not live until a release naming them is activated."
                failure.message = detail
                failure.args = (detail,)
                raise failure from None
            written.append(StagedKey(key, version))
        return written

    # -- releases -----------------------------------------------------------------------------------------

    def create_release(self, model: str, release_id: str | None = None, note: str = "") -> ReleaseDocument:
        """Snapshot the latest version of every declared key as an immutable, validated release.

        Refused (ConfigValidationError, naming each key and reason) when a value violates the schema, and
        (ReleaseExistsError) when the id is taken.
        """
        from ml_infra.modelconfig.errors import ReleaseExistsError

        release_id = release_id or self._new_release_id()
        self._check_release_id(release_id, creating=True)
        budget = self.backoff.start()
        docs = self._documents(model, release_id)
        if docs.releases[release_id] is not None:
            raise ReleaseExistsError(f"release {release_id} of model {model} already exists; releases are immutable")
        staged, problems = self._staged(model, docs.schema, budget)
        for key, state in staged.items():
            try:
                parse_value(state.text, docs.schema.keys[key])
            except ValueProblem as problem:
                problems.append(Problem(key, f"{problem} (version {state.version})"))
        if problems:
            raise ConfigValidationError(f"release {release_id} of model {model} refused", problems)
        self._protect(model, [(key, state.version) for key, state in staged.items()], budget)
        document = ReleaseDocument(
            release_id=release_id,
            project=self.project,
            environment=self.environment,
            model=model,
            keys={key: ReleasedKey(version=s.version, ssm_type=s.ssm_type) for key, s in sorted(staged.items())},  # type: ignore[arg-type]
            created_at=self._now(),
            created_by=self.identity(),
            parent_release_id=docs.pointer.release_id if docs.pointer else None,
            note=note,
        )
        text = document.model_dump_json()
        self._retry(budget, lambda: self.backend.create_release(model, release_id, text))
        return document

    def activate(
        self,
        model: str,
        release_id: str,
        *,
        reason: str = "",
        action: Literal["activate", "rollback"] = "activate",
        _fallback: ReleaseDocument | None = None,
    ) -> ActivationResult:
        """Make `release_id` the active release with one compare-and-swap of the pointer, after validating it
        against the schema and protecting its versions. Activating the release that is already active writes
        nothing."""
        if release_id in RESERVED_RELEASE_IDS:
            raise InvalidInputError(
                f"{release_id!r} is not a release you can activate; give a release id (see `ml-infra config history`)"
            )
        self._check_release_id(release_id, creating=False)
        budget = self.backoff.start()
        docs = self._documents(model, release_id)
        stored = docs.releases[release_id]
        if stored is None and _fallback is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        release = self._parse_release(model, stored.text, stored.location) if stored is not None else _fallback
        assert release is not None
        release = release.as_release()
        problems = self._check_release(model, docs.schema, release)
        values = self._values_at(model, release, budget, protect=True)
        for key, value in values.items():
            declared = docs.schema.keys.get(key)
            if declared is None:
                continue
            try:
                parse_value(value.text, declared)
            except ValueProblem as problem:
                problems.append(Problem(key, f"{problem} (version {value.version})"))
        if problems:
            raise ConfigValidationError(f"release {release_id} of model {model} refused", problems)

        current = docs.pointer
        if current is not None and current.as_release() == release:
            return ActivationResult(model, release_id, release_id, action, changed=False)
        activation = Activation(
            action=action,
            activated_at=self._now(),
            activated_by=self.identity(),
            previous_release_id=current.release_id if current else None,
            reason=reason,
        )
        pointer_text = release.model_copy(update={"activation": activation}).model_dump_json()
        swap = self._retry(budget, lambda: self.backend.swap_pointer(model, pointer_text, docs.pointer_revision))
        previous = activation.previous_release_id
        if not swap.exclusive:
            # Another write landed between our read and our write: the true previous release is the one written
            # just before ours.
            previous = next(
                (e.previous_release_id for e in self.history(model) if e.pointer_version == int(swap.revision)),
                previous,
            )
        return ActivationResult(
            model=model,
            release_id=release_id,
            previous_release_id=previous,
            action=action,
            changed=True,
            activated_by=activation.activated_by,
            activated_at=activation.activated_at,
            pointer_version=int(swap.revision),
        )

    def rollback(self, model: str, to: str | None = None, *, reason: str = "") -> ActivationResult:
        """Activate `to`, or the release that was active before the current one (from the pointer's history)."""
        if to is not None:
            return self.activate(model, to, reason=reason, action="rollback")
        documents: list[ReleaseDocument] = []
        for version in self._pointer_history(model):
            try:
                documents.append(ReleaseDocument.model_validate_json(version.text))
            except ValueError:
                continue
        if not documents:
            raise ModelConfigError(f"model {model} has no activation history to roll back")
        current = documents[-1]
        for earlier in reversed(documents[:-1]):
            if earlier.release_id != current.release_id:
                return self.activate(
                    model, earlier.release_id, reason=reason, action="rollback", _fallback=earlier.as_release()
                )
        raise ModelConfigError(
            f"model {model} has no earlier release to roll back to: {current.release_id} is the only release "
            "it has had active (SSM keeps the last 100 activations); name one with --to"
        )

    def identity(self) -> str:
        """The caller's identity (SSM: the STS caller ARN), recorded in releases and activations."""
        return self._retry(self.backoff.start(), self.backend.identity)

    # -- internals ----------------------------------------------------------------------------------------

    def _retry(self, budget: RetryBudget, fn: Callable[[], T]) -> T:
        return budget.call(fn)

    def _check_model(self, model: str) -> None:
        if not MODEL_NAME_PATTERN.match(model):
            raise InvalidInputError(
                f"model name {model!r} must be 1-63 characters: lower-case letters, digits and '-', "
                "starting with a letter"
            )

    def _check_release_id(self, release_id: str, *, creating: bool) -> None:
        if not RELEASE_ID_PATTERN.match(release_id):
            raise InvalidInputError(
                f"release id {release_id!r} must be 1-100 characters: letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        if creating and release_id in RESERVED_RELEASE_IDS:
            raise InvalidInputError(
                f"release id {release_id!r} is reserved ({', '.join(sorted(RESERVED_RELEASE_IDS))}); choose another"
            )

    def _new_release_id(self) -> str:
        return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"

    def _documents(self, model: str, *release_ids: str) -> _Documents:
        """The schema, the pointer and any releases of the model, in one backend read."""
        self._check_model(model)
        found = self._retry(self.backoff.start(), lambda: self.backend.read_documents(model, release_ids))
        if found.schema is None:
            raise UnknownModelError(
                f"unknown model {model!r} in {self.project}/{self.environment}: {self.backend.schema_location(model)} "
                "does not exist (models are declared in the Pulumi stack config and created by `pulumi up`)"
            )
        try:
            schema = ModelSchema.model_validate_json(found.schema.text)
        except ValueError as err:
            raise ModelConfigError(f"{found.schema.location} is not a valid schema document: {err}") from None
        pointer = found.pointer
        return _Documents(
            schema=schema,
            pointer=self._parse_release(model, pointer.text, pointer.location) if pointer else None,
            pointer_revision=pointer.revision if pointer else None,
            releases=dict(found.releases),
        )

    def _parse_release(self, model: str, text: str, name: str) -> ReleaseDocument:
        try:
            document = ReleaseDocument.model_validate_json(text)
        except ValueError as err:
            raise ModelConfigError(
                f"{name or 'a release of ' + model} is not a valid release document: {err}"
            ) from None
        where = (self.project, self.environment, model)
        if (document.project, document.environment, document.model) != where:
            raise ModelConfigError(f"{name} names {document.project}/{document.environment}/{document.model}")
        return document

    def _unknown_release_message(self, model: str, release_id: str) -> str:
        try:
            known = [r.release_id for r in self.list_releases(model)]
        except ModelConfigError:
            known = []
        listed = ", ".join(known[-10:]) if known else "none"
        return f"model {model} has no release {release_id!r}; releases (latest 10): {listed}"

    def _staged(
        self, model: str, schema: ModelSchema, budget: RetryBudget
    ) -> tuple[dict[str, KeyState], list[Problem]]:
        """The latest version of every declared key, with any key that is missing or of the wrong SSM type."""
        found = self._retry(budget, lambda: self.backend.read_latest(model, list(schema.keys)))
        staged: dict[str, KeyState] = {}
        problems: list[Problem] = []
        for key, declared in schema.keys.items():
            stored = found.get(key)
            if stored is None:
                problems.append(
                    Problem(key, f"declared in the schema but {self.backend.key_location(model, key)} does not exist")
                )
                continue
            if stored.kind != declared.ssm_type:
                problems.append(Problem(key, f"is a {stored.kind} in SSM but declared {declared.ssm_type}"))
                continue
            staged[key] = KeyState(
                key, declared.ssm_type, declared.value_type, stored.version, stored.text, declared.description
            )
        return staged, problems

    def _check_release(self, model: str, schema: ModelSchema, release: ReleaseDocument) -> list[Problem]:
        problems: list[Problem] = []
        for key in sorted(set(schema.keys) - set(release.keys)):
            problems.append(
                Problem(key, f"declared in the schema but not in release {release.release_id}; release it anew")
            )
        for key in sorted(set(release.keys) - set(schema.keys)):
            problems.append(Problem(key, f"in release {release.release_id} but no longer declared in the schema"))
        for key in sorted(set(release.keys) & set(schema.keys)):
            if release.keys[key].ssm_type != schema.keys[key].ssm_type:
                problems.append(
                    Problem(key, f"released as {release.keys[key].ssm_type} but declared {schema.keys[key].ssm_type}")
                )
        return problems

    def _values_at(
        self, model: str, release: ReleaseDocument, budget: RetryBudget, *, protect: bool
    ) -> dict[str, StoredValue]:
        """Every key of `release` at its version; with `protect`, each version is protected from eviction first."""
        wanted = {key: r.version for key, r in release.keys.items()}
        if protect:
            self._protect(model, sorted(wanted.items()), budget)
        values = self._retry(budget, lambda: self.backend.read_versions(model, wanted))
        for key, version in wanted.items():
            if key not in values:
                limit = self.backend.max_versions
                raise EvictionRiskError(
                    f"release {release.release_id} of model {model} names {key} version {version}, which "
                    f"{self.backend.service} no longer has (deleted"
                    + (f", or evicted after {limit} newer versions before it was protected" if limit else "")
                    + "); it cannot be loaded"
                )
        return values

    def _protect(self, model: str, versions: list[tuple[str, int]], budget: RetryBudget) -> int:
        if not versions:
            return 0
        return self._retry(budget, lambda: self.backend.retain(model, versions))

    def _pointer_history(self, model: str) -> list[StoredDocument]:
        versions = self._retry(self.backoff.start(), lambda: self.backend.pointer_history(model))
        if not versions:
            self.schema(model)  # UnknownModelError if the model itself is unknown
            raise ModelConfigError(
                f"model {model} has no active release ({self.backend.pointer_location(model)} does not exist)"
            )
        return versions

    def _releases_referencing(self, model: str, key: str) -> str:
        try:
            releases = self.list_releases(model)
        except ModelConfigError:
            return ""
        pairs = [f"{r.release_id} (v{r.keys[key].version})" for r in releases if key in r.keys]
        return ", ".join(pairs)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
