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


def money_record(rnd: random.Random, i: int) -> dict[str, Any]:
    return decimal_step_record(rnd, i)


def money_break(r: dict[str, Any], kind: int) -> None:
    r["amount_0"] = (0.001, 10000.01, -0.01)[kind]


def github_event_schema() -> dict[str, Any]:
    """Shaped like GitHub's public events API (a PushEvent as `GET /events` returns it): not written for
    this project, nested four levels, with patterns, enums and the uri and date-time formats."""
    uri = {"type": "string", "format": "uri"}
    sha = {"type": "string", "pattern": "^[0-9a-f]{40}$"}
    actor = {"type": "object", "required": ["id", "login", "url", "avatar_url"],
             "properties": {"id": {"type": "integer", "minimum": 1},
                            "login": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,39}$"},
                            "display_login": {"type": "string", "maxLength": 39},
                            "gravatar_id": {"type": "string", "maxLength": 32}, "url": uri, "avatar_url": uri}}
    commit = {"type": "object", "required": ["sha", "author", "message", "distinct", "url"],
              "properties": {"sha": sha, "message": {"type": "string", "maxLength": 65536},
                             "author": {"type": "object", "required": ["name", "email"],
                                        "properties": {"name": {"type": "string", "maxLength": 256},
                                                       "email": {"type": "string", "maxLength": 256}}},
                             "distinct": {"type": "boolean"}, "url": uri}}
    return {"type": "object", "required": ["id", "type", "actor", "repo", "payload", "public", "created_at"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "type": {"type": "string", "enum": ["PushEvent", "CreateEvent", "DeleteEvent", "ForkEvent",
                                                    "IssuesEvent", "PullRequestEvent", "WatchEvent"]},
                "actor": actor,
                "repo": {"type": "object", "required": ["id", "name", "url"],
                         "properties": {"id": {"type": "integer", "minimum": 1},
                                        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"},
                                        "url": uri}},
                "payload": {"type": "object", "required": ["push_id", "size", "ref", "head", "before", "commits"],
                            "properties": {"repository_id": {"type": "integer"}, "push_id": {"type": "integer"},
                                           "size": {"type": "integer", "minimum": 0},
                                           "distinct_size": {"type": "integer", "minimum": 0},
                                           "ref": {"type": "string", "pattern": "^refs/(heads|tags)/.+$"},
                                           "head": sha, "before": sha,
                                           "commits": {"type": "array", "items": commit, "maxItems": 20}}},
                "public": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "org": actor}}


def github_event_record(rnd: random.Random, i: int) -> dict[str, Any]:
    def sha() -> str:
        return f"{rnd.getrandbits(160):040x}"

    login = f"dev-{rnd.randint(1, 99999)}"
    user = {"id": rnd.randint(1, 10**8), "login": login, "display_login": login, "gravatar_id": "",
            "url": f"https://api.github.com/users/{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{rnd.randint(1, 10**8)}?"}
    repo = f"{login}/project-{rnd.randint(1, 999)}"
    commits = [{"sha": sha(), "author": {"name": "A Developer", "email": f"{login}@users.noreply.github.com"},
                "message": "Fix the build on main\n\nSigned-off-by: A Developer", "distinct": True,
                "url": f"https://api.github.com/repos/{repo}/commits/{rnd.getrandbits(64):016x}"}
               for _ in range(rnd.randint(1, 3))]
    return {"id": str(20_000_000_000 + i), "type": "PushEvent", "actor": user,
            "repo": {"id": rnd.randint(1, 10**9), "name": repo, "url": f"https://api.github.com/repos/{repo}"},
            "payload": {"repository_id": rnd.randint(1, 10**9), "push_id": 10**10 + i, "size": len(commits),
                        "distinct_size": len(commits), "ref": "refs/heads/main", "head": sha(), "before": sha(),
                        "commits": commits},
            "public": True, "created_at": f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07Z"}


def github_event_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["payload"]["head"] = "not-a-sha"
    elif kind == 1:
        r["actor"]["url"] = "api.github.com/users/x"
    else:
        r["type"] = "UnknownEvent"


def refs_schema() -> dict[str, Any]:
    """Shaped like public schemas built from `definitions` (an OpenAPI-style invoice): every object through
    `$ref`, shared parts combined with `allOf`, money as `multipleOf: 0.01`."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {
            "id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$"},
            "money": {"type": "object", "required": ["amount", "currency"], "additionalProperties": False,
                      "properties": {"amount": {"type": "number", "minimum": 0, "maximum": 1000000,
                                                "multipleOf": 0.01},
                                     "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]}}},
            "entity": {"type": "object", "required": ["id", "created"],
                       "properties": {"id": {"$ref": "#/definitions/id"},
                                      "created": {"type": "string", "format": "date-time"}}},
            "party": {"allOf": [{"$ref": "#/definitions/entity"},
                                {"type": "object", "required": ["name", "country"],
                                 "properties": {"name": {"type": "string", "maxLength": 128},
                                                "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}}]},
            "line": {"type": "object", "required": ["sku", "quantity", "price"],
                     "properties": {"sku": {"type": "string", "maxLength": 32},
                                    "quantity": {"type": "integer", "minimum": 1},
                                    "price": {"$ref": "#/definitions/money"}}},
        },
        "allOf": [{"$ref": "#/definitions/entity"},
                  {"type": "object", "required": ["seller", "buyer", "lines", "total", "status"],
                   "properties": {"seller": {"$ref": "#/definitions/party"},
                                  "buyer": {"$ref": "#/definitions/party"},
                                  "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/line"}},
                                  "total": {"$ref": "#/definitions/money"},
                                  "status": {"enum": ["draft", "sent", "paid"]}}}],
    }


def refs_record(rnd: random.Random, i: int) -> dict[str, Any]:
    def party(prefix: str) -> dict[str, Any]:
        return {"id": f"{prefix}-{rnd.randint(0, 999999):06d}", "created": "2024-01-02T03:04:05Z",
                "name": f"Company {rnd.randint(1, 999)}", "country": rnd.choice(["DE", "FR", "GB"])}

    def money() -> dict[str, Any]:
        return {"amount": rnd.randint(0, 10**6) / 100, "currency": "EUR"}

    return {"id": f"IN-{i % 10**6:06d}", "created": f"2024-05-{1 + i % 28:02d}T10:00:00Z",
            "seller": party("SE"), "buyer": party("BU"),
            "lines": [{"sku": f"SKU{rnd.randint(0, 9999)}", "quantity": rnd.randint(1, 9), "price": money()}
                      for _ in range(rnd.randint(1, 4))],
            "total": money(), "status": rnd.choice(["draft", "sent", "paid"])}


def refs_break(r: dict[str, Any], kind: int) -> None:
    if kind == 0:
        r["total"]["amount"] = 10.005
    elif kind == 1:
        r["seller"]["country"] = "Germany"
    else:
        r["lines"][0]["price"]["currency"] = "JPY"


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


def conditional_schema() -> dict[str, Any]:
    """Outside the fast path (if/then/else): measured to say what such a schema costs."""
    return {"type": "object", "required": ["kind", "value"],
            "properties": {"kind": {"enum": ["count", "ratio"]}, "value": {"type": "number"}},
            "if": {"properties": {"kind": {"const": "ratio"}}},
            "then": {"properties": {"value": {"maximum": 1}}}, "else": {"properties": {"value": {"minimum": 0}}}}


def conditional_record(rnd: random.Random, i: int) -> dict[str, Any]:
    return {"kind": "ratio", "value": rnd.random()} if i % 2 else {"kind": "count", "value": rnd.randint(0, 99)}


# ------------------------------------------------------------------------------------------------ timing


def jsonl(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def best_times(contenders: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Seconds per call of each contender, the best of `rounds` rounds; the contenders take turns within a
    round, so that load from other processes falls on all of them alike."""
    best = [float("inf")] * len(contenders)
    for _ in range(rounds):
        for k, run in enumerate(contenders):
            started = time.perf_counter()
            run()
            best[k] = min(best[k], time.perf_counter() - started)
    return best


def measure(name: str, schema: dict[str, Any], lines: list[bytes], baseline_n: int,
            rounds: int = 5) -> dict[str, Any]:
    """End to end from one JSON-lines buffer in memory (the same bytes for every contender): split into lines,
    then orjson.loads each (parse only) / this project's validator over the lines / jsonschema after
    orjson.loads (on the first `baseline_n` lines)."""
    import jsonschema

    from ml_infra.contracts.engine import compile_reference, loads_exact
    from ml_infra.contracts.validate import JsonRecordValidator

    ours = JsonRecordValidator(name, schema)
    reference = compile_reference(schema, ours.draft)
    baseline = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    buf, small = jsonl(lines), jsonl(lines[:baseline_n])
    # Verdicts must agree with the reference engine before speed means anything.
    rejected = {i for i, _, _ in ours.check_lines(buf.splitlines(keepends=True)[:2000])}
    for i, line in enumerate(lines[:2000]):
        assert (i not in rejected) == reference.is_valid(loads_exact(line)), (name, line[:200])
    loads = orjson.loads

    def parse_only() -> None:
        for line in buf.splitlines():
            loads(line)

    def validate() -> None:
        ours.check_lines(buf.splitlines(keepends=True))

    def per_line_api() -> None:
        validate_line = ours.validate_line
        for line in buf.splitlines(keepends=True):
            validate_line(line)

    def baseline_run() -> None:
        is_valid, iter_errors = baseline.is_valid, baseline.iter_errors
        for line in small.splitlines():
            record = loads(line)
            if not is_valid(record):
                list(iter_errors(record))

    parse, mine, per_line, base = best_times([parse_only, validate, per_line_api, baseline_run], rounds)
    n, nb = len(lines), min(baseline_n, len(lines))
    return {"schema": name, "fast_path": ours.fast_path is not None, "parse": n / parse, "ours": n / mine,
            "per_line": n / per_line, "baseline": nb / base, "bytes": len(buf) / n,
            "invalid_pct": 100 * len(rejected) / min(n, 2000),
            "vs_jsonschema": base / nb / (mine / n), "vs_parse": parse / mine,
            "margin": min(base / nb / (mine / n) / 50, parse / mine / 0.4)}


def load_average() -> str:
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description="Record validation benchmark (prints markdown tables).")
    parser.add_argument("--records", type=int, default=20_000, help="distinct records per schema")
    parser.add_argument("--baseline-records", type=int, default=1_000, help="records for the jsonschema rows")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per contender (the best counts)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else args.records
    nb = 200 if args.quick else args.baseline_records
    rounds = 2 if args.quick else args.rounds

    print(f"Machine: {os.cpu_count()} CPUs, load average {load_average()} (1, 5, 15 min) at the start.\n")
    cases = [
        ("nested", nested_schema(), lines_for(nested_record, nested_break, n)),
        ("strings", strings_schema(), lines_for(strings_record, strings_break, n)),
        ("numeric", numeric_schema(), lines_for(numeric_record, numeric_break, n)),
        ("money (multipleOf 0.01)", decimal_step_schema(), lines_for(money_record, money_break, n)),
        ("github-event (public shape)", github_event_schema(), lines_for(github_event_record, github_event_break, n)),
        ("invoice-refs ($ref, allOf)", refs_schema(), lines_for(refs_record, refs_break, n)),
        ("training-record (shipped)", training_schema(), lines_for(training_record, training_break, n)),
    ]
    results = sorted((measure(name, schema, lines, nb, rounds) for name, schema, lines in cases),
                     key=lambda r: r["margin"])
    print("Record validation end to end from JSON-lines bytes, worst schema first (the same buffer for every "
          "contender, split into lines; best of the rounds; baselines in the same run):\n")
    print("| schema | fast path | bytes/record | invalid | parse only (rec/s) | ml-infra (rec/s) "
          "| jsonschema (rec/s) | vs jsonschema | vs parse only | per-line API vs parse |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['schema']} | {'yes' if r['fast_path'] else 'no'} | {r['bytes']:,.0f} | {r['invalid_pct']:.1f}% "
              f"| {r['parse']:,.0f} | {r['ours']:,.0f} | {r['baseline']:,.0f} | {r['vs_jsonschema']:,.0f}x "
              f"| {100 * r['vs_parse']:.0f}% | {100 * r['per_line'] / r['parse']:.0f}% |")
    ok = all(r["vs_jsonschema"] >= 50 and r["vs_parse"] >= 0.4 for r in results)
    worst = results[0]
    print(f"\nWorst schema: {worst['schema']} ({worst['vs_jsonschema']:,.0f}x jsonschema, "
          f"{100 * worst['vs_parse']:.0f}% of parse only). Targets (>= 50x, >= 40% on every schema): "
          f"{'met' if ok else 'NOT met'}.")

    from ml_infra.contracts.validate import JsonRecordValidator

    print("\nCost against record size (training-record, embedding length varied):\n")
    print("| embedding floats | bytes/record | ml-infra us/record | parse-only us/record | ml-infra ns/byte "
          "| vs parse only |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    v = JsonRecordValidator("t", training_schema())
    for dim in (16, 128, 1024):
        lines = lines_for(lambda rnd, i, d=dim: training_record(rnd, i, d), training_break, max(n // 10, 500))
        buf = jsonl(lines)
        size = len(buf) / len(lines)
        ours, parse = best_times([lambda b=buf: v.check_lines(b.splitlines(keepends=True)),
                                  lambda b=buf: [orjson.loads(x) for x in b.splitlines()]], rounds)
        k = len(lines)
        print(f"| {dim:,} | {size:,.0f} | {1e6 * ours / k:.1f} | {1e6 * parse / k:.1f} | {1e9 * ours / k / size:.1f} "
              f"| {100 * parse / ours:.0f}% |")

    print("\nCost against schema size (numeric schema, number of properties varied):\n")
    print("| properties | bytes/record | ml-infra us/record | parse-only us/record | us per property | vs parse only |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for props in (6, 24, 96, 192):
        v = JsonRecordValidator("n", numeric_schema(props))
        lines = lines_for(lambda rnd, i, p=props: numeric_record(rnd, i, p), numeric_break, max(n // 10, 500))
        buf = jsonl(lines)
        size = len(buf) / len(lines)
        ours, parse = best_times([lambda b=buf, v=v: v.check_lines(b.splitlines(keepends=True)),
                                  lambda b=buf: [orjson.loads(x) for x in b.splitlines()]], rounds)
        k = len(lines)
        print(f"| {props} | {size:,.0f} | {1e6 * ours / k:.1f} | {1e6 * parse / k:.1f} | {1e6 * ours / k / props:.2f} "
              f"| {100 * parse / ours:.0f}% |")

    other = measure("if/then/else", conditional_schema(),
                    lines_for(conditional_record, lambda r, k: r.update(value=-1), max(n // 4, 500)), nb, rounds)
    print(f"\nOutside the fast path (reference engine only): if/then/else: {other['ours']:,.0f} rec/s, "
          f"{other['vs_jsonschema']:,.0f}x jsonschema, {100 * other['vs_parse']:.0f}% of parse only.")
    print(f"\nLoad average at the end: {load_average()}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
