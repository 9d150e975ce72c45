"""Record validation against a contract: a validator compiled once per contract and reused, for applications
(an inference handler) and pipelines (a batch job), plus a streaming validator for JSON-lines and Avro
container files that the CLI (`ml-infra contracts validate`) uses.

    from ml_infra.contracts.validate import validator_for_contract
    validator = validator_for_contract("training-record")     # compiled once, cached per contract file
    if not validator.is_valid(record):
        for reason in validator.errors(record): ...           # JSON pointer, keyword, message

Engines (no hand-written validation):
- JSON Schema: `jsonschema-rs` (Rust) with format checks on. Its fast path `is_valid` decides; only rejected
  records pay for `iter_errors`, which lists every reason. Two things are adjusted when compiling:
  * numeric bounds written as integral floats (`"maximum": 1.0`, as pydantic and other generators emit) are
    rewritten as integers, which is exact in JSON Schema, because jsonschema-rs leaves its fast integer
    comparison for a path about 17x slower per number when a bound is a float (measured in bench/);
    fractional bounds (`0.5`) keep the slow path, and docs/contracts.md says so;
  * `uuid` is checked as a format (RFC 4122 text form) in every draft: draft-07 does not define it, so both
    jsonschema engines ignore it there, while contracts use it.
- Avro: `fastavro`'s validator, field by field so that every failing field is reported, not only the first.

Streaming (`validate_stream`) reads one line (or one Avro record) at a time: constant memory. Every input
record ends in exactly one output; a line that is not JSON is rejected with its line number, never dropped.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ml_infra.contracts.catalog import (
    AVRO_SUFFIX,
    CONTRACTS_DIR_NAME,
    JSON_SCHEMA_SUFFIX,
    ContractError,
    load_catalog,
    load_contract_file,
)

AVRO_MAGIC = b"Obj\x01"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NUMERIC_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
MAX_COUNTED_REASONS = 1000  # distinct (pointer, keyword) pairs kept for the summary: bounded memory


@dataclass(frozen=True)
class Reason:
    """Why a record is rejected: where (a JSON pointer into the record), which rule, and a message."""

    pointer: str
    keyword: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "message": self.message}


class RecordValidator(Protocol):
    name: str
    data_format: str

    def is_valid(self, record: Any) -> bool: ...

    def errors(self, record: Any) -> list[Reason]: ...


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _uuid_format(value: Any) -> bool:
    return not isinstance(value, str) or UUID_RE.match(value) is not None


def normalize_numeric_bounds(schema: Any) -> Any:
    """A copy of `schema` with integral float bounds (`1.0`) written as integers (`1`): the same schema in
    JSON Schema's number model, and jsonschema-rs keeps its fast comparison for it."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if (key in NUMERIC_BOUNDS and isinstance(value, float) and value.is_integer()
                    and abs(value) < 2**53):
                out[key] = int(value)
            elif key in ("enum", "const", "default", "examples"):
                out[key] = value
            else:
                out[key] = normalize_numeric_bounds(value)
        return out
    if isinstance(schema, list):
        return [normalize_numeric_bounds(v) for v in schema]
    return schema


@dataclass(frozen=True)
class ArrayBounds:
    """Bounds of the numbers in one array, at a path of declared properties from the record's root."""

    path: tuple[str, ...]
    low: float | int | None
    low_exclusive: bool
    high: float | int | None
    high_exclusive: bool


ITEM_KEYS = frozenset({"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "title",
                       "description", "$comment"})


def split_array_bounds(schema: Any) -> tuple[Any, list[ArrayBounds]]:
    """Take the bounds of plain numeric arrays out of a schema: (the schema without them, the bounds).

    Why by hand: jsonschema-rs spends about 37 ns on each number for `minimum`/`maximum` (measured: 27 M
    items/s with bounds against 240 M without), which dominates a record with an embedding of hundreds of
    floats; Python's built-in `min()`/`max()` over the list do it in a fraction of that. Only arrays whose
    item schema is exactly a numeric type with bounds, reached from the root through `properties` alone, are
    split, and only in schemas without `$ref` (a reference could reach the same sub-schema another way). The
    stripped schema still checks each item's type, so `min()`/`max()` only ever see numbers."""
    if not isinstance(schema, dict) or '"$ref"' in json.dumps(schema):
        return schema, []
    found: list[ArrayBounds] = []

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        out = dict(node)
        items = node.get("items")
        if (isinstance(items, dict) and set(items) <= ITEM_KEYS and items.get("type") in ("number", "integer")
                and ({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & items.keys())
                and all(_plain_number(items[k]) for k in items.keys() & NUMERIC_BOUNDS)):
            low, low_x = _tighter_low(items.get("minimum"), items.get("exclusiveMinimum"))
            high, high_x = _tighter_high(items.get("maximum"), items.get("exclusiveMaximum"))
            found.append(ArrayBounds(path, low, low_x, high, high_x))
            out["items"] = {k: v for k, v in items.items() if k not in NUMERIC_BOUNDS}
        properties = node.get("properties")
        if isinstance(properties, dict):
            out["properties"] = {k: walk(v, (*path, k)) for k, v in properties.items()}
        return out

    return walk(schema, ()), found


def uuid_format_as_pattern(schema: Any) -> Any:
    """`"format": "uuid"` also written as the equivalent `pattern` (the same schema if there is none).

    Why: a custom format is a Python call from inside jsonschema-rs, about 4 us per record (measured); the
    same check as a regular expression stays in Rust. The fast path uses this form, the full validator keeps
    the format so that a rejection says `format`."""
    changed = False

    def walk(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: (v if k in ("enum", "const", "default", "examples") else walk(v)) for k, v in node.items()}
        if out.get("format") == "uuid":
            changed = True
            if "pattern" in out:
                out["allOf"] = [*out.get("allOf", []), {"pattern": UUID_RE.pattern}]
            else:
                out["pattern"] = UUID_RE.pattern
        return out

    result = walk(schema)
    return result if changed else schema


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tighter_low(inclusive: Any, exclusive: Any) -> tuple[Any, bool]:
    if exclusive is None or (inclusive is not None and inclusive > exclusive):
        return inclusive, False
    return exclusive, True


def _tighter_high(inclusive: Any, exclusive: Any) -> tuple[Any, bool]:
    if exclusive is None or (inclusive is not None and inclusive < exclusive):
        return inclusive, False
    return exclusive, True


def _screen_then_bounds(screen: Callable[[Any], bool], bounds: list[ArrayBounds]) -> Callable[[Any], bool]:
    def is_valid(record: Any) -> bool:
        if not screen(record):
            return False
        for b in bounds:
            value = record
            for key in b.path:
                if not isinstance(value, dict) or key not in value:
                    value = None
                    break
                value = value[key]
            if not isinstance(value, list) or not value:
                continue  # absent, or not an array: the screen already judged it
            if b.low is not None:
                lowest = min(value)
                if lowest < b.low or (b.low_exclusive and lowest == b.low):
                    return False
            if b.high is not None:
                highest = max(value)
                if highest > b.high or (b.high_exclusive and highest == b.high):
                    return False
        return True

    return is_valid


class JsonRecordValidator:
    """A JSON Schema contract compiled once (jsonschema-rs, formats on)."""

    data_format = "JSON"

    def __init__(self, name: str, schema: Any):
        import jsonschema_rs

        self.name = name
        self.schema = schema
        normalized = normalize_numeric_bounds(schema)
        self._validator = jsonschema_rs.validator_for(
            normalized, validate_formats=True, formats={"uuid": _uuid_format}
        )
        # The fast path ("screen") decides validity; the full validator above only explains rejections.
        stripped, self._array_bounds = split_array_bounds(normalized)
        screen_schema = uuid_format_as_pattern(stripped)
        if self._array_bounds or screen_schema is not stripped:
            screen = jsonschema_rs.validator_for(screen_schema, validate_formats=True,
                                                 formats={"uuid": _uuid_format})
            self.fast_is_valid: Callable[[Any], bool] = (
                _screen_then_bounds(screen.is_valid, self._array_bounds) if self._array_bounds
                else screen.is_valid
            )
        else:
            # The engine's own bound method, for hot loops: one Python call less per record.
            self.fast_is_valid = self._validator.is_valid

    def is_valid(self, record: Any) -> bool:
        return self.fast_is_valid(record)

    def errors(self, record: Any) -> list[Reason]:
        return [
            Reason(_pointer(e.instance_path), str(e.schema_path[-1]) if e.schema_path else "", e.message)
            for e in self._validator.iter_errors(record)
        ]


class AvroRecordValidator:
    """An Avro contract compiled once (fastavro's parsed schema), checked field by field."""

    data_format = "AVRO"

    def __init__(self, name: str, document: Any):
        import fastavro

        self.name = name
        self.document = document
        self.parsed: Any = fastavro.parse_schema(document)
        self._fields: list[tuple[str, Any, bool]] = []
        if isinstance(document, dict) and document.get("type") == "record" and isinstance(self.parsed, dict):
            for f in self.parsed["fields"]:
                self._fields.append((f["name"], f["type"], "default" in f))

    def is_valid(self, record: Any) -> bool:
        from fastavro.validation import validate

        return bool(validate(record, self.parsed, raise_errors=False))

    def errors(self, record: Any) -> list[Reason]:
        from fastavro.validation import ValidationError, validate

        if not self._fields:
            try:
                validate(record, self.parsed, raise_errors=True)
                return []
            except ValidationError as err:
                return [Reason("", "type", _avro_message(e)) for e in err.errors]
        if not isinstance(record, dict):
            return [Reason("", "type", f"a record must be an object, not {type(record).__name__}")]
        reasons: list[Reason] = []
        for name, ftype, has_default in self._fields:
            pointer = _pointer([name])
            if name not in record:
                if not has_default:
                    reasons.append(Reason(pointer, "required", f"field {name!r} is missing and has no default"))
                continue
            try:
                validate(record[name], ftype, raise_errors=True, field=name)
            except ValidationError as err:
                for e in err.errors:
                    reasons.append(Reason(pointer, "type", _avro_message(e)))
            except Exception as err:  # fastavro raises plain errors for some malformed values
                reasons.append(Reason(pointer, "type", f"{name}: {err}"))
        if not reasons and not self.is_valid(record):  # named-type references the per-field check cannot see
            try:
                validate(record, self.parsed, raise_errors=True)
            except ValidationError as err:
                reasons.extend(Reason("", "type", _avro_message(e)) for e in err.errors)
        return reasons


def _avro_message(error: Any) -> str:
    datum, schema, where = getattr(error, "datum", None), getattr(error, "schema", None), getattr(error, "field", "")
    if schema is None:
        return str(error)
    shown = json.dumps(datum, default=str)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{where or 'value'}: {shown} is not a valid {json.dumps(schema, default=str)[:120]}"


def compile_validator(name: str, data_format: str, document: Any) -> RecordValidator:
    if data_format == "AVRO":
        return AvroRecordValidator(name, document)
    return JsonRecordValidator(name, document)


@functools.lru_cache(maxsize=64)
def _compiled(path: str, mtime_ns: int) -> RecordValidator:
    p = Path(path)
    data_format, _text, document = load_contract_file(p)
    name = p.name.removesuffix(JSON_SCHEMA_SUFFIX).removesuffix(AVRO_SUFFIX)
    return compile_validator(name, data_format, document)


def resolve_contract_path(contract: str, contracts_dir: Path | None = None) -> Path:
    """A contract given as a schema file's path, or by name from the catalog in `contracts_dir`."""
    candidate = Path(contract)
    if candidate.suffix in (".json", ".avsc") or candidate.exists():
        if not candidate.is_file():
            raise ContractError([f"{candidate}: no such schema file."])
        return candidate
    folder = contracts_dir if contracts_dir is not None else Path(CONTRACTS_DIR_NAME)
    catalog = load_catalog(folder)
    for c in catalog:
        if c.name == contract:
            return c.path
    names = ", ".join(sorted(c.name for c in catalog)) or "none"
    raise ContractError([f"{folder}: no contract named {contract!r}; contracts there: {names}."])


def validator_for_contract(contract: str, contracts_dir: Path | None = None) -> RecordValidator:
    """The compiled validator of a contract (a name in the catalog, or a schema file's path), compiled once
    per file version and reused: call it freely in a request handler."""
    path = resolve_contract_path(contract, contracts_dir).resolve()
    return _compiled(str(path), path.stat().st_mtime_ns)


# ------------------------------------------------------------------------------------------------ streaming


@dataclass
class Rejection:
    line: int  # 1-based line number (JSON lines) or record number (Avro container files)
    reasons: list[Reason]
    record: Any = None
    raw: str | None = None  # the line's text when it is not JSON

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "reasons": [r.to_json() for r in self.reasons]}
        if self.raw is not None:
            out["raw"] = self.raw
        else:
            out["record"] = self.record
        return out


@dataclass
class Summary:
    contract: str
    input: str
    input_format: str  # jsonl or avro
    read: int = 0
    valid: int = 0
    rejected: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_rejections: list[Rejection] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.valid + self.rejected == self.read

    def count(self, rejection: Rejection) -> None:
        for r in rejection.reasons:
            key = (re.sub(r"/\d+(?=/|$)", "/*", r.pointer), r.keyword)
            if key in self.reasons or len(self.reasons) < MAX_COUNTED_REASONS:
                self.reasons[key] += 1
        if len(self.first_rejections) < 20:
            self.first_rejections.append(rejection)

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "input": self.input,
            "input_format": self.input_format,
            "read": self.read,
            "valid": self.valid,
            "rejected": self.rejected,
            "balanced": self.balanced,
            "top_reasons": [
                {"pointer": p, "keyword": k, "count": n} for (p, k), n in self.reasons.most_common(20)
            ],
        }


def _json_lines(stream: IO[bytes], validator: RecordValidator) -> Iterator[tuple[int, bytes, Any, Rejection | None]]:
    import orjson

    loads = orjson.loads
    is_valid = getattr(validator, "fast_is_valid", None) or validator.is_valid
    for lineno, line in enumerate(stream, 1):
        try:
            record = loads(line)
        except orjson.JSONDecodeError as err:
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            why = "empty line" if not text.strip() else f"not JSON: {err}"
            yield lineno, line, None, Rejection(lineno, [Reason("", "json", why)], raw=text)
            continue
        if is_valid(record):
            yield lineno, line, record, None
        else:
            yield lineno, line, record, Rejection(lineno, validator.errors(record), record=record)


def validate_stream(
    validator: RecordValidator,
    input_path: Path,
    valid_out: IO[bytes] | None = None,
    rejected_out: IO[bytes] | None = None,
) -> Summary:
    """Validate a JSON-lines file (or, for an Avro contract, an Avro container file) record by record.

    Valid records are copied to `valid_out` as they were (the line's bytes; Avro records into an Avro
    container file with the contract's schema); rejected ones go to `rejected_out` as JSON lines
    `{"line", "reasons", "record"|"raw"}`. Memory stays constant in the input's size."""
    import orjson

    with input_path.open("rb") as stream:
        head = stream.read(4)
        stream.seek(0)
        is_avro = head == AVRO_MAGIC
        if is_avro and validator.data_format != "AVRO":
            raise ContractError([f"{input_path}: is an Avro container file, but contract {validator.name!r} "
                                 "is a JSON Schema; give JSON lines."])
        summary = Summary(validator.name, str(input_path), "avro" if is_avro else "jsonl")
        if is_avro:
            _validate_avro_file(validator, stream, summary, valid_out, rejected_out)
            return summary
        for _lineno, line, _record, rejection in _json_lines(stream, validator):
            summary.read += 1
            if rejection is None:
                summary.valid += 1
                if valid_out is not None:
                    valid_out.write(line if line.endswith(b"\n") else line + b"\n")
            else:
                summary.rejected += 1
                summary.count(rejection)
                if rejected_out is not None:
                    rejected_out.write(orjson.dumps(rejection.to_json(), default=str) + b"\n")
    return summary


def _validate_avro_file(
    validator: RecordValidator,
    stream: IO[bytes],
    summary: Summary,
    valid_out: IO[bytes] | None,
    rejected_out: IO[bytes] | None,
) -> None:
    import fastavro
    import orjson
    from fastavro.write import Writer

    assert isinstance(validator, AvroRecordValidator)
    try:
        reader = fastavro.reader(stream)
    except Exception as err:  # fastavro raises ValueError and others for a broken header
        raise ContractError([f"{summary.input}: not a readable Avro container file: {err}"]) from err
    writer = Writer(valid_out, validator.parsed) if valid_out is not None else None
    try:
        for number, record in enumerate(reader, 1):
            summary.read += 1
            if validator.is_valid(record):
                summary.valid += 1
                if writer is not None:
                    writer.write(record)
            else:
                summary.rejected += 1
                rejection = Rejection(number, validator.errors(record), record=record)
                summary.count(rejection)
                if rejected_out is not None:
                    rejected_out.write(orjson.dumps(rejection.to_json(), default=str) + b"\n")
    finally:
        if writer is not None:
            writer.flush()
