"""Benchmark: contract validation on Spark against the single-process CLI on the same data, in one run.

For each schema of a varied set (a record with a 384-float embedding, nested objects with arrays and enums,
string-heavy records with patterns and formats; ~2% invalid records and a few lines that are not JSON), on the
same JSON-lines file:
- the single-process CLI, `ml-infra contracts validate` (a subprocess, wall clock: what a user waits for);
- on `local[1]` and `local[2]` (each in its own Spark session, in a child process, after a warm-up run):
  * Spark's own floor: `spark.read.text` + `from_json` with the record's schema (JVM only, no Python);
  * the validation pass alone (`validate_dataframe` written to Spark's `noop` sink): Arrow to Python,
    parse + validate, verdict columns back;
  * the same pass with `mapInPandas` instead of `mapInArrow` (why the library uses `mapInArrow`);
  * `validate_files` end to end, as `--engine spark` runs it: the JVM line count per split (for line numbers
    and the balance check), the validation pass writing valid and rejected folders, and the checks after.
Rates are records per second; ratios are against the single-process CLI measured in the same run. The worst
schema (lowest end-to-end `local[2]` / CLI ratio) is printed first. Session start-up (seconds, once per
session) is reported apart, not in the rates. The 1-minute load average is printed at the start and after each
phase: on a machine shared with other work, `local[2]` cannot get two free cores, and its scaling is a lower
bound.

    .venv/bin/python bench/bench_spark_validate.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCHEMAS: dict[str, tuple[dict[str, Any], str]] = {
    "embedding-384": (
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
         "required": ["id", "at", "label", "embedding"],
         "properties": {"id": {"type": "string", "format": "uuid"}, "at": {"type": "string", "format": "date-time"},
                        "label": {"type": "integer", "minimum": 0, "maximum": 9},
                        "embedding": {"type": "array", "items": {"type": "number", "minimum": -1, "maximum": 1}}}},
        "id string, at string, label bigint, embedding array<double>",
    ),
    "nested-enums": (
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["order", "items"],
         "properties": {
             "order": {"type": "object", "required": ["id", "status"], "additionalProperties": False,
                       "properties": {"id": {"type": "integer", "minimum": 1},
                                      "status": {"enum": ["new", "paid", "shipped", "returned"]},
                                      "channel": {"enum": ["web", "app", "store"]}}},
             "items": {"type": "array", "maxItems": 20, "items": {
                 "type": "object", "required": ["sku", "qty"], "additionalProperties": False,
                 "properties": {"sku": {"type": "string", "maxLength": 16}, "qty": {"type": "integer", "minimum": 1},
                                "tags": {"type": "array", "items": {"enum": ["gift", "fragile", "bulk"]}}}}}}},
        "order struct<id: bigint, status: string, channel: string>, "
        "items array<struct<sku: string, qty: bigint, tags: array<string>>>",
    ),
    "strings-patterns": (
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
         "required": ["email", "host", "code", "when", "name"],
         "properties": {"email": {"type": "string", "format": "email"},
                        "host": {"type": "string", "format": "hostname"},
                        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                        "when": {"type": "string", "format": "date"},
                        "name": {"type": "string", "minLength": 1, "maxLength": 80},
                        "note": {"type": "string", "maxLength": 200}}},
        "email string, host string, code string, when string, name string, note string",
    ),
}


def record(kind: str, rnd: random.Random, i: int) -> dict[str, Any]:
    if kind == "embedding-384":
        return {"id": f"{i:08x}-2c1a-4e0b-9a53-1f5b7a2c9d10", "at": "2024-05-01T12:00:00Z",
                "label": rnd.randint(0, 9), "embedding": [round(rnd.uniform(-1, 1), 6) for _ in range(384)]}
    if kind == "nested-enums":
        return {"order": {"id": i + 1, "status": rnd.choice(["new", "paid", "shipped"]), "channel": "web"},
                "items": [{"sku": f"SKU{j}", "qty": rnd.randint(1, 5), "tags": ["gift"][: j % 2]}
                          for j in range(rnd.randint(1, 8))]}
    return {"email": f"user{i}@example.com", "host": f"api-{i % 97}.example.org", "code": f"ABC-{i % 10000:04d}",
            "when": "2024-02-29", "name": f"name {i}", "note": "x" * rnd.randint(0, 120)}


def write_data(kind: str, n: int, path: Path) -> None:
    rnd = random.Random(kind)
    with path.open("wb") as out:
        for i in range(n):
            r = record(kind, rnd, i)
            if i % 50 == 7:  # ~2% invalid
                r = {**r, "unexpected": True} if kind != "strings-patterns" else {**r, "code": "abc"}
                if kind == "nested-enums":
                    r["order"] = {**r["order"], "status": "lost"}
            line = json.dumps(r).encode()
            if i % 5000 == 11:
                line = line[:20]  # not JSON
            out.write(line + b"\n")


def time_cli(schema: Path, data: Path, tmp: Path) -> float:
    exe = Path(sys.executable).with_name("ml-infra")
    start = time.perf_counter()
    subprocess.run([str(exe), "contracts", "validate", str(schema), str(data), "--valid", str(tmp / "cli.valid"),
                    "--rejected", str(tmp / "cli.rejected"), "--json"], check=False, capture_output=True)
    return time.perf_counter() - start


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def noop(df: Any) -> None:
    """Run every stage of `df` and write nothing (Spark's `noop` sink)."""
    df.write.format("noop").mode("overwrite").save()


def spark_child(master: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """In a child process (one session per master): time every stage for every schema."""
    from pyspark.sql import functions as F

    from ml_infra.contracts.spark import (
        contract_from_file,
        line_offsets,
        local_session,
        read_json_lines,
        validate_dataframe,
        validate_files,
    )

    start = time.perf_counter()
    spark = local_session(master)
    out: dict[str, Any] = {"startup_s": time.perf_counter() - start, "results": {}}
    for job in jobs:
        spec = contract_from_file(job["schema"])
        data = job["data"]
        tmp = Path(job["tmp"])
        # Warm-up: JVM code paths and the Python workers (and their compiled contract).
        validate_dataframe(read_json_lines(spark, data), spec).annotated.write.format("noop").mode(
            "overwrite").save()

        text = spark.read.option("lineSep", "\n").text(data)
        parsed = text.select(F.from_json("value", job["ddl"]).alias("r")).where(F.col("r").isNotNull())
        floor = timed(parsed.count)
        df = read_json_lines(spark, data)
        prepass = timed(line_offsets, df)
        arrow = timed(noop, validate_dataframe(df, spec).annotated)
        pandas = timed(noop, validate_dataframe(df, spec, _udf="pandas").annotated)
        for p in ("v", "r"):
            shutil.rmtree(tmp / f"{master}-{p}", ignore_errors=True)
        end_to_end = timed(validate_files, spark, spec, data, str(tmp / f"{master}-v"), str(tmp / f"{master}-r"))
        out["results"][job["kind"]] = {"from_json_s": floor, "prepass_s": prepass, "arrow_s": arrow,
                                       "pandas_s": pandas, "end_to_end_s": end_to_end}
    spark.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        master, jobs = json.loads(args.child)
        print(json.dumps(spark_child(master, jobs)))
        return 0

    loads: list[tuple[str, float]] = [("start", os.getloadavg()[0])]
    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        jobs, cli = [], {}
        for kind, (schema, ddl) in SCHEMAS.items():
            schema_path = tmp / f"{kind}.schema.json"
            schema_path.write_text(json.dumps(schema))
            data = tmp / f"{kind}.jsonl"
            write_data(kind, args.records, data)
            time_cli(schema_path, data, tmp)  # warm the file cache and imports
            for p in ("cli.valid", "cli.rejected"):
                (tmp / p).unlink(missing_ok=True)
            cli[kind] = time_cli(schema_path, data, tmp)
            jobs.append({"kind": kind, "schema": str(schema_path), "data": str(data), "ddl": ddl, "tmp": str(tmp),
                         "mb": data.stat().st_size / 1e6})
        loads.append(("after the CLI runs", os.getloadavg()[0]))
        runs = {}
        for master in ("local[1]", "local[2]"):
            env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
            done = subprocess.run([sys.executable, __file__, "--child", json.dumps([master, jobs])], env=env,
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"the {master} run failed (exit {done.returncode})")
            runs[master] = json.loads(done.stdout.strip().splitlines()[-1])
            loads.append((f"after {master}", os.getloadavg()[0]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.records
    print(f"{n:,} records per schema; cores on this machine: {os.cpu_count()}; session start-up: "
          + ", ".join(f"{m} {r['startup_s']:.1f} s" for m, r in runs.items()))
    print("1-minute load average: " + ", ".join(f"{when} {load:.2f}" for when, load in loads))

    def ratio(kind: str) -> float:
        return cli[kind] / runs["local[2]"]["results"][kind]["end_to_end_s"]

    for job in sorted(jobs, key=lambda j: ratio(j["kind"])):
        kind = job["kind"]
        print(f"\n{kind} ({job['mb']:.0f} MB of JSON lines)")
        print("| engine | local[1] rec/s | local[2] rec/s | local[2] vs CLI | local[2] / local[1] |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(f"| single-process CLI (`ml-infra contracts validate`) | {n / cli[kind]:,.0f} | | 1.00x | |")
        for label, key in (("Spark `from_json` parse only (floor, JVM)", "from_json_s"),
                           ("line count per split (JVM pre-pass)", "prepass_s"),
                           ("validation pass, `mapInArrow` (noop sink)", "arrow_s"),
                           ("validation pass, `mapInPandas` (noop sink)", "pandas_s"),
                           ("`validate_files` end to end (`--engine spark`)", "end_to_end_s")):
            one, two = runs["local[1]"]["results"][kind][key], runs["local[2]"]["results"][kind][key]
            print(f"| {label} | {n / one:,.0f} | {n / two:,.0f} | {cli[kind] / two:.2f}x | {one / two:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
