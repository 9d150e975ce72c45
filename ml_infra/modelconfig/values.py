"""From the text SSM stores to the typed value an application gets, and the checks a value must pass.

One function converts and checks, so `set`, `release`, `activate` and the loader all apply the same rules, and
they are the rules the stack config applies to the values Pulumi seeds (`ml_infra.stack_config`): integer and
number parse as Python does, booleans are exactly `true`/`false`, json is any JSON document, a list is
StringList text (comma-separated, no empty items), a secret is a SecureString returned as `SecretStr` so that it
never shows up in a log or a repr.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import SecretStr

from ml_infra.modelconfig.layout import KeySchema

SECRET_PLACEHOLDER = "[secret]"
# SSM refuses larger values (Advanced tier); Standard holds up to 4 KB.
MAX_VALUE_BYTES = 8192
STANDARD_TIER_MAX_BYTES = 4096


class ValueProblem(ValueError):
    """Why a stored text is not a valid value of its key; the message never contains a secret."""


def _shown(text: str, schema: KeySchema) -> str:
    return SECRET_PLACEHOLDER if schema.value_type == "secret" else repr(text)


def parse_value(text: str, schema: KeySchema) -> Any:
    """The typed value of `text` for a key declared as `schema`, or ValueProblem naming what is wrong."""
    shown = _shown(text, schema)
    if not text:
        raise ValueProblem("is empty; SSM stores no empty values")
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise ValueProblem(f"is {size} bytes; SSM parameters hold at most {MAX_VALUE_BYTES} bytes")
    if schema.allowed_pattern is not None and not re.fullmatch(schema.allowed_pattern, text):
        raise ValueProblem(f"value {shown} does not match the allowed pattern {schema.allowed_pattern!r}")
    kind = schema.value_type
    value: Any
    if kind == "integer":
        try:
            value = int(text)
        except ValueError:
            raise ValueProblem(f"value {shown} is not an integer") from None
    elif kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueProblem(f"value {shown} is not a number") from None
    elif kind == "boolean":
        if text not in ("true", "false"):
            raise ValueProblem(f"value {shown} is not a boolean; allowed: true, false")
        value = text == "true"
    elif kind == "json":
        try:
            value = json.loads(text)
        except ValueError as err:
            raise ValueProblem(f"value {shown} is not valid JSON ({err})") from None
    elif kind == "list":
        items = text.split(",")
        if any(not item for item in items):
            raise ValueProblem(f"value {shown} has an empty item; a list is comma-separated non-empty items")
        value = items
    elif kind == "secret":
        value = SecretStr(text)
    else:
        value = text
    if kind in ("integer", "number"):
        if schema.minimum is not None and value < schema.minimum:
            raise ValueProblem(f"value {shown} is below the minimum {schema.minimum:g}")
        if schema.maximum is not None and value > schema.maximum:
            raise ValueProblem(f"value {shown} is above the maximum {schema.maximum:g}")
    if schema.allowed_values is not None and text not in schema.allowed_values:
        raise ValueProblem(f"value {shown} is not one of the allowed values {schema.allowed_values}")
    return value


def display_text(text: str | None, schema_or_type: KeySchema | str) -> str:
    """What a human sees for a stored text: secrets are never shown."""
    ssm_type = schema_or_type.ssm_type if isinstance(schema_or_type, KeySchema) else schema_or_type
    if text is None:
        return ""
    if ssm_type == "SecureString":
        return SECRET_PLACEHOLDER
    return text


def plain(value: Any) -> Any:
    """A typed value as JSON can carry it, secrets replaced by the placeholder."""
    if isinstance(value, SecretStr):
        return SECRET_PLACEHOLDER
    return value
