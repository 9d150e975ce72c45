"""From the text SSM stores to the typed value an application gets, and the checks a value must pass.

One function converts and checks, so `set`, `release`, `activate` and the loader all apply the same rules, and
they are the rules the stack config applies to the values Pulumi seeds (`ml_infra.stack_config`): integer and
number parse as Python does, booleans are exactly `true`/`false`, json is any JSON document, a list is
StringList text (comma-separated, no empty items), a secret is a SecureString returned as `SecretStr` so that it
never shows up in a log or a repr.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

import re2
from pydantic import SecretStr

from ml_infra.modelconfig.layout import KeySchema

SECRET_PLACEHOLDER = "[secret]"
# SSM refuses larger values (Advanced tier); Standard holds up to 4 KB.
MAX_VALUE_BYTES = 8192
STANDARD_TIER_MAX_BYTES = 4096


class ValueProblem(ValueError):
    """Why a stored text is not a valid value of its key; the message never contains a secret."""


# ---------------------------------------------------------------------------------------------------------------
# The engine of `allowedPattern`
#
# A key's `allowedPattern` comes from config, and the same pattern is checked in three places: the stack config
# (preview and `pulumi up`), `ml-infra config set`/`release`/`activate`, and the loader in every application.
# All three call `matches_allowed_pattern`, which runs the pattern on RE2 (google-re2): RE2 matches in time
# linear in the input and never backtracks, so no pattern (`^(a+)+$`, `(a|aa)*b`) can hang any of them.
# Python's `re` (and Java's) backtrack, and a pattern such as `^(a+)+$` on "aaaa...b" takes exponential time.
#
# How RE2's syntax relates to what SSM's `AllowedPattern` accepts (SSM checks the pattern with Java's
# java.util.regex when it stores a value; RE2 syntax: https://github.com/google/re2/wiki/Syntax):
# - The common core means the same in both: literals, `.`, classes `[a-z]` and `[^...]`, `\d \w \s \b` and their
#   negations, `\p{L}`-style Unicode classes, anchors `^ $ \A \z`, groups `(...)`, `(?:...)`, `(?<name>...)`,
#   alternation, the quantifiers `* + ? {n} {n,} {n,m}` and their lazy forms, flags `(?i)`, `(?s)`, `(?m)`,
#   quoting `\Q...\E`. A pattern built from these matches the same strings on both engines.
# - Java constructs RE2 refuses, so they are refused here although SSM would store them: look-ahead and
#   look-behind `(?=` `(?!` `(?<=` `(?<!`, back-references `\1`, possessive quantifiers `a*+`, atomic groups
#   `(?>...)`, `\Z`, `\G`, and repetition counts above 1000. Those are what make backtracking blow up;
#   refusing them is the safe direction (a stricter check, never a weaker one).
# - RE2 constructs Java reads differently or refuses, refused here so the two never disagree:
#   `(?P<name>...)` (Python-style named group; Java refuses it), POSIX classes `[[:alpha:]]` (Java reads a
#   class of the characters `[:alph`), and `\C` (any byte).
# - Matching is a full match of the whole value, as `String.matches` is in Java: `^` and `$` are optional,
#   and `$` never matches before a trailing newline (in Python's `re` it does).
ALLOWED_PATTERN_MAX_LENGTH = 1024  # SSM's limit on AllowedPattern
_RE2_ONLY = (
    (re.compile(r"\(\?P<"), "a Python-style named group `(?P<name>...)` (Java spells it `(?<name>...)`)"),
    (re.compile(r"\[:\^?[a-z]+:\]"), "a POSIX class such as `[[:alpha:]]`, which Java reads as a set of characters"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\C"), "`\\C` (any byte)"),
)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors on stderr itself; they are reported here instead
    return re2.compile(pattern, options=options)


def allowed_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be an `allowedPattern` ("<what is wrong>; <what is allowed>"), or None."""
    if len(pattern) > ALLOWED_PATTERN_MAX_LENGTH:
        return f"is {len(pattern)} characters long; SSM allows at most {ALLOWED_PATTERN_MAX_LENGTH}"
    for construct, what in _RE2_ONLY:
        if construct.search(pattern):
            return f"uses {what}; allowed: the regular-expression syntax RE2 and Java share"
    try:
        _compiled(pattern)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        return (
            f"is not a pattern the linear-time engine (RE2) accepts ({reason}); allowed: the regular-expression "
            "syntax RE2 and Java share, without look-around, back-references or possessive quantifiers"
        )
    return None


def matches_allowed_pattern(pattern: str, text: str) -> bool:
    """Whether the whole of `text` matches `pattern`, in time linear in `text`. Raises ValueProblem when the
    pattern itself is refused (see `allowed_pattern_problem`)."""
    problem = allowed_pattern_problem(pattern)
    if problem is not None:
        raise ValueProblem(f"allowed pattern {pattern!r} {problem}")
    return _compiled(pattern).fullmatch(text) is not None


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity, which are not JSON (RFC 8259) and not finite.
    raise ValueError(f"{name} is not a JSON number; allowed: finite numbers")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a finite number; allowed: finite numbers")
    return number


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
    if schema.allowed_pattern is not None and not matches_allowed_pattern(schema.allowed_pattern, text):
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
        # float() reads "nan", "inf" and "infinity": NaN passes every minimum/maximum comparison.
        if not math.isfinite(value):
            raise ValueProblem(f"value {shown} is not a finite number; allowed: finite numbers only")
    elif kind == "boolean":
        if text not in ("true", "false"):
            raise ValueProblem(f"value {shown} is not a boolean; allowed: true, false")
        value = text == "true"
    elif kind == "json":
        try:
            value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
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
