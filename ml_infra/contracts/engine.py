"""The reference JSON Schema engine of the contracts, and exact reading of JSON numbers.

Reference engine: `jsonschema-rs` (Rust) with the validator class of the schema's draft, format checks on, and
no network (`offline=True`: a `$ref` the schema cannot resolve by itself is a compile error, never a fetch).
On the official JSON-Schema-Test-Suite (draft7) it passes every core case and every `optional/format/` case
(scripts/json_schema_suite.py); the Python `jsonschema` package misses 128 format and 38 optional cases there,
which is why it is only the speed baseline in bench/.

Numbers: JSON Schema compares numbers as exact decimal values. `orjson` reads integers beyond 64 bits and every
fraction as a binary float (`2**64 + 1` becomes `2**64`, `1.00000000000000000001` becomes `1.0`), so records
are read by `loads_exact` (fractions as `decimal.Decimal`, integers as Python integers of any size), and
jsonschema-rs compares those exactly (`maximum`, `multipleOf`, `enum`, `const`). Schema numbers are read by
the catalog as Python floats and integers: integers are exact at any size, fractions are the nearest double
(exact for any bound written with at most 15 significant digits).
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

class SchemaCompileError(ValueError):
    """The engine cannot compile a schema: `pointer` is where in the schema, `message` what is wrong."""

    def __init__(self, pointer: str, message: str):
        self.pointer = pointer
        self.message = message
        super().__init__(f"{pointer or '/'}: {message}")


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _uuid_format(value: Any) -> bool:
    return not isinstance(value, str) or UUID_RE.match(value) is not None


def _refs(node: Any, where: tuple[Any, ...] = ()) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack = [(node, where)]
    while stack:
        n, w = stack.pop()
        if isinstance(n, dict):
            for k, v in n.items():
                if k == "$ref" and isinstance(v, str):
                    out.append((v, _pointer((*w, k))))
                elif k not in ("enum", "const", "default", "examples"):
                    stack.append((v, (*w, k)))
        elif isinstance(n, list):
            stack.extend((v, (*w, i)) for i, v in enumerate(n))
    return out


def compile_reference(schema: Any, draft: str) -> Any:
    """The reference validator of `schema` under `draft` (a name from catalog.DRAFT_URIS), offline, formats
    on, with `uuid` checked as RFC 4122 text in every draft (draft-07 does not define it, contracts use it).
    Raises SchemaCompileError with the JSON pointer of the problem."""
    import jsonschema_rs

    cls = {
        "draft-04": jsonschema_rs.Draft4Validator,
        "draft-06": jsonschema_rs.Draft6Validator,
        "draft-07": jsonschema_rs.Draft7Validator,
        "2019-09": jsonschema_rs.Draft201909Validator,
        "2020-12": jsonschema_rs.Draft202012Validator,
    }[draft]
    try:
        return cls(schema, validate_formats=True, formats={"uuid": _uuid_format}, offline=True)
    except jsonschema_rs.ValidationError as err:
        message = str(getattr(err, "message", "") or err).split("\n", 1)[0]
        pointer = _pointer(err.instance_path)
        if not pointer:
            # A reference problem names the reference, not where it is: find the `$ref` it is about.
            for ref, where in _refs(schema):
                if f"'{ref}'" in message or f"'{ref.partition('#')[2]}'" in message.replace("Pointer ", ""):
                    pointer = where
                    break
        if "Retrieval is disabled" in message or "not present in a registry" in message:
            message = (f"{message}; remote references are refused: a contract resolves only within its own "
                       "file, and validation never uses the network")
        raise SchemaCompileError(pointer, message) from None
    except (ValueError, RecursionError) as err:  # "Recursion limit reached" and other compile failures
        raise SchemaCompileError("", str(err)) from None


@functools.cache
def _exact_decoder() -> Any:
    import msgspec

    return msgspec.json.Decoder(float_hook=Decimal)


def loads_exact(line: bytes) -> Any:
    """One JSON document from bytes, strictly (UTF-8, no NaN/Infinity, no lone surrogates, no trailing data),
    with every number exact: fractions as Decimal from their text, integers as int of any size. One pass in
    msgspec's C decoder (`float_hook=Decimal` hands it each fraction's text). Raises ValueError when the bytes
    are not JSON."""
    import msgspec

    try:
        return _exact_decoder().decode(line)
    except msgspec.DecodeError as err:
        raise ValueError(str(err)) from None
