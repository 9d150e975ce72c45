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
SSM history (who, when) is the audit trail of activations. Keys may not start with ``_``: that prefix is
reserved for this bookkeeping.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RESERVED_PREFIX = "_"
SCHEMA_SUFFIX = "_schema"
RELEASE_SEGMENT = "_release"
ACTIVE_RELEASE_ID = "active"
DOCUMENT_FORMAT = 1

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
