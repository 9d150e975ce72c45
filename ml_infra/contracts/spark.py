"""Data contracts on Spark: the single-process validator (`ml_infra.contracts.validate`) run inside Spark
tasks, so a job that outgrows one machine (a Glue ETL job, EMR, Databricks) keeps the same verdicts.

    from ml_infra.contracts.spark import contract_from_registry, validate_dataframe
    contract = contract_from_registry("ml-platform", "training-record")          # or contract_from_file(...)
    result = validate_dataframe(df, contract, column="value")                    # or struct rows: column=None
    result.valid.write.parquet(...); result.rejected.write.json(...)             # every reason, and where from
    result.check_balance()                                                       # valid + rejected = read

Installed with the `spark` extra (`pip install 'ml-infra[spark]'`: PySpark 3.5 as on Glue 5, or 4.x).

How it runs, and why so:
- One `DataFrame.mapInArrow` pass. Each Python task receives Arrow record batches, judges every record of a
  batch with the single-process path's own API (`validate_lines`, a whole batch per call as the CLI judges a
  file's batches; `validate_line` for Avro: its exact-number parser, its engine, its messages; every reason
  for a rejected record), and yields one Arrow batch per input batch: the
  input columns passed through untouched (no Python object is built for a column that is not validated) and a
  verdict per row. No per-row Python UDF, no collect to the driver. `mapInArrow` rather than `mapInPandas`:
  the records are JSON bytes that go to the parser as they are, so a pandas DataFrame would only add a conversion
  each way; `bench/bench_spark_validate.py` measures both (docs/spark.md).
- The contract's text travels with the task (a few KB); each executor's Python worker compiles it once and
  keeps it in a module-level cache keyed by the contract's digest (`_COMPILED`): Spark reuses Python workers
  between tasks, so a worker compiles each contract once, not per task and never per row.
- Struct rows are turned into JSON text by Spark itself (`to_json`, in the JVM) and judged like JSON lines,
  so a record is judged the same whichever way it arrived. Spark cannot tell an absent field from a null one
  in a struct row; by default a null field is left out (as Spark's JSON writer does), `keep_nulls=True`
  writes it as `null`.
- Nothing lost: each task also yields one count row per input split (file and byte offset of the split, or
  the partition): read, valid, rejected. `check_balance` (and `validate_files`, which the CLI and the Glue
  example use) checks read = valid + rejected per split, that Spark's own count of the input agrees, and, for
  files, that the outputs written hold exactly that many lines. A record that is not JSON (or not UTF-8, or
  null) is rejected with its text kept (`raw`, and `raw_base64` with the exact bytes when not UTF-8).
- Where a rejected record came from: `file` and `line` for JSON-lines files (line numbers from Spark's
  split offsets and a JVM-only count of the lines in each split before the validation pass), or the
  `key_columns` the caller names.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_infra.contracts.catalog import AVRO_SUFFIX, JSON_SCHEMA_SUFFIX, ContractError
from ml_infra.contracts.validate import AVRO_MAGIC, Reason, Rejection, Summary

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from ml_infra.contracts.validate import RecordValidator

# Columns this module adds to a DataFrame while validating; an input column of one of these names is refused.
PREFIX = "_contract_"
INPUT_COL = PREFIX + "input"
FILE_COL = PREFIX + "file"
BLOCK_COL = PREFIX + "block"
VERDICT_COL = PREFIX + "verdict"
LINE_COL = PREFIX + "line"
REASONS_COL = PREFIX + "reasons"
RECORD_COL = PREFIX + "record"
RAW_COL = PREFIX + "raw"
RAW_B64_COL = PREFIX + "raw_base64"
PARTITION_COL = PREFIX + "partition"
READ_COL = PREFIX + "read"
VALID_COL = PREFIX + "valid"
REJECTED_COL = PREFIX + "rejected"
PID_COL = PREFIX + "pid"
COMPILED_COL = PREFIX + "compiled"

VALID, REJECTED, COUNT = "valid", "rejected", "count"
REJECTED_FIELDS = ("reasons", "record", "raw", "raw_base64")
TOP_REASONS = 1000  # distinct (pointer, keyword) pairs brought back for the summary, as the single-process path


class SparkValidationError(Exception):
    """The Spark run did not account for every record, or its outputs could not be written as asked.
    The message says what was and was not written."""


# ------------------------------------------------------------------------------------------------ contracts


@dataclass(frozen=True)
class ContractSpec:
    """A contract as the executors receive it: its text (compiled there), format, and where it came from."""

    name: str
    data_format: str  # JSON or AVRO
    text: str
    source: str  # a human label: the file, "catalog contracts/x", "Glue registry r/s v3"
    draft: str = ""  # the JSON Schema draft it is judged under, as the single-process path decides it ("":
    # from the document's `$schema`, draft-07 when absent)

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.data_format}\0{self.text}".encode()).hexdigest()


def contract_from_file(path: str | Path) -> ContractSpec:
    """A contract from a schema file (`*.schema.json` or `*.avsc`), checked and compiled (on the driver, so a
    broken contract stops before Spark runs) exactly as `ml-infra contracts validate FILE` does."""
    return contract_from_catalog(str(path))


def contract_from_catalog(name: str, contracts_dir: str | Path = "contracts") -> ContractSpec:
    """A contract by name from the catalog in `contracts_dir` (or a schema file's path), as the CLI takes it:
    the single-process path resolves, checks and compiles it, and decides its draft."""
    from ml_infra.contracts.validate import resolve_contract_path, validator_for_contract

    validator = validator_for_contract(name, Path(contracts_dir))
    path = resolve_contract_path(name, Path(contracts_dir))
    return ContractSpec(validator.name, validator.data_format, path.read_text(encoding="utf-8"), str(path),
                        validator.draft)


def contract_from_registry(registry: str, schema: str, version: int | None = None, client: Any = None) -> ContractSpec:
    """A contract from the AWS Glue Schema Registry: `version` (a number) or the latest version.

    The version must be AVAILABLE and of format JSON or AVRO. Its text is checked and compiled exactly as a
    catalog contract is (through the same loader, on a temporary copy; Glue's drafts, draft-07 when `$schema`
    is absent), so a registry contract is judged the same as the file it was published from. `client`
    defaults to a Glue client from the standard AWS settings."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ml_infra.contracts.catalog import json_schema_draft, load_contract_file
    from ml_infra.contracts.validate import compile_validator

    if client is None:
        from ml_infra.contracts.registry import glue_client

        client = glue_client()
    where = f"Glue registry {registry}/{schema}" + (f" v{version}" if version is not None else " (latest)")
    number: dict[str, Any] = {"LatestVersion": True} if version is None else {"VersionNumber": int(version)}
    try:
        got = client.get_schema_version(
            SchemaId={"RegistryName": registry, "SchemaName": schema}, SchemaVersionNumber=number
        )
    except ClientError as err:
        code = str((getattr(err, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code == "EntityNotFoundException":
            raise ContractError([f"{where}: no such registry, schema or version."]) from err
        raise ContractError([f"{where}: Glue GetSchemaVersion failed: {err}"]) from err
    except BotoCoreError as err:
        raise ContractError([f"{where}: cannot reach Glue: {err}"]) from err
    where = f"Glue registry {registry}/{schema} v{got.get('VersionNumber')}"
    if got.get("Status") != "AVAILABLE":
        raise ContractError([f"{where}: has status {got.get('Status')!r}; only AVAILABLE versions are used."])
    data_format = got.get("DataFormat")
    suffix = {"JSON": JSON_SCHEMA_SUFFIX, "AVRO": AVRO_SUFFIX}.get(str(data_format))
    if suffix is None:
        raise ContractError([f"{where}: has data format {data_format!r}; allowed: JSON, AVRO."])
    text = str(got.get("SchemaDefinition") or "")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / f"{schema}{suffix}"
        copy.write_text(text, encoding="utf-8")
        try:
            _format, _text, document = load_contract_file(copy, glue=True)
            draft = json_schema_draft(copy, document, glue=True) if data_format == "JSON" else ""
            compile_validator(schema, str(data_format), document, draft)
        except ContractError as err:
            raise ContractError([p.replace(str(copy), where) for p in err.problems]) from None
    return ContractSpec(schema, str(data_format), text, where, draft)


def resolve_contract(contract: str | Path | ContractSpec, contracts_dir: str | Path = "contracts") -> ContractSpec:
    if isinstance(contract, ContractSpec):
        return contract
    return contract_from_catalog(str(contract), contracts_dir)


# ------------------------------------------------------------------------------------- executor-side kernel

NULL_VALUE = [Reason("", "json", "no value (null)")]

# Compiled validators of this Python process, by contract digest. Spark reuses its Python workers between
# tasks (spark.python.worker.reuse, on by default), so each worker compiles a contract once.
_COMPILED: dict[str, RecordValidator] = {}


def compiled_validator(spec: ContractSpec) -> tuple[RecordValidator, bool]:
    """The validator of `spec` in this process, and whether this call compiled it."""
    found = _COMPILED.get(spec.digest)
    if found is not None:
        return found, False
    from ml_infra.contracts.validate import compile_validator

    document = json.loads(spec.text)
    draft = spec.draft
    if not draft and spec.data_format == "JSON":  # a spec made by hand: its `$schema` decides, as for a file
        from ml_infra.contracts.catalog import json_schema_draft

        draft = json_schema_draft(Path(spec.source), document, glue=False)
    validator = compile_validator(spec.name, spec.data_format, document, draft)
    _COMPILED[spec.digest] = validator
    return validator, True


def judge_values(validator: RecordValidator, values: Sequence[bytes]) -> list[list[Reason]]:
    """Every reason each JSON text is rejected ([] when valid): the single-process path's own API (the same
    exact-number parser, the same engine, the same messages), so both engines decide every record the same way.
    A JSON Schema validator judges the whole Arrow batch with `validate_lines` (its fast path decodes many
    lines per msgspec call, as the single-process path does with a file's batches); an Avro one line by line
    with `validate_line`."""
    validate_lines = getattr(validator, "validate_lines", None)
    if validate_lines is not None:
        return validate_lines(list(values))
    validate_line = validator.validate_line
    return [validate_line(v) for v in values]


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    reason = pa.struct([("pointer", pa.string()), ("keyword", pa.string()), ("message", pa.string())])
    return {
        VERDICT_COL: pa.string(), FILE_COL: pa.string(), BLOCK_COL: pa.int64(), LINE_COL: pa.int64(),
        REASONS_COL: pa.list_(reason), RECORD_COL: pa.string(), RAW_COL: pa.string(), RAW_B64_COL: pa.string(),
        PARTITION_COL: pa.int64(), READ_COL: pa.int64(), VALID_COL: pa.int64(), REJECTED_COL: pa.int64(),
        PID_COL: pa.int64(), COMPILED_COL: pa.bool_(),
    }


def _added_fields() -> list[Any]:
    """The Spark types of the columns the task adds (the same as `_arrow_types`)."""
    from pyspark.sql import types as T

    reason = T.StructType([T.StructField(n, T.StringType()) for n in ("pointer", "keyword", "message")])
    kinds = {VERDICT_COL: T.StringType(), LINE_COL: T.LongType(), REASONS_COL: T.ArrayType(reason),
             RECORD_COL: T.StringType(), RAW_COL: T.StringType(), RAW_B64_COL: T.StringType(),
             PARTITION_COL: T.LongType(), READ_COL: T.LongType(), VALID_COL: T.LongType(),
             REJECTED_COL: T.LongType(), PID_COL: T.LongType(), COMPILED_COL: T.BooleanType()}
    return [T.StructField(name, kinds[name]) for name in ADDED]


ADDED = (VERDICT_COL, LINE_COL, REASONS_COL, RECORD_COL, RAW_COL, RAW_B64_COL, PARTITION_COL, READ_COL,
         VALID_COL, REJECTED_COL, PID_COL, COMPILED_COL)


def validate_batches(
    batches: Iterable[pa.RecordBatch],
    spec: ContractSpec,
    passthrough: Sequence[str],
    line_offsets: dict[tuple[str, int], int] | None,
    passthrough_schema: pa.Schema | None = None,
) -> Iterator[pa.RecordBatch]:
    """The task body: judge the `INPUT_COL` bytes of every batch; yield each batch's `passthrough` columns with
    the verdict columns (`ADDED`), then one count row per split (or per partition) this task read."""
    import pyarrow as pa

    types = _arrow_types()
    validator, compiled = compiled_validator(spec)
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else -1
    except ImportError:  # called outside Spark (tests of the kernel alone)
        partition = -1
    # Per split: [read, valid, rejected]; the split is (file, byte offset) for files, else (None, partition).
    counts: dict[tuple[str | None, int], list[int]] = {}
    # The Arrow types of the passed-through columns, for the count rows (all null there): as the batches bring
    # them, else (a task that read nothing) as the driver derived them from the Spark schema.
    passthrough_types: dict[str, Any] = {f.name: f.type for f in passthrough_schema} if passthrough_schema else {}
    for batch in batches:
        n = batch.num_rows
        values = batch.column(INPUT_COL).to_pylist()
        has_file = FILE_COL in batch.schema.names
        files = batch.column(FILE_COL).to_pylist() if has_file else [None] * n
        blocks = batch.column(BLOCK_COL).to_pylist() if has_file else [partition] * n
        present = [v for v in values if v is not None]
        if has_file:
            # A line as the single-process path reads it: with its "\n" (Spark's line reader strips it), so
            # that even a parser's message about where a broken line ends is the same.
            present = [v + b"\n" for v in present]
        judged = iter(judge_values(validator, present))
        verdicts: list[str] = []
        lines: list[int | None] = []
        reasons: list[list[dict[str, str]] | None] = []
        records: list[str | None] = []
        raws: list[str | None] = []
        raw_b64: list[str | None] = []
        for value, file, block in zip(values, files, blocks, strict=True):
            tally = counts.setdefault((file, block), [0, 0, 0])
            tally[0] += 1
            if line_offsets is not None and file is not None:
                lines.append(line_offsets.get((file, block), 0) + tally[0])
            else:
                lines.append(None)
            reasons_here = NULL_VALUE if value is None else next(judged)
            if not reasons_here:
                tally[1] += 1
                verdicts.append(VALID)
                reasons.append(None)
                records.append(None)
                raws.append(None)
                raw_b64.append(None)
                continue
            tally[2] += 1
            verdicts.append(REJECTED)
            reasons.append([r.to_json() for r in reasons_here])
            if reasons_here[0].keyword == "json":  # not JSON: kept as the single-process path keeps it
                kept = Rejection(0, reasons_here, raw=value or b"").to_json()
                records.append(None)
                raws.append(kept["raw"])
                raw_b64.append(kept.get("raw_base64"))
            else:  # parsed, so UTF-8: its text as it came
                records.append(value.decode("utf-8") if value is not None else None)
                raws.append(None)
                raw_b64.append(None)
        columns = [batch.column(name) for name in passthrough]
        for name, column in zip(passthrough, columns, strict=True):
            passthrough_types[name] = column.type
        columns += [
            pa.array(verdicts, types[VERDICT_COL]), pa.array(lines, types[LINE_COL]),
            pa.array(reasons, types[REASONS_COL]), pa.array(records, types[RECORD_COL]),
            pa.array(raws, types[RAW_COL]), pa.array(raw_b64, types[RAW_B64_COL]),
            *(pa.nulls(n, types[c]) for c in ADDED[6:]),
        ]
        yield pa.RecordBatch.from_arrays(columns, names=[*passthrough, *ADDED])
    # One count row per split read here: what the balance check adds up.
    for (file, block), (read, valid, rejected) in counts.items() or [((None, partition), (0, 0, 0))]:
        row: dict[str, Any] = {name: [None] for name in passthrough}
        if file is not None and FILE_COL in passthrough:
            row[FILE_COL] = [file]
        if file is not None and BLOCK_COL in passthrough:
            row[BLOCK_COL] = [block]
        row.update({VERDICT_COL: [COUNT], LINE_COL: [None], REASONS_COL: [None], RECORD_COL: [None],
                    RAW_COL: [None], RAW_B64_COL: [None], PARTITION_COL: [partition], READ_COL: [read],
                    VALID_COL: [valid], REJECTED_COL: [rejected], PID_COL: [os.getpid()],
                    COMPILED_COL: [compiled]})
        compiled = False  # report the compilation once per task
        arrays = [pa.array(row[name], passthrough_types.get(name) or types.get(name)) for name in passthrough]
        arrays += [pa.array(row[name], types[name]) for name in ADDED]
        yield pa.RecordBatch.from_arrays(arrays, names=[*passthrough, *ADDED])


# ------------------------------------------------------------------------------------------ DataFrame API


@dataclass
class Balance:
    """The counts of a run, per split (file and offset) or partition, and whether they balance."""

    splits: list[dict[str, Any]]
    read: int
    valid: int
    rejected: int
    spark_read: int  # Spark's own count of the input (JVM only, no Python)
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.problems


@dataclass
class SparkValidation:
    """The result of `validate_dataframe`: lazy DataFrames; nothing has run yet.

    - `valid`: the input rows that passed, with the input's columns unchanged.
    - `rejected`: one row per rejected record: `file`, `line` (JSON-lines input) and/or the key columns, then
      `reasons` (array of pointer, keyword, message), `record` (the JSON text as it came), `raw` (the text of
      a record that is not JSON), `raw_base64` (its exact bytes when not UTF-8).
    - `counts`: one row per split or partition: partition, file, offset, read, valid, rejected, the Python
      worker's pid and whether that task compiled the contract.
    Each is a filter of one annotated DataFrame (`annotated`); cache it if you act on more than one."""

    annotated: DataFrame
    source: DataFrame
    contract: ContractSpec
    data_columns: list[str]
    key_columns: list[str]
    from_files: bool

    # Built when first used: each DataFrame costs the driver an analysis, which adds up over many validations.
    @functools.cached_property
    def valid(self) -> DataFrame:
        from pyspark.sql import functions as F

        return self.annotated.where(F.col(VERDICT_COL) == VALID).select(*self.data_columns)

    @functools.cached_property
    def rejected(self) -> DataFrame:
        from pyspark.sql import functions as F

        where = [F.col(FILE_COL).alias("file"), F.col(LINE_COL).alias("line")] if self.from_files else []
        return self.annotated.where(F.col(VERDICT_COL) == REJECTED).select(
            *where, *[F.col(k) for k in self.key_columns],
            F.col(REASONS_COL).alias("reasons"), F.col(RECORD_COL).alias("record"), F.col(RAW_COL).alias("raw"),
            F.col(RAW_B64_COL).alias("raw_base64"),
        )

    @functools.cached_property
    def counts(self) -> DataFrame:
        from pyspark.sql import functions as F

        file_cols = [F.col(FILE_COL).alias("file"), F.col(BLOCK_COL).alias("offset")] if self.from_files else [
            F.lit(None).cast("string").alias("file"), F.lit(None).cast("bigint").alias("offset")]
        return self.annotated.where(F.col(VERDICT_COL) == COUNT).select(
            F.col(PARTITION_COL).alias("partition"), *file_cols, F.col(READ_COL).alias("read"),
            F.col(VALID_COL).alias("valid"), F.col(REJECTED_COL).alias("rejected"), F.col(PID_COL).alias("pid"),
            F.col(COMPILED_COL).alias("compiled"),
        )

    def check_balance(self) -> Balance:
        """Run the validation once more and count: per split, read = valid + rejected as the tasks counted,
        the rows in `valid` and `rejected` agree with those counts, and Spark's own count of the input rows
        agrees with what the tasks read. Two Spark jobs; the validation job is not cached."""
        from pyspark.sql import functions as F

        rows = (
            self.annotated.groupBy(VERDICT_COL)
            .agg(F.count(F.lit(1)).alias("rows"), F.sum(READ_COL).alias("read"), F.sum(VALID_COL).alias("valid"),
                 F.sum(REJECTED_COL).alias("rejected"))
            .collect()
        )
        by = {r[VERDICT_COL]: r for r in rows}
        splits = [r.asDict() for r in self.counts.collect()]
        spark_read = self.source.count()
        return _balance(splits, spark_read, int(by[VALID]["rows"]) if VALID in by else 0,
                        int(by[REJECTED]["rows"]) if REJECTED in by else 0, "valid", "rejected")


def _balance(splits: list[dict[str, Any]], spark_read: int, valid_rows: int, rejected_rows: int,
             valid_label: str, rejected_label: str, split_lines: dict[tuple[str, int], int] | None = None) -> Balance:
    problems: list[str] = []
    read = sum(int(s["read"]) for s in splits)
    valid = sum(int(s["valid"]) for s in splits)
    rejected = sum(int(s["rejected"]) for s in splits)
    for s in splits:
        where = f"{s['file']} from byte {s['offset']}" if s.get("file") else f"partition {s['partition']}"
        if s["read"] != s["valid"] + s["rejected"]:
            problems.append(f"{where}: read {s['read']} but valid {s['valid']} + rejected {s['rejected']}.")
        if split_lines is not None and s.get("file"):
            expected = split_lines.get((s["file"], s["offset"]))
            if expected != s["read"]:
                problems.append(f"{where}: Spark counted {expected} lines, the validation read {s['read']}.")
    if read != spark_read:
        problems.append(f"Spark counted {spark_read} input records, the validation read {read}.")
    if valid_rows != valid:
        problems.append(f"{valid_label}: holds {valid_rows} records, the validation passed {valid}.")
    if rejected_rows != rejected:
        problems.append(f"{rejected_label}: holds {rejected_rows} records, the validation rejected {rejected}.")
    return Balance(splits, read, valid, rejected, spark_read, problems)


def validate_dataframe(
    df: DataFrame,
    contract: str | Path | ContractSpec,
    *,
    column: str | None = "value",
    key_columns: Sequence[str] = (),
    record_columns: Sequence[str] | None = None,
    keep_nulls: bool = False,
    contracts_dir: str | Path = "contracts",
    _line_offsets: dict[tuple[str, int], int] | None = None,
    _udf: str = "arrow",
) -> SparkValidation:
    """Validate every row of `df` against `contract` (a ContractSpec, a schema file's path or a catalog name).

    `column`: the column of JSON text (string or binary), e.g. `value` of `spark.read.text`; None to judge
    each row as a struct of `record_columns` (default: every column; leave out, say, a table's partition
    columns that the contract does not describe). `key_columns` are copied to the rejected rows to find them
    again.
    A DataFrame from `read_json_lines` also gives each rejected row its file and line."""
    from pyspark.sql import functions as F

    spec = resolve_contract(contract, contracts_dir)
    input_schema = df.schema  # one analysis, reused below
    columns = list(input_schema.fieldNames())
    taken = [c for c in columns if c.startswith(PREFIX) and c not in (FILE_COL, BLOCK_COL)]
    if taken:
        raise ContractError([f"input columns {taken}: names starting with {PREFIX!r} are reserved; rename them."])
    missing = [c for c in [*(([column]) if column else []), *key_columns, *(record_columns or [])]
               if c not in columns]
    if missing:
        raise ContractError([f"input has no column {m!r}; columns: {', '.join(columns)}." for m in missing])
    clash = [k for k in key_columns if k in ("file", "line", *REJECTED_FIELDS)]
    if clash:
        raise ContractError([f"key column {k!r}: clashes with a column of the rejected rows; rename it."
                             for k in clash])
    data_columns = [c for c in columns if c not in (FILE_COL, BLOCK_COL)]
    if column is not None:
        kind = df.schema[column].dataType.simpleString()
        if kind not in ("string", "binary"):
            raise ContractError([f"column {column!r} is {kind}; give a column of JSON text (string or binary), "
                                 "or column=None to judge struct rows."])
        text = F.col(column).cast("binary")
    else:
        # Stated both ways: the session's default (spark.sql.jsonGenerator.ignoreNullFields) may differ.
        options = {"ignoreNullFields": "false" if keep_nulls else "true"}
        judged = list(record_columns) if record_columns is not None else data_columns
        text = F.to_json(F.struct(*[F.col(c) for c in judged]), options).cast("binary")
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    staged = df.withColumn(INPUT_COL, text)
    passthrough = list(columns)
    arrow_schema = to_arrow_schema(input_schema)
    schema = StructType([*input_schema.fields, *_added_fields()])
    offsets = _line_offsets

    if _udf == "pandas":
        def run_pandas(frames: Iterator[Any]) -> Iterator[Any]:
            import pyarrow as pa

            batches = (pa.RecordBatch.from_pandas(f, preserve_index=False) for f in frames)
            for out in validate_batches(batches, spec, passthrough, offsets, arrow_schema):
                yield out.to_pandas()

        annotated = staged.mapInPandas(run_pandas, schema)
    else:
        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            return validate_batches(batches, spec, passthrough, offsets, arrow_schema)

        annotated = staged.mapInArrow(run, schema)

    return SparkValidation(annotated, df, spec, data_columns, list(key_columns), FILE_COL in columns)


def read_json_lines(spark: SparkSession, paths: str | Sequence[str]) -> DataFrame:
    """JSON lines as Spark reads text (a file, a folder, a glob; local, s3://, hdfs://), with each line's file
    and its split's byte offset, from which `validate_dataframe` numbers the lines. Lines end at "\\n" only
    (as Python's and the single-process path's), so a "\\r\\n" line keeps its "\\r", which JSON allows."""
    from pyspark.sql import functions as F

    df = spark.read.option("lineSep", "\n").text(list(paths) if not isinstance(paths, str) else paths)
    return df.select(
        F.col("value"), F.col("_metadata.file_path").alias(FILE_COL),
        F.col("_metadata.file_block_start").alias(BLOCK_COL),
    )


def line_offsets(df: DataFrame) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """For a `read_json_lines` DataFrame: the lines before each split in its file, and the lines in each split.
    One JVM-only Spark job (no Python): it reads the input once and counts lines per split."""
    rows = df.groupBy(FILE_COL, BLOCK_COL).count().collect()
    per_split = {(r[FILE_COL], int(r[BLOCK_COL])): int(r["count"]) for r in rows}
    before: dict[tuple[str, int], int] = {}
    running: dict[str, int] = Counter()
    for file, block in sorted(per_split):
        before[(file, block)] = running[file]
        running[file] += per_split[(file, block)]
    return before, per_split


# ------------------------------------------------------------------------------------------ files -> files


def local_session(master: str = "local[*]", app_name: str = "ml-infra contracts validate") -> SparkSession:
    """A Spark session for the CLI and tests: quiet, UTC, and Python workers on this interpreter (so they
    find this environment's packages)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class _Files:
    """Files through Hadoop's FileSystem API, so the same code moves outputs on a local disk, S3 or HDFS."""

    def __init__(self, spark: SparkSession):
        # py4j objects: typed as Any, their methods are Hadoop's (org.apache.hadoop.fs.FileSystem).
        context: Any = spark.sparkContext
        self._jvm: Any = context._jvm
        self._conf: Any = context._jsc.hadoopConfiguration()

    def _path(self, path: str) -> tuple[Any, Any]:
        p = self._jvm.org.apache.hadoop.fs.Path(path)
        return p, p.getFileSystem(self._conf)

    def qualified(self, path: str) -> str:
        p, fs = self._path(path)
        return str(fs.makeQualified(p).toString())

    def exists(self, path: str) -> bool:
        p, fs = self._path(path)
        return bool(fs.exists(p))

    def matches(self, path: str) -> list[str]:
        p, fs = self._path(path)
        found = fs.globStatus(p)
        return [str(s.getPath().toString()) for s in found] if found is not None else []

    def head(self, path: str, n: int) -> bytes:
        p, fs = self._path(path)
        stream = fs.open(p)
        try:
            return bytes(bytearray(stream.read() & 0xFF for _ in range(n)))
        finally:
            stream.close()

    def is_dir(self, path: str) -> bool:
        p, fs = self._path(path)
        return bool(fs.exists(p) and fs.getFileStatus(p).isDirectory())

    def files_under(self, path: str) -> list[str]:
        p, fs = self._path(path)
        it = fs.listFiles(p, True)
        out = []
        while it.hasNext():
            out.append(str(it.next().getPath().toString()))
        return out

    def rename(self, src: str, dst: str) -> bool:
        s, fs = self._path(src)
        d, _ = self._path(dst)
        parent = d.getParent()
        if parent is not None:
            fs.mkdirs(parent)
        return bool(fs.rename(s, d))

    def mkdirs(self, path: str) -> None:
        p, fs = self._path(path)
        fs.mkdirs(p)

    def delete(self, path: str) -> None:
        p, fs = self._path(path)
        if fs.exists(p):
            fs.delete(p, True)


def literal_path(path: str) -> str:
    """`path` with Hadoop's glob characters escaped: Spark globs every path it reads, so a folder named
    `out[1]` would otherwise be read as `out1`. For paths that name one file or folder exactly."""
    return re.sub(r"([{}\[\]*?\\])", r"\\\1", path)


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def _without_scheme_file(path: str) -> str:
    return re.sub(r"^file:(//)?", "", path)


@dataclass
class FilesRun:
    summary: Summary
    balance: Balance
    valid_output: str | None
    rejected_output: str | None


def validate_files(
    spark: SparkSession,
    contract: ContractSpec,
    input_path: str,
    valid_output: str | None = None,
    rejected_output: str | None = None,
) -> FilesRun:
    """Validate JSON-lines files (a file, a folder or a glob) on Spark and write the valid lines (as they
    were) and the rejected records (JSON lines: file, line, reasons, record|raw) as new folders.

    One validation pass writes both outputs (partitioned by verdict into a staging folder beside the valid
    output, then moved into place), so the records are judged once. Before anything is written: the outputs
    must not exist and must not overlap the input or each other. After: read = valid + rejected per split,
    Spark's own line count per split agrees, and the folders hold exactly the lines counted; otherwise
    SparkValidationError says what was written where. ContractError for unusable input."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    files = _Files(spark)
    matched = files.matches(input_path)
    if not matched:
        raise ContractError([f"{input_path}: no such input file, folder or glob match."])
    inputs = sorted({f for m in matched for f in (files.files_under(m) if files.is_dir(m) else [m])})
    inputs = [f for f in inputs if not Path(_without_scheme_file(f)).name.startswith((".", "_"))]
    if not inputs:
        raise ContractError([f"{input_path}: holds no input file (names starting with '.' or '_' are skipped)."])
    for f in inputs:
        if files.head(f, 4) == AVRO_MAGIC:
            raise ContractError([f"{_without_scheme_file(f)}: is an Avro container file; the Spark engine reads "
                                 "JSON lines (use --engine python for Avro files)."])
    outputs = {label: files.qualified(p) for label, p in (("--valid", valid_output), ("--rejected",
                                                                                        rejected_output)) if p}
    problems = []
    for label, out in outputs.items():
        if files.exists(out):
            problems.append(f"{_without_scheme_file(out)}: {label} already exists; the Spark engine writes a new "
                            "folder and never replaces one. Remove it or choose another path.")
        for m in [files.qualified(m) for m in matched]:
            if _inside(out, m) or _inside(m, out):
                problems.append(f"{_without_scheme_file(out)}: {label} overlaps the input "
                                f"{_without_scheme_file(m)}; write outputs elsewhere.")
    if len(outputs) == 2:
        a, b = outputs.values()
        if _inside(a, b) or _inside(b, a):
            problems.append(f"{valid_output}: --valid and --rejected overlap; give two separate folders.")
    if problems:
        raise ContractError(problems)

    try:
        df = read_json_lines(spark, [literal_path(f) for f in inputs])
        before, per_split = line_offsets(df)
    except AnalysisException as err:
        raise ContractError([f"{input_path}: cannot be read: {err}"]) from None
    result = validate_dataframe(df, contract, column="value", _line_offsets=before)
    rejection = F.to_json(F.struct(
        F.regexp_replace(F.col(FILE_COL), "^file:", "").alias("file"), F.col(LINE_COL).alias("line"),
        F.col(REASONS_COL).alias("reasons"), F.col(RECORD_COL).alias("record"), F.col(RAW_COL).alias("raw"),
        F.col(RAW_B64_COL).alias("raw_base64"),
    ))
    count = F.to_json(F.struct(
        F.col(PARTITION_COL).alias("partition"), F.col(FILE_COL).alias("file"), F.col(BLOCK_COL).alias("offset"),
        F.col(READ_COL).alias("read"), F.col(VALID_COL).alias("valid"), F.col(REJECTED_COL).alias("rejected"),
        F.col(PID_COL).alias("pid"), F.col(COMPILED_COL).alias("compiled"),
    ))
    verdict = F.col(VERDICT_COL)
    line = (F.when(verdict == VALID, F.col("value")).when(verdict == REJECTED, rejection).otherwise(count))
    anchor = valid_output or rejected_output
    if anchor is None and not str(spark.sparkContext.master or "").startswith("local"):
        # The staging folder would be on the driver's local disk, which executors elsewhere cannot write to.
        raise ContractError(["give a valid or a rejected output folder: on a cluster the run writes through it."])
    staging = (files.qualified(f"{anchor.rstrip('/')}.staging-{uuid.uuid4().hex[:12]}") if anchor else
               files.qualified(os.path.join(tempfile.gettempdir(), f"ml-infra-spark-{uuid.uuid4().hex[:12]}")))
    written: list[str] = []
    try:
        result.annotated.select(verdict.alias("verdict"), line.alias("line")).write.partitionBy(
            "verdict").text(staging)
        splits = [json.loads(r.value) for r in spark.read.text(literal_path(f"{staging}/verdict={COUNT}")).collect()]
        for s in splits:
            s["offset"] = int(s["offset"]) if s.get("offset") is not None else None
        top, first = _rejected_summary(spark, f"{staging}/verdict={REJECTED}", files)
        for label, out, part in (("--valid", valid_output, VALID), ("--rejected", rejected_output, REJECTED)):
            src = f"{staging}/verdict={part}"
            if out is None:
                continue
            if files.exists(src):
                if not files.rename(src, files.qualified(out)):
                    raise SparkValidationError(f"{out}: could not move the {label} output into place from "
                                               f"{_without_scheme_file(staging)}.")
            else:
                files.mkdirs(files.qualified(out))
            written.append(out)
        valid_rows = _lines_in(spark, files, valid_output, f"{staging}/verdict={VALID}")
        rejected_rows = _lines_in(spark, files, rejected_output, f"{staging}/verdict={REJECTED}")
    except SparkValidationError:
        raise
    except Exception as err:
        files.delete(staging)
        said = ", ".join(written) if written else "nothing"
        raise SparkValidationError(f"the Spark run failed ({type(err).__name__}: {str(err)[:500]}); written: "
                                   f"{said}; staging folder removed.") from err
    finally:
        files.delete(staging)
    balance = _balance(splits, sum(per_split.values()), valid_rows, rejected_rows,
                       valid_output or "valid records", rejected_output or "rejected records", per_split)
    if not balance.balanced:
        raise SparkValidationError(
            "counts do not balance: " + " ".join(balance.problems)
            + f" Written: {', '.join(written) or 'nothing'}; treat them as incomplete."
        )
    summary = Summary(contract.name, input_path, "jsonl", contract.draft, read=balance.read, valid=balance.valid,
                      rejected=balance.rejected)
    summary.reasons.update(top)
    summary.first_rejections.extend(first)
    return FilesRun(summary, balance, valid_output, rejected_output)


def _lines_in(spark: SparkSession, files: _Files, output: str | None, staged: str) -> int:
    where = files.qualified(output) if output is not None else staged
    if not files.exists(where) or not files.files_under(where):
        return 0
    return spark.read.option("lineSep", "\n").text(literal_path(where)).count()


@dataclass
class FileRejection(Rejection):
    """A rejection with the file it came from (the Spark engine reads many files at once)."""

    file: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, **super().to_json()}


def _rejected_summary(
    spark: SparkSession, folder: str, files: _Files
) -> tuple[Counter[tuple[str, str]], list[Rejection]]:
    """The most frequent (pointer, keyword) pairs, array indexes folded to `*` as the single-process summary
    does, and the first rejected records by file and line: computed by Spark from the rejected output."""
    from pyspark.sql import functions as F

    top: Counter[tuple[str, str]] = Counter()
    if not files.exists(folder):
        return top, []
    schema = ("file string, line bigint, reasons array<struct<pointer: string, keyword: string, message: string>>, "
              "record string, raw string, raw_base64 string")
    rejected = spark.read.schema(schema).json(literal_path(folder))
    reasons = rejected.select("file", "line", F.posexplode("reasons").alias("at", "r")).select(
        F.regexp_replace("r.pointer", r"/\d+(?=/|$)", "/*").alias("pointer"), F.col("r.keyword").alias("keyword"),
        F.struct("file", "line", "at").alias("seen"))
    # Ties in the order first seen, as the single-process summary (a Counter filled record by record) has them.
    grouped = reasons.groupBy("pointer", "keyword").agg(F.count(F.lit(1)).alias("count"), F.min("seen").alias("seen"))
    for r in grouped.orderBy(F.desc("count"), "seen").limit(TOP_REASONS).collect():
        top[(r["pointer"], r["keyword"])] = int(r["count"])
    first: list[Rejection] = []
    for r in rejected.orderBy("file", "line").limit(20).collect():
        # As the single-process summary keeps them: the line and its first five reasons, not the record.
        first.append(FileRejection(
            line=int(r["line"]), reasons=[Reason(x["pointer"], x["keyword"], x["message"]) for x in r["reasons"][:5]],
            file=r["file"],
        ))
    return top, first

