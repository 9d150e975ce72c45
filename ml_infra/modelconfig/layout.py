"""Where a model's configuration lives in SSM Parameter Store, and the documents that describe it.

This module is the contract between the Pulumi program (which creates the parameters, the declared schema and
the first release) and the run-time library (which loads, releases, activates and rolls back). Both import it,
so the two sides cannot drift apart. It imports neither Pulumi nor boto3.

Layout for project ``p``, environment ``e`` and model ``m``::

    /p/e/m/<key>              one parameter per configuration key (String, StringList or SecureString)
    /p/e/m/_schema            the declared value types and constraints of every key (JSON, String)
    /p/e/m/_release/<id>      an immutable release: the exact SSM version of every key (JSON, String)
    /p/e/m/_release/active    the active release: a copy of one release document (JSON, String)

Activation writes ``_release/active`` once: applications read the active document and then fetch every key at
the version it names (``name:version`` selectors), so they never see a mix of two releases. The pointer's own
SSM history (who, when) is the audit trail of activations; the run-time library also writes the caller's identity
into the pointer document (``activation``). Keys may not start with ``_``: that prefix is reserved for this
bookkeeping.

Every key version that a release references carries the SSM label ``released-v<version>`` (see
``protection_label``): SSM keeps at most 100 versions of a parameter and refuses to evict a labelled oldest
version, so a referenced version can never disappear. One label per version, whatever the number of releases
that reference it, keeps clear of SSM's limit of 10 labels per version.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

RESERVED_PREFIX = "_"
SCHEMA_SUFFIX = "_schema"
RELEASE_SEGMENT = "_release"
ACTIVE_RELEASE_ID = "active"
DOCUMENT_FORMAT = 1
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
    minimum: float | None = None
    maximum: float | None = None
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


class ReleaseDocument(BaseModel):
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

    @model_serializer(mode="wrap")
    def _omit_absent_activation(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A document without an activation serialises exactly as before the field existed, so the text the
        # Pulumi program writes for the initial release does not change.
        data = handler(self)
        if data.get("activation") is None:
            data.pop("activation", None)
        return data

    def as_release(self) -> ReleaseDocument:
        """The release itself, without the activation record a pointer document carries."""
        return self.model_copy(update={"activation": None})
