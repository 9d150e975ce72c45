"""The operator side: stage values, cut immutable releases, activate, roll back, and read the history and diffs.

Everything is built on SSM's own primitives (see `layout`):

- staging a value is a new version of its key parameter (`PutParameter` with Overwrite); applications do not
  see it: they read the versions the active release names;
- a release is a document at `_release/<id>` naming every key's exact version, written without Overwrite, so a
  release id can never be rewritten; before it is written its values are validated against `_schema` and every
  version it names is labelled `released-v<version>`, which SSM's 100-version limit never evicts;
- activation and rollback are ONE `PutParameter` of `_release/active` carrying a full copy of the release: SSM
  applies a single write atomically, so applications load either the old or the new release, never a mix, and
  of two operators activating at once the last write wins whole;
- the pointer's own version history (`GetParameterHistory`: who, when) is the activation log, and each pointer
  document also names the caller's identity (`sts:GetCallerIdentity`), the action and what was active before.

Releases seeded by the Pulumi program have no labels yet; every operation that relies on a release's versions
(`set`, `release`, `activate`, `rollback`) labels them first, so a Pulumi-created model is protected from its
first run-time change on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ml_infra.modelconfig.aws import (
    Backoff,
    RetryBudget,
    SSMClient,
    StoredParameter,
    error_code,
    error_message,
    get_parameters,
    split_selector,
    ssm_client,
    sts_client,
    translate,
)
from ml_infra.modelconfig.errors import (
    ConfigValidationError,
    EvictionRiskError,
    InvalidInputError,
    ModelConfigError,
    Problem,
    ReleaseExistsError,
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
    active_release_parameter_name,
    model_path,
    parameter_name,
    protection_label,
    release_parameter_name,
    schema_parameter_name,
)
from ml_infra.modelconfig.values import STANDARD_TIER_MAX_BYTES, ValueProblem, parse_value

PULUMI_INITIAL_RELEASE_ID = "initial"
SSM_MAX_VERSIONS = 100


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
    extra: dict[str, str | None] = field(default_factory=dict)


def _utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tier_for(text: str) -> str:
    return "Standard" if len(text.encode("utf-8")) <= STANDARD_TIER_MAX_BYTES else "Advanced"


class ReleaseManager:
    """Stage values, create, activate and roll back releases of the models of one project and environment.

    `client`/`sts` are boto3 SSM and STS clients (default: from the standard AWS settings). All AWS calls go
    through `backoff`, so throttling and concurrent writers (SSM's TooManyUpdates) are retried.
    """

    def __init__(
        self,
        project: str,
        environment: str,
        *,
        client: SSMClient | None = None,
        sts: Any = None,
        backoff: Backoff | None = None,
        now: Callable[[], str] = _utcnow,
    ):
        self.project = project
        self.environment = environment
        self.client = client if client is not None else ssm_client()
        self._sts = sts
        self.backoff = backoff or Backoff(attempts=6, deadline=30.0)
        self._now = now
        self._identity: str | None = None

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
        name = release_parameter_name(self.project, self.environment, model, release_id)
        docs = self._documents(model, name)
        text = docs.extra[name]
        if text is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        return self._parse_release(model, text, name)

    def list_releases(self, model: str) -> list[ReleaseDocument]:
        """Every stored release of the model (not the pointer), oldest first."""
        self.schema(model)
        path = f"{model_path(self.project, self.environment, model)}/_release"
        releases: list[ReleaseDocument] = []
        token: str | None = None
        budget = self.backoff.start()
        while True:
            kwargs: dict[str, Any] = {"Path": path, "Recursive": False, "MaxResults": 10}
            if token:
                kwargs["NextToken"] = token
            response = self._call(
                budget, f"list the releases of model {model}", self.client.get_parameters_by_path, **kwargs
            )
            for parameter in response.get("Parameters", []):
                if parameter["Name"].rsplit("/", 1)[-1] == ACTIVE_RELEASE_ID:
                    continue
                releases.append(self._parse_release(model, parameter["Value"], parameter["Name"]))
            token = response.get("NextToken")
            if not token:
                break
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
        name = active_release_parameter_name(self.project, self.environment, model)
        entries: list[HistoryEntry] = []
        for version in self._pointer_history(model, name):
            document: ReleaseDocument | None
            try:
                document = ReleaseDocument.model_validate_json(version["Value"])
            except ValueError:
                document = None
            activation = document.activation if document else None
            modified = version.get("LastModifiedDate")
            entries.append(
                HistoryEntry(
                    pointer_version=int(version["Version"]),
                    release_id=document.release_id if document else "(unreadable document)",
                    action=activation.action if activation else "deployed",
                    modified_at=modified.isoformat() if isinstance(modified, datetime) else modified,
                    modified_by=version.get("LastModifiedUser"),
                    activated_by=activation.activated_by if activation else (document.created_by if document else None),
                    previous_release_id=activation.previous_release_id if activation else None,
                    reason=activation.reason if activation else "",
                )
            )
        entries.sort(key=lambda e: e.pointer_version, reverse=True)
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
        docs = self._documents(model, self._initial_name(model))
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

        # Label on first use: the versions that the active and the Pulumi-seeded release name must be protected
        # before a new version could push them out of SSM's 100-version window.
        referenced: dict[str, set[int]] = {}
        initial_text = docs.extra[self._initial_name(model)]
        for document in (docs.pointer, self._parse_release(model, initial_text, "") if initial_text else None):
            if document is None:
                continue
            for key in assignments:
                if key in document.keys:
                    referenced.setdefault(key, set()).add(document.keys[key].version)
        self._protect(model, [(key, v) for key, versions in referenced.items() for v in sorted(versions)], budget)

        described = self._describe(model, list(assignments), budget)
        written: list[StagedKey] = []
        for key, text in assignments.items():
            name = parameter_name(self.project, self.environment, model, key)
            declared = schema.keys[key]
            current = described.get(name, {})
            tier = current.get("Tier") or "Standard"
            if _tier_for(text) == "Advanced":
                tier = "Advanced"
            kwargs: dict[str, Any] = {
                "Name": name,
                "Value": text,
                "Type": declared.ssm_type,
                "Overwrite": True,
                "Tier": tier,
            }
            # Carry over what Pulumi declared, so a run-time write changes the value only.
            if current.get("Description"):
                kwargs["Description"] = current["Description"]
            if current.get("AllowedPattern"):
                kwargs["AllowedPattern"] = current["AllowedPattern"]
            if declared.ssm_type == "SecureString" and current.get("KeyId"):
                kwargs["KeyId"] = current["KeyId"]
            try:
                response = budget.call(lambda kwargs=kwargs: self.client.put_parameter(**kwargs))
            except Exception as err:
                failure = self._put_failure(model, key, err)
                done = ", ".join(f"{w.key} (v{w.version})" for w in written)
                untouched = [k for k in assignments if k != key and k not in {w.key for w in written}]
                detail = f"{failure.message}. Written before the failure: {done or 'none'}"
                if untouched:
                    detail += f"; not written: {', '.join(untouched)}"
                detail += ". Staged values are not live until a release naming them is activated."
                failure.message = detail
                failure.args = (detail,)
                raise failure from None
            written.append(StagedKey(key, int(response["Version"])))
        return written

    # -- releases -----------------------------------------------------------------------------------------

    def create_release(self, model: str, release_id: str | None = None, note: str = "") -> ReleaseDocument:
        """Snapshot the latest version of every declared key as an immutable, validated release.

        Refused (ConfigValidationError, naming each key and reason) when a value violates the schema, and
        (ReleaseExistsError) when the id is taken.
        """
        release_id = release_id or self._new_release_id()
        self._check_release_id(release_id, creating=True)
        name = release_parameter_name(self.project, self.environment, model, release_id)
        budget = self.backoff.start()
        docs = self._documents(model, name)
        if docs.extra[name] is not None:
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
        try:
            budget.call(
                lambda: self.client.put_parameter(
                    Name=name,
                    Value=text,
                    Type="String",
                    Overwrite=False,
                    Tier=_tier_for(text),
                    Description=f"Release {release_id} of model {model} (immutable).",
                )
            )
        except Exception as err:
            if error_code(err) == "ParameterAlreadyExists":
                raise ReleaseExistsError(
                    f"release {release_id} of model {model} was created by someone else meanwhile; releases are "
                    "immutable, choose another id"
                ) from None
            raise translate(err, doing=f"write release {name}") from None
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
        """Make `release_id` the active release with one write of the pointer, after validating it against the
        schema and protecting its versions. Activating the release that is already active writes nothing."""
        if release_id in RESERVED_RELEASE_IDS:
            raise InvalidInputError(
                f"{release_id!r} is not a release you can activate; give a release id (see `ml-infra config history`)"
            )
        self._check_release_id(release_id, creating=False)
        name = release_parameter_name(self.project, self.environment, model, release_id)
        budget = self.backoff.start()
        docs = self._documents(model, name)
        text = docs.extra[name]
        if text is None and _fallback is None:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id))
        release = self._parse_release(model, text, name) if text is not None else _fallback
        assert release is not None
        release = release.as_release()
        problems = self._check_release(model, docs.schema, release)
        values = self._values_at(model, release, budget, protect=True)
        for key, stored in values.items():
            declared = docs.schema.keys.get(key)
            if declared is None:
                continue
            try:
                parse_value(stored.text, declared)
            except ValueProblem as problem:
                problems.append(Problem(key, f"{problem} (version {stored.version})"))
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
        pointer_name = active_release_parameter_name(self.project, self.environment, model)
        kwargs: dict[str, Any] = {"Name": pointer_name, "Value": pointer_text, "Type": "String", "Overwrite": True}
        if _tier_for(pointer_text) == "Advanced":
            kwargs["Tier"] = "Advanced"
        try:
            response = budget.call(lambda: self.client.put_parameter(**kwargs))
        except Exception as err:
            raise translate(err, doing=f"write the active-release pointer {pointer_name}") from None
        return ActivationResult(
            model=model,
            release_id=release_id,
            previous_release_id=activation.previous_release_id,
            action=action,
            changed=True,
            activated_by=activation.activated_by,
            activated_at=activation.activated_at,
            pointer_version=int(response["Version"]),
        )

    def rollback(self, model: str, to: str | None = None, *, reason: str = "") -> ActivationResult:
        """Activate `to`, or the release that was active before the current one (from the pointer's history)."""
        if to is not None:
            return self.activate(model, to, reason=reason, action="rollback")
        name = active_release_parameter_name(self.project, self.environment, model)
        versions = sorted(self._pointer_history(model, name), key=lambda v: int(v["Version"]))
        documents: list[ReleaseDocument] = []
        for version in versions:
            try:
                documents.append(ReleaseDocument.model_validate_json(version["Value"]))
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
        """The caller's ARN (sts:GetCallerIdentity), recorded in releases and activations."""
        if self._identity is None:
            sts = self._sts if self._sts is not None else sts_client()
            try:
                self._identity = str(self.backoff.start().call(sts.get_caller_identity)["Arn"])
            except Exception as err:
                raise translate(err, doing="identify the caller (sts:GetCallerIdentity)") from None
        return self._identity

    # -- internals ----------------------------------------------------------------------------------------

    def _call(self, budget: RetryBudget, doing: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return budget.call(lambda: fn(**kwargs))
        except Exception as err:
            raise translate(err, doing=doing) from None

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

    def _initial_name(self, model: str) -> str:
        return release_parameter_name(self.project, self.environment, model, PULUMI_INITIAL_RELEASE_ID)

    def _documents(self, model: str, *extra: str) -> _Documents:
        """The schema, the pointer and any other documents of the model, in one GetParameters call."""
        self._check_model(model)
        schema_name = schema_parameter_name(self.project, self.environment, model)
        pointer_name = active_release_parameter_name(self.project, self.environment, model)
        names = list(dict.fromkeys([schema_name, pointer_name, *extra]))
        try:
            found, _ = get_parameters(self.client, names, budget=self.backoff.start(), decrypt=False)
        except Exception as err:
            raise translate(err, doing=f"read the documents of model {model}") from None
        if schema_name not in found:
            raise UnknownModelError(
                f"unknown model {model!r} in {self.project}/{self.environment}: {schema_name} does not exist "
                "(models are declared in the Pulumi stack config and created by `pulumi up`)"
            )
        try:
            schema = ModelSchema.model_validate_json(found[schema_name].text)
        except ValueError as err:
            raise ModelConfigError(f"{schema_name} is not a valid schema document: {err}") from None
        pointer = found.get(pointer_name)
        return _Documents(
            schema=schema,
            pointer=self._parse_release(model, pointer.text, pointer_name) if pointer else None,
            extra={name: (found[name].text if name in found else None) for name in extra},
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
        names = {key: parameter_name(self.project, self.environment, model, key) for key in schema.keys}
        try:
            found, _ = get_parameters(self.client, list(names.values()), budget=budget, decrypt=True)
        except Exception as err:
            raise translate(err, doing=f"read the staged values of model {model}") from None
        staged: dict[str, KeyState] = {}
        problems: list[Problem] = []
        for key, name in names.items():
            declared = schema.keys[key]
            stored = found.get(name)
            if stored is None:
                problems.append(Problem(key, f"declared in the schema but {name} does not exist"))
                continue
            if stored.ssm_type != declared.ssm_type:
                problems.append(Problem(key, f"is a {stored.ssm_type} in SSM but declared {declared.ssm_type}"))
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
    ) -> dict[str, StoredParameter]:
        """Every key of `release` at its version. With `protect`, read through the protection labels: a version
        that lacks its label is labelled on the way (ceil(N/10) calls when all are labelled already)."""
        names = {key: parameter_name(self.project, self.environment, model, key) for key in release.keys}
        if protect:
            by_label = {key: f"{names[key]}:{protection_label(r.version)}" for key, r in release.keys.items()}
            found, _ = self._get(model, list(by_label.values()), budget)
            values = {key: found[s] for key, s in by_label.items() if s in found}
            unlabelled = [(key, r.version) for key, r in release.keys.items() if key not in values]
            self._protect(model, unlabelled, budget, checked=True)
        else:
            values = {}
            unlabelled = [(key, r.version) for key, r in release.keys.items()]
        if unlabelled:
            by_version = {key: f"{names[key]}:{version}" for key, version in unlabelled}
            found, _ = self._get(model, list(by_version.values()), budget)
            for key, selector in by_version.items():
                if selector not in found:
                    raise EvictionRiskError(
                        f"release {release.release_id} of model {model} names {key} version "
                        f"{split_selector(selector)[1]}, which SSM no longer has (deleted, or evicted after "
                        f"{SSM_MAX_VERSIONS} newer versions before it was protected); it cannot be loaded"
                    )
                values[key] = found[selector]
        return values

    def _get(
        self, model: str, selectors: Sequence[str], budget: RetryBudget
    ) -> tuple[dict[str, StoredParameter], list[str]]:
        try:
            return get_parameters(self.client, selectors, budget=budget, decrypt=True)
        except Exception as err:
            raise translate(err, doing=f"read the key versions of model {model}") from None

    def _protect(
        self, model: str, versions: Sequence[tuple[str, int]], budget: RetryBudget, *, checked: bool = False
    ) -> int:
        """Label every (key, version) `released-v<version>` so SSM never evicts it; returns how many labels were
        added. Versions already labelled cost only the check (ceil(N/10) calls) unless `checked` says the caller
        knows they lack it."""
        if not versions:
            return 0
        if not checked:
            selectors = {
                (key, v): f"{parameter_name(self.project, self.environment, model, key)}:{protection_label(v)}"
                for key, v in versions
            }
            # One selector per parameter per call: group the versions of one key across calls.
            missing: list[tuple[str, int]] = []
            pending = list(selectors.items())
            while pending:
                batch: dict[str, tuple[str, int]] = {}
                rest = []
                for pair, selector in pending:
                    if split_selector(selector)[0] in {split_selector(s)[0] for s in batch}:
                        rest.append((pair, selector))
                    else:
                        batch[selector] = pair
                found, _ = get_parameters(self.client, list(batch), budget=budget, decrypt=False)
                missing.extend(pair for selector, pair in batch.items() if selector not in found)
                pending = rest
            versions = missing
        added = 0
        for key, version in versions:
            name = parameter_name(self.project, self.environment, model, key)
            label = protection_label(version)
            try:
                response = budget.call(
                    lambda name=name, version=version, label=label: self.client.label_parameter_version(
                        Name=name, ParameterVersion=version, Labels=[label]
                    )
                )
            except Exception as err:
                code = error_code(err)
                if code == "ParameterVersionLabelLimitExceeded":
                    # Ten labels already: SSM refuses to evict a labelled version, so it is protected anyway.
                    continue
                if code in ("ParameterVersionNotFound", "ParameterNotFound"):
                    raise EvictionRiskError(
                        f"model {model}: {key} version {version} is referenced by a release but SSM no longer has it "
                        f"(deleted, or evicted after {SSM_MAX_VERSIONS} newer versions before it was protected)"
                    ) from None
                raise translate(err, doing=f"label {name} version {version} (ssm:LabelParameterVersion)") from None
            if response.get("InvalidLabels"):
                raise ModelConfigError(f"SSM refused the label {label} on {name}: {response['InvalidLabels']}")
            added += 1
        return added

    def _describe(self, model: str, keys: Sequence[str], budget: RetryBudget) -> dict[str, dict[str, Any]]:
        names = [parameter_name(self.project, self.environment, model, key) for key in keys]
        described: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 50):
            chunk = names[start : start + 50]
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": chunk}]}
                if token:
                    kwargs["NextToken"] = token
                response = self._call(
                    budget, f"describe the parameters of model {model}", self.client.describe_parameters, **kwargs
                )
                for parameter in response.get("Parameters", []):
                    described[parameter["Name"]] = parameter
                token = response.get("NextToken")
                if not token:
                    break
        return described

    def _pointer_history(self, model: str, name: str) -> list[dict[str, Any]]:
        budget = self.backoff.start()
        versions: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Name": name, "WithDecryption": False, "MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            try:
                response = budget.call(lambda kwargs=kwargs: self.client.get_parameter_history(**kwargs))
            except Exception as err:
                if error_code(err) == "ParameterNotFound":
                    self.schema(model)  # UnknownModelError if the model itself is unknown
                    raise ModelConfigError(f"model {model} has no active release ({name} does not exist)") from None
                raise translate(err, doing=f"read the history of {name}") from None
            versions.extend(response.get("Parameters", []))
            token = response.get("NextToken")
            if not token:
                return versions

    def _put_failure(self, model: str, key: str, err: Exception) -> ModelConfigError:
        code = error_code(err)
        name = parameter_name(self.project, self.environment, model, key)
        if code == "ParameterMaxVersionLimitExceeded":
            referencing = self._releases_referencing(model, key)
            return EvictionRiskError(
                f"cannot write {key} of model {model}: SSM keeps at most {SSM_MAX_VERSIONS} versions of a parameter "
                f"and the oldest one is protected because a release references it ({error_message(err)}). "
                f"Releases naming versions of {key}: {referencing or 'none found'}. Retire the oldest of them "
                f"(remove its label with `aws ssm unlabel-parameter-version --name {name} ...`) only if it will "
                "never be activated again"
            )
        if code == "ParameterPatternMismatchException":
            return InvalidInputError(f"{key} of model {model}: SSM refused the value: {error_message(err)}")
        return translate(err, doing=f"write {name}")

    def _releases_referencing(self, model: str, key: str) -> str:
        try:
            releases = self.list_releases(model)
        except ModelConfigError:
            return ""
        pairs = [f"{r.release_id} (v{r.keys[key].version})" for r in releases if key in r.keys]
        return ", ".join(pairs)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
