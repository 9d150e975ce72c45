"""Benchmark: loading a model's configuration and rolling it back, against a local moto server.

Three ways side by side, in one run, on the same server and data (N keys, default 40, one of them a secret):

- `ModelConfigLoader` (this project): pointer + schema in one call, the release document the pointer names
  (checked against the pointer's digest), then the N keys at the versions the release names, ten per call;
  cached with a TTL; rollback = `ReleaseManager.rollback` (validation reads, then ONE compare-and-swap of the
  pointer);
- Powertools `SSMProvider.get_parameters_by_name`: batched and cached, but no releases, so a rollback is writing
  the previous value of every key back (N writes, not atomic: readers can see a mix meanwhile);
- one `GetParameter` per key, no cache; rollback as for Powertools.

For each: SSM API calls (each HTTP request, counted through botocore's event hooks) and the median latency of a
cold load (new process state), a warm load (within the TTL) and a rollback. Prints a markdown table.

    .venv/bin/python bench/bench_config_load.py [--keys 40] [--repeat 15]

Timings are from a loopback moto server on a shared machine: compare the rows with each other, not with AWS.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_REGION", "eu-west-1")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])

from botocore.config import Config
from moto.server import ThreadedMotoServer

from ml_infra.modelconfig import Backoff, ModelConfigLoader, ReleaseManager
from ml_infra.modelconfig.aws import boto3_session
from ml_infra.modelconfig.layout import (
    KeySchema,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
    parameter_name,
    pointer_for,
    release_parameter_name,
    schema_parameter_name,
)

PROJECT, ENV, MODEL = "ml-infra", "bench", "ranker"


class Calls:
    """Counts the HTTP requests a client sends."""

    def __init__(self, client: Any):
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        self.counts[target.rsplit(".", 1)[-1] or "other"] += 1

    def take(self) -> int:
        total = sum(self.counts.values())
        self.counts.clear()
        return total


def client_for(url: str, service: str = "ssm") -> Any:
    return boto3_session().client(
        service, endpoint_url=url, config=Config(retries={"mode": "standard", "total_max_attempts": 1})
    )


def seed(client: Any, keys: int) -> tuple[dict[str, str], dict[str, str]]:
    """N keys as the Pulumi program creates them, two releases (r1 active, r2), and both value sets."""
    schema = {f"k{i:02d}": KeySchema(ssm_type="String", value_type="integer") for i in range(keys - 1)}
    schema["token"] = KeySchema(ssm_type="SecureString", value_type="secret")
    first = {key: ("tok-one" if key == "token" else str(i)) for i, key in enumerate(schema)}
    second = {key: ("tok-two" if key == "token" else str(i + 1000)) for i, key in enumerate(schema)}
    versions = {}
    for key, declared in schema.items():
        name = parameter_name(PROJECT, ENV, MODEL, key)
        versions[key] = client.put_parameter(Name=name, Value=first[key], Type=declared.ssm_type)["Version"]
    client.put_parameter(
        Name=schema_parameter_name(PROJECT, ENV, MODEL),
        Value=ModelSchema(project=PROJECT, environment=ENV, model=MODEL, keys=schema).model_dump_json(),
        Type="String",
        Tier="Advanced",
    )
    initial = ReleaseDocument(
        release_id="initial",
        project=PROJECT,
        environment=ENV,
        model=MODEL,
        keys={k: ReleasedKey(version=v, ssm_type=schema[k].ssm_type) for k, v in versions.items()},
        created_by="pulumi",
    )
    text = initial.model_dump_json()
    client.put_parameter(
        Name=release_parameter_name(PROJECT, ENV, MODEL, "initial"), Value=text, Type="String", Tier="Advanced"
    )
    client.put_parameter(
        Name=release_parameter_name(PROJECT, ENV, MODEL, "active"),
        Value=pointer_for(initial, text).model_dump_json(),
        Type="String",
    )
    return first, second


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def duration(ms: float) -> str:
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms * 1000:.1f} µs"


def measure(repeat: int, action: Callable[[], object], calls: Calls) -> tuple[float, int]:
    """Median seconds of `action` and median calls per run (steady state: a first rollback to a release seeded
    by Pulumi also labels its versions once)."""
    samples, counts = [], []
    for _ in range(repeat):
        calls.take()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
        counts.append(calls.take())
    return statistics.median(samples), int(statistics.median(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    keys, repeat = args.keys, args.repeat

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        rows = run(url, keys, repeat)
    finally:
        server.stop()
    print_table(rows, keys, repeat)


def run(url: str, keys: int, repeat: int) -> list[dict[str, Any]]:
    client = client_for(url)
    first, second = seed(client, keys)
    names = {key: parameter_name(PROJECT, ENV, MODEL, key) for key in first}
    no_sleep = Backoff(sleep=lambda _: None)

    # Two releases to roll between: r2 (second values) is activated, then rollback returns to the previous one.
    operator = ReleaseManager(PROJECT, ENV, client=client, sts=client_for(url, "sts"), backoff=no_sleep)
    for key, value in second.items():
        client.put_parameter(Name=names[key], Value=value, Overwrite=True)
    operator.create_release(MODEL, "r2")
    operator.activate(MODEL, "r2")

    rows: list[dict[str, Any]] = []

    # -- this project's loader ------------------------------------------------------------------------------
    calls = Calls(client)
    holder: dict[str, ModelConfigLoader] = {}

    def ours_cold() -> None:
        holder["loader"] = ModelConfigLoader(PROJECT, ENV, client=client, ttl_seconds=300, backoff=no_sleep)
        holder["loader"].load(MODEL)

    cold = measure(repeat, ours_cold, calls)
    warm = measure(repeat * 20, lambda: holder["loader"].load(MODEL), calls)

    def ours_rollback() -> None:
        # As the CLI runs it: a new operator (identity lookup included); rollback flips between r2 and the
        # release active before it.
        ReleaseManager(PROJECT, ENV, client=client, sts=client_for(url, "sts"), backoff=no_sleep).rollback(MODEL)

    rollback = measure(repeat, ours_rollback, calls)
    rows.append(row("ModelConfigLoader (this project)", cold, warm, rollback, "1 write, atomic"))

    # -- Powertools ---------------------------------------------------------------------------------------
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    providers: dict[str, Any] = {}

    def powertools_cold() -> None:
        providers["p"] = SSMProvider(boto3_client=client)
        providers["p"].get_parameters_by_name({n: {} for n in names.values()}, decrypt=True, max_age=300)

    cold = measure(repeat, powertools_cold, calls)
    warm = measure(
        repeat * 20,
        lambda: providers["p"].get_parameters_by_name({n: {} for n in names.values()}, decrypt=True, max_age=300),
        calls,
    )
    state = {"values": first}

    def write_back() -> None:
        # No releases: going back means writing every key's previous value, one PutParameter each.
        state["values"] = second if state["values"] is first else first
        for key, value in state["values"].items():
            client.put_parameter(Name=names[key], Value=value, Overwrite=True)

    rollback = measure(repeat, write_back, calls)
    rows.append(row("Powertools get_parameters_by_name", cold, warm, rollback, f"{keys} writes, not atomic"))

    # -- one GetParameter per key -------------------------------------------------------------------------
    def per_key() -> None:
        for name in names.values():
            client.get_parameter(Name=name, WithDecryption=True)

    cold = measure(repeat, per_key, calls)
    warm = measure(repeat, per_key, calls)  # no cache: a warm load is a cold load
    rollback = measure(repeat, write_back, calls)
    rows.append(row("one GetParameter per key", cold, warm, rollback, f"{keys} writes, not atomic"))

    expected = math.ceil(keys / 10) + 2
    assert rows[0]["cold_calls"] == expected, f"cold load made {rows[0]['cold_calls']} calls, not {expected}"
    return rows


def row(method: str, cold: tuple[float, int], warm: tuple[float, int], rollback: tuple[float, int], how: str) -> dict:
    return {
        "method": method,
        "cold_calls": cold[1],
        "cold_ms": median_ms([cold[0]]),
        "warm_calls": warm[1],
        "warm_ms": median_ms([warm[0]]),
        "speedup": cold[0] / warm[0] if warm[0] else float("inf"),
        "rollback_calls": rollback[1],
        "rollback_ms": median_ms([rollback[0]]),
        "rollback_how": how,
    }


def print_table(rows: list[dict[str, Any]], keys: int, repeat: int) -> None:
    print(f"N = {keys} parameters, local moto server, medians of {repeat} runs ({repeat * 20} for warm loads)\n")
    print(
        "| method | cold load: calls | cold load: median | warm load: calls | warm load: median | cold / warm "
        "| rollback: calls | rollback: median | rollback is |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['method']} | {r['cold_calls']} | {duration(r['cold_ms'])} | {r['warm_calls']} | "
            f"{duration(r['warm_ms'])} | {r['speedup']:,.0f}x | {r['rollback_calls']} | "
            f"{duration(r['rollback_ms'])} | {r['rollback_how']} |"
        )
    baseline = rows[-1]
    print(
        f"\nCold load vs one GetParameter per key: {baseline['cold_ms'] / rows[0]['cold_ms']:.1f}x faster, "
        f"{baseline['cold_calls']} -> {rows[0]['cold_calls']} calls. Rollback calls of this project include the "
        "validation reads (pointer history, release and schema, the N keys through their protection labels): "
        "exactly one of them is a write; sts:GetCallerIdentity (1 call, to STS) is not counted."
    )


if __name__ == "__main__":
    main()
