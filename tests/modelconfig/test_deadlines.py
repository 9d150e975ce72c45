"""A load returns within its deadline whatever the network does (hung, trickling at 1 byte/s, throttling), loads
of one model never wait on another model's fetch, and concurrent loads of one model share one fetch.

The faults come from a real TCP proxy between botocore and the moto server (`FaultyProxy`), so they travel the
whole HTTP stack: botocore's read timeout is per socket read, which a trickle never trips."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.config import Config

from ml_infra.modelconfig import Backoff, ConfigUnavailableError, ModelConfigLoader
from ml_infra.modelconfig.aws import boto3_session

from .conftest import (
    ENV,
    PROJECT,
    RANKER_SCHEMA,
    RANKER_VALUES,
    REGION,
    ApiCalls,
    FaultyProxy,
    MotoServer,
    seed_model,
)

# Real sleeps: the backoff must fit in the deadline by itself.
BACKOFF = Backoff(attempts=10, base_delay=0.05, max_delay=0.4)
SLACK = 0.75  # thread start-up and scheduling on a loaded 2-core machine


def client_via(proxy: FaultyProxy) -> Any:
    # botocore's defaults for an SSM client of this library: 2 s connect, 5 s per read, no botocore retry.
    return boto3_session().client(
        "ssm",
        endpoint_url=proxy.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def timed(fn: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


@pytest.fixture
def seeded(moto_server: MotoServer) -> MotoServer:
    seed_model(moto_server.client(), "ranker", RANKER_SCHEMA, RANKER_VALUES)
    seed_model(moto_server.client(), "scorer", RANKER_SCHEMA, RANKER_VALUES)
    return moto_server


@pytest.mark.parametrize("fault", ["hang", "trickle", "throttle"])
def test_a_load_returns_stale_within_its_deadline_whatever_the_network_does(
    seeded: MotoServer, proxy: FaultyProxy, fault: str
):
    loader = ModelConfigLoader(PROJECT, ENV, client=client_via(proxy), ttl_seconds=0, backoff=BACKOFF)
    assert not loader.load("ranker").stale
    proxy.mode = fault
    config, took = timed(lambda: loader.load("ranker", deadline_seconds=1.5))
    assert took < 1.5 + SLACK, f"{fault}: the load took {took:.1f} s"
    assert config.stale and config["max_results"] == 20 and config.stale_reason
    assert "load model ranker" in config.stale_reason


@pytest.mark.parametrize("fault", ["hang", "trickle"])
def test_a_cold_load_without_a_last_known_good_fails_clearly_within_its_deadline(
    seeded: MotoServer, proxy: FaultyProxy, fault: str
):
    proxy.mode = fault
    loader = ModelConfigLoader(PROJECT, ENV, client=client_via(proxy), deadline_seconds=1.0, backoff=BACKOFF)
    started = time.monotonic()
    with pytest.raises(ConfigUnavailableError, match=r"did not answer within the 1 s deadline"):
        loader.load("ranker")
    assert time.monotonic() - started < 1.0 + SLACK


def test_after_the_network_recovers_the_next_load_is_fresh_again(seeded: MotoServer, proxy: FaultyProxy):
    loader = ModelConfigLoader(PROJECT, ENV, client=client_via(proxy), ttl_seconds=0, retry_interval=0, backoff=BACKOFF)
    loader.load("ranker")
    proxy.mode = "hang"
    assert loader.load("ranker", deadline_seconds=0.5).stale
    proxy.mode = "pass"
    time.sleep(0.6)  # the hung fetch is past its own deadline: the next load starts a new one
    config = loader.load("ranker", deadline_seconds=5)
    assert not config.stale and config.stale_reason is None


def test_a_cached_model_is_served_at_once_while_another_models_fetch_hangs(seeded: MotoServer, proxy: FaultyProxy):
    loader = ModelConfigLoader(PROJECT, ENV, client=client_via(proxy), ttl_seconds=300, backoff=BACKOFF)
    loader.load("ranker")
    loader.load("scorer")
    loader.invalidate("scorer")  # its next load asks SSM, and hangs
    proxy.mode, proxy.only = "hang", b"/ml-infra/dev/scorer/"
    served: list[Any] = []
    hung = threading.Thread(target=lambda: served.append(loader.load("scorer", deadline_seconds=3.0)), daemon=True)
    hung.start()
    time.sleep(0.3)  # the scorer fetch is now blocked inside the network
    config, took = timed(lambda: loader.load("ranker"))
    assert not config.stale and took < 0.1, f"a cached load waited {took:.2f} s behind another model's fetch"
    hung.join(timeout=5)
    assert served and served[0].stale  # the hung model itself got its last known good within its deadline


def test_concurrent_loads_of_one_model_share_one_fetch(seeded: MotoServer, proxy: FaultyProxy):
    client = client_via(proxy)
    calls = ApiCalls(client)
    loader = ModelConfigLoader(PROJECT, ENV, client=client, ttl_seconds=300, backoff=BACKOFF)
    proxy.mode, proxy.delay = "slow", 0.3  # every request takes 0.3 s: the loads overlap for sure
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def load() -> None:
        barrier.wait(timeout=5)
        results.append(loader.load("ranker"))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8 and all(r is results[0] and not r.stale for r in results)
    # One cold load: pointer + schema, the release document, the 7 keys; not eight of them.
    assert calls.counts == {"GetParameters": 3}


def test_a_fractional_ttl_caches_for_that_fraction_of_a_second(seeded: MotoServer, proxy: FaultyProxy):
    now = [0.0]
    client = client_via(proxy)
    calls = ApiCalls(client)
    loader = ModelConfigLoader(PROJECT, ENV, client=client, ttl_seconds=0.5, backoff=BACKOFF, clock=lambda: now[0])
    loader.load("ranker")
    calls.reset()
    now[0] = 0.4
    loader.load("ranker")
    assert calls.total == 0  # within 0.5 s: cached (a TTL truncated to 0 would ask every time)
    now[0] = 0.6
    loader.load("ranker")
    assert calls.total == 1


@pytest.mark.parametrize(
    "setting", [{"ttl_seconds": float("nan")}, {"deadline_seconds": 0}, {"retry_interval": float("inf")}]
)
def test_timing_settings_must_be_finite(setting: dict[str, float], seeded: MotoServer):
    from ml_infra.modelconfig import InvalidInputError

    with pytest.raises(InvalidInputError, match="not usable; allowed: a finite number of seconds"):
        ModelConfigLoader(PROJECT, ENV, client=seeded.client(), **setting)
