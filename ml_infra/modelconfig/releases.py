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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from ml_infra.modelconfig.backend import ConfigBackend, Revision, StoredDocument, StoredValue
from ml_infra.modelconfig.errors import (
    ConcurrentChangeError,
    ConfigValidationError,
    CorruptDocumentError,
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
    DocumentProblem,
    ModelSchema,
    PointerDocument,
    ReleasedKey,
    ReleaseDocument,
    parse_pointer,
    pointer_for,
    release_digest,
    verify_release,
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
    activation: Activation | None = None


@dataclass(frozen=True)
class ActivationResult:
    model: str
    release_id: str
    previous_release_id: str | None
    action: Literal["activate", "rollback"]
    changed: bool
    activated_by: str | None = None
    activated_at: str | None = None
    # The pointer's revision after the write: SSM's parameter version (an int); a backend whose revisions are
    # not numbers (an ETag) reports its own.
    pointer_version: int | str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One activation: a version of the pointer parameter. `modified_by`/`modified_at` are SSM's own record;
    `activated_by` is the identity the library wrote into the document (absent for Pulumi's first deployment)."""

    # SSM's version of the pointer parameter; for a backend whose revisions are not numbers, the position in
    # the pointer's history (1 = oldest kept).
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
    # The active release, verified against the pointer; None when there is no pointer or it is refused.
    pointer: ReleaseDocument | None
    pointer_revision: int | str | None = None
    pointer_exists: bool = False
    pointer_problem: str | None = None  # why the pointer is refused
    pointer_document: PointerDocument | None = None
    releases: dict[str, StoredDocument | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PointerState:
    """What the pointer says: the active release, or why it is refused (`problem`), and who set it."""

    model: str
    location: str
    exists: bool
    release_id: str | None
    problem: str | None
    activation: Activation | None


@dataclass(frozen=True)
class LedgerEntry:
    """One stored release document: parsed, or `problem` saying why it is corrupt."""

    release_id: str
    location: str
    document: ReleaseDocument | None
    problem: str | None = None


@dataclass(frozen=True)
class RetireResult:
    model: str
    retired: list[str]
    rebaselined: bool
    freed: list[tuple[str, int]]


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
        return self._documents(model, resolve=False).schema

    def active(self, model: str) -> ReleaseDocument | None:
        """The active release (verified against the pointer), None when there is no pointer;
        CorruptDocumentError when the pointer is refused."""
        docs = self._documents(model)
        if docs.pointer_problem:
            raise CorruptDocumentError(self._refused_message(model, docs.pointer_problem))
        return docs.pointer

    def pointer_state(self, model: str) -> PointerState:
        """The pointer as the loader judges it, without failing on a refused one."""
        docs = self._documents(model)
        document = docs.pointer_document
        return PointerState(
            model=model,
            location=self.backend.pointer_location(model),
            exists=docs.pointer_exists,
            release_id=docs.pointer.release_id if docs.pointer else None,
            problem=docs.pointer_problem,
            activation=document.activation if document else None,
        )

    def release_document(self, model: str, release_id: str) -> ReleaseDocument:
        if release_id == ACTIVE_RELEASE_ID:
            pointer = self.active(model)
            if pointer is None:
                raise UnknownReleaseError(f"model {model} has no active release")
            return pointer
        self._check_release_id(release_id, creating=False)
        docs = self._documents(model, release_id, resolve=False)
        stored = docs.releases[release_id]
        if stored is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        return self._stored_release(model, stored, release_id)

    def list_releases(self, model: str) -> list[ReleaseDocument]:
        """Every readable stored release of the model (not the pointer), oldest first; see `ledger` for all."""
        return [entry.document for entry in self.ledger(model) if entry.document is not None]

    def ledger(self, model: str) -> list[LedgerEntry]:
        """Every stored release document of the model, oldest first, corrupt ones included with the reason."""
        self.schema(model)
        stored = self._retry(self.backoff.start(), lambda: self.backend.list_releases(model))
        entries: list[LedgerEntry] = []
        for document in stored:
            release_id = document.release_id or document.location.rsplit("/", 1)[-1]
            try:
                parsed = self._stored_release(model, document, release_id)
            except CorruptDocumentError as err:
                entries.append(LedgerEntry(release_id, document.location, None, err.message))
            else:
                entries.append(LedgerEntry(parsed.release_id, document.location, parsed))
        return sorted(entries, key=lambda e: ((e.document.created_at or "") if e.document else "", e.release_id))

    def view(self, model: str, ref: str = ACTIVE_RELEASE_ID) -> ReleaseView:
        """The values of a release id, `active`, or `staged` (the latest version of every declared key)."""
        docs = self._documents(model)
        if ref == STAGED_RELEASE_ID:
            keys, problems = self._staged(model, docs.schema, self.backoff.start())
            if problems:
                raise ConfigValidationError(f"the staged configuration of model {model} is incomplete", problems)
            return ReleaseView(model, STAGED_RELEASE_ID, keys)
        document = self.release_document(model, ref)
        activation = self.pointer_state(model).activation if ref == ACTIVE_RELEASE_ID else None
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
        return ReleaseView(model, document.release_id, keys, document, activation)

    def history(self, model: str, limit: int | None = None) -> list[HistoryEntry]:
        """Activations of the model, newest first (SSM keeps the last 100 pointer versions; CloudTrail has all)."""
        versions = self._pointer_history(model)
        entries: list[HistoryEntry] = []
        # The backend returns the pointer's revisions oldest first (ConfigBackend.pointer_history).
        for position, version in enumerate(versions, 1):
            release_id, created_by, activation, problem = self._read_pointer_version(version)
            entries.append(
                HistoryEntry(
                    pointer_version=version.revision if isinstance(version.revision, int) else position,
                    release_id=release_id,
                    action="corrupt" if problem else activation.action if activation else "deployed",
                    modified_at=version.modified_at.isoformat() if version.modified_at else None,
                    modified_by=version.modified_by,
                    activated_by=activation.activated_by if activation else created_by,
                    previous_release_id=activation.previous_release_id if activation else None,
                    reason=problem or (activation.reason if activation else ""),
                )
            )
        # What was active before a write is the release of the revision just before it: the store orders the
        # pointer's writes, so this holds even when two activations raced and one document recorded a stale
        # previous release.
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
                continue
            refused = self.backend.check_value(model, key, text, declared)
            if refused:
                problems.append(Problem(key, refused))
        if problems:
            raise ConfigValidationError(f"refused to set values of model {model}", problems, exit_code=2)

        # Protect on first use: the versions that the active and the Pulumi-seeded release name must be protected
        # before a new version could push them out of the store's version window.
        # A corrupt document protects nothing (it cannot be activated as it is); it is listed as corrupt.
        referenced: dict[str, set[int]] = {}
        initial = docs.releases[PULUMI_INITIAL_RELEASE_ID]
        for document in (docs.pointer, self._lenient_release(model, initial, PULUMI_INITIAL_RELEASE_ID)):
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
                        f"Retire releases that will never be activated again with `ml-infra config retire {model} "
                        "RELEASE...` (the initial release is re-baselined, see `ml-infra config retire --help`); "
                        "that frees their versions for eviction"
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
        keys = self._latest_valid_keys(model, docs.schema, budget, f"release {release_id} of model {model} refused")
        document = ReleaseDocument(
            release_id=release_id,
            project=self.project,
            environment=self.environment,
            model=model,
            keys=keys,
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
        replace_corrupt: bool = False,
        decided_from: Revision | None = None,
    ) -> ActivationResult:
        """Make `release_id` the active release with one compare-and-swap of the pointer, after validating it
        against the schema and protecting its versions. Activating the release that is already active writes
        nothing. A pointer that is refused (corrupt) is replaced only with `replace_corrupt=True` (the CLI asks
        for confirmation): otherwise CorruptDocumentError. `decided_from` is the pointer revision the caller
        chose `release_id` from (a rollback): if the pointer moved since, nothing is written."""
        if release_id in RESERVED_RELEASE_IDS:
            raise InvalidInputError(
                f"{release_id!r} is not a release you can activate; give a release id (see `ml-infra config history`)"
            )
        self._check_release_id(release_id, creating=False)
        budget = self.backoff.start()
        docs = self._documents(model, release_id)
        if docs.pointer_problem and not replace_corrupt:
            raise CorruptDocumentError(
                f"{self._refused_message(model, docs.pointer_problem, way_out=False)}. Activating release "
                f"{release_id} replaces it: confirm at the prompt, or pass --yes"
            )
        if decided_from is not None and docs.pointer_revision != decided_from:
            raise ConcurrentChangeError(
                f"the active release of model {model} ({self.backend.pointer_location(model)}) changed after "
                f"{action} chose release {release_id} (another activation won); nothing was written. Check "
                f"`ml-infra config history {model}` and retry"
            )
        stored = docs.releases[release_id]
        if stored is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        release = self._stored_release(model, stored, release_id)
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

        current = docs.pointer_document
        if (
            docs.pointer_problem is None
            and current is not None
            and current.release_id == release_id
            and current.digest == release_digest(stored.text)
        ):
            return ActivationResult(model, release_id, release_id, action, changed=False)
        activation = Activation(
            action=action,
            activated_at=self._now(),
            activated_by=self.identity(),
            previous_release_id=docs.pointer.release_id if docs.pointer else None,
            reason=reason if not docs.pointer_problem else f"{reason} (replaced a refused pointer)".strip(),
        )
        pointer_text = pointer_for(release, stored.text, activation).model_dump_json()
        expected = docs.pointer_revision if docs.pointer_exists else None
        swap = self._retry(budget, lambda: self.backend.swap_pointer(model, pointer_text, expected))
        previous = activation.previous_release_id
        if not swap.exclusive:
            # Another write landed between our read and our write: the true previous release is the one written
            # just before ours.
            previous = next(
                (e.previous_release_id for e in self.history(model) if e.pointer_version == swap.revision),
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
            pointer_version=swap.revision,
        )

    def rollback(
        self,
        model: str,
        to: str | None = None,
        *,
        reason: str = "",
        replace_corrupt: bool = False,
        decided_from: Revision | None = None,
    ) -> ActivationResult:
        """Activate `to`, or the release that was active before the current one (`rollback_plan`), guarded by
        the pointer revision the target was chosen from (`decided_from`, given with `to` by a caller that chose
        it itself from `rollback_plan`)."""
        if to is None:
            to, decided_from = self.rollback_plan(model)
        return self.activate(
            model, to, reason=reason, action="rollback", replace_corrupt=replace_corrupt, decided_from=decided_from
        )

    def rollback_target(self, model: str) -> str:
        """The release `rollback` without --to returns to (see `rollback_plan`)."""
        return self.rollback_plan(model)[0]

    def rollback_plan(self, model: str) -> tuple[str, Revision | None]:
        """The release `rollback` without --to returns to, and the pointer revision it was chosen from (None when
        chosen from the history): from the pointer's history (with a refused pointer, the newest readable one
        before it); on a store whose pointer history expires (`ConfigBackend.pointer_history_expires`), from the
        releases' own record instead: the previous release the active pointer names, else the active release's
        parent."""
        return self._rollback_plan(model)

    def _rollback_plan(self, model: str) -> tuple[str, Revision | None]:
        if self.backend.pointer_history_expires:
            return self._recorded_rollback(model)
        releases: list[str | None] = []
        for version in self._pointer_history(model):
            release_id, _, _, problem = self._read_pointer_version(version)
            releases.append(None if problem else release_id)
        current = releases[-1]
        for earlier in reversed(releases[:-1]):
            if earlier is not None and earlier != current:
                return earlier, None
        if not [r for r in releases if r is not None]:
            raise ModelConfigError(f"model {model} has no readable activation history to roll back to")
        raise ModelConfigError(
            f"model {model} has no earlier release to roll back to: {current} is the only release "
            f"it has had active ({self.backend.service} keeps the last 100 activations); name one with --to"
        )

    def _recorded_rollback(self, model: str) -> tuple[str, Revision | None]:
        docs = self._documents(model)
        if docs.pointer_problem:
            raise CorruptDocumentError(
                f"{self._refused_message(model, docs.pointer_problem, way_out=False)}; it records no release to roll "
                "back to: name one with --to"
            )
        if docs.pointer is None:
            raise ModelConfigError(
                f"model {model} has no active release to roll back from ({self.backend.pointer_location(model)} "
                "does not exist)"
            )
        record = docs.pointer_document.activation if docs.pointer_document else None
        target = (record.previous_release_id if record else None) or docs.pointer.parent_release_id
        if not target or target == docs.pointer.release_id:
            raise ModelConfigError(
                f"model {model} has no earlier release to roll back to from {docs.pointer.release_id}; name one "
                "with --to"
            )
        return target, docs.pointer_revision

    def retire(self, model: str, release_ids: Sequence[str]) -> RetireResult:
        """Retire releases that will never be activated again, and free the key versions no remaining release
        references, so the store may evict them.

        The active release cannot be retired. A retired release's document is deleted, except `initial`, which
        the Pulumi program declares: it is re-baselined instead, to the latest version of every declared key
        (validated like a new release), which is what the program computes for it from the key parameters'
        current versions, so stored and declared agree after `pulumi refresh` (and its value is
        `ignore_changes`, so `pulumi up` never rewrites it either way).
        """
        if not release_ids:
            raise InvalidInputError("nothing to retire: name at least one release")
        for release_id in release_ids:
            self._check_release_id(release_id, creating=False)
            if release_id in RESERVED_RELEASE_IDS:
                raise InvalidInputError(f"{release_id!r} is not a release; name stored releases")
        budget = self.backoff.start()
        docs = self._documents(model, *release_ids)
        if docs.pointer_problem:
            raise CorruptDocumentError(self._refused_message(model, docs.pointer_problem))
        active_id = docs.pointer.release_id if docs.pointer else None
        for release_id in release_ids:
            if docs.releases[release_id] is None:
                raise UnknownReleaseError(self._unknown_release_message(model, release_id))
            if release_id == active_id:
                raise InvalidInputError(
                    f"release {release_id} is the active release of model {model}; activate another one first"
                )
        referenced_before = self._referenced(model)
        rebaselined = False
        for release_id in release_ids:
            if release_id == PULUMI_INITIAL_RELEASE_ID:
                self._rebaseline_initial(model, docs.schema, budget)
                rebaselined = True
            else:
                self._retry(budget, lambda release_id=release_id: self.backend.delete_release(model, release_id))
        referenced_after = self._referenced(model)
        if docs.pointer is not None:
            referenced_after |= {(k, r.version) for k, r in docs.pointer.keys.items()}
        freed = sorted(referenced_before - referenced_after)
        self._retry(budget, lambda: self.backend.release_retention(model, freed))
        return RetireResult(model, list(release_ids), rebaselined, freed)

    def _rebaseline_initial(self, model: str, schema: ModelSchema, budget: RetryBudget) -> ReleaseDocument:
        keys = self._latest_valid_keys(
            model,
            schema,
            budget,
            f"cannot re-baseline release {PULUMI_INITIAL_RELEASE_ID} of model {model} on the latest values; "
            "set valid values first",
        )
        document = ReleaseDocument(
            release_id=PULUMI_INITIAL_RELEASE_ID,
            project=self.project,
            environment=self.environment,
            model=model,
            keys=keys,
            created_by="pulumi",
            note=f"Re-baselined by `ml-infra config retire` at {self._now()} by {self.identity()}: the latest "
            "version of every key, as the Pulumi program computes it.",
        )
        text = document.model_dump_json()
        self._retry(budget, lambda: self.backend.replace_release(model, PULUMI_INITIAL_RELEASE_ID, text))
        return document

    def _referenced(self, model: str) -> set[tuple[str, int]]:
        """Every (key, version) a readable stored release names."""
        return {(key, r.version) for d in self.list_releases(model) for key, r in d.keys.items()}

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

    def _documents(self, model: str, *release_ids: str, resolve: bool = True) -> _Documents:
        """The schema, the pointer and any releases of the model, in one backend read; with `resolve`, the
        release the pointer names too (one more read unless it was asked for) and the pointer's verdict."""
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
        docs = _Documents(
            schema=schema,
            pointer=None,
            pointer_revision=found.pointer.revision if found.pointer else None,
            pointer_exists=found.pointer is not None,
            releases=dict(found.releases),
        )
        if found.pointer is None or not resolve:
            return docs
        try:
            if found.pointer.problem:
                raise DocumentProblem(found.pointer.problem)
            pointer, legacy = parse_pointer(found.pointer.text)
            named = pointer if pointer is not None else legacy
            assert named is not None
            docs.pointer_document = pointer
            if not RELEASE_ID_PATTERN.match(named.release_id):
                raise DocumentProblem(f"it names an invalid release id {named.release_id!r}")
            if named.release_id not in docs.releases:
                more = self._retry(self.backoff.start(), lambda: self.backend.read_documents(model, [named.release_id]))
                docs.releases[named.release_id] = more.releases.get(named.release_id)
            stored = docs.releases[named.release_id]
            if stored is not None and stored.problem:
                raise DocumentProblem(stored.problem)
            docs.pointer = verify_release(
                pointer, legacy, stored.text if stored else None, (self.project, self.environment, model)
            )
        except DocumentProblem as problem:
            docs.pointer_problem = str(problem)
        return docs

    def _refused_message(self, model: str, problem: str, *, way_out: bool = True) -> str:
        message = (
            f"the active-release pointer of model {model} ({self.backend.pointer_location(model)}) is refused: "
            f"{problem}"
        )
        if way_out:
            message += (
                f". Applications keep serving their last known good configuration, marked stale. Way out: "
                f"`ml-infra config activate {model} RELEASE` or `ml-infra config rollback {model} --to RELEASE` "
                f"replaces the pointer after confirmation; `ml-infra config releases {model}` lists the releases"
            )
        return message

    def _read_pointer_version(self, version: StoredDocument) -> tuple[str, str | None, Activation | None, str | None]:
        """(release id, created by, activation, problem) of one stored pointer version, never failing."""
        if version.problem:
            return "(corrupt)", None, None, f"refused pointer: {version.problem}"
        try:
            pointer, legacy = parse_pointer(version.text)
        except DocumentProblem as problem:
            return "(corrupt)", None, None, f"corrupt pointer document: {problem}"
        if pointer is not None:
            # A pointer without an activation record is written only by the deployment (the Pulumi program, or
            # `ml-infra config seed`, which writes exactly what it would).
            return pointer.release_id, "pulumi" if pointer.activation is None else None, pointer.activation, None
        assert legacy is not None
        return legacy.release_id, legacy.created_by, legacy.activation, None

    def _lenient_release(self, model: str, stored: StoredDocument | None, release_id: str) -> ReleaseDocument | None:
        if stored is None:
            return None
        try:
            return self._stored_release(model, stored, release_id)
        except CorruptDocumentError:
            return None

    def _stored_release(self, model: str, stored: StoredDocument, release_id: str) -> ReleaseDocument:
        if stored.problem:
            raise CorruptDocumentError(f"{stored.location}: {stored.problem}")
        return self._parse_release(model, stored.text, stored.location, release_id)

    def _parse_release(self, model: str, text: str, name: str, release_id: str | None = None) -> ReleaseDocument:
        try:
            document = ReleaseDocument.model_validate_json(text)
        except ValueError as err:
            raise CorruptDocumentError(
                f"{name or 'a release of ' + model} is not a valid release document: {err}"
            ) from None
        where = (self.project, self.environment, model)
        if (document.project, document.environment, document.model) != where:
            raise CorruptDocumentError(f"{name} names {document.project}/{document.environment}/{document.model}")
        if release_id is not None and document.release_id != release_id:
            raise CorruptDocumentError(f"{name} holds release {document.release_id!r}, not {release_id!r}")
        return document.as_release()

    def _unknown_release_message(self, model: str, release_id: str) -> str:
        try:
            known = [r.release_id for r in self.list_releases(model)]
        except ModelConfigError:
            known = []
        listed = ", ".join(known[-10:]) if known else "none"
        return (
            f"model {model} has no release {release_id!r} ({self.backend.release_location(model, release_id)} does "
            f"not exist); releases (latest 10): {listed}"
        )

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

    def _latest_valid_keys(
        self, model: str, schema: ModelSchema, budget: RetryBudget, refusal: str
    ) -> dict[str, ReleasedKey]:
        """The latest version of every declared key, for a release document: each value checked against the
        schema (ConfigValidationError `refusal`, naming every bad key and version, before anything is written),
        then the versions protected from eviction. Shared by a new release and the re-baselined initial one."""
        staged, problems = self._staged(model, schema, budget)
        for key, state in staged.items():
            try:
                parse_value(state.text, schema.keys[key])
            except ValueProblem as problem:
                problems.append(Problem(key, f"{problem} (version {state.version})"))
        if problems:
            raise ConfigValidationError(refusal, problems)
        self._protect(model, [(key, state.version) for key, state in staged.items()], budget)
        return {key: ReleasedKey(version=s.version, ssm_type=s.ssm_type) for key, s in sorted(staged.items())}  # type: ignore[arg-type]

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
        values = self._retry(budget, lambda: self.backend.read_versions(model, wanted, release.release_id))
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
            # UnknownModelError if the model itself is unknown. A store that drops old revisions (Azure App
            # Configuration, after 7 or 30 days) may keep none of a pointer it still has: the current one is then
            # the whole history it can tell.
            current = self._retry(self.backoff.start(), lambda: self.backend.read_documents(model)).pointer
            self.schema(model)
            if current is None:
                raise ModelConfigError(
                    f"model {model} has no active release ({self.backend.pointer_location(model)} does not exist)"
                )
            versions = [current]
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
