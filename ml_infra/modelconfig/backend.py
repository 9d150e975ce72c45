"""The storage interface of model configuration: what a service must supply so that the core (`loader`,
`releases`, the `ml-infra config` CLI) can keep its guarantees on it.

Modelled on AWS Lambda Powertools' `parameters.BaseProvider`: the guarantees live once, in the core (typed values
checked against `_schema`, release validation, eviction protection, the last known good configuration, audit
and history, deadlines and retries, prod confirmations); each service (`ssm.SsmBackend` for SSM Parameter
Store, an Azure App Configuration backend next to it) implements only the storage primitives below. The core
never imports a service SDK and never catches an SDK exception: a backend raises the library's own exceptions
(`errors`), so the CLI prints the same messages and exit codes whichever service is underneath.

A backend is bound to one project and one environment at construction; every primitive takes the model name
(already checked against `layout.MODEL_NAME_PATTERN` by the core) and works on that model only.

Terms used by every primitive:

- a *document* is a UTF-8 JSON text the core writes and parses (the declared schema, a release, the active
  pointer); the backend stores and returns it byte for byte and never interprets it;
- a *key value* is one immutable version of one configuration key: `version` is a positive integer that names
  exactly one stored text forever (SSM: the parameter version); writing a key makes a new version, never
  changes an existing one;
- a *revision* is the backend's identifier of one state of a document (SSM: the parameter version as an
  integer; Azure App Configuration: the ETag). The core only compares revisions for equality and passes them
  back; `PointerSwap.revision` of consecutive writes must be ordered where the store orders them (SSM) so that
  history can be read in write order.

A store whose own release primitive is not a document (Azure App Configuration: a release is a snapshot, the
pointer a snapshot-reference key-value the official provider follows) keeps the facts of the core's documents in
that primitive (tags, the snapshot's key-values) and renders the same document back, deterministically, from
them: what it returns for one stored state is always the same text, so digests and equality hold. What the
store holds but cannot render as a document (a pointer edited by hand in the portal) is returned with `problem`
saying why: the core refuses it as it refuses a corrupt document.

Errors every primitive may raise (and no other exception; translate the SDK's):

- `BackendUnavailableError`: throttled, timed out, unreachable, a server fault. Set `retryable=True` only when
  repeating the call cannot do harm: always for reads; for a write only when the store certainly did not apply
  it (throttling, SSM's TooManyUpdates). The core retries retryable errors with backoff within its deadline.
- `PermissionDeniedError`: the store refused for lack of permission (IAM, KMS, RBAC); never retried.
- `InvalidInputError`: the store refused the input itself (a value that fails its allowed pattern, a missing
  region or credentials, an unusable endpoint); the message says what to set or change.
- `ConcurrentChangeError`, `ReleaseExistsError`, `EvictionRiskError`: where a primitive says so.
- `ModelConfigError`: anything else, with a message naming the store, the item and the service's own error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ml_infra.modelconfig.layout import KeySchema, SsmType

Revision = int | str


@dataclass(frozen=True)
class StoredValue:
    """One version of one key as the store holds it. `text` is the decrypted secret for a secret key: never log
    it (it is kept out of the repr)."""

    key: str
    text: str = field(repr=False)
    version: int
    kind: SsmType
    modified_at: datetime | None = None


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored: where (`location`, for messages), its text and its revision; for the versions of the
    pointer also who wrote it and when, as the store recorded it (None where it records nothing)."""

    location: str
    text: str
    revision: Revision
    modified_at: datetime | None = None
    modified_by: str | None = None
    # For a release from `list_releases`: its id (default: the last `/` segment of `location`).
    release_id: str | None = None
    # Why what is stored here is not a valid document (set only by a backend that renders documents).
    problem: str | None = None


@dataclass(frozen=True)
class ModelDocuments:
    """The documents of one model read together: `None` for one that does not exist."""

    schema: StoredDocument | None
    pointer: StoredDocument | None
    releases: Mapping[str, StoredDocument | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PointerSwap:
    """The outcome of a pointer write: the revision it created, and whether the backend can vouch that no other
    write came between the expected revision and this one (`exclusive`)."""

    revision: Revision
    exclusive: bool = True


class ConfigBackend(ABC):
    """The storage primitives of one service for the models of one project and environment.

    Implementations must be safe to call from several threads at once (the loader fetches different models in
    parallel), and must not retry on their own beyond what their SDK does in one call: the core owns retries and
    deadlines, so that one budget covers a whole load or activation.
    """

    #: Short name of the backend ("ssm", "azure"): the `source` of a configuration loaded fresh from it.
    name: str = "store"
    #: The service's name as operators know it, used in messages ("SSM Parameter Store").
    service: str = "configuration store"
    #: How many versions of a key the store keeps before it evicts the oldest (SSM: 100), None if unbounded.
    max_versions: int | None = None
    #: Whether `(key, version)` names one text forever, so a reader may keep fetched values across releases
    #: (SSM: parameter versions are immutable). False where the version is a counter kept in a tag that a hand
    #: edit can leave unchanged (Azure App Configuration): the loader then reads a changed release's values anew.
    stable_versions: bool = True
    #: Whether the store drops the pointer's old revisions (Azure App Configuration: after 7 or 30 days). Rollback
    #: then never reads `pointer_history`: it takes the previous release the active pointer records (exact,
    #: because such a store's `swap_pointer` is an exact compare-and-swap) or, failing that, the active release's
    #: parent.
    pointer_history_expires: bool = False

    # -- where things are (for messages only) -------------------------------------------------------------

    @abstractmethod
    def schema_location(self, model: str) -> str:
        """Where the model's declared schema is stored (SSM: the parameter name)."""

    @abstractmethod
    def pointer_location(self, model: str) -> str:
        """Where the model's active-release pointer is stored."""

    @abstractmethod
    def release_location(self, model: str, release_id: str) -> str:
        """Where release `release_id` of the model is (or would be) stored."""

    @abstractmethod
    def key_location(self, model: str, key: str) -> str:
        """Where the values of `key` are stored."""

    # -- reading ------------------------------------------------------------------------------------------

    @abstractmethod
    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        """The schema, the pointer and the named releases of the model, each at its latest revision, as one
        consistent-enough read: one round trip where the store allows it (the loader calls this on every refresh
        after the time-to-live, so it is the cost of an unchanged refresh). A missing document is None, not an
        error."""

    @abstractmethod
    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
        """Every `key: version` in `wanted`, exactly that version, secrets decrypted. A version the store does not
        have (never written, deleted, evicted) is absent from the result, not an error: the core names it.

        `release_id` is the release these versions were read from: a store whose releases hold the values
        themselves (an Azure snapshot) reads them there, because it keeps no older version of a key anywhere
        else. SSM ignores it."""

    @abstractmethod
    def read_latest(self, model: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """The latest version of each key (the *staged* state), secrets decrypted; a key that does not exist is
        absent from the result."""

    @abstractmethod
    def list_releases(self, model: str) -> list[StoredDocument]:
        """Every stored release document of the model (not the pointer), in any order, including documents the
        core may find corrupt: the core lists those as corrupt rather than failing. Must page through
        everything (the ledger is the store's, not a cache)."""

    @abstractmethod
    def pointer_history(self, model: str) -> list[StoredDocument]:
        """The pointer's earlier and current revisions as the store keeps them, oldest first (SSM keeps the last
        100), with who and when if the store records it. Raise nothing for a pointer that never existed: return
        an empty list."""

    # -- writing ------------------------------------------------------------------------------------------

    def check_value(self, model: str, key: str, text: str, declared: KeySchema) -> str | None:
        """What keeps this store from storing `text` as a value of `key` beyond the schema's own rules, or None.
        The core asks before writing anything, so a refused value leaves every other value of the same `set`
        unwritten. (Azure: a secret is stored as a Key Vault reference and must name one secret version.)"""
        return None

    @abstractmethod
    def write_value(self, model: str, key: str, text: str, declared: KeySchema) -> int:
        """Store `text` as a new version of `key` and return that version. Keep whatever the deployment declared
        on the key (description, allowed pattern, encryption key, tier) so a run-time write changes the value
        only. Raise `EvictionRiskError` when the store refuses because its oldest version is protected
        (`retain`) and the version limit is reached: nothing was written."""

    @abstractmethod
    def create_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        """Store a new release document, atomically and only if no release `release_id` exists: raise
        `ReleaseExistsError` otherwise (a release is immutable; a check followed by a write is not enough, two
        operators may create the same id at once)."""

    @abstractmethod
    def replace_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        """Overwrite an existing release document in one atomic write. Used only to re-baseline the release the
        deployment seeded (`initial`), which the deployment tool keeps declaring; never for any other release."""

    @abstractmethod
    def delete_release(self, model: str, release_id: str) -> None:
        """Remove a release document (retiring it). Deleting one that does not exist is not an error."""

    @abstractmethod
    def swap_pointer(self, model: str, text: str, expected: Revision | None) -> PointerSwap:
        """Compare-and-swap the active pointer: write `text` only if the pointer is still at revision `expected`
        (None: only if no pointer exists), as ONE atomic write, so readers see the old or the new pointer, never
        a mix. Raise `ConcurrentChangeError` when the pointer changed since `expected` (nothing written).

        A store with a conditional write (Azure: If-Match on the ETag) is exact and returns `exclusive=True`.
        A store without one (SSM) checks the revision immediately before writing and returns `exclusive=False`
        when the revision it got shows that another write landed in between; the core then reads the true
        previous release from `pointer_history`."""

    @abstractmethod
    def retain(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        """Protect each `(key, version)` from the store's version eviction because a release references it, and
        return how many protections were added (idempotent: already protected costs no write). A store that
        never evicts implements this as `return 0`. Raise `EvictionRiskError` for a version already gone."""

    @abstractmethod
    def release_retention(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        """Undo `retain` for versions no release references any more, so the store may evict them; return how
        many protections were removed. Versions that are gone or unprotected are skipped."""

    @abstractmethod
    def identity(self) -> str:
        """Who the caller is (SSM: the STS caller ARN), recorded in releases and activations."""
