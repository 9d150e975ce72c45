"""Avro reader/writer compatibility through the `avro` package's own checker (`avro.compatibility`), turned
into `Change`s with field paths a data engineer can find in the schema.

The checker reports, per comparison, a set of incompatibility types, messages and locations (JSON pointers
such as `/fields/3/type`) without pairing them; when there is exactly one of each they are paired, otherwise
each location is reported with every message. Locations are translated to field names (`fields/3` ->
`timeout_ms`) by walking the reader's schema document.
"""

from __future__ import annotations

import json
from typing import Any

from ml_infra.contracts.report import Change


class AvroSchemaProblem(ValueError):
    """The text is not a usable Avro schema."""


def parse(text: str) -> Any:
    import avro.errors
    import avro.schema

    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, json.JSONDecodeError) as err:
        raise AvroSchemaProblem(f"not a valid Avro schema: {err}") from err


def _field_path(document: Any, location: str) -> str:
    """`/fields/3/type/items` -> `timeout_ms.type.items` for the reader schema document (best effort)."""
    tokens = [t for t in location.split("/") if t]
    node = document
    names: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "fields" and i + 1 < len(tokens) and isinstance(node, dict):
            fields = node.get("fields") or []
            idx = int(tokens[i + 1]) if tokens[i + 1].isdigit() else -1
            if 0 <= idx < len(fields):
                node = fields[idx]
                names.append(str(node.get("name")))
                i += 2
                continue
        names.append(token)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        i += 1
    return ".".join(names) if names else "(the whole record)"


def reader_can_read(reader_text: str, writer_text: str) -> list[Change]:
    """The incompatibilities of reading data written with `writer_text` using `reader_text` (empty: it can)."""
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    reader, writer = parse(reader_text), parse(writer_text)
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    reader_doc = json.loads(reader_text)
    kinds = {t.name.upper() for t in result.incompatibilities}
    messages = sorted(result.messages)
    locations = sorted(result.locations) or ["/"]
    # Pair messages with locations: a missing-default message is the field's name at `/fields/N`; the rest
    # pair in order when the counts agree, and are otherwise reported together.
    pairs: list[tuple[str, str, str]] = []
    rest_locations = []
    for loc in locations:
        field = _field_path(reader_doc, loc)
        last = field.rsplit(".", 1)[-1]
        if "READER_FIELD_MISSING_DEFAULT_VALUE" in kinds and loc.rsplit("/", 2)[-2:-1] == ["fields"] \
                and last in messages:
            messages.remove(last)
            pairs.append(("READER_FIELD_MISSING_DEFAULT_VALUE", loc, last))
        else:
            rest_locations.append(loc)
    other_kinds = sorted(kinds - {"READER_FIELD_MISSING_DEFAULT_VALUE"}) or sorted(kinds)
    if len(rest_locations) == len(messages):
        for loc, message in zip(rest_locations, messages, strict=True):
            kind = "TYPE_MISMATCH" if message.startswith("reader type:") and "TYPE_MISMATCH" in kinds \
                else "+".join(other_kinds)
            pairs.append((kind, loc, message))
    else:
        for loc in rest_locations:
            pairs.append(("+".join(other_kinds), loc, "; ".join(messages)))
    changes = []
    for kind, loc, message in pairs:
        field = _field_path(reader_doc, loc)
        changes.append(
            Change(kind=kind or "INCOMPATIBLE", location=f"{loc} ({field})", compatible=False,
                   message=_explain(kind, message, field))
        )
    return changes


def _explain(kind: str, message: str, field: str) -> str:
    hints = {
        "READER_FIELD_MISSING_DEFAULT_VALUE": f"field {field!r} is in the reader's schema without a default, "
        "and the writer's data does not have it",
        "TYPE_MISMATCH": f"field {field!r}: {message}",
        "MISSING_ENUM_SYMBOLS": f"{field!r}: the writer may use enum symbols the reader does not know "
        f"({message})",
        "MISSING_UNION_BRANCH": f"{field!r}: the writer may use a union branch the reader does not have "
        f"({message})",
        "NAME_MISMATCH": f"{field!r}: named type renamed ({message})",
        "FIXED_SIZE_MISMATCH": f"{field!r}: fixed size differs ({message})",
    }
    return hints.get(kind, f"{field!r}: {message}")
