"""Benchmark: validating JSON-lines records of a realistic contract, in one run, against two baselines.

The contract is a training record of 40 fields: identifiers with `uuid` and `date-time` formats, a 384-float
embedding (the size of a small sentence-embedding model) and a second numeric array, a nested object, 28
numeric features with bounds written as floats (`"minimum": -1000.0`, as pydantic emits them), categorical
strings. About 1% of the records are invalid, so the rejection path (every reason) is measured too.

Rows, each from the same JSON-lines bytes:
- `orjson.loads` alone: the parsing floor;
- this project's validator (`ml_infra.contracts.validate`), parse + validate;
- jsonschema-rs given the schema as written (no bound rewrite): shows the engine's float-bound cliff;
- `jsonschema` Draft7Validator with its format checker: the reference baseline.
The two slow rows run on `--baseline-records` records (rates are per record, so they compare); the others on
`--records`. Targets (docs/contracts.md): >= 50x `jsonschema`, >= 40% of the parse-only rate.

    .venv/bin/python bench/bench_validate.py [--records 200000] [--baseline-records 4000]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

EMBEDDING_DIM = 384


def contract() -> dict[str, Any]:
    features: dict[str, Any] = {}
    for i in range(28):
        if i % 4 == 0:
            features[f"count_{i}"] = {"type": "integer", "minimum": 0, "maximum": 1_000_000}
        else:
            features[f"feature_{i}"] = {"type": "number", "minimum": -1000.0, "maximum": 1000.0}
    properties: dict[str, Any] = {
        "record_id": {"type": "string", "format": "uuid"},
        "event_time": {"type": "string", "format": "date-time"},
        "model_name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$"},
        "split": {"type": "string", "enum": ["train", "validation", "test"]},
        "embedding": {"type": "array", "minItems": 1, "maxItems": 4096,
                      "items": {"type": "number", "minimum": -1.0, "maximum": 1.0}},
        "recent_scores": {"type": "array", "maxItems": 64, "items": {"type": "number", "minimum": 0.0,
                                                                    "maximum": 1.0}},
        "geo": {
            "type": "object", "additionalProperties": False, "required": ["lat", "lon"],
            "properties": {"lat": {"type": "number", "minimum": -90.0, "maximum": 90.0},
                           "lon": {"type": "number", "minimum": -180.0, "maximum": 180.0},
                           "country": {"type": "string", "minLength": 2, "maxLength": 2}},
        },
        **features,
        **{f"category_{i}": {"type": "string", "maxLength": 64} for i in range(5)},
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


def records(n_unique: int, seed: int = 7) -> list[bytes]:
    """`n_unique` distinct JSON lines; about 1% break one rule (a bound, a date, a missing field)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n_unique):
        r: dict[str, Any] = {
            "record_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "event_time": f"2024-05-{1 + i % 28:02d}T12:{i % 60:02d}:00.123Z",
            "model_name": "churn-model",
            "split": ("train", "validation", "test")[i % 3],
            "embedding": [rnd.uniform(-1, 1) for _ in range(EMBEDDING_DIM)],
            "recent_scores": [rnd.random() for _ in range(8)],
            "geo": {"lat": rnd.uniform(-80, 80), "lon": rnd.uniform(-170, 170), "country": "DE"},
        }
        for k in range(28):
            r[f"count_{k}" if k % 4 == 0 else f"feature_{k}"] = (
                rnd.randint(0, 5000) if k % 4 == 0 else rnd.uniform(-900, 900))
        for k in range(5):
            r[f"category_{k}"] = f"category-{rnd.randint(0, 50)}"
        if i % 100 == 99:  # 1% invalid, three kinds
            kind = (i // 100) % 3
            if kind == 0:
                r["embedding"][5] = 1.5
            elif kind == 1:
                r["event_time"] = "2024-13-01T12:00:00Z"
            else:
                del r["split"]
        out.append(orjson.dumps(r))
    return out


def timed(lines: list[bytes], step: Callable[[bytes], Any]) -> float:
    started = time.perf_counter()
    for line in lines:
        step(line)
    return len(lines) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record validation benchmark (prints a markdown table).")
    parser.add_argument("--records", type=int, default=200_000, help="records for the fast rows")
    parser.add_argument("--baseline-records", type=int, default=4_000, help="records for the slow rows")
    parser.add_argument("--unique", type=int, default=4_000, help="distinct records, cycled")
    args = parser.parse_args(argv)

    import jsonschema
    import jsonschema_rs

    from ml_infra.contracts.validate import JsonRecordValidator

    schema = contract()
    pool = records(min(args.unique, args.records))
    lines = [pool[i % len(pool)] for i in range(args.records)]
    slow_lines = lines[: args.baseline_records]
    loads = orjson.loads
    mean_bytes = sum(map(len, pool)) / len(pool)

    ours = JsonRecordValidator("bench", schema)
    fast, errors = ours.fast_is_valid, ours.errors
    raw_rs = jsonschema_rs.validator_for(schema, validate_formats=True)
    reference = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)

    def ours_step(line: bytes) -> None:
        record = loads(line)
        if not fast(record):
            errors(record)

    def raw_rs_step(line: bytes) -> None:
        record = loads(line)
        if not raw_rs.is_valid(record):
            list(raw_rs.iter_errors(record))

    def reference_step(line: bytes) -> None:
        record = loads(line)
        if not reference.is_valid(record):
            list(reference.iter_errors(record))

    # The three engines must agree on which records are valid before their speed means anything.
    verdicts = {name: [check(loads(x)) for x in pool[:500]] for name, check in (
        ("ours", ours.is_valid), ("raw", raw_rs.is_valid), ("ref", reference.is_valid))}
    assert verdicts["ours"] == verdicts["raw"] == verdicts["ref"], "engines disagree on validity"
    invalid = verdicts["ours"].count(False)

    timed(lines[:2000], loads)  # warm-up
    parse = timed(lines, loads)
    mine = timed(lines, ours_step)
    raw = timed(slow_lines, raw_rs_step)
    ref = timed(slow_lines, reference_step)

    print(f"Contract: {len(schema['properties'])} top-level fields, {EMBEDDING_DIM}-float embedding, "
          f"{mean_bytes:.0f} bytes per record, {invalid / 5:.1f}% invalid.\n")
    print("| engine | records | records/s | MB/s | vs jsonschema | vs parse only |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = [
        ("orjson.loads only (parse floor)", len(lines), parse),
        ("ml-infra validator (jsonschema-rs, bounds normalised)", len(lines), mine),
        ("jsonschema-rs, schema as written (float bounds)", len(slow_lines), raw),
        ("jsonschema Draft7Validator + FormatChecker", len(slow_lines), ref),
    ]
    for name, n, rate in rows:
        print(f"| {name} | {n:,} | {rate:,.0f} | {rate * mean_bytes / 1e6:,.1f} | {rate / ref:,.1f}x | "
              f"{100 * rate / parse:.0f}% |")
    ok = mine >= 50 * ref and mine >= 0.4 * parse
    print(f"\nTargets (>= 50x jsonschema, >= 40% of parse-only): {'met' if ok else 'NOT met'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
