"""Azure App Configuration as a `ConfigBackend`: the storage primitives of model configuration on the service's
own objects, so that the one release manager (`releases.ReleaseManager`) and the one loader
(`loader.ModelConfigLoader`) keep every guarantee here as they do on SSM (typed values, `_schema` checks, the
pointer's digest check, last known good, audit, deadlines); this module adds nothing to them.

Layout in one store, for environment ``e`` (the label) and model ``m``:

=====================================  ================================================================
``m:<key>`` (label ``e``)              one key's staged value; tags ``version`` (a counter of writes, the
                                       key version the core names) and ``type`` (String, StringList,
                                       SecureString); lists are JSON arrays; secrets are Key Vault
                                       references to a *versioned* secret URI
``_schema:m`` (label ``e``)            the declared schema (the same JSON document as SSM's ``_schema``)
snapshot ``<project>.e.m.<release>``   a release: immutable, composition ``key``, filter ``m:*`` / label
                                       ``e``, tags ``release_id``, ``model``, ``environment``, ``project``,
                                       ``created_by``, ``created_at``, ``parent`` and ``note``
``_active:m`` (label ``e``)            the pointer: a *snapshot reference* key-value
                                       (``{"snapshot_name": ...}``) that the official provider follows;
                                       tags ``release_id``, ``digest`` (of the release document) and the
                                       activation record (``action``, ``activated_by``, ``activated_at``,
                                       ``previous``, ``reason``)
=====================================  ================================================================

How the primitives map (`backend.ConfigBackend` says what each must guarantee):

- `create_release` cuts the snapshot (`PUT /snapshots`, a long-running operation waited for until ``ready``;
  anything else is an error naming the snapshot) and compares what it captured with the versions the core
  validated: a value set in between makes the release refused and the snapshot archived. The service refuses an
  existing snapshot name, so a release id is never reused.
- A release document is not stored as text: it is rendered from the snapshot (its tags, and the ``version`` and
  ``type`` tags of its key-values), the same text every time, so the pointer's digest holds. `read_versions`
  reads a release's values from its snapshot: key-value revisions expire after 7 (Free) or 30 days, the
  snapshot keeps them as long as it lives.
- `swap_pointer` is ONE conditional write of the pointer (`If-Match` on the ETag the core read,
  `If-None-Match: *` for the first), so of two activations exactly one wins (`ConcurrentActivationError`,
  nothing written). Before it, the target snapshot must exist, be ``ready`` (an archived one is recovered) and
  have composition ``key``: `azure-appconfiguration-provider` loads an *empty* configuration, with only a
  warning, from a reference to a missing snapshot.
- Rollback never reads key-value revisions (`pointer_history_expires`): the core takes the previous release the
  active pointer records, else the active snapshot's ``parent``. History reads the pointer's revisions and so
  reaches back as far as the service keeps them.
- `delete_release` archives the snapshot (the service deletes it when its retention ends; until then
  `swap_pointer` recovers it). `retain` is a no-op: App Configuration has no per-key version limit.
- Release content is plain key-values only: the provider drops feature flags when it follows a snapshot
  reference, so a feature flag in a release would silently vanish from what applications load.

Applications load through the official provider: `AzureProviderBackend` is this backend with its read path for
the loader on `azure.appconfiguration.provider.load` (see its docstring), and `AzureConfigLoader` is the shared
loader on it. `AzureReleaseManager` is the shared release manager on `AzureAppConfigBackend`.

App Configuration RBAC is store-wide: "App Configuration Data Reader/Owner" apply to every key of the store,
there is no per-key or per-label permission. Whoever may activate one model may activate every model of the
store.

Imports the Azure SDK only when used; never imports Pulumi.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_infra.modelconfig.backend import (
    ConfigBackend,
    ModelDocuments,
    PointerSwap,
    Revision,
    StoredDocument,
    StoredValue,
)
from ml_infra.modelconfig.errors import (
    BackendUnavailableError,
    ConcurrentChangeError,
    InvalidInputError,
    ModelConfigError,
    PermissionDeniedError,
    ReleaseExistsError,
)
from ml_infra.modelconfig.layout import (
    Activation,
    KeySchema,
    PointerDocument,
    ReleasedKey,
    ReleaseDocument,
    SsmType,
)
from ml_infra.modelconfig.loader import ModelConfigLoader
from ml_infra.modelconfig.releases import ReleaseManager
from ml_infra.modelconfig.retry import Backoff
from ml_infra.modelconfig.values import ValueProblem

SERVICE = "Azure App Configuration"
# The REST API version the fake in tests/ serves and whose spec it is checked against; the SDK's own default
# (2026-04-01 in 1.10) has nothing this module needs.
API_VERSION = "2024-09-01"
SNAPSHOT_REF_CONTENT_TYPE = 'application/json; profile="https://azconfig.io/mime-profiles/snapshot-ref"; charset=utf-8'
KEY_VAULT_REF_CONTENT_TYPE = "application/vnd.microsoft.appconfig.keyvaultref+json;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
VERSION_TAG = "version"
TYPE_TAG = "type"
DEFAULT_RETENTION_SECONDS = 30 * 86400
# The pointer's tags: the facts of the core's pointer document (`layout.PointerDocument`).
_ACTIVATION_TAGS = ("action", "activated_at", "activated_by", "previous", "reason")


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

    def release_filter(self, model: str) -> tuple[str, str]:
        return (self.key_filter(model), self.label)


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


def translate(err: BaseException, *, doing: str, store: str, write: bool = False) -> ModelConfigError:
    """The library's exception for an Azure SDK failure during `doing`, naming the store. A read may be repeated
    (`retryable`); a write only when the service certainly did not apply it (429)."""
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
        return BackendUnavailableError(
            f"cannot {doing}: {SERVICE} {store} is unreachable ({message})", retryable=not write
        )
    if isinstance(err, HttpResponseError):
        status = err.status_code or 0
        if status in (401, 403):
            return PermissionDeniedError(f"{SERVICE} {store} denied permission to {doing} (HTTP {status})")
        if status == 429 or status >= 500:
            return BackendUnavailableError(
                f"cannot {doing}: {SERVICE} {store} kept failing (HTTP {status})", retryable=status == 429 or not write
            )
        return ModelConfigError(f"cannot {doing}: {SERVICE} {store} answered HTTP {status}: {message}")
    return ModelConfigError(f"cannot {doing}: {type(err).__name__}: {message}")


class ConcurrentActivationError(ConcurrentChangeError):
    """The pointer (or a key) changed between reading it and the conditional write: nothing was written."""


def _string_list(value: str | None) -> list[str] | None:
    try:
        items = json.loads(value or "")
    except ValueError:
        return None
    return items if isinstance(items, list) and all(isinstance(i, str) for i in items) else None


@dataclass(frozen=True)
class _Setting:
    """A key-value as read, from the SDK or from the wire (what the provider's responses carried)."""

    key: str
    value: str | None
    content_type: str | None
    tags: Mapping[str, str]
    etag: str | None
    last_modified: datetime | None = None

    @classmethod
    def of(cls, setting: Any) -> _Setting:
        modified = getattr(setting, "last_modified", None)
        return cls(
            setting.key,
            setting.value,
            setting.content_type,
            dict(setting.tags or {}),
            setting.etag,
            modified if isinstance(modified, datetime) else None,
        )

    @classmethod
    def wire(cls, item: Mapping[str, Any]) -> _Setting:
        return cls(
            item.get("key", ""),
            item.get("value"),
            item.get("content_type"),
            dict(item.get("tags") or {}),
            item.get("etag"),
        )

    @property
    def version(self) -> int:
        try:
            return max(1, int(self.tags.get(VERSION_TAG, "1")))
        except ValueError:
            return 1

    @property
    def kind(self) -> SsmType:
        """The SSM type the core knows this value as: a Key Vault reference is a secret whatever its tags say;
        otherwise the `type` tag, and for a key-value without one (seeded before the tag existed, or by hand) a
        JSON array of strings is a list."""
        if self.content_type == KEY_VAULT_REF_CONTENT_TYPE:
            return "SecureString"
        tagged = self.tags.get(TYPE_TAG)
        if tagged == "String" or tagged == "StringList":
            return tagged
        if self.content_type == JSON_CONTENT_TYPE and _string_list(self.value) is not None:
            return "StringList"
        return "String"

    @property
    def text(self) -> str:
        """The text the core checks and shows: a list as SSM's comma-separated StringList text (stored as a JSON
        array, as Pulumi seeds it, so App Configuration's JSON support reads it as one); a secret as its Key Vault
        URI, which holds no secret (the provider resolves it for applications)."""
        kind = self.kind
        if kind == "SecureString":
            return key_vault_uri(self.value) or ""
        if kind == "StringList":
            items = _string_list(self.value)
            if items is not None:
                return ",".join(items)
        return self.value or ""


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value) or "").rsplit(".", 1)[-1].lower()


@dataclass(frozen=True)
class _Snapshot:
    """A snapshot's metadata, from the SDK or from the wire."""

    name: str
    status: str
    composition: str
    filters: tuple[tuple[str | None, str | None], ...]
    tags: Mapping[str, str]

    @classmethod
    def of(cls, snapshot: Any) -> _Snapshot:
        filters = tuple((f.key, f.label) for f in snapshot.filters or [])
        return cls(
            snapshot.name, _enum(snapshot.status), _enum(snapshot.composition_type), filters, dict(snapshot.tags or {})
        )

    @classmethod
    def wire(cls, body: Mapping[str, Any]) -> _Snapshot:
        filters = tuple((f.get("key"), f.get("label")) for f in body.get("filters") or [])
        return cls(
            body.get("name", ""),
            _enum(body.get("status")),
            _enum(body.get("composition_type")),
            filters,
            dict(body.get("tags") or {}),
        )


class AzureAppConfigBackend(ConfigBackend):
    """The `ConfigBackend` primitives on one App Configuration store (see the module docstring for the layout).

    `client` is an `azure.appconfiguration.AzureAppConfigurationClient` (see `appconfig_client`); `store` names
    the store in messages (its endpoint); `identity` is who the caller is, recorded in releases and activations
    (default: from `credential`'s token, see `token_identity`)."""

    name = "azure"
    service = SERVICE
    max_versions = None
    stable_versions = False
    pointer_history_expires = True

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
        snapshot_timeout: float = 120.0,
    ):
        self.project = project
        self.environment = environment
        self.layout = AzureLayout(project, environment)
        self.client = client
        self.store = store
        self._credential = credential
        self._identity = identity
        self.retention_seconds = retention_seconds
        self.snapshot_timeout = snapshot_timeout
        self._lock = threading.Lock()
        # What `read_latest` last listed per model (every `m:*` key-value with its ETag): what the core validated
        # just before it asks `create_release` to cut the snapshot, so the snapshot can be compared with it.
        self._listed: dict[str, dict[str, _Setting]] = {}
        # The key-values of snapshots read (a snapshot's content never changes; a name comes back only after the
        # service deleted the snapshot at the end of its retention), so one operation reads each once.
        self._contents: dict[str, dict[str, _Setting]] = {}

    # -- where things are -----------------------------------------------------------------------------------

    def _where(self, key: str) -> str:
        return f"{self.store} {key} (label {self.layout.label})"

    def schema_location(self, model: str) -> str:
        return self._where(self.layout.schema_key(model))

    def pointer_location(self, model: str) -> str:
        return self._where(self.layout.pointer_key(model))

    def release_location(self, model: str, release_id: str) -> str:
        return f"{self.store} snapshot {self.layout.snapshot_name(model, release_id)}"

    def key_location(self, model: str, key: str) -> str:
        return self._where(self.layout.key(model, key))

    # -- SDK calls ------------------------------------------------------------------------------------------

    def _call(self, doing: str, fn: Callable[[], Any], *, write: bool = False) -> Any:
        try:
            return fn()
        except ModelConfigError:
            raise
        except Exception as err:
            raise translate(err, doing=doing, store=self.store, write=write) from None

    def _get(self, key: str, doing: str) -> _Setting | None:
        from azure.core.exceptions import ResourceNotFoundError

        def fetch() -> Any:
            try:
                return self.client.get_configuration_setting(key, label=self.layout.label)
            except ResourceNotFoundError:
                return None

        setting = self._call(doing, fetch)
        return _Setting.of(setting) if setting is not None else None

    def _snapshot(self, model: str, release_id: str) -> _Snapshot | None:
        from azure.core.exceptions import ResourceNotFoundError

        name = self.layout.snapshot_name(model, release_id)

        def fetch() -> Any:
            try:
                return self.client.get_snapshot(name)
            except ResourceNotFoundError:
                return None

        found = self._call(f"read snapshot {name} (release {release_id} of model {model})", fetch)
        return _Snapshot.of(found) if found is not None else None

    def _items(self, model: str, name: str) -> dict[str, _Setting] | None:
        """The model's key-values in snapshot `name` by key, None when the snapshot does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            cached = self._contents.get(name)
        if cached is not None:
            return cached
        prefix = f"{model}:"

        def fetch() -> dict[str, _Setting] | None:
            try:
                settings = self.client.list_configuration_settings(snapshot_name=name)
                return {s.key[len(prefix) :]: _Setting.of(s) for s in settings if s.key.startswith(prefix)}
            except ResourceNotFoundError:
                return None

        items = self._call(f"read the key-values of snapshot {name} (model {model})", fetch)
        if items is not None:
            with self._lock:
                if len(self._contents) >= 16:
                    self._contents.pop(next(iter(self._contents)))
                self._contents[name] = items
        return items

    # -- documents rendered from the service's objects ---------------------------------------------------

    def _release_problem(self, model: str, release_id: str, snapshot: _Snapshot) -> str | None:
        wanted = {"model": model, "environment": self.environment, "project": self.project, "release_id": release_id}
        wrong = sorted(k for k, v in wanted.items() if snapshot.tags.get(k) != v)
        if wrong or snapshot.filters != (self.layout.release_filter(model),):
            return (
                f"snapshot {snapshot.name} is not a release of model {model} as `ml-infra config release` cuts them "
                f"(tags not as expected: {', '.join(wrong) or 'none'}; filters {[list(f) for f in snapshot.filters]})"
            )
        if snapshot.composition != "key":
            return f"snapshot {snapshot.name} has composition {snapshot.composition!r}; a release needs 'key'"
        if snapshot.status not in ("ready", "archived"):
            return f"snapshot {snapshot.name} is {snapshot.status}, not ready"
        return None

    def _release_document(
        self, model: str, release_id: str, snapshot: _Snapshot, items: Mapping[str, _Setting] | None
    ) -> StoredDocument:
        """The release document of a snapshot: the same text whenever it is read (the snapshot never changes)."""
        location = self.release_location(model, release_id)
        problem = self._release_problem(model, release_id, snapshot)
        if problem is None and items is None:
            problem = f"the key-values of snapshot {snapshot.name} cannot be read"
        if problem is not None:
            return StoredDocument(location, "", snapshot.name, release_id=release_id, problem=problem)
        assert items is not None
        tags = snapshot.tags
        document = ReleaseDocument(
            release_id=release_id,
            project=self.project,
            environment=self.environment,
            model=model,
            keys={key: ReleasedKey(version=s.version, ssm_type=s.kind) for key, s in sorted(items.items())},
            created_at=tags.get("created_at") or None,
            created_by=tags.get("created_by") or None,
            parent_release_id=tags.get("parent") or None,
            note=tags.get("note", ""),
        )
        return StoredDocument(location, document.model_dump_json(), snapshot.name, release_id=release_id)

    def _pointer_document(self, model: str, setting: _Setting) -> StoredDocument:
        """The pointer document of the pointer key-value, or why it is refused (a pointer edited by hand)."""
        location = self.pointer_location(model)
        revision = setting.etag or ""

        def refused(problem: str) -> StoredDocument:
            return StoredDocument(location, setting.value or "", revision, setting.last_modified, problem=problem)

        if setting.content_type != SNAPSHOT_REF_CONTENT_TYPE:
            return refused(
                f"it is not a snapshot reference (content type {setting.content_type!r}): the provider would not "
                "follow it"
            )
        try:
            name = json.loads(setting.value or "")["snapshot_name"]
        except (ValueError, KeyError, TypeError):
            name = None
        if not isinstance(name, str):
            return refused("it is a snapshot reference that names no snapshot")
        tags = setting.tags
        release_id = tags.get("release_id", "")
        if not release_id or name != self.layout.snapshot_name(model, release_id) or not tags.get("digest"):
            return refused(
                f"it names snapshot {name!r}, which is not a release of this model as `ml-infra config activate` "
                f"points at them ({self.layout.snapshot_prefix(model)}<release>, with the release_id and digest "
                "tags): edited by hand?"
            )
        try:
            activation = (
                Activation(
                    action=tags["action"],  # type: ignore[arg-type]
                    activated_at=tags.get("activated_at", ""),
                    activated_by=tags.get("activated_by", ""),
                    previous_release_id=tags.get("previous") or None,
                    reason=tags.get("reason", ""),
                )
                if tags.get("action")
                else None
            )
            document = PointerDocument(
                project=self.project,
                environment=self.environment,
                model=model,
                release_id=release_id,
                digest=tags["digest"],
                activation=activation,
            )
        except ValueError as err:
            return refused(f"its tags are not a valid activation record ({' '.join(str(err).split())[:200]})")
        return StoredDocument(location, document.model_dump_json(), revision, setting.last_modified)

    # -- reading ------------------------------------------------------------------------------------------

    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        schema_key, pointer_key = self.layout.schema_key(model), self.layout.pointer_key(model)

        def fetch() -> dict[str, _Setting]:
            # One request for both (a key filter with alternatives); model names hold no ',' or '*'.
            settings = self.client.list_configuration_settings(
                key_filter=f"{schema_key},{pointer_key}", label_filter=self.layout.label
            )
            return {s.key: _Setting.of(s) for s in settings}

        found = self._call(f"read the schema and the active-release pointer of model {model}", fetch)
        schema, pointer = found.get(schema_key), found.get(pointer_key)
        return ModelDocuments(
            schema=StoredDocument(self.schema_location(model), schema.value or "", schema.etag or "")
            if schema is not None
            else None,
            pointer=self._pointer_document(model, pointer) if pointer is not None else None,
            releases={release_id: self._read_release(model, release_id) for release_id in release_ids},
        )

    def _read_release(self, model: str, release_id: str) -> StoredDocument | None:
        snapshot = self._snapshot(model, release_id)
        if snapshot is None:
            return None
        usable = self._release_problem(model, release_id, snapshot) is None
        return self._release_document(model, release_id, snapshot, self._items(model, snapshot.name) if usable else {})

    def _value(self, key: str, setting: _Setting) -> StoredValue:
        return StoredValue(key, setting.text, setting.version, setting.kind, setting.last_modified)

    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
        if release_id is None:  # only the latest version of a key is kept outside snapshots
            latest = self.read_latest(model, list(wanted))
            return {key: value for key, value in latest.items() if value.version == wanted[key]}
        items = self._items(model, self.layout.snapshot_name(model, release_id)) or {}
        return {
            key: self._value(key, items[key])
            for key, version in wanted.items()
            if key in items and items[key].version == version
        }

    def read_latest(self, model: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        prefix = f"{model}:"

        def fetch() -> dict[str, _Setting]:
            settings = self.client.list_configuration_settings(
                key_filter=self.layout.key_filter(model), label_filter=self.layout.label
            )
            return {s.key[len(prefix) :]: _Setting.of(s) for s in settings}

        listed = self._call(f"read the staged key-values of model {model}", fetch)
        with self._lock:
            self._listed[model] = listed
        return {key: self._value(key, listed[key]) for key in keys if key in listed}

    def list_releases(self, model: str) -> list[StoredDocument]:
        prefix = self.layout.snapshot_prefix(model)

        def fetch() -> list[_Snapshot]:
            return [
                _Snapshot.of(s) for s in self.client.list_snapshots(name=f"{prefix}*", status=["ready", "archived"])
            ]

        snapshots = self._call(f"list the releases (snapshots {prefix}*) of model {model}", fetch)
        documents = []
        for snapshot in snapshots:
            release_id = snapshot.name[len(prefix) :]
            usable = self._release_problem(model, release_id, snapshot) is None
            items = self._items(model, snapshot.name) if usable else {}
            documents.append(self._release_document(model, release_id, snapshot, items))
        return documents

    def pointer_history(self, model: str) -> list[StoredDocument]:
        key = self.layout.pointer_key(model)

        def fetch() -> list[_Setting]:
            return [_Setting.of(r) for r in self.client.list_revisions(key_filter=key, label_filter=self.layout.label)]

        revisions = self._call(f"read the revisions of {key} (model {model})", fetch)
        # Newest first from the service; a deletion (no value) is not an activation.
        return [self._pointer_document(model, r) for r in reversed(revisions) if r.value is not None]

    # -- writing ------------------------------------------------------------------------------------------

    def check_value(self, model: str, key: str, text: str, declared: KeySchema) -> str | None:
        if declared.ssm_type == "SecureString":
            try:
                key_vault_reference(text)
            except ValueProblem as problem:
                return str(problem)
        return None

    def _stored_form(self, text: str, declared: KeySchema) -> tuple[str, str | None]:
        if declared.ssm_type == "SecureString":
            try:
                return key_vault_reference(text), KEY_VAULT_REF_CONTENT_TYPE
            except ValueProblem as problem:
                raise InvalidInputError(str(problem)) from None
        if declared.value_type == "list":
            return json.dumps(text.split(",")), JSON_CONTENT_TYPE
        return text, JSON_CONTENT_TYPE if declared.value_type == "json" else None

    def write_value(self, model: str, key: str, text: str, declared: KeySchema) -> int:
        """A conditional write (If-Match on the ETag just read, If-None-Match for a new key), so two operators
        setting the same key cannot both get the same version number."""
        from azure.appconfiguration import ConfigurationSetting, ResourceReadOnlyError
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        full = self.layout.key(model, key)
        current = self._get(full, f"read {full}")
        value, content_type = self._stored_form(text, declared)
        version = current.version + 1 if current else 1
        tags = {
            **(current.tags if current else {"model": model}),
            VERSION_TAG: str(version),
            TYPE_TAG: declared.ssm_type,
        }
        setting = ConfigurationSetting(
            key=full,
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
        except (ResourceModifiedError, ResourceExistsError):
            raise ConcurrentChangeError(
                f"{self.key_location(model, key)} changed while it was being set (someone else wrote it); not written"
            ) from None
        except ResourceReadOnlyError:
            raise ModelConfigError(f"{self.key_location(model, key)} is locked (read-only); unlock it first") from None
        except Exception as err:
            raise translate(err, doing=f"write {full}", store=self.store, write=True) from None
        return version

    def create_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        from azure.appconfiguration import ConfigurationSettingsFilter, SnapshotComposition
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        # The core's document: its facts become the snapshot's tags; its key versions are what the snapshot must
        # capture.
        document = ReleaseDocument.model_validate_json(text)
        name = self.layout.snapshot_name(model, release_id)
        with self._lock:
            listed = self._listed.get(model)
        undeclared = sorted(set(listed or {}) - set(document.keys))
        if undeclared:
            raise ModelConfigError(
                f"release {release_id} of model {model} refused: a snapshot of {self.layout.key_filter(model)} would "
                f"also capture {', '.join(self.layout.key(model, k) for k in undeclared)}, which the schema does not "
                "declare; delete them or declare them"
            )
        tags = {
            "release_id": release_id,
            "model": model,
            "environment": self.environment,
            "project": self.project,
            "created_by": document.created_by or "",
            "created_at": document.created_at or "",
            "parent": document.parent_release_id or "",
            "note": document.note,
        }
        exists = ReleaseExistsError(
            f"release {release_id} of model {model} already exists (snapshot {name}); releases are immutable"
        )
        try:
            poller = self.client.begin_create_snapshot(
                name,
                [ConfigurationSettingsFilter(key=self.layout.key_filter(model), label=self.layout.label)],
                composition_type=SnapshotComposition.KEY,
                retention_period=self.retention_seconds,
                tags=tags,
            )
            created = _Snapshot.of(poller.result(timeout=self.snapshot_timeout))
        except ResourceExistsError:
            raise exists from None
        except Exception as err:
            if isinstance(err, HttpResponseError) and err.status_code == 409:
                raise exists from None
            failure = translate(err, doing="create the snapshot", store=self.store, write=True).message
            raise ModelConfigError(
                f"{self.store}: creating snapshot {name} (release {release_id} of model {model}) failed: {failure}; "
                "nothing was activated"
            ) from None
        if created.status != "ready":
            raise ModelConfigError(
                f"{self.store}: snapshot {name} (release {release_id} of model {model}) ended "
                f"{created.status or 'unknown'}, not ready; nothing was activated"
            )
        captured = self._items(model, name) or {}
        got = {key: (s.etag, s.version) for key, s in captured.items()}
        if listed is not None:  # what the core validated, ETags included
            want = {key: (s.etag, s.version) for key, s in listed.items()}
        else:
            want = {key: (got.get(key, (None, 0))[0], r.version) for key, r in document.keys.items()}
        changed = sorted(key for key in set(got) | set(want) if got.get(key) != want.get(key))
        if changed:
            self._call(f"archive snapshot {name}", lambda: self.client.archive_snapshot(name), write=True)
            raise ConcurrentActivationError(
                f"{self.store}: release {release_id} of model {model} refused: {', '.join(changed)} changed between "
                f"validation and the snapshot; snapshot {name} was archived, cut the release again"
            )
        return self._release_document(model, release_id, created, captured)

    def replace_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        raise ModelConfigError(
            f"release {release_id} of model {model} is snapshot {self.layout.snapshot_name(model, release_id)}: "
            f"{SERVICE} snapshots are immutable and the Pulumi program seeds no release on this store; retire "
            "replaces nothing here"
        )

    def delete_release(self, model: str, release_id: str) -> None:
        """Archive the snapshot: the service deletes it when its retention ends (until then `swap_pointer`
        recovers it, so a retired release can still be activated for that long)."""
        from azure.core.exceptions import ResourceNotFoundError

        name = self.layout.snapshot_name(model, release_id)

        def archive() -> None:
            with contextlib.suppress(ResourceNotFoundError):
                self.client.archive_snapshot(name)

        self._call(f"archive snapshot {name}", archive, write=True)

    def swap_pointer(self, model: str, text: str, expected: Revision | None) -> PointerSwap:
        """Check the target snapshot (exists, `ready` or recovered from `archived`, composition `key`), then ONE
        conditional write of the snapshot-reference key-value."""
        from azure.appconfiguration import ConfigurationSetting
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        pointer = PointerDocument.model_validate_json(text)
        release_id = pointer.release_id
        name = self.layout.snapshot_name(model, release_id)
        snapshot = self._snapshot(model, release_id)
        if snapshot is None:
            raise ModelConfigError(
                f"{self.store}: snapshot {name} (release {release_id} of model {model}) does not exist (deleted or "
                "expired); refusing to point applications at it: the provider would load an empty configuration"
            )
        problem = self._release_problem(model, release_id, snapshot)
        if snapshot.status == "archived" and problem is None:
            recovered = self._call(
                f"recover archived snapshot {name}", lambda: self.client.recover_snapshot(name), write=True
            )
            snapshot = _Snapshot.of(recovered)
            problem = self._release_problem(model, release_id, snapshot)
        if problem is None and snapshot.status != "ready":
            problem = f"snapshot {name} is {snapshot.status}, not ready"
        if problem is not None:
            raise ModelConfigError(f"{self.store}: {problem}; refusing to point applications at it")
        activation = pointer.activation
        tags = {"release_id": release_id, "digest": pointer.digest}
        if activation is not None:
            tags.update(
                action=activation.action,
                activated_at=activation.activated_at,
                activated_by=activation.activated_by,
                previous=activation.previous_release_id or "",
                reason=activation.reason,
            )
        setting = ConfigurationSetting(
            key=self.layout.pointer_key(model),
            label=self.layout.label,
            value=json.dumps({"snapshot_name": name}),
            content_type=SNAPSHOT_REF_CONTENT_TYPE,
            tags=tags,
            etag=str(expected) if expected is not None else None,
        )
        try:
            if expected is None:
                written = self.client.add_configuration_setting(setting)  # If-None-Match: *
            else:
                written = self.client.set_configuration_setting(setting, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError):
            raise ConcurrentActivationError(
                f"{self.pointer_location(model)}: the active release of model {model} changed while activating "
                f"{release_id} (another activation won); nothing was written. Check `ml-infra config history` and retry"
            ) from None
        except Exception as err:
            raise translate(
                err,
                doing=f"write the active-release pointer {self.layout.pointer_key(model)}",
                store=self.store,
                write=True,
            ) from None
        return PointerSwap(written.etag, exclusive=True)

    def retain(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        return 0  # App Configuration keeps no per-key version window to protect versions from

    def release_retention(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        return 0

    def identity(self) -> str:
        if self._identity is None:
            self._identity = token_identity(self._credential)
        return self._identity


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


class _Observer:
    """An azure-core policy on the provider's client that notes what the provider read: the pointer key-value it
    selected and the snapshots it followed. The provider exposes neither (it only returns the merged values), and
    without them the loader core could not check which release it got, nor see that a pointer names a missing
    snapshot (the provider then loads an empty configuration with only a log warning)."""

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
        # Snapshot name -> its body as the provider read it, None when it answered 404.
        self.snapshots: dict[str, dict[str, Any] | None] = {}

    def record(self, request: Any, response: Any) -> None:
        from urllib.parse import parse_qs, unquote, urlsplit

        parts = urlsplit(request.url)
        path, query = unquote(parts.path), parse_qs(parts.query)
        status = response.status_code
        with self.lock:
            if path == "/kv" and query.get("key") == [self.pointer_key] and status == 200:
                items = json.loads(response.body() or b"{}").get("items") or []
                self.pointer = items[0] if items else None
                self.snapshots.clear()  # a new pointer: the snapshot it names is read next
            elif path.startswith("/snapshots/") and request.method == "GET":
                name = path[len("/snapshots/") :]
                self.snapshots[name] = json.loads(response.body() or b"{}") if status == 200 else None


@dataclass
class _Followed:
    """One model's provider and what it loaded."""

    provider: Any
    observer: _Observer
    captured: dict[str, _Setting]
    errors: list[Exception] = field(default_factory=list)
    changed: bool = False


class AzureProviderBackend(AzureAppConfigBackend):
    """`AzureAppConfigBackend` whose read path for the loader is the official provider
    (`azure.appconfiguration.provider.load`), so applications load as App Configuration means them to: the
    pointer selected and followed to its snapshot by the provider, refresh watching the pointer (an unchanged
    refresh is one conditional request, `304`), Key Vault references resolved by the provider with the
    application's credential (`keyvault_credential=`) or `secret_resolver=`, azure-core's retries honouring
    `retry-after-ms`.

    Why the provider sits under the loader core and not beside it: the provider knows how to read the store, the
    core knows what may be served (the pointer's digest against the release, `_schema`, last known good,
    deadlines, one flight per model). `read_documents(model)` is the core's one read per refresh: here it is
    `provider.refresh()` (a cold `load()` the first time, or after a failure), and the release document and
    values the core then asks for (`read_documents(model, [release])`, `read_versions`) are rendered from what
    that provider load fetched, without another request. So the core checks exactly what the provider would
    serve, and the guarantees stay written once. The provider exposes neither the pointer it read nor the
    snapshot it followed: `_Observer` notes them from its responses.

    Provider failures are not retryable for the core: the provider already retried (within `startup_timeout`
    for a cold load, azure-core's policy for a refresh). After a failed refresh the provider is dropped: its own
    back-off would hold this client for up to its refresh interval, a new one recovers at the core's next try
    (`retry_interval`), at the price of one cold load.

    The operator primitives (writes, ledger, history) go through an ordinary SDK client, as in the base class.
    """

    def __init__(
        self,
        project: str,
        environment: str,
        *,
        endpoint: str,
        credential: Any = None,
        startup_timeout: int = 5,
        secret_resolver: Callable[[str], str] | None = None,
        keyvault_credential: Any = None,
        **client_kwargs: Any,
    ):
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        super().__init__(
            project,
            environment,
            client=appconfig_client(endpoint, credential, **client_kwargs),
            store=endpoint,
            credential=credential,
        )
        self.endpoint = endpoint
        self.startup_timeout = startup_timeout
        self.secret_resolver = secret_resolver
        self.keyvault_credential = keyvault_credential
        self.client_kwargs = client_kwargs
        self._followed: dict[str, _Followed] = {}
        self._model_locks: dict[str, threading.Lock] = {}

    def _model_lock(self, model: str) -> threading.Lock:
        with self._lock:
            return self._model_locks.setdefault(model, threading.Lock())

    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        with self._model_lock(model):
            state = self._followed.get(model)
            if state is None or not release_ids:
                state = self._read(model, state)
            schema = state.captured.get(self.layout.schema_key(model))
            with state.observer.lock:
                pointer = state.observer.pointer
            return ModelDocuments(
                schema=StoredDocument(self.schema_location(model), schema.value or "", schema.etag or "")
                if schema is not None
                else None,
                pointer=self._pointer_document(model, _Setting.wire(pointer)) if pointer is not None else None,
                releases={release_id: self._followed_release(model, state, release_id) for release_id in release_ids},
            )

    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
        """The values of the release the provider followed, secrets as the provider resolved them; nothing for
        any other release (the core then reports the versions as missing, never a value from elsewhere)."""
        with self._model_lock(model):
            state = self._followed.get(model)
            if state is None or release_id is None or self._followed_snapshot(model, state, release_id) is None:
                return {}
            values: dict[str, StoredValue] = {}
            for key, version in wanted.items():
                setting = state.captured.get(self.layout.key(model, key))
                if setting is None or setting.version != version:
                    continue
                text = setting.text
                if setting.kind == "SecureString":
                    resolved = state.provider.get(setting.key)
                    if resolved is None:
                        continue
                    text = str(resolved)
                values[key] = StoredValue(key, text, version, setting.kind)
            return values

    def close(self) -> None:
        with self._lock:
            followed = list(self._followed.values())
            self._followed.clear()
        for state in followed:
            state.provider.close()

    # -- the provider ---------------------------------------------------------------------------------------

    def _followed_snapshot(self, model: str, state: _Followed, release_id: str) -> _Snapshot | None:
        with state.observer.lock:
            body = state.observer.snapshots.get(self.layout.snapshot_name(model, release_id))
        return _Snapshot.wire(body) if body is not None else None

    def _followed_release(self, model: str, state: _Followed, release_id: str) -> StoredDocument | None:
        snapshot = self._followed_snapshot(model, state, release_id)
        if snapshot is None:
            return None
        prefix = f"{model}:"
        items = {key[len(prefix) :]: s for key, s in state.captured.items() if key.startswith(prefix)}
        return self._release_document(model, release_id, snapshot, items)

    def _read(self, model: str, state: _Followed | None) -> _Followed:
        if state is not None:
            timer = getattr(state.provider, "_refresh_timer", None)
            if timer is not None and hasattr(timer, "_next_refresh_time"):
                # The provider gates refresh on its own whole-second timer; the core decided that it is time.
                timer._next_refresh_time = 0
            state.changed = False
            state.errors.clear()
            before = dict(state.captured)
            state.captured.clear()
            try:
                state.provider.refresh()
            except Exception as err:  # not an AzureError (those go to on_refresh_error): a bug or a bad answer
                state.errors.append(err)
            if not state.errors:
                if not state.changed:
                    state.captured.update(before)
                return state
            state.provider.close()
            del self._followed[model]
            raise self._unavailable(model, state.errors[-1])
        return self._cold(model)

    def _cold(self, model: str) -> _Followed:
        from azure.appconfiguration.provider import SettingSelector, load

        observer = _Observer(self.layout.pointer_key(model))
        captured: dict[str, _Setting] = {}
        errors: list[Exception] = []
        box: list[_Followed] = []

        def changed() -> None:
            if box:
                box[0].changed = True

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
                self._credential,
                selects=[
                    SettingSelector(key_filter=self.layout.pointer_key(model), label_filter=self.layout.label),
                    SettingSelector(key_filter=self.layout.schema_key(model), label_filter=self.layout.label),
                ],
                refresh_on=[(self.layout.pointer_key(model), self.layout.label)],
                refresh_interval=1,
                on_refresh_success=changed,
                on_refresh_error=errors.append,
                configuration_mapper=lambda setting: captured.__setitem__(setting.key, _Setting.of(setting)),
                replica_discovery_enabled=False,
                startup_timeout=self.startup_timeout,
                per_retry_policies=[*policies, observer.policy],
                **kwargs,
            )
        except Exception as err:
            raise self._unavailable(model, err) from None
        state = _Followed(provider, observer, captured, errors)
        box.append(state)
        self._followed[model] = state
        return state

    def _unavailable(self, model: str, err: BaseException) -> ModelConfigError:
        # A failed cold load raises TimeoutError(message, [the attempts' errors]); the last says why.
        causes = err.args[1] if isinstance(err, TimeoutError) and len(err.args) > 1 else [err]
        last = causes[-1] if causes else err
        failure = translate(last, doing=f"load model {model}", store=self.endpoint)
        if isinstance(failure, BackendUnavailableError):
            failure.retryable = False  # the provider already retried
        return failure


class AzureReleaseManager(ReleaseManager):
    """The shared release manager (`ReleaseManager`) on `AzureAppConfigBackend`: only the constructor is Azure's.
    `options` are the backend's (`client=`, an `AzureAppConfigurationClient` from `appconfig_client`; `store=`,
    `credential=`, `identity=`, `retention_seconds=`); `backoff` is the core's."""

    def __init__(self, project: str, environment: str, *, backoff: Backoff | None = None, **options: Any):
        backend = AzureAppConfigBackend(project, environment, **options)
        super().__init__(project, environment, backend=backend, backoff=backoff)


class AzureConfigLoader(ModelConfigLoader):
    """The shared loader (`ModelConfigLoader`: typed values, `_schema`, digest check, last known good, deadlines)
    on `AzureProviderBackend`: applications load through the official provider.

    `endpoint` is the store's (the stack output `appConfigurationEndpoint`). The core's options
    (`ttl_seconds`, `retry_interval`, `deadline_seconds`, `backoff`, `snapshot`, `clock`) go to the core, every
    other option to the backend: `credential` (default `DefaultAzureCredential`), `secret_resolver` or
    `keyvault_credential` for Key Vault references (default: the credential), `startup_timeout` (one cold load
    of the provider), and the SDK client's own (`transport=`, `retry_total=`, ...)."""

    backend: AzureProviderBackend
    CORE_OPTIONS = ("ttl_seconds", "retry_interval", "deadline_seconds", "backoff", "snapshot", "clock")

    def __init__(self, project: str, environment: str | None = None, *, endpoint: str, **options: Any):
        from ml_infra.modelconfig.loader import ENVIRONMENT_ENV_VAR

        environment = environment or os.environ.get(ENVIRONMENT_ENV_VAR)
        if not environment:
            raise InvalidInputError(f"no environment given; pass environment= or set {ENVIRONMENT_ENV_VAR}")
        core = {name: options.pop(name) for name in self.CORE_OPTIONS if name in options}
        backend = AzureProviderBackend(project, environment, endpoint=endpoint, **options)
        super().__init__(project, environment, backend=backend, **core)

    def close(self) -> None:
        """Close the providers (their HTTP sessions)."""
        self.backend.close()


__all__ = [
    "API_VERSION",
    "KEY_VAULT_REF_CONTENT_TYPE",
    "SERVICE",
    "SNAPSHOT_REF_CONTENT_TYPE",
    "AzureAppConfigBackend",
    "AzureConfigLoader",
    "AzureLayout",
    "AzureProviderBackend",
    "AzureReleaseManager",
    "ConcurrentActivationError",
    "appconfig_client",
    "key_vault_reference",
    "token_identity",
]
