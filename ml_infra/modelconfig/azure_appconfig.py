"""Model configuration on Azure App Configuration: releases, activation and rollback on the service's own
primitives, and loading through the official provider (`azure-appconfiguration-provider`).

Layout in one store, for environment ``e`` (the label) and model ``m``:

=====================================  ================================================================
``m:<key>`` (label ``e``)              one key's staged value; `set` writes it (tag ``version``: a counter
                                       of writes, so `show` and `diff` name versions as on SSM); secrets
                                       are Key Vault references to a *versioned* secret URI
``_schema:m`` (label ``e``)            the declared schema (the same JSON document as SSM's ``_schema``)
``_active:m`` (label ``e``)            the active release: a *snapshot reference* key-value
                                       (``{"snapshot_name": ...}``) that the provider follows
snapshot ``<project>.e.m.<release>``   a release: an immutable snapshot, composition ``key``, filter
                                       ``m:*`` / label ``e``, tags ``release_id``, ``model``,
                                       ``environment``, ``project``, ``created_by``, ``created_at``,
                                       ``parent`` (active when it was cut) and ``note``
=====================================  ================================================================

- A release is cut by the service: `PUT /snapshots` copies every ``m:*`` key-value atomically; creation is a
  long-running operation, waited for until the snapshot is ``ready`` (anything else is an error naming the
  snapshot). What it captured is then compared with what was validated (ETags): a value set in between makes
  the release refused, the snapshot archived.
- Activation is ONE conditional write of the pointer (`If-Match` on the ETag read before, `If-None-Match: *`
  for the first): of two operators activating at once exactly one wins; the other gets `ConcurrentChangeError`
  and nothing is written. Before the write the target must exist, be ``ready`` (an archived one is recovered
  first), have composition ``key`` and our filter and tags, and its content must fit the schema. The pointer's
  tags record who, when, the action, the reason and the previous release.
- Rollback goes to the pointer's recorded previous release (else the active snapshot's ``parent`` tag): the
  pointer's and the snapshots' own tags, never key-value revisions, which the service drops after 7 (Free) or
  30 (Standard) days. History is read from the pointer's revisions and so reaches back only that far.
- Release content is plain key-values only: the provider drops feature flags when it follows a snapshot
  reference, so a feature flag in a release would silently vanish from what applications load.

App Configuration RBAC is store-wide: "App Configuration Data Reader/Owner" apply to every key of the store,
there is no per-key or per-label permission. Whoever may activate one model may activate every model of the
store.

Applications load with `AzureConfigLoader`. Imports the Azure SDK only when used; never imports Pulumi.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from ml_infra.modelconfig.errors import (
    ConcurrentChangeError,
    ConfigUnavailableError,
    ConfigValidationError,
    CorruptDocumentError,
    InvalidInputError,
    ModelConfigError,
    PermissionDeniedError,
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
    KeySchema,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
)
from ml_infra.modelconfig.loader import ModelConfiguration
from ml_infra.modelconfig.releases import (
    ActivationResult,
    DiffEntry,
    HistoryEntry,
    KeyState,
    LedgerEntry,
    PointerState,
    ReleaseView,
    RetireResult,
    StagedKey,
)
from ml_infra.modelconfig.values import ValueProblem, parse_value

log = logging.getLogger(__name__)

SERVICE = "Azure App Configuration"
# The REST API version the fake in tests/ serves and whose spec it is checked against; the SDK's own default
# (2026-04-01 in 1.10) has nothing this module needs.
API_VERSION = "2024-09-01"
SNAPSHOT_REF_CONTENT_TYPE = 'application/json; profile="https://azconfig.io/mime-profiles/snapshot-ref"; charset=utf-8'
KEY_VAULT_REF_CONTENT_TYPE = "application/vnd.microsoft.appconfig.keyvaultref+json;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
VERSION_TAG = "version"
DEFAULT_RETENTION_SECONDS = 30 * 86400


def _utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AzureLayout:
    """Where a model's key-values, schema, pointer and releases live in one store."""

    project: str
    environment: str

    @property
    def label(self) -> str:
        return self.environment

    def key(self, model: str, key: str) -> str:
        return f"{model}:{key}"

    def key_filter(self, model: str) -> str:
        return f"{model}:*"

    def schema_key(self, model: str) -> str:
        return f"_schema:{model}"

    def pointer_key(self, model: str) -> str:
        return f"_active:{model}"

    def snapshot_prefix(self, model: str) -> str:
        return f"{self.project}.{self.environment}.{model}."

    def snapshot_name(self, model: str, release_id: str) -> str:
        return f"{self.snapshot_prefix(model)}{release_id}"

    def release_filter(self, model: str) -> dict[str, str]:
        return {"key": self.key_filter(model), "label": self.label}


def key_vault_reference(uri: str) -> str:
    """The value of a Key Vault reference key-value, after checking the URI names one *version* of a secret
    (`https://<vault>.vault.azure.net/secrets/<name>/<version>`): a release must pin the exact secret, so that a
    rollback restores it."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme != "https" or not parts.netloc or len(segments) != 3 or segments[0] != "secrets":
        raise ValueProblem(
            f"value {uri!r} is not a versioned Key Vault secret URI; expected "
            "https://<vault>.vault.azure.net/secrets/<name>/<version>"
        )
    return json.dumps({"uri": uri})


def key_vault_uri(value: str | None) -> str | None:
    try:
        document = json.loads(value or "")
    except ValueError:
        return None
    uri = document.get("uri") if isinstance(document, dict) else None
    return uri if isinstance(uri, str) else None


def appconfig_client(endpoint: str, credential: Any = None, **kwargs: Any) -> Any:
    """An `AzureAppConfigurationClient` for `endpoint` with `credential` (default: `DefaultAzureCredential`, i.e.
    the standard Azure settings: environment, workload identity, managed identity, `az login`). `kwargs` go to
    the client (`transport=`, `retry_total=`, ...)."""
    from azure.appconfiguration import AzureAppConfigurationClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    kwargs.setdefault("api_version", API_VERSION)
    return AzureAppConfigurationClient(endpoint, credential, **kwargs)


def translate(err: BaseException, *, doing: str, store: str) -> ModelConfigError:
    """The library's exception for an Azure SDK failure during `doing`, naming the store."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(err, ModelConfigError):
        return err
    # The SDK's messages span lines (code, message, inner error); one line reads better in a CLI error.
    message = " ".join(str(getattr(err, "message", None) or err).split())
    if isinstance(err, ClientAuthenticationError):
        return PermissionDeniedError(
            f"{SERVICE} {store} refused to {doing}: not authenticated or not authorised ({message}); the "
            "caller needs App Configuration Data Reader (to read) or Data Owner (to write) on the store"
        )
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return ConfigUnavailableError(f"cannot {doing}: {SERVICE} {store} is unreachable ({message})")
    if isinstance(err, HttpResponseError):
        status = err.status_code or 0
        if status in (401, 403):
            return PermissionDeniedError(f"{SERVICE} {store} denied permission to {doing} (HTTP {status})")
        if status == 429 or status >= 500:
            return ConfigUnavailableError(f"cannot {doing}: {SERVICE} {store} kept failing (HTTP {status})")
        return ModelConfigError(f"cannot {doing}: {SERVICE} {store} answered HTTP {status}: {message}")
    return ModelConfigError(f"cannot {doing}: {type(err).__name__}: {message}")


class ConcurrentActivationError(ConcurrentChangeError):
    """The pointer (or a key) changed between reading it and the conditional write: nothing was written."""


@dataclass(frozen=True)
class _Setting:
    key: str
    value: str | None
    content_type: str | None
    tags: dict[str, str]
    etag: str | None

    @classmethod
    def of(cls, setting: Any) -> _Setting:
        return cls(setting.key, setting.value, setting.content_type, dict(setting.tags or {}), setting.etag)

    @property
    def version(self) -> int:
        try:
            return max(1, int(self.tags.get(VERSION_TAG, "1")))
        except ValueError:
            return 1


def _ssm_type(setting: _Setting) -> str:
    return "SecureString" if setting.content_type == KEY_VAULT_REF_CONTENT_TYPE else "String"


def stored_text(setting: _Setting, declared: KeySchema | None) -> str:
    """The text the shared value rules check: a list is stored as a JSON array (as the Pulumi program seeds it,
    so App Configuration's JSON support reads it as one) and checked as SSM's comma-separated StringList text."""
    text = setting.value or ""
    if declared is not None and declared.value_type == "list" and setting.content_type == JSON_CONTENT_TYPE:
        try:
            items = json.loads(text)
        except ValueError:
            return text
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return ",".join(items)
    return text


def _check_content(model: str, schema: ModelSchema, settings: Mapping[str, _Setting], subject: str) -> list[Problem]:
    """What keeps `settings` (key -> stored setting) from being a valid configuration of `model`."""
    problems: list[Problem] = []
    for key in sorted(set(schema.keys) - set(settings)):
        problems.append(Problem(key, f"declared in the schema but {subject} has no key-value {model}:{key}"))
    for key in sorted(set(settings) - set(schema.keys)):
        problems.append(Problem(key, f"{subject} has {model}:{key}, which the schema does not declare"))
    for key in sorted(set(settings) & set(schema.keys)):
        declared, setting = schema.keys[key], settings[key]
        if declared.ssm_type == "SecureString":
            if setting.content_type != KEY_VAULT_REF_CONTENT_TYPE:
                problems.append(Problem(key, "is a secret but not stored as a Key Vault reference"))
                continue
            try:
                key_vault_reference(key_vault_uri(setting.value) or "")
            except ValueProblem as problem:
                problems.append(Problem(key, str(problem)))
            continue
        if setting.content_type == KEY_VAULT_REF_CONTENT_TYPE:
            problems.append(Problem(key, f"is a Key Vault reference but declared {declared.value_type}"))
            continue
        try:
            parse_value(stored_text(setting, declared), declared)
        except ValueProblem as problem:
            problems.append(Problem(key, f"{problem} (version {setting.version})"))
    return problems


class AzureReleaseManager:
    """Stage values, create, activate and roll back releases on Azure App Configuration; the same methods and
    results as the SSM `ReleaseManager`, so `ml-infra config` prints the same whichever store is underneath.

    `client` is an `azure.appconfiguration.AzureAppConfigurationClient` (see `appconfig_client`); `identity` is
    who the caller is, recorded in releases and activations (default: from the credential's token, see
    `token_identity`)."""

    service = SERVICE

    def __init__(
        self,
        project: str,
        environment: str,
        *,
        client: Any,
        store: str = "store",
        credential: Any = None,
        identity: str | None = None,
        retention_seconds: int = DEFAULT_RETENTION_SECONDS,
        now: Callable[[], str] = _utcnow,
    ):
        self.project = project
        self.environment = environment
        self.layout = AzureLayout(project, environment)
        self.client = client
        self.store = store
        self._credential = credential
        self._identity = identity
        self.retention_seconds = retention_seconds
        self._now = now

    # -- reading ------------------------------------------------------------------------------------------

    def _call(self, doing: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as err:
            raise translate(err, doing=doing, store=self.store) from None

    def _get(self, key: str, doing: str) -> _Setting | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            setting = self.client.get_configuration_setting(key, label=self.layout.label)
        except ResourceNotFoundError:
            return None
        except Exception as err:
            raise translate(err, doing=doing, store=self.store) from None
        return _Setting.of(setting) if setting is not None else None

    def _check_model(self, model: str) -> None:
        if not MODEL_NAME_PATTERN.match(model):
            raise InvalidInputError(
                f"model name {model!r} must be 1-63 characters: lower-case letters, digits and '-', "
                "starting with a letter"
            )

    def schema(self, model: str) -> ModelSchema:
        self._check_model(model)
        key = self.layout.schema_key(model)
        setting = self._get(key, f"read the schema of model {model} ({key})")
        if setting is None:
            raise UnknownModelError(
                f"unknown model {model!r} in {self.project}/{self.environment}: {SERVICE} {self.store} has no "
                f"key-value {key} (label {self.layout.label}); models are declared in the stack config and seeded "
                "by `pulumi up`"
            )
        try:
            return ModelSchema.model_validate_json(setting.value or "")
        except ValueError as err:
            raise ModelConfigError(f"{self.store}: {key}: not a valid schema document: {err}") from None

    def _pointer(self, model: str) -> _Setting | None:
        key = self.layout.pointer_key(model)
        return self._get(key, f"read the active-release pointer of model {model} ({key})")

    def _pointer_snapshot_name(self, model: str, pointer: _Setting) -> str:
        key = self.layout.pointer_key(model)
        if pointer.content_type != SNAPSHOT_REF_CONTENT_TYPE:
            raise CorruptDocumentError(
                f"{self.store}: {key}: the pointer of model {model} is not a snapshot reference (content type "
                f"{pointer.content_type!r}); repair it with `ml-infra config activate {model} <release>`"
            )
        try:
            name = json.loads(pointer.value or "")["snapshot_name"]
        except (ValueError, KeyError, TypeError):
            raise CorruptDocumentError(
                f"{self.store}: {key}: the pointer of model {model} does not name a snapshot; repair it with "
                f"`ml-infra config activate {model} <release>`"
            ) from None
        if not isinstance(name, str) or not name.startswith(self.layout.snapshot_prefix(model)):
            raise CorruptDocumentError(
                f"{self.store}: {key}: the pointer of model {model} names snapshot {name!r}, which is not a release "
                f"of this model (expected {self.layout.snapshot_prefix(model)}<release>); repair it with "
                f"`ml-infra config activate {model} <release>`"
            )
        return name

    def _release_id_of(self, model: str, snapshot_name: str) -> str:
        return snapshot_name[len(self.layout.snapshot_prefix(model)) :]

    def _snapshot(self, model: str, release_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        name = self.layout.snapshot_name(model, release_id)
        try:
            return self.client.get_snapshot(name)
        except ResourceNotFoundError:
            raise UnknownReleaseError(self._unknown_release_message(model, release_id)) from None
        except Exception as err:
            raise translate(
                err, doing=f"read snapshot {name} (release {release_id} of model {model})", store=self.store
            ) from None

    def _check_snapshot(self, model: str, release_id: str, snapshot: Any) -> None:
        """Refuse a snapshot that is not a release of this model as `create_release` makes them."""
        name = snapshot.name
        tags = dict(snapshot.tags or {})
        wanted = {"model": model, "environment": self.environment, "project": self.project, "release_id": release_id}
        wrong = {k: tags.get(k) for k, v in wanted.items() if tags.get(k) != v}
        filters = [{"key": f.key, "label": f.label} for f in snapshot.filters or []]
        if wrong or filters != [self.layout.release_filter(model)]:
            raise ModelConfigError(
                f"{self.store}: snapshot {name} is not a release of model {model} (tags {wrong or 'ok'}, filters "
                f"{filters}); refusing to use it"
            )
        if str(snapshot.composition_type) not in ("key", "SnapshotComposition.KEY"):
            raise ModelConfigError(
                f"{self.store}: snapshot {name} has composition {snapshot.composition_type}; a release needs 'key' "
                "(the provider refuses anything else)"
            )

    def _items(self, model: str, snapshot_name: str) -> dict[str, _Setting]:
        prefix = f"{model}:"

        def fetch() -> dict[str, _Setting]:
            settings = self.client.list_configuration_settings(snapshot_name=snapshot_name)
            return {s.key[len(prefix) :]: _Setting.of(s) for s in settings if s.key.startswith(prefix)}

        return self._call(f"read the key-values of snapshot {snapshot_name} (model {model})", fetch)

    def _staged_settings(self, model: str) -> dict[str, _Setting]:
        prefix = f"{model}:"

        def fetch() -> dict[str, _Setting]:
            settings = self.client.list_configuration_settings(
                key_filter=self.layout.key_filter(model), label_filter=self.layout.label
            )
            return {s.key[len(prefix) :]: _Setting.of(s) for s in settings}

        return self._call(f"read the staged key-values of model {model}", fetch)

    def _document(self, model: str, snapshot: Any, items: Mapping[str, _Setting] | None) -> ReleaseDocument:
        tags = dict(snapshot.tags or {})
        keys = {
            key: ReleasedKey(version=s.version, ssm_type=_ssm_type(s))  # type: ignore[arg-type]
            for key, s in sorted((items or {}).items())
        }
        return ReleaseDocument(
            release_id=tags.get("release_id") or self._release_id_of(model, snapshot.name),
            project=self.project,
            environment=self.environment,
            model=model,
            keys=keys,
            created_at=tags.get("created_at"),
            created_by=tags.get("created_by"),
            parent_release_id=tags.get("parent") or None,
            note=tags.get("note", ""),
        )

    def _activation(self, pointer: _Setting) -> Activation | None:
        tags = pointer.tags
        if tags.get("action") not in ("activate", "rollback"):
            return None
        return Activation(
            action=tags["action"],  # type: ignore[arg-type]
            activated_at=tags.get("activated_at", ""),
            activated_by=tags.get("activated_by", ""),
            previous_release_id=tags.get("previous") or None,
            reason=tags.get("reason", ""),
        )

    def active(self, model: str) -> ReleaseDocument | None:
        """The active release, None without a pointer; CorruptDocumentError when the pointer is refused."""
        self.schema(model)
        pointer = self._pointer(model)
        if pointer is None:
            return None
        problem = self._pointer_problem(model, pointer)
        if problem is not None:
            raise CorruptDocumentError(problem)
        name = self._pointer_snapshot_name(model, pointer)
        release_id = self._release_id_of(model, name)
        snapshot = self._snapshot(model, release_id)
        document = self._document(model, snapshot, self._items(model, name))
        return document.model_copy(update={"activation": self._activation(pointer)})

    def release_document(self, model: str, release_id: str) -> ReleaseDocument:
        if release_id == ACTIVE_RELEASE_ID:
            active = self.active(model)
            if active is None:
                raise UnknownReleaseError(f"model {model} has no active release")
            return active
        self._check_release_id(release_id, creating=False)
        snapshot = self._snapshot(model, release_id)
        return self._document(model, snapshot, self._items(model, snapshot.name))

    def list_releases(self, model: str) -> list[ReleaseDocument]:
        """Every release (snapshot) of the model that is ready or archived, oldest first."""
        self.schema(model)
        prefix = self.layout.snapshot_prefix(model)

        def fetch() -> list[Any]:
            return list(self.client.list_snapshots(name=f"{prefix}*", status=["ready", "archived"]))

        snapshots = self._call(f"list the releases (snapshots {prefix}*) of model {model}", fetch)
        documents = [self._document(model, s, self._items(model, s.name)) for s in snapshots]
        return sorted(documents, key=lambda d: (d.created_at or "", d.release_id))

    def view(self, model: str, ref: str = ACTIVE_RELEASE_ID) -> ReleaseView:
        schema = self.schema(model)
        if ref == STAGED_RELEASE_ID:
            settings = self._staged_settings(model)
            document = None
            release_id = STAGED_RELEASE_ID
        else:
            if ref == ACTIVE_RELEASE_ID:
                pointer = self._pointer(model)
                if pointer is None:
                    raise UnknownReleaseError(f"model {model} has no active release")
                name = self._pointer_snapshot_name(model, pointer)
                release_id = self._release_id_of(model, name)
            else:
                self._check_release_id(ref, creating=False)
                release_id, pointer = ref, None
            snapshot = self._snapshot(model, release_id)
            settings = self._items(model, snapshot.name)
            document = self._document(model, snapshot, settings)
            if pointer is not None:
                document = document.model_copy(update={"activation": self._activation(pointer)})
        keys = {}
        for key, setting in sorted(settings.items()):
            declared = schema.keys.get(key)
            keys[key] = KeyState(
                key=key,
                ssm_type=declared.ssm_type if declared else _ssm_type(setting),
                value_type=declared.value_type if declared else "(undeclared)",
                version=setting.version,
                # A secret shows as its Key Vault URI (no secret in it); `display_text` hides it anyway.
                text=(key_vault_uri(setting.value) or "")
                if _ssm_type(setting) == "SecureString"
                else stored_text(setting, declared),
                description=declared.description if declared else "",
            )
        return ReleaseView(model, release_id, keys, document)

    def history(self, model: str, limit: int | None = None) -> list[HistoryEntry]:
        """Activations, newest first, from the pointer's revisions (kept 7 or 30 days by the service)."""
        self.schema(model)
        key = self.layout.pointer_key(model)

        def fetch() -> list[Any]:
            return list(self.client.list_revisions(key_filter=key, label_filter=self.layout.label))

        revisions = self._call(f"read the revisions of {key} (model {model})", fetch)
        revisions = [r for r in revisions if r.value is not None]  # a deletion is not an activation
        entries: list[HistoryEntry] = []
        total = len(revisions)
        for index, revision in enumerate(revisions):  # newest first
            setting = _Setting.of(revision)
            try:
                release = self._release_id_of(model, self._pointer_snapshot_name(model, setting))
            except ModelConfigError:
                release = "(unreadable pointer)"
            activation = self._activation(setting)
            modified = revision.last_modified
            entries.append(
                HistoryEntry(
                    pointer_version=total - index,
                    release_id=release,
                    action=activation.action if activation else "written by hand",
                    modified_at=modified.isoformat() if isinstance(modified, datetime) else modified,
                    modified_by=None,
                    activated_by=activation.activated_by if activation else None,
                    previous_release_id=activation.previous_release_id if activation else None,
                    reason=activation.reason if activation else "",
                )
            )
        return entries[:limit] if limit else entries

    def diff(self, model: str, before: str, after: str) -> list[DiffEntry]:
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
        """Write new values (staged: live only once a release naming them is active). A secret's value is a
        versioned Key Vault secret URI, stored as a Key Vault reference. Each write is conditional on the ETag
        read before it, so two operators setting the same key cannot lose a version number."""
        from azure.appconfiguration import ConfigurationSetting, ResourceReadOnlyError
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        if not assignments:
            raise InvalidInputError("nothing to set: give at least one KEY=VALUE")
        schema = self.schema(model)
        problems: list[Problem] = []
        prepared: dict[str, tuple[str, str | None]] = {}
        for key, text in assignments.items():
            declared = schema.keys.get(key)
            if declared is None:
                allowed = ", ".join(sorted(schema.keys)) or "(none)"
                problems.append(Problem(key, f"is not a key of model {model}; declared keys: {allowed}"))
                continue
            try:
                if declared.ssm_type == "SecureString":
                    prepared[key] = (key_vault_reference(text), KEY_VAULT_REF_CONTENT_TYPE)
                else:
                    parse_value(text, declared)
                    if declared.value_type == "list":
                        prepared[key] = (json.dumps(text.split(",")), JSON_CONTENT_TYPE)
                    else:
                        content_type = JSON_CONTENT_TYPE if declared.value_type == "json" else None
                        prepared[key] = (text, content_type)
            except ValueProblem as problem:
                problems.append(Problem(key, str(problem)))
        if problems:
            raise ConfigValidationError(f"refused to set values of model {model}", problems, exit_code=2)
        staged = self._staged_settings(model)
        written: list[StagedKey] = []
        for key, (value, content_type) in prepared.items():
            current = staged.get(key)
            version = (current.version + 1) if current else 1
            tags = {**(current.tags if current else {"model": model}), VERSION_TAG: str(version)}
            setting = ConfigurationSetting(
                key=self.layout.key(model, key),
                label=self.layout.label,
                value=value,
                content_type=content_type,
                tags=tags,
                etag=current.etag if current else None,
            )
            try:
                if current is None:
                    self.client.add_configuration_setting(setting)
                else:
                    self.client.set_configuration_setting(setting, match_condition=MatchConditions.IfNotModified)
            except Exception as err:
                if isinstance(err, ResourceModifiedError):
                    failure: ModelConfigError = ConcurrentActivationError(
                        f"{self.store}: {model}:{key} changed while it was being set (someone else wrote it)"
                    )
                elif isinstance(err, ResourceReadOnlyError):
                    failure = ModelConfigError(f"{self.store}: {model}:{key} is locked (read-only); unlock it first")
                else:
                    failure = translate(err, doing=f"write {model}:{key}", store=self.store)
                done = ", ".join(f"{w.key} (v{w.version})" for w in written) or "none"
                rest = [k for k in prepared if k != key and k not in {w.key for w in written}]
                message = f"{failure.message}. Written before the failure: {done}"
                if rest:
                    message += f"; not written: {', '.join(rest)}"
                raise type(failure)(
                    message + ". Staged values are not live until a release naming them is activated."
                ) from None
            written.append(StagedKey(key, version))
        return written

    # -- releases -----------------------------------------------------------------------------------------

    def identity(self) -> str:
        if self._identity is None:
            self._identity = token_identity(self._credential)
        return self._identity

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

    def _unknown_release_message(self, model: str, release_id: str) -> str:
        return (
            f"model {model} has no release {release_id!r} in {SERVICE} {self.store} (no snapshot "
            f"{self.layout.snapshot_name(model, release_id)}); see `ml-infra config releases {model}`"
        )

    def create_release(
        self, model: str, release_id: str | None = None, note: str = "", *, timeout: float = 120.0
    ) -> ReleaseDocument:
        """Cut a release: one snapshot of the model's staged key-values, validated against the schema."""
        from azure.appconfiguration import ConfigurationSettingsFilter, SnapshotComposition
        from azure.core.exceptions import ResourceExistsError

        release_id = release_id or f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{_secrets.token_hex(2)}"
        self._check_release_id(release_id, creating=True)
        schema = self.schema(model)
        staged = self._staged_settings(model)
        problems = _check_content(model, schema, staged, "the staged configuration")
        if problems:
            raise ConfigValidationError(f"release {release_id} of model {model} refused", problems)
        pointer = self._pointer(model)
        parent = self._release_id_of(model, self._pointer_snapshot_name(model, pointer)) if pointer else None
        name = self.layout.snapshot_name(model, release_id)
        tags = {
            "release_id": release_id,
            "model": model,
            "environment": self.environment,
            "project": self.project,
            "created_by": self.identity(),
            "created_at": self._now(),
            "parent": parent or "",
            "note": note,
        }
        try:
            poller = self.client.begin_create_snapshot(
                name,
                [ConfigurationSettingsFilter(key=self.layout.key_filter(model), label=self.layout.label)],
                composition_type=SnapshotComposition.KEY,
                retention_period=self.retention_seconds,
                tags=tags,
            )
            snapshot = poller.result(timeout=timeout)
        except ResourceExistsError:
            raise ReleaseExistsError(
                f"release {release_id} of model {model} already exists (snapshot {name}); releases are immutable"
            ) from None
        except Exception as err:
            from azure.core.exceptions import HttpResponseError

            if isinstance(err, HttpResponseError) and err.status_code == 409:
                raise ReleaseExistsError(
                    f"release {release_id} of model {model} already exists (snapshot {name}); releases are immutable"
                ) from None
            raise ModelConfigError(
                f"{self.store}: creating snapshot {name} (release {release_id} of model {model}) failed: "
                f"{translate(err, doing='create the snapshot', store=self.store).message}; nothing was activated"
            ) from None
        status = str(getattr(snapshot, "status", "") or "")
        if status.rsplit(".", 1)[-1].lower() != "ready":
            raise ModelConfigError(
                f"{self.store}: snapshot {name} (release {release_id} of model {model}) ended {status or 'unknown'}, "
                "not ready; nothing was activated"
            )
        captured = self._items(model, name)
        changed = sorted(
            k
            for k in set(captured) | set(staged)
            if (captured.get(k) and captured[k].etag) != (staged.get(k) and staged[k].etag)
        )
        if changed:
            self._call(f"archive snapshot {name}", lambda: self.client.archive_snapshot(name))
            raise ConcurrentActivationError(
                f"{self.store}: release {release_id} of model {model} refused: {', '.join(changed)} changed between "
                f"validation and the snapshot; snapshot {name} was archived, cut the release again"
            )
        return self._document(model, snapshot, captured)

    def activate(
        self,
        model: str,
        release_id: str,
        *,
        reason: str = "",
        action: Literal["activate", "rollback"] = "activate",
        replace_corrupt: bool = False,
        _pointer: _Setting | None = None,
    ) -> ActivationResult:
        """Point the model at `release_id` with one conditional write, after checking the target. `_pointer` is
        the pointer as the caller already read it: its ETag then guards the write (rollback decided from it)."""
        from azure.appconfiguration import ConfigurationSetting
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        if release_id in RESERVED_RELEASE_IDS:
            raise InvalidInputError(
                f"{release_id!r} is not a release you can activate; give a release id (see `ml-infra config releases`)"
            )
        self._check_release_id(release_id, creating=False)
        schema = self.schema(model)
        pointer = _pointer if _pointer is not None else self._pointer(model)
        problem = self._pointer_problem(model, pointer) if pointer is not None else None
        if problem is not None and not replace_corrupt:
            raise CorruptDocumentError(
                f"{problem}. Activating release {release_id} replaces it: confirm at the prompt, or pass --yes"
            )
        current = (
            None
            if pointer is None or problem is not None
            else self._release_id_of(model, self._pointer_snapshot_name(model, pointer))
        )  # a refused pointer is replaced, never followed
        snapshot = self._snapshot(model, release_id)
        self._check_snapshot(model, release_id, snapshot)
        status = str(snapshot.status).rsplit(".", 1)[-1].lower()
        if status == "archived":
            snapshot = self._call(
                f"recover archived snapshot {snapshot.name}", lambda: self.client.recover_snapshot(snapshot.name)
            )
            status = str(snapshot.status).rsplit(".", 1)[-1].lower()
        if status != "ready":
            raise ModelConfigError(
                f"{self.store}: snapshot {snapshot.name} (release {release_id} of model {model}) is {status}, not "
                "ready; refusing to point applications at it"
            )
        items = self._items(model, snapshot.name)
        problems = _check_content(model, schema, items, f"release {release_id}")
        if problems:
            raise ConfigValidationError(f"release {release_id} of model {model} refused", problems)
        if current == release_id and pointer is not None and self._activation(pointer) is not None:
            return ActivationResult(model, release_id, release_id, action, changed=False)
        activated_at, activated_by = self._now(), self.identity()
        tags = {
            "action": action,
            "activated_at": activated_at,
            "activated_by": activated_by,
            "previous": current or "",
            "reason": reason,
            "release_id": release_id,
        }
        setting = ConfigurationSetting(
            key=self.layout.pointer_key(model),
            label=self.layout.label,
            value=json.dumps({"snapshot_name": snapshot.name}),
            content_type=SNAPSHOT_REF_CONTENT_TYPE,
            tags=tags,
            etag=pointer.etag if pointer else None,
        )
        key = self.layout.pointer_key(model)
        try:
            if pointer is None:
                self.client.add_configuration_setting(setting)  # If-None-Match: *
            else:
                self.client.set_configuration_setting(setting, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError):
            raise ConcurrentActivationError(
                f"{self.store}: {key}: the active release of model {model} changed while activating {release_id} "
                "(another activation won); nothing was written. Check `ml-infra config history` and retry"
            ) from None
        except Exception as err:
            raise translate(err, doing=f"write the active-release pointer {key}", store=self.store) from None
        return ActivationResult(
            model=model,
            release_id=release_id,
            previous_release_id=current,
            action=action,
            changed=True,
            activated_by=activated_by,
            activated_at=activated_at,
            pointer_version=None,
        )

    def rollback_target(self, model: str) -> str:
        """The release `rollback` returns to: the pointer's recorded previous release, else the active snapshot's
        `parent` tag (never key-value revisions, which expire)."""
        return self._rollback_plan(model)[0]

    def _rollback_plan(self, model: str) -> tuple[str, _Setting]:
        self.schema(model)
        pointer = self._pointer(model)
        if pointer is None:
            raise ModelConfigError(f"model {model} has no active release to roll back from")
        current = self._release_id_of(model, self._pointer_snapshot_name(model, pointer))
        target = pointer.tags.get("previous") or None
        if target is None:
            target = dict(self._snapshot(model, current).tags or {}).get("parent") or None
        if target is None or target == current:
            raise ModelConfigError(
                f"model {model} has no earlier release to roll back to from {current}; name one with --to"
            )
        return target, pointer

    def rollback(
        self, model: str, to: str | None = None, *, reason: str = "", replace_corrupt: bool = False
    ) -> ActivationResult:
        """Activate `to`, or `rollback_target`: one conditional write of the pointer, guarded by the ETag of the
        pointer the target was decided from (a concurrent activation in between makes it refused)."""
        if to is not None:
            return self.activate(model, to, reason=reason, action="rollback", replace_corrupt=replace_corrupt)
        target, pointer = self._rollback_plan(model)
        return self.activate(model, target, reason=reason, action="rollback", _pointer=pointer)

    # -- the pointer as judged, the ledger, retiring --------------------------------------------------------

    def _pointer_problem(self, model: str, pointer: _Setting) -> str | None:
        """Why the pointer is refused (not a snapshot reference, a foreign or missing snapshot), or None."""
        name = "(none)"
        try:
            name = self._pointer_snapshot_name(model, pointer)
            release_id = self._release_id_of(model, name)
            snapshot = self._snapshot(model, release_id)
            self._check_snapshot(model, release_id, snapshot)
        except UnknownReleaseError:
            return (
                f"{self.store}: {self.layout.pointer_key(model)}: the pointer of model {model} names snapshot "
                f"{name}, which does not exist (deleted or expired)"
            )
        except CorruptDocumentError as err:
            return err.message
        except ModelConfigError as err:
            if isinstance(err, ConfigUnavailableError | PermissionDeniedError):
                raise
            return err.message
        return None

    def pointer_state(self, model: str) -> PointerState:
        """The pointer as the loader judges it, without failing on a refused one."""
        self.schema(model)
        pointer = self._pointer(model)
        location = f"{self.store} {self.layout.pointer_key(model)} (label {self.layout.label})"
        if pointer is None:
            return PointerState(model, location, False, None, None, None)
        problem = self._pointer_problem(model, pointer)
        release_id = None if problem else self._release_id_of(model, self._pointer_snapshot_name(model, pointer))
        return PointerState(model, location, True, release_id, problem, self._activation(pointer))

    def ledger(self, model: str) -> list[LedgerEntry]:
        """Every release snapshot of the model (ready or archived), oldest first; one that is not a release as
        `create_release` makes them is listed with the reason."""
        self.schema(model)
        prefix = self.layout.snapshot_prefix(model)

        def fetch() -> list[Any]:
            return list(self.client.list_snapshots(name=f"{prefix}*", status=["ready", "archived"]))

        snapshots = self._call(f"list the releases (snapshots {prefix}*) of model {model}", fetch)
        entries: list[LedgerEntry] = []
        for snapshot in snapshots:
            release_id = self._release_id_of(model, snapshot.name)
            location = f"{self.store} snapshot {snapshot.name}"
            try:
                self._check_snapshot(model, release_id, snapshot)
            except ModelConfigError as err:
                entries.append(LedgerEntry(release_id, location, None, err.message))
                continue
            document = self._document(model, snapshot, self._items(model, snapshot.name))
            entries.append(LedgerEntry(release_id, location, document))
        return sorted(entries, key=lambda e: ((e.document.created_at or "") if e.document else "", e.release_id))

    def retire(self, model: str, release_ids: Iterable[str]) -> RetireResult:
        """Archive release snapshots that will never be activated again: the service deletes each when its
        retention period ends (until then `activate` recovers it). The active release cannot be retired. Nothing
        else is freed: App Configuration has no per-key version limit to make room under."""
        ids = list(dict.fromkeys(release_ids))
        if not ids:
            raise InvalidInputError("nothing to retire: name at least one release")
        state = self.pointer_state(model)
        if state.release_id in ids:
            raise InvalidInputError(
                f"release {state.release_id} of model {model} is active; activate another release before retiring it"
            )
        snapshots = {release_id: self._snapshot(model, release_id) for release_id in ids}
        for release_id, snapshot in snapshots.items():
            self._check_snapshot(model, release_id, snapshot)
        for snapshot in snapshots.values():
            if str(snapshot.status).rsplit(".", 1)[-1].lower() != "archived":
                name = snapshot.name
                self._call(f"archive snapshot {name}", lambda name=name: self.client.archive_snapshot(name))
        return RetireResult(model=model, retired=ids, rebaselined=False, freed=[])


def token_identity(credential: Any) -> str:
    """Who the credential is, from its access token's claims (`upn`, `unique_name`, `appid`, `oid`), read without
    verifying: it is recorded for people, not used to decide anything. `ML_INFRA_OPERATOR` overrides it."""
    override = os.environ.get("ML_INFRA_OPERATOR")
    if override:
        return override
    if credential is None:
        return "unknown"
    try:
        token = credential.get_token("https://azconfig.io/.default").token
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:
        return "unknown (no readable token claims)"
    for claim in ("upn", "unique_name", "preferred_username", "appid", "oid"):
        if claims.get(claim):
            return f"{claim}:{claims[claim]}"
    return "unknown (no identity claim in the token)"


# -- applications -----------------------------------------------------------------------------------------


class _Observer:
    """An azure-core policy on the provider's client that notes what the provider read: the pointer it selected
    and the snapshot it followed. The provider exposes neither (it only returns the merged values), and without
    them the loader could not tell which release it got, nor that a pointer named a missing snapshot (the
    provider then loads an empty configuration with only a log warning)."""

    def __init__(self, pointer_key: str):
        from azure.core.pipeline.policies import SansIOHTTPPolicy

        observer = self

        class Policy(SansIOHTTPPolicy):  # type: ignore[misc]
            def on_response(self, request: Any, response: Any) -> None:
                observer.record(request.http_request, response.http_response)

        self.policy = Policy()
        self.pointer_key = pointer_key
        self.lock = threading.Lock()
        self.pointer: dict[str, Any] | None = None
        self.pointer_seen = False
        self.snapshot: dict[str, Any] | None = None
        self.snapshot_status: int | None = None

    def reset(self) -> None:
        with self.lock:
            self.pointer, self.pointer_seen, self.snapshot, self.snapshot_status = None, False, None, None

    def record(self, request: Any, response: Any) -> None:
        from urllib.parse import parse_qs, unquote, urlsplit

        parts = urlsplit(request.url)
        path, query = unquote(parts.path), parse_qs(parts.query)
        status = response.status_code
        with self.lock:
            if path == "/kv" and query.get("key") == [self.pointer_key] and status == 200:
                items = json.loads(response.body() or b"{}").get("items") or []
                self.pointer_seen = True
                self.pointer = items[0] if items else None
            elif path.startswith("/snapshots/") and request.method == "GET":
                self.snapshot_status = status
                self.snapshot = json.loads(response.body() or b"{}") if status == 200 else None


@dataclass
class _Loaded:
    provider: Any | None
    observer: _Observer
    captured: dict[str, _Setting]
    config: ModelConfiguration | None = None
    refused: str | None = None
    next_check: float = 0.0
    changed: bool = False
    refresh_errors: list[Exception] = field(default_factory=list)


class AzureConfigLoader:
    """Loads the active configuration of models from Azure App Configuration with the official provider.

    Per model, one provider selects the pointer (`_active:<model>`, followed by the provider to its snapshot)
    and the schema, and refreshes on the pointer: an unchanged refresh is one conditional request. Every load is
    checked before it is served: the pointer must name an existing release snapshot of this model (a
    hand-edited pointer, or one naming a deleted snapshot, is refused), and every value must fit `_schema`.
    Secrets are Key Vault references, resolved by the provider (`secret_resolver=` or `keyvault_credential=`).
    When the store cannot be read or a new release is refused, the last known good configuration is served with
    `stale=True` and the reason (from memory, or from `snapshot`, an `EncryptedFileSnapshot`, after a restart).

    `client_kwargs` go to the provider's SDK client (`transport=`, `retry_total=`, ...); `startup_timeout` bounds a
    cold load (the provider retries within it).
    """

    def __init__(
        self,
        project: str,
        environment: str,
        *,
        endpoint: str,
        credential: Any = None,
        ttl_seconds: float = 30.0,
        retry_interval: float = 5.0,
        startup_timeout: int = 5,
        secret_resolver: Callable[[str], str] | None = None,
        keyvault_credential: Any = None,
        snapshot: Any = None,
        clock: Callable[[], float] = time.monotonic,
        **client_kwargs: Any,
    ):
        self.project = project
        self.environment = environment
        self.layout = AzureLayout(project, environment)
        self.endpoint = endpoint
        self.credential = credential
        self.ttl_seconds = ttl_seconds
        self.retry_interval = retry_interval
        self.startup_timeout = startup_timeout
        self.secret_resolver = secret_resolver
        self.keyvault_credential = keyvault_credential
        self.snapshot = snapshot
        self._clock = clock
        self.client_kwargs = client_kwargs
        self._states: dict[str, _Loaded] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, model: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(model, threading.Lock())

    def load(self, model: str, *, refresh: bool = False) -> ModelConfiguration:
        if not MODEL_NAME_PATTERN.match(model):
            raise InvalidInputError(
                f"model name {model!r} must be 1-63 characters: lower-case letters, digits and '-', "
                "starting with a letter"
            )
        with self._lock(model):  # loads of one model never wait on another model's
            state = self._states.get(model)
            if state is not None and state.config is not None and not refresh and self._clock() < state.next_check:
                return state.config
            try:
                if state is None or state.provider is None:
                    state = self._cold(model, state)
                    config = self._checked_build(model, state)
                else:
                    config = self._refresh(model, state)
            except Exception as err:
                return self._fall_back(model, err)
            state.config = config
            state.next_check = self._clock() + self.ttl_seconds
            return config

    def close(self) -> None:
        for state in self._states.values():
            if state.provider is not None:
                state.provider.close()

    # -- internals ----------------------------------------------------------------------------------------

    def _cold(self, model: str, previous: _Loaded | None) -> _Loaded:
        from azure.appconfiguration.provider import SettingSelector, load

        if self.credential is None:
            from azure.identity import DefaultAzureCredential

            self.credential = DefaultAzureCredential()
        observer = _Observer(self.layout.pointer_key(model))
        captured: dict[str, _Setting] = {}
        state_box: dict[str, _Loaded] = {}

        def capture(setting: Any) -> None:
            captured[setting.key] = _Setting.of(setting)

        def changed() -> None:
            if "state" in state_box:
                state_box["state"].changed = True

        errors: list[Exception] = []
        kwargs: dict[str, Any] = dict(self.client_kwargs)
        kwargs.setdefault("api_version", API_VERSION)
        policies = list(kwargs.pop("per_retry_policies", []) or [])
        if self.secret_resolver is not None:
            kwargs["secret_resolver"] = self.secret_resolver
        if self.keyvault_credential is not None:
            kwargs["keyvault_credential"] = self.keyvault_credential
        try:
            provider = load(
                self.endpoint,
                self.credential,
                selects=[
                    SettingSelector(key_filter=self.layout.pointer_key(model), label_filter=self.layout.label),
                    SettingSelector(key_filter=self.layout.schema_key(model), label_filter=self.layout.label),
                ],
                refresh_on=[(self.layout.pointer_key(model), self.layout.label)],
                refresh_interval=max(1, int(self.ttl_seconds)),
                on_refresh_success=changed,
                on_refresh_error=errors.append,
                configuration_mapper=capture,
                replica_discovery_enabled=False,
                startup_timeout=self.startup_timeout,
                per_retry_policies=[*policies, observer.policy],
                **kwargs,
            )
        except Exception as err:
            raise self._unavailable(model, err) from None
        state = _Loaded(provider, observer, captured, refresh_errors=errors)
        # What was served before (and why a release was refused) carries over to the new provider.
        if previous is not None:
            state.config, state.refused = previous.config, previous.refused
        state_box["state"] = state
        self._states[model] = state
        return state

    def _unavailable(self, model: str, err: BaseException) -> ModelConfigError:
        causes = err.args[1] if isinstance(err, TimeoutError) and len(err.args) > 1 else [err]
        last = causes[-1] if causes else err
        return (
            translate(last, doing=f"load model {model}", store=self.endpoint)
            if not isinstance(last, ModelConfigError)
            else last
        )

    def _refresh(self, model: str, state: _Loaded) -> ModelConfiguration:
        timer = getattr(state.provider, "_refresh_timer", None)
        if timer is not None and hasattr(timer, "_next_refresh_time"):
            # The provider gates refresh on its own whole-second timer; the loader's TTL has already elapsed.
            timer._next_refresh_time = 0
        state.observer.reset()
        state.changed = False
        state.refresh_errors.clear()
        captured_before = dict(state.captured)
        state.captured.clear()
        assert state.provider is not None
        state.provider.refresh()
        if state.refresh_errors:
            # The provider now backs this client off for up to its refresh interval; a new provider after
            # `retry_interval` recovers sooner, at the price of one cold load.
            state.provider.close()
            state.provider = None
            raise self._unavailable(model, state.refresh_errors[-1])
        if not state.changed:
            state.captured.update(captured_before)
            if state.refused is not None:
                raise ModelConfigError(state.refused)  # the refused release is still the active one
            assert state.config is not None
            config = state.config
            if config.stale:
                config = replace(config, stale=False, stale_reason=None, source="azure")  # type: ignore[arg-type]
            return config
        return self._checked_build(model, state)

    def _checked_build(self, model: str, state: _Loaded) -> ModelConfiguration:
        try:
            config = self._build(model, state)
        except ModelConfigError as err:
            state.refused = err.message
            raise
        state.refused = None
        return config

    def _build(self, model: str, state: _Loaded) -> ModelConfiguration:
        layout, observer = self.layout, state.observer
        pointer_key = layout.pointer_key(model)
        if observer.pointer_seen and observer.pointer is None:
            raise ConfigUnavailableError(
                f"{self.endpoint}: model {model} has no active release ({pointer_key} does not exist); create and "
                "activate one with `ml-infra config release` and `ml-infra config activate`"
            )
        pointer = observer.pointer or {}
        if pointer.get("content_type") != SNAPSHOT_REF_CONTENT_TYPE:
            raise ModelConfigError(
                f"{self.endpoint}: {pointer_key}: the pointer of model {model} is not a snapshot reference "
                f"(content type {pointer.get('content_type')!r}); refusing it"
            )
        try:
            snapshot_name = str(json.loads(pointer.get("value") or "")["snapshot_name"])
        except (ValueError, KeyError, TypeError):
            raise ModelConfigError(f"{self.endpoint}: {pointer_key}: the pointer names no snapshot") from None
        if observer.snapshot_status == 404 or observer.snapshot is None:
            raise ModelConfigError(
                f"{self.endpoint}: {pointer_key}: the pointer of model {model} names snapshot {snapshot_name}, which "
                "does not exist (deleted or expired); the provider would load an empty configuration"
            )
        snap = observer.snapshot
        release_id = snapshot_name[len(layout.snapshot_prefix(model)) :]
        tags = snap.get("tags") or {}
        filters = [{"key": f.get("key"), "label": f.get("label")} for f in snap.get("filters") or []]
        expected_tags = {
            "model": model,
            "environment": self.environment,
            "project": self.project,
            "release_id": release_id,
        }
        if (
            not snapshot_name.startswith(layout.snapshot_prefix(model))
            or any(tags.get(k) != v for k, v in expected_tags.items())
            or filters != [layout.release_filter(model)]
            or snap.get("composition_type") != "key"
        ):
            raise ModelConfigError(
                f"{self.endpoint}: {pointer_key}: the pointer of model {model} names snapshot {snapshot_name}, which "
                "is not a release of this model (hand-edited pointer?); refusing it"
            )
        schema_setting = state.captured.get(layout.schema_key(model))
        if schema_setting is None:
            raise UnknownModelError(
                f"unknown model {model!r}: {self.endpoint} has no {layout.schema_key(model)} (label {layout.label})"
            )
        try:
            schema = ModelSchema.model_validate_json(schema_setting.value or "")
        except ValueError as err:
            raise ModelConfigError(f"{self.endpoint}: {layout.schema_key(model)}: not a valid schema: {err}") from None
        prefix = f"{model}:"
        texts: dict[str, str] = {}
        versions: dict[str, int] = {}
        problems: list[Problem] = []
        for full_key, setting in state.captured.items():
            if not full_key.startswith(prefix):
                continue
            key = full_key[len(prefix) :]
            versions[key] = setting.version
            declared = schema.keys.get(key)
            if declared is not None and declared.ssm_type == "SecureString":
                if setting.content_type != KEY_VAULT_REF_CONTENT_TYPE:
                    problems.append(Problem(key, "is a secret but not a Key Vault reference"))
                    continue
                resolved = state.provider.get(full_key) if state.provider is not None else None
                texts[key] = "" if resolved is None else str(resolved)
            else:
                texts[key] = stored_text(setting, declared)
        if problems:
            raise ConfigValidationError(f"release {release_id} of model {model} refused", problems)
        config = self._configuration(model, release_id, schema, texts, versions, source="azure")
        if self.snapshot is not None:
            self._save(model, snapshot_name, release_id, schema_setting.value or "", texts, versions)
        return config

    def _configuration(
        self,
        model: str,
        release_id: str,
        schema: ModelSchema,
        texts: Mapping[str, str],
        versions: Mapping[str, int],
        *,
        source: str,
        fetched_at: datetime | None = None,
    ) -> ModelConfiguration:
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, text in sorted(texts.items()):
            declared = schema.keys.get(key) or KeySchema(
                ssm_type="String", value_type="string", minimum=None, maximum=None
            )
            try:
                values[key] = parse_value(text, declared)
            except ValueProblem as problem:
                problems.append(Problem(key, str(problem)))
        if problems:
            raise ConfigValidationError(
                f"active release {release_id} of model {model} does not fit its schema", problems
            )
        return ModelConfiguration(
            project=self.project,
            environment=self.environment,
            model=model,
            release_id=release_id,
            values=MappingProxyType(values),
            versions=MappingProxyType(dict(versions)),
            fetched_at=fetched_at or datetime.now(UTC),
            source=source,  # type: ignore[arg-type]
            missing=tuple(sorted(set(schema.keys) - set(texts))),
        )

    def _save(
        self,
        model: str,
        snapshot_name: str,
        release_id: str,
        schema_text: str,
        texts: Mapping[str, str],
        versions: Mapping[str, int],
    ) -> None:
        from ml_infra.modelconfig.snapshot import SnapshotRecord

        pointer_text = json.dumps(
            {"snapshot_name": snapshot_name, "release_id": release_id, "versions": dict(versions)}
        )
        record = SnapshotRecord(
            self.project, self.environment, model, pointer_text, schema_text, dict(texts), datetime.now(UTC).isoformat()
        )
        try:
            self.snapshot.save(record)
        except OSError as err:
            log.warning("could not write the config snapshot of model %s: %s", model, err)

    def _from_file(self, model: str) -> ModelConfiguration | None:
        if self.snapshot is None:
            return None
        record = self.snapshot.load(self.project, self.environment, model)
        if record is None:
            return None
        try:
            pointer = json.loads(record.pointer_text)
            schema = ModelSchema.model_validate_json(record.schema_text)
            return self._configuration(
                model,
                pointer["release_id"],
                schema,
                record.texts,
                pointer["versions"],
                source="file",
                fetched_at=datetime.fromisoformat(record.fetched_at),
            )
        except (ModelConfigError, KeyError, ValueError, TypeError) as err:
            log.warning("ignoring the config snapshot of model %s: %s", model, err)
            return None

    def _fall_back(self, model: str, err: Exception) -> ModelConfiguration:
        failure = (
            err
            if isinstance(err, ModelConfigError)
            else translate(err, doing=f"load model {model}", store=self.endpoint)
        )
        state = self._states.get(model)
        config = state.config if state is not None else None
        if config is None:
            config = self._from_file(model)
            if config is None:
                raise failure from None
        log.warning("serving the last known good configuration of model %s: %s", model, failure.message)
        source = config.source if config.source == "file" or config.stale else "memory"
        config = replace(config, stale=True, stale_reason=failure.message, source=source)  # type: ignore[arg-type]
        if state is None:
            state = _Loaded(None, _Observer(self.layout.pointer_key(model)), {})
            self._states[model] = state
        state.config = config
        state.next_check = self._clock() + self.retry_interval
        return config


__all__ = [
    "API_VERSION",
    "KEY_VAULT_REF_CONTENT_TYPE",
    "SERVICE",
    "SNAPSHOT_REF_CONTENT_TYPE",
    "AzureConfigLoader",
    "AzureLayout",
    "AzureReleaseManager",
    "ConcurrentActivationError",
    "appconfig_client",
    "key_vault_reference",
    "token_identity",
]
