"""Benchmark: record validation from JSON-lines bytes, on a SET of schemas, against two baselines measured in the
same run, worst schema first.

Schemas (each with generated records, about 1% of them invalid so the rejection path is measured too):
- `nested`: orders four levels deep (order -> customer -> address, lines -> product) with arrays and enums;
- `strings`: string-heavy events with patterns and the formats uuid, date-time, date and ipv4;
- `numeric`: 24 numbers with fractional bounds, `multipleOf` 0.25 / 0.5 and integer steps;
- `training-record`: the shipped contract `contracts/training-record.schema.json` (64-float embedding).

Per schema, three rates over the same lines:
- `orjson.loads` alone (the parse-only floor);
- this project's validator, `validator.validate_line(line)` (the per-record API the CLI and Spark use);
- `jsonschema` Draft7Validator with its format checker after `orjson.loads` (the reference baseline; on
  `--baseline-records` lines, rates are per record).
Targets (docs/contracts.md): >= 50x `jsonschema` and >= 40% of the parse-only rate, on every schema.

Also measured: how the cost grows with record size (training records with 16 .. 1,024-float embeddings) and
with schema size (numeric schemas of 6 .. 192 properties); and, outside the target set, a schema whose decimal
`multipleOf: 0.01` the fast path leaves to the reference engine.

    .venv/bin/python bench/bench_validate.py [--records 20000] [--baseline-records 1000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------ schemas


def nested_schema() -> dict[str, Any]:
    address = {"type": "object", "additionalProperties": False, "required": ["street", "city", "country"],
               "properties": {"street": {"type": "string", "maxLength": 128},
                              "city": {"type": "string", "maxLength": 64},
                              "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                              "country": {"type": "string", "enum": ["DE", "FR", "NL", "US", "GB"]}}}
    product = {"type": "object", "required": ["sku", "category"],
               "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                              "category": {"type": "string", "enum": ["book", "toy", "food", "tool"]},
                              "tags": {"type": "array", "items": {"type": "string", "maxLength": 16},
                                       "maxItems": 8}}}
    line = {"type": "object", "additionalProperties": False, "required": ["product", "quantity", "price"],
            "properties": {"product": product, "quantity": {"type": "integer", "minimum": 1, "maximum": 999},
                           "price": {"type": "number", "minimum": 0, "maximum": 100000},
                           "status": {"type": "string", "enum": ["open", "shipped", "returned"]}}}
    customer = {"type": "object", "required": ["id", "tier", "address"],
                "properties": {"id": {"type": "integer", "minimum": 1},
                               "tier": {"type": "string", "enum": ["free", "plus", "pro"]},
                               "address": address,
                               "previous": {"type": "array", "items": address, "maxItems": 4}}}
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
            "required": ["order_id", "customer", "lines", "channel"],
            "properties": {"order_id": {"type": "integer", "minimum": 1}, "customer": customer,
                           "lines": {"type": "array", "items": line, "minItems": 1, "maxItems": 50},
                           "channel": {"type": "string", "enum": ["web", "app", "store"]},
                           "note": {"type": ["string", "null"], "maxLength": 256}}}


def nested_record(rnd: random.Random, i: int) -> dict[str, Any]:
    def address() -> dict[str, Any]:
        return {"street": f"{rnd.randint(1, 200)} Main Street", "city": rnd.choice(["Berlin", "Paris", "Leeds"]),
                "zip": f"{rnd.randint(0, 99999):05d}", "country": rnd.choice(["DE", "FR", "NL", "US", "GB"])}

    return {"order_id": i + 1,
            "customer": {"id": rnd.randint(1, 10**6), "tier": rnd.choice(["free", "plus", "pro"]),
                         "address": address(), "previous": [address() for _ in range(rnd.randint(0, 2))]},
            "lines": [{"product": {"sku": f"ABC-{rnd.randint(0, 9999):04d}",
                                   "category": rnd.choice(["book", "toy", "food", "tool"]),
                                   "tags": rnd.sample(["new", "sale", "gift", "eco"], rnd.randint(0, 3))},
                       "quantity": rnd.randint(1, 20), "price": round(rnd.uniform(1, 500), 2),
                       "status": rnd.choice(["open", "shipped"])} for _ in range(rnd.randint(1, 6))],
            "channel": rnd.choice(["web", "app", "store"]), "note": rnd.choice([None, "leave at the door"])}


def nested_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["lines"][0]["status"] = "lost"
    elif kind == 1:
        r["customer"]["address"]["zip"] = "1234"
    else:
        r["lines"][0]["quantity"] = 0


def strings_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "event_id": {"type": "string", "format": "uuid"},
        "session_id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "client_ip": {"type": "string", "format": "ipv4"},
        "user": {"type": "string", "pattern": "^[a-z][a-z0-9_]{2,31}$"},
        "locale": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
        "path": {"type": "string", "pattern": "^/[A-Za-z0-9/_.-]*$", "maxLength": 512},
        "referrer": {"type": "string", "maxLength": 1024},
        "agent": {"type": "string", "minLength": 1, "maxLength": 512},
        "kind": {"type": "string", "enum": ["view", "click", "scroll", "purchase"]},
        "version": {"type": "string", "pattern": "^v[0-9]+\\.[0-9]+\\.[0-9]+$"},
    }
    for k in range(8):
        props[f"label_{k}"] = {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9 _-]*$"}
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}


def strings_record(rnd: random.Random, i: int) -> dict[str, Any]:
    r = {"event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
         "session_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
         "at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z",
         "day": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
         "client_ip": f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
         "user": f"user_{rnd.randint(0, 99999)}", "locale": rnd.choice(["en", "de-DE", "fr-FR"]),
         "path": f"/shop/items/{rnd.randint(0, 9999)}/view.html", "referrer": "https://example.com/search?q=shoes",
         "agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
         "kind": rnd.choice(["view", "click", "scroll", "purchase"]), "version": f"v1.{i % 20}.{i % 7}"}
    for k in range(8):
        r[f"label_{k}"] = f"label {rnd.randint(0, 999)}-{k}"
    return r


def strings_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["at"] = "2024-13-01T12:00:00Z"
    elif kind == 1:
        r["client_ip"] = "10.0.0.256"
    else:
        r["user"] = "Bad User"


def numeric_schema(n: int = 24) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for k in range(n):
        if k % 3 == 0:
            props[f"x{k}"] = {"type": "number", "minimum": -10.5, "maximum": 99.75, "multipleOf": 0.25}
        elif k % 3 == 1:
            props[f"x{k}"] = {"type": "number", "exclusiveMinimum": 0.001, "exclusiveMaximum": 1.5}
        else:
            props[f"x{k}"] = {"type": "integer", "minimum": 0, "maximum": 10000, "multipleOf": 5}
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}


def numeric_record(rnd: random.Random, i: int, n: int = 24) -> dict[str, Any]:
    r: dict[str, Any] = {}
    for k in range(n):
        if k % 3 == 0:
            r[f"x{k}"] = rnd.randint(-42, 399) / 4
        elif k % 3 == 1:
            r[f"x{k}"] = rnd.uniform(0.01, 1.49)
        else:
            r[f"x{k}"] = rnd.randint(0, 2000) * 5
    return r


def numeric_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["x0"] = 0.3
    elif kind == 1:
        r["x1"] = 1.5
    else:
        r["x2"] = 7


def decimal_step_schema() -> dict[str, Any]:
    props = {f"amount_{k}": {"type": "number", "minimum": 0, "maximum": 10000, "multipleOf": 0.01}
             for k in range(12)}
    return {"type": "object", "required": list(props), "properties": props}


def decimal_step_record(rnd: random.Random, i: int) -> dict[str, Any]:
    return {f"amount_{k}": rnd.randint(0, 10**6) / 100 for k in range(12)}


def training_schema() -> dict[str, Any]:
    return json.loads((ROOT / "contracts" / "training-record.schema.json").read_text(encoding="utf-8"))


def training_record(rnd: random.Random, i: int, dim: int = 64) -> dict[str, Any]:
    return {"record_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)), "model_name": "churn-model",
            "dataset_version": "v3.1", "split": ("train", "validation", "test")[i % 3],
            "event_time": f"2024-05-{1 + i % 28:02d}T12:{i % 60:02d}:00.123Z",
            "features": {"embedding": [rnd.uniform(-1, 1) for _ in range(dim)],
                         "numeric": {f"f{k}": rnd.uniform(-100, 100) for k in range(8)},
                         "categorical": {"country": "DE", "device": "mobile"}},
            "label": rnd.choice([0, 1, 2, 0.5, "cat"]), "sample_weight": 1.0, "tags": ["a", "b"]}


def training_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["split"] = "holdout"
    elif kind == 1:
        r["event_time"] = "yesterday"
    else:
        r["tags"] = ["a", "a"]


def lines_for(make: Callable[[random.Random, int], dict[str, Any]], brk: Callable[[dict[str, Any], int], None],
              n: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = make(rnd, i)
        if i % 100 == 99:
            brk(r, (i // 100) % 3)
        out.append(orjson.dumps(r))
    return out


# ------------------------------------------------------------------------------------------------ timing


def rate(lines: list[bytes], step: Callable[[bytes], Any], min_seconds: float = 0.3) -> float:
    """Records per second over `lines`, repeated until at least `min_seconds` have passed."""
    done, started = 0, time.perf_counter()
    while True:
        for line in lines:
            step(line)
        done += len(lines)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def measure(name: str, schema: dict[str, Any], lines: list[bytes], baseline_n: int) -> dict[str, Any]:
    import jsonschema

    from ml_infra.contracts.engine import compile_reference, loads_exact
    from ml_infra.contracts.validate import JsonRecordValidator

    ours = JsonRecordValidator(name, schema)
    reference = compile_reference(schema, "draft-07")
    baseline = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    # Verdicts must agree with the reference engine before speed means anything.
    for line in lines[:2000]:
        assert (ours.validate_line(line) == []) == reference.is_valid(loads_exact(line)), (name, line[:200])
    loads = orjson.loads

    def baseline_step(line: bytes) -> None:
        record = loads(line)
        if not baseline.is_valid(record):
            list(baseline.iter_errors(record))

    validate_line = ours.validate_line
    parse = rate(lines, loads)
    mine = rate(lines, validate_line)
    base = rate(lines[:baseline_n], baseline_step)
    invalid = sum(1 for line in lines[:1000] if validate_line(line))
    return {"schema": name, "fast_path": ours.fast_path is not None, "parse": parse, "ours": mine,
            "baseline": base, "bytes": sum(map(len, lines)) / len(lines), "invalid_pct": invalid / 10,
            "vs_jsonschema": mine / base, "vs_parse": mine / parse,
            "margin": min(mine / base / 50, mine / parse / 0.4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record validation benchmark (prints markdown tables).")
    parser.add_argument("--records", type=int, default=20_000, help="distinct records per schema")
    parser.add_argument("--baseline-records", type=int, default=1_000, help="records for the jsonschema rows")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else args.records
    nb = 200 if args.quick else args.baseline_records

    cases = [
        ("nested", nested_schema(), lines_for(nested_record, nested_break, n)),
        ("strings", strings_schema(), lines_for(strings_record, strings_break, n)),
        ("numeric", numeric_schema(), lines_for(numeric_record, numeric_break, n)),
        ("training-record (shipped)", training_schema(), lines_for(training_record, training_break, n)),
    ]
    results = sorted((measure(name, schema, lines, nb) for name, schema, lines in cases), key=lambda r: r["margin"])
    print("Record validation from JSON-lines bytes, worst schema first (validate_line per line; baselines on the "
          "same lines in the same run):\n")
    print("| schema | bytes/record | invalid | parse only (rec/s) | ml-infra (rec/s) | jsonschema (rec/s) "
          "| vs jsonschema | vs parse only |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['schema']} | {r['bytes']:,.0f} | {r['invalid_pct']:.1f}% | {r['parse']:,.0f} | {r['ours']:,.0f} "
              f"| {r['baseline']:,.0f} | {r['vs_jsonschema']:,.0f}x | {100 * r['vs_parse']:.0f}% |")
    ok = all(r["vs_jsonschema"] >= 50 and r["vs_parse"] >= 0.4 for r in results)
    worst = results[0]
    print(f"\nWorst schema: {worst['schema']} ({worst['vs_jsonschema']:,.0f}x jsonschema, "
          f"{100 * worst['vs_parse']:.0f}% of parse only). Targets (>= 50x, >= 40% on every schema): "
          f"{'met' if ok else 'NOT met'}.")

    from ml_infra.contracts.validate import JsonRecordValidator

    print("\nCost against record size (training-record, embedding length varied):\n")
    print("| embedding floats | bytes/record | ml-infra us/record | parse-only us/record | ml-infra ns/byte |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    v = JsonRecordValidator("t", training_schema())
    for dim in (16, 128, 1024):
        lines = lines_for(lambda rnd, i, d=dim: training_record(rnd, i, d), training_break, max(n // 10, 500))
        size = sum(map(len, lines)) / len(lines)
        ours, parse = rate(lines, v.validate_line), rate(lines, orjson.loads)
        print(f"| {dim:,} | {size:,.0f} | {1e6 / ours:.1f} | {1e6 / parse:.1f} | {1e9 / ours / size:.1f} |")

    print("\nCost against schema size (numeric schema, number of properties varied):\n")
    print("| properties | bytes/record | ml-infra us/record | parse-only us/record | ratio to parse |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for props in (6, 24, 96, 192):
        v = JsonRecordValidator("n", numeric_schema(props))
        lines = lines_for(lambda rnd, i, p=props: numeric_record(rnd, i, p), numeric_break, max(n // 10, 500))
        size = sum(map(len, lines)) / len(lines)
        ours, parse = rate(lines, v.validate_line), rate(lines, orjson.loads)
        print(f"| {props} | {size:,.0f} | {1e6 / ours:.1f} | {1e6 / parse:.1f} | {parse / ours:.2f}x |")

    other = measure("decimal multipleOf 0.01", decimal_step_schema(),
                    lines_for(decimal_step_record, lambda r, k: r.update(amount_0=0.001), n // 4), nb)
    print(f"\nOutside the fast path (reference engine only): decimal multipleOf 0.01: {other['ours']:,.0f} rec/s, "
          f"{other['vs_jsonschema']:,.0f}x jsonschema, {100 * other['vs_parse']:.0f}% of parse only.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
