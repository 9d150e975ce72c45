"""Where a model's configuration lives in SSM Parameter Store, and the documents that describe it.

This module is the contract between the Pulumi program (which creates the parameters, the declared schema and
the first release) and the run-time library (which loads, releases, activates and rolls back). Both import it,
so the two sides cannot drift apart. It imports neither Pulumi nor boto3.

Layout for project ``p``, environment ``e`` and model ``m``::

    /p/e/m/<key>              one parameter per configuration key (String, StringList or SecureString)
    /p/e/m/_schema            the declared value types and constraints of every key (JSON, String)
    /p/e/m/_release/<id>      an immutable release: the exact SSM version of every key (JSON, String)
    /p/e/m/_release/active    the pointer: the active release's id and the digest of its document (JSON, String)

Activation writes ``_release/active`` once. The pointer carries no key versions, so it cannot describe a mix:
applications read it, then the release document it names, refuse the pair unless the document's SHA-256 is the
digest the pointer names (`release_digest`), and only then fetch every key at the version the release names
(``name:version`` selectors). A pointer that fails any check is refused: the last known good configuration is
served, stale, with the reason. The pointer's own SSM history (who, when) is the audit trail of activations; the
run-time library also writes the caller's identity into the pointer document (``activation``). Keys may not
start with ``_``: that prefix is reserved for this bookkeeping.

Every key version that a release references carries the SSM label ``released-v<version>`` (see
``protection_label``): SSM keeps at most 100 versions of a parameter and refuses to evict a labelled oldest
version, so a referenced version can never disappear. One label per version, whatever the number of releases
that reference it, keeps clear of SSM's limit of 10 labels per version.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

RESERVED_PREFIX = "_"
SCHEMA_SUFFIX = "_schema"
RELEASE_SEGMENT = "_release"
ACTIVE_RELEASE_ID = "active"
DOCUMENT_FORMAT = 1
POINTER_FORMAT = 2  # format 1 was a full copy of the release document (still read, see `parse_pointer`)
# Release ids that name something other than a stored release: the pointer, and the latest version of every key
# (what `ml-infra config release` would capture).
STAGED_RELEASE_ID = "staged"
RESERVED_RELEASE_IDS = frozenset({ACTIVE_RELEASE_ID, STAGED_RELEASE_ID})
PROTECTION_LABEL_PREFIX = "released-v"

# A path segment: lower-case model names, and keys in SSM's own character set minus "/" (keys are leaves).
MODEL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RELEASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

SsmType = Literal["String", "StringList", "SecureString"]
ValueType = Literal["string", "integer", "number", "boolean", "json", "list", "secret"]


def model_path(project: str, environment: str, model: str) -> str:
    """The path under which every parameter of one model lives (no trailing slash)."""
    return f"/{project}/{environment}/{model}"


def parameter_name(project: str, environment: str, model: str, key: str) -> str:
    return f"{model_path(project, environment, model)}/{key}"


def schema_parameter_name(project: str, environment: str, model: str) -> str:
    return f"{model_path(project, environment, model)}/{SCHEMA_SUFFIX}"


def release_parameter_name(project: str, environment: str, model: str, release_id: str) -> str:
    return f"{model_path(project, environment, model)}/{RELEASE_SEGMENT}/{release_id}"


def active_release_parameter_name(project: str, environment: str, model: str) -> str:
    return release_parameter_name(project, environment, model, ACTIVE_RELEASE_ID)


def protection_label(version: int) -> str:
    """The SSM label that protects one version of a key from eviction because a release references it.

    The label is named after the version, so it never moves to another version and labelling is idempotent.
    """
    return f"{PROTECTION_LABEL_PREFIX}{version}"


class KeySchema(BaseModel):
    """What one configuration key holds: its SSM type, the type applications get, and its constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ssm_type: SsmType
    value_type: ValueType
    description: str = ""
    allowed_pattern: str | None = None
    # Finite only: a NaN bound would make every comparison false, so every value would pass.
    minimum: float | None = Field(None, allow_inf_nan=False)
    maximum: float | None = Field(None, allow_inf_nan=False)
    allowed_values: list[str] | None = None


class ModelSchema(BaseModel):
    """The declared shape of a model's configuration, stored at ``_schema``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = DOCUMENT_FORMAT
    project: str
    environment: str
    model: str
    keys: dict[str, KeySchema]


class ReleasedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    ssm_type: SsmType


class Activation(BaseModel):
    """Who made a release active, when, and what was active before: written by the run-time library into the
    pointer document (``_release/active``) only; a stored release (``_release/<id>``) never has one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["activate", "rollback"]
    activated_at: str
    activated_by: str
    previous_release_id: str | None = None
    reason: str = ""


class _WithOptionalActivation(BaseModel):
    """A document that may carry an activation record (each subclass declares `activation` last, so the field
    order, and so the serialised text and its digest, stays as it was), serialised without it when it has none."""

    @model_serializer(mode="wrap")
    def _omit_absent_activation(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A document without an activation serialises exactly as before the field existed, so the text the
        # Pulumi program writes for the initial release (and so its digest) does not change.
        data = handler(self)
        if data.get("activation") is None:
            data.pop("activation", None)
        return data


class ReleaseDocument(_WithOptionalActivation):
    """An immutable snapshot of a model's configuration: every key at one exact SSM version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = DOCUMENT_FORMAT
    release_id: str
    project: str
    environment: str
    model: str
    keys: dict[str, ReleasedKey]
    created_at: str | None = None
    created_by: str | None = None
    parent_release_id: str | None = None
    note: str = ""
    activation: Activation | None = None

    def as_release(self) -> ReleaseDocument:
        """The release itself, without the activation record a pointer document carries."""
        return self.model_copy(update={"activation": None})


class PointerDocument(_WithOptionalActivation):
    """The active-release pointer: which release is active and the digest of its stored document, and who made
    it active. It names no key version, so it cannot carry a mix of releases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[2] = POINTER_FORMAT
    project: str
    environment: str
    model: str
    release_id: str
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    activation: Activation | None = None


def release_digest(text: str) -> str:
    """The digest a pointer names for a release document: SHA-256 of its stored text, byte for byte."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def pointer_for(release: ReleaseDocument, release_text: str, activation: Activation | None = None) -> PointerDocument:
    """The pointer that makes `release` (stored as `release_text`) active."""
    return PointerDocument(
        project=release.project,
        environment=release.environment,
        model=release.model,
        release_id=release.release_id,
        digest=release_digest(release_text),
        activation=activation,
    )


class DocumentProblem(ValueError):
    """Why a stored pointer or release document is refused (never contains a secret: documents hold none)."""


def parse_pointer(text: str) -> tuple[PointerDocument | None, ReleaseDocument | None]:
    """The pointer in `text`: (pointer, None), or for a format-1 pointer (a full copy of a release, written before
    the digest existed) (None, the copy). DocumentProblem when it is neither."""
    try:
        return PointerDocument.model_validate_json(text), None
    except ValueError as pointer_error:
        try:
            return None, ReleaseDocument.model_validate_json(text)
        except ValueError:
            raise DocumentProblem(f"not a valid pointer document ({_first_error(pointer_error)})") from None


def verify_release(
    pointer: PointerDocument | None,
    legacy: ReleaseDocument | None,
    release_text: str | None,
    where: tuple[str, str, str],
) -> ReleaseDocument:
    """The release a pointer names, checked: it exists, its stored text has the digest the pointer names (a format-1
    pointer: its copy equals the stored release), and pointer and release belong to `where` (project,
    environment, model). DocumentProblem naming the first check that fails."""
    named = pointer if pointer is not None else legacy
    assert named is not None
    release_id = named.release_id
    if (named.project, named.environment, named.model) != where:
        raise DocumentProblem(
            f"the pointer names {named.project}/{named.environment}/{named.model}, not {'/'.join(where)}"
        )
    if release_text is None:
        raise DocumentProblem(f"the pointer names release {release_id!r}, which does not exist")
    if pointer is not None and release_digest(release_text) != pointer.digest:
        raise DocumentProblem(
            f"the pointer names release {release_id!r} with digest {pointer.digest}, but the stored release "
            f"document has {release_digest(release_text)} (rewritten or not the release that was activated)"
        )
    try:
        release = ReleaseDocument.model_validate_json(release_text)
    except ValueError as err:
        raise DocumentProblem(f"release {release_id!r} is not a valid release document ({_first_error(err)})") from None
    if release.release_id != release_id or (release.project, release.environment, release.model) != where:
        raise DocumentProblem(
            f"the document stored as release {release_id!r} is release {release.release_id!r} of "
            f"{release.project}/{release.environment}/{release.model}"
        )
    if legacy is not None and legacy.as_release() != release.as_release():
        raise DocumentProblem(
            f"the pointer is labelled release {release_id!r} but its key versions differ from that release's"
        )
    return release.as_release()


def _first_error(err: Exception) -> str:
    if isinstance(err, ValidationError) and err.errors():
        first = err.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "(document)"
        return f"{location}: {first['msg']}"
    return str(err).splitlines()[0]
