"""Record validation against a contract: a validator compiled once per contract and reused, for applications
(an inference handler), pipelines (a batch job, a Spark executor) and the CLI (`ml-infra contracts validate`).

Per-record API (stable; `ml_infra.contracts.spark` wraps it):

    from ml_infra.contracts.validate import validator_for_contract
    validator = validator_for_contract("training-record")   # compiled once, cached per contract file version
    reasons = validator.validate_line(line_bytes)           # [] when valid; else every Reason (pointer, keyword,
                                                            # message), a line that is not JSON included
    validator.is_valid(record); validator.errors(record)    # the same on an already parsed record
    validator.draft                                         # the JSON Schema draft it judges under

`validate_line` is the one to use on raw data: it reads numbers exactly (ml_infra.contracts.engine), which a
record parsed by another JSON reader may no longer hold (orjson and Spark read 2**64 + 1 as 2**64).

Engines (no hand-written validation): JSON Schema through the reference engine in `engine.py` (jsonschema-rs,
the schema's draft, formats on, offline), Avro through `fastavro`'s validator, field by field so that every
failing field is reported, not only the first.

Streaming (`validate_stream`) reads one line (or one Avro block) at a time: constant memory. Every input
record ends in exactly one output; a line that is not JSON (or not UTF-8) is rejected with its line number and
its bytes kept exactly, never dropped. A damaged Avro container stops the run with `AvroDamage`, after the
records of every intact block before the damage were written.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ml_infra.contracts.catalog import (
    AVRO_SUFFIX,
    CONTRACTS_DIR_NAME,
    DEFAULT_DRAFT,
    JSON_SCHEMA_SUFFIX,
    ContractError,
    json_schema_draft,
    load_catalog,
    load_contract_file,
)
from ml_infra.contracts.engine import SchemaCompileError, compile_reference, loads_exact

AVRO_MAGIC = b"Obj\x01"
MAX_COUNTED_REASONS = 1000  # distinct (pointer, keyword) pairs kept for the summary: bounded memory
MAX_MESSAGE_CHARS = 300  # a reason's message embeds at most this much of the offending value


def cap(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was cut (the record itself is kept whole)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text) - limit + 40:,} more characters)"


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
    draft: str

    def is_valid(self, record: Any) -> bool: ...

    def errors(self, record: Any) -> list[Reason]: ...

    def validate_line(self, line: bytes) -> list[Reason]: ...


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def not_json_reason(line: bytes, err: Exception) -> Reason:
    """The reason for a line that cannot be read as JSON."""
    if not line.strip():
        return Reason("", "json", "empty line")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Reason("", "json", f"not UTF-8 (byte {bad.start} of the line); the line is kept as raw_base64")
    return Reason("", "json", cap(f"not JSON: {err}"))


class JsonRecordValidator:
    """A JSON Schema contract compiled once with the reference engine (see engine.py)."""

    data_format = "JSON"

    def __init__(self, name: str, schema: Any, draft: str = DEFAULT_DRAFT):
        self.name = name
        self.schema = schema
        self.draft = draft
        try:
            self._validator = compile_reference(schema, draft)
        except SchemaCompileError as err:
            raise ContractError([f"{name}: {err.pointer or '/'}: the schema cannot be compiled: "
                                 f"{err.message}."]) from None
        self._is_valid = self._validator.is_valid
        from ml_infra.contracts.fastpath import compile_fast_path

        # The fast path only accepts; whatever it does not accept, the reference engine judges.
        self.fast_path = compile_fast_path(schema, draft)
        self._accepts = self.fast_path.accepts if self.fast_path is not None else None

    def is_valid(self, record: Any) -> bool:
        """Whether a parsed record is valid (exact for Python ints and Decimals; floats are taken as given)."""
        return self._is_valid(record)

    def errors(self, record: Any) -> list[Reason]:
        """Every reason a parsed record is rejected ([] when it is valid)."""
        return [
            Reason(_pointer(e.instance_path), str(e.schema_path[-1]) if e.schema_path else "", cap(e.message))
            for e in self._validator.iter_errors(record)
        ]

    def check_line(self, line: bytes) -> tuple[list[Reason], Any]:
        """(reasons, the parsed record or None): [] reasons when valid. The record is given for a rejected line
        that is JSON (None for a line that is not); a valid line accepted by the fast path gives None."""
        if self._accepts is not None and self._accepts(line):
            return [], None
        try:
            record = loads_exact(line)
        except ValueError as err:
            return [not_json_reason(line, err)], None
        # Lines the fast path did not accept are mostly rejected ones: collect the reasons in one pass.
        return self.errors(record), record

    def validate_line(self, line: bytes) -> list[Reason]:
        """Every reason one JSON line (bytes, with or without its newline) is rejected; [] when valid."""
        accepts = self._accepts
        if accepts is not None and accepts(line):
            return []
        return self.check_line(line)[0]

    def check_lines(self, lines: list[bytes]) -> list[tuple[int, list[Reason], Any]]:
        """The rejected lines of a batch, as (index in `lines`, reasons, the parsed record or None when the
        line is not JSON); every other line is valid. The same verdicts and reasons as `check_line` line by
        line, but the fast path judges the whole batch in one decoder call (FastPath.declined)."""
        if self.fast_path is not None:
            candidates: Iterable[int] = self.fast_path.declined(lines)
        else:
            candidates = range(len(lines))
        out: list[tuple[int, list[Reason], Any]] = []
        for i in candidates:
            line = lines[i]
            try:
                record = loads_exact(line)
            except ValueError as err:
                out.append((i, [not_json_reason(line, err)], None))
                continue
            reasons = self.errors(record)
            if reasons:
                out.append((i, reasons, record))
        return out

    def validate_lines(self, lines: list[bytes]) -> list[list[Reason]]:
        """`validate_line` over a batch (one list of reasons per line, [] when valid), in one fast-path call."""
        out: list[list[Reason]] = [[] for _ in lines]
        for i, reasons, _record in self.check_lines(lines):
            out[i] = reasons
        return out


class AvroRecordValidator:
    """An Avro contract compiled once (fastavro's parsed schema), checked field by field."""

    data_format = "AVRO"
    draft = ""

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


    def validate_line(self, line: bytes) -> list[Reason]:
        """Every reason one JSON line (a record in Avro's JSON form) is rejected; [] when valid."""
        try:
            record = loads_exact(line)
        except ValueError as err:
            return [not_json_reason(line, err)]
        return [] if self.is_valid(record) else self.errors(record)


def _avro_message(error: Any) -> str:
    datum, schema, where = getattr(error, "datum", None), getattr(error, "schema", None), getattr(error, "field", "")
    if schema is None:
        return str(error)
    shown = json.dumps(datum, default=str)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{where or 'value'}: {shown} is not a valid {json.dumps(schema, default=str)[:120]}"


def compile_validator(name: str, data_format: str, document: Any, draft: str = DEFAULT_DRAFT) -> RecordValidator:
    if data_format == "AVRO":
        return AvroRecordValidator(name, document)
    return JsonRecordValidator(name, document, draft)


@functools.lru_cache(maxsize=64)
def _compiled(path: str, mtime_ns: int, glue: bool) -> RecordValidator:
    p = Path(path)
    data_format, _text, document = load_contract_file(p, glue=glue)
    name = p.name.removesuffix(JSON_SCHEMA_SUFFIX).removesuffix(AVRO_SUFFIX)
    draft = json_schema_draft(p, document, glue=glue) if data_format == "JSON" else ""
    return compile_validator(name, data_format, document, draft)


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
    per file version and reused: call it freely in a request handler. A catalog contract is held to the
    drafts Glue supports; a plain file may also declare 2019-09 or 2020-12."""
    path = resolve_contract_path(contract, contracts_dir)
    in_catalog = path.name != Path(contract).name or not Path(contract).exists()
    resolved = path.resolve()
    return _compiled(str(resolved), resolved.stat().st_mtime_ns, in_catalog)


# ------------------------------------------------------------------------------------------------ streaming


class AvroDamage(Exception):
    """An Avro container file is truncated or corrupt at `offset` (bytes from the start of the file).
    Everything before it has been validated and written; `summary` has the counts."""

    def __init__(self, path: str, offset: int, what: str, summary: Summary):
        self.path = path
        self.offset = offset
        self.what = what
        self.summary = summary
        super().__init__(f"{path}: byte {offset}: {what}")


@dataclass
class Rejection:
    line: int  # 1-based line number (JSON lines) or record number (Avro container files)
    reasons: list[Reason]
    record: Any = None
    raw: bytes | None = None  # the line's bytes when it is not JSON

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "reasons": [r.to_json() for r in self.reasons]}
        if self.raw is not None:
            body = self.raw.removesuffix(b"\n")
            try:
                out["raw"] = body.decode("utf-8")
            except UnicodeDecodeError:
                # Not UTF-8: the exact bytes in base64, and a readable form with the bad bytes as \xNN.
                out["raw"] = body.decode("utf-8", errors="backslashreplace")
                out["raw_base64"] = base64.b64encode(body).decode("ascii")
        else:
            out["record"] = self.record
        return out


@dataclass
class Summary:
    contract: str
    input: str
    input_format: str  # jsonl or avro
    draft: str = ""
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
            # Only what the summary shows is kept: the record itself may be megabytes.
            self.first_rejections.append(Rejection(rejection.line, rejection.reasons[:5]))

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "draft": self.draft or None,
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


def _dumps(value: Any) -> bytes:
    import orjson

    def default(obj: Any) -> Any:
        if hasattr(obj, "as_integer_ratio"):  # Decimal: its exact text, as a JSON number would have it
            return orjson.Fragment(str(obj).encode())
        return str(obj)

    try:
        return orjson.dumps(value, default=default)
    except TypeError:  # integers beyond 64 bits: the standard library writes them exactly
        return json.dumps(value, default=str).encode()


def validate_stream(
    validator: RecordValidator,
    input_path: Path,
    valid_out: IO[bytes] | None = None,
    rejected_out: IO[bytes] | None = None,
) -> Summary:
    """Validate a JSON-lines file (or, for an Avro contract, an Avro container file) record by record.

    Valid records are copied to `valid_out` as they were (the line's bytes; Avro records into an Avro
    container file with the contract's schema); rejected ones go to `rejected_out` as JSON lines
    `{"line", "reasons", "record"|"raw"[, "raw_base64"]}`. Memory stays constant in the input's size.
    Raises AvroDamage for a truncated or corrupt Avro container file (after writing what came before)."""
    with input_path.open("rb") as stream:
        head = stream.read(4)
        stream.seek(0)
        is_avro = head == AVRO_MAGIC
        if is_avro and validator.data_format != "AVRO":
            raise ContractError([f"{input_path}: is an Avro container file, but contract {validator.name!r} "
                                 "is a JSON Schema; give JSON lines."])
        summary = Summary(validator.name, str(input_path), "avro" if is_avro else "jsonl", validator.draft)
        if is_avro:
            assert isinstance(validator, AvroRecordValidator)
            _validate_avro_file(validator, stream, summary, valid_out, rejected_out)
            return summary
        if isinstance(validator, JsonRecordValidator):
            _validate_json_lines_in_batches(validator, stream, summary, valid_out, rejected_out)
            return summary
        check = getattr(validator, "check_line", None)
        for lineno, line in enumerate(stream, 1):
            summary.read += 1
            if check is not None:
                reasons, record = check(line)
            else:
                reasons, record = validator.validate_line(line), None
                if reasons and reasons[0].keyword != "json":
                    record = loads_exact(line)
            if not reasons:
                summary.valid += 1
                if valid_out is not None:
                    valid_out.write(line if line.endswith(b"\n") else line + b"\n")
                continue
            summary.rejected += 1
            rejection = (Rejection(lineno, reasons, raw=line) if reasons[0].keyword == "json" and record is None
                         else Rejection(lineno, reasons, record=record))
            summary.count(rejection)
            if rejected_out is not None:
                rejected_out.write(_dumps(rejection.to_json()) + b"\n")
    return summary


BATCH_BYTES = 1 << 20  # lines are read and judged in batches of about this size (a longer line is one batch)


def _validate_json_lines_in_batches(
    validator: JsonRecordValidator,
    stream: IO[bytes],
    summary: Summary,
    valid_out: IO[bytes] | None,
    rejected_out: IO[bytes] | None,
) -> None:
    """Line by line in effect, batch by batch in cost: memory is bounded by the batch size and the longest
    line; valid lines are written in input order exactly as they were (a last line gets its newline)."""
    lineno = 0
    while True:
        lines = stream.readlines(BATCH_BYTES)
        if not lines:
            return
        if not lines[-1].endswith(b"\n"):
            lines[-1] += b"\n"
        rejected = validator.check_lines(lines)
        summary.read += len(lines)
        summary.rejected += len(rejected)
        summary.valid += len(lines) - len(rejected)
        if not rejected:
            if valid_out is not None:
                valid_out.write(b"".join(lines))
            lineno += len(lines)
            continue
        previous = 0
        for i, reasons, record in rejected:
            if valid_out is not None and i > previous:
                valid_out.write(b"".join(lines[previous:i]))
            previous = i + 1
            not_json = record is None and reasons[0].keyword == "json"
            rejection = (Rejection(lineno + i + 1, reasons, raw=lines[i]) if not_json
                         else Rejection(lineno + i + 1, reasons, record=record))
            summary.count(rejection)
            if rejected_out is not None:
                rejected_out.write(_dumps(rejection.to_json()) + b"\n")
        if valid_out is not None and previous < len(lines):
            valid_out.write(b"".join(lines[previous:]))
        lineno += len(lines)


def _validate_avro_file(
    validator: AvroRecordValidator,
    stream: IO[bytes],
    summary: Summary,
    valid_out: IO[bytes] | None,
    rejected_out: IO[bytes] | None,
) -> None:
    """Block by block: a block's records are decoded in full before any is judged or written, so a block
    that turns out to be damaged leaves the outputs holding exactly the records of the blocks before it."""
    import fastavro
    from fastavro.write import Writer

    try:
        blocks = fastavro.block_reader(stream)
    except Exception as err:  # fastavro raises ValueError, EOFError and others for a broken header
        raise AvroDamage(summary.input, 0, f"the container header cannot be read ({err})", summary) from None
    writer = Writer(valid_out, validator.parsed) if valid_out is not None else None
    number = 0
    try:
        while True:
            offset = stream.tell()
            try:
                block = next(blocks)
                records = list(block)
                if len(records) != block.num_records:
                    raise ValueError(f"the block holds {len(records)} records, its header says {block.num_records}")
            except StopIteration:
                break
            except Exception as err:  # truncated (EOFError), bad sync marker, undecodable data (ValueError, ...)
                what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                raise AvroDamage(summary.input, offset, f"truncated or corrupt block ({cap(what, 200)})",
                                 summary) from None
            for record in records:
                number += 1
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
                        rejected_out.write(_dumps(rejection.to_json()) + b"\n")
    finally:
        if writer is not None:
            writer.flush()
