"""Benchmark: requests per cold load, per unchanged refresh and per rollback, Azure App Configuration next to SSM.

Both stores run in this process with the same model (N keys, one of them a secret) and the same two releases:

- SSM: `ModelConfigLoader` and `ReleaseManager` (ml_infra.modelconfig) over moto; every HTTP request botocore
  sends is counted (`before-send`), retries included;
- Azure: the same two cores on Azure's backends, `AzureConfigLoader` (the loader on `AzureProviderBackend`, which
  reads through the official `azure-appconfiguration-provider`) and `AzureReleaseManager` (the release manager on
  `AzureAppConfigBackend`), over the in-process fake of the data plane (`tests/appconfig_fake`); every request the
  SDK and the provider send reaches the fake's transport and is counted there.

For each store and key count: a cold load (a new loader), an unchanged refresh (`load(refresh=True)` with the
same release active) and a rollback (the operator's whole command: reads, checks and the pointer write). The
table shows requests and the ratio Azure/SSM; the last line is the worst ratio over the key counts. Request
counts are deterministic: no timing is reported (the fake's and moto's latencies say nothing about the clouds').

    .venv/bin/python bench/bench_config_requests.py [--keys 5 40 150]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_REGION", "eu-west-1")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from appconfig_fake import ENDPOINT, AppConfigState, FakeAppConfigTransport, StaticTokenCredential
from azure.appconfiguration import AzureAppConfigurationClient, ConfigurationSetting
from moto import mock_aws

from ml_infra.modelconfig import ModelConfigLoader, ReleaseManager
from ml_infra.modelconfig.aws import boto3_session
from ml_infra.modelconfig.azure_appconfig import (
    API_VERSION,
    KEY_VAULT_REF_CONTENT_TYPE,
    AzureConfigLoader,
    AzureLayout,
    AzureReleaseManager,
)
from ml_infra.modelconfig.layout import KeySchema, ModelSchema, parameter_name, schema_parameter_name
from ml_infra.modelconfig.retry import Backoff

PROJECT, ENV, MODEL = "ml-infra", "bench", "ranker"
SECRET_URI = "https://bench.vault.azure.net/secrets/token/{}"


def schema_for(keys: int) -> dict[str, KeySchema]:
    schema = {f"k{i:03d}": KeySchema(ssm_type="String", value_type="integer", minimum=0) for i in range(keys - 1)}
    schema["token"] = KeySchema(ssm_type="SecureString", value_type="secret")
    return schema


class Calls:
    def __init__(self, client: Any):
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send", lambda request, **_: self.counts.update(["request"]))

    def take(self) -> int:
        total = sum(self.counts.values())
        self.counts.clear()
        return total


def ssm_requests(keys: int) -> dict[str, int]:
    schema = schema_for(keys)
    with mock_aws():
        client = boto3_session().client("ssm")
        calls = Calls(client)
        for key, declared in schema.items():
            client.put_parameter(
                Name=parameter_name(PROJECT, ENV, MODEL, key),
                Value="1" if declared.value_type == "integer" else "secret-v1",
                Type=declared.ssm_type,
            )
        document = ModelSchema(project=PROJECT, environment=ENV, model=MODEL, keys=schema)
        client.put_parameter(
            Name=schema_parameter_name(PROJECT, ENV, MODEL), Value=document.model_dump_json(), Type="String"
        )
        sts = boto3_session().client("sts")
        manager = ReleaseManager(PROJECT, ENV, client=client, sts=sts, backoff=Backoff(sleep=lambda _: None))
        manager.create_release(MODEL, "r1")
        manager.activate(MODEL, "r1")
        manager.set_values(MODEL, {"k000": "2"})
        manager.create_release(MODEL, "r2")
        manager.activate(MODEL, "r2")
        calls.take()
        loader = ModelConfigLoader(PROJECT, ENV, client=client)
        loader.load(MODEL)
        cold = calls.take()
        loader.load(MODEL, refresh=True)
        refresh = calls.take()
        manager.rollback(MODEL)
        rollback = calls.take()
        assert loader.load(MODEL, refresh=True)["k000"] == 1
    return {"cold load": cold, "unchanged refresh": refresh, "rollback": rollback}


def azure_requests(keys: int) -> dict[str, int]:
    schema = schema_for(keys)
    layout = AzureLayout(PROJECT, ENV)
    transport = FakeAppConfigTransport(AppConfigState(), operation_retry_after=0)
    client = AzureAppConfigurationClient(
        ENDPOINT, StaticTokenCredential(), transport=transport, api_version=API_VERSION
    )
    document = ModelSchema(project=PROJECT, environment=ENV, model=MODEL, keys=schema)
    client.set_configuration_setting(
        ConfigurationSetting(
            key=layout.schema_key(MODEL), label=ENV, value=document.model_dump_json(), content_type="application/json"
        )
    )
    for key, declared in schema.items():
        secret = declared.ssm_type == "SecureString"
        client.set_configuration_setting(
            ConfigurationSetting(
                key=layout.key(MODEL, key),
                label=ENV,
                value=json.dumps({"uri": SECRET_URI.format("v1")}) if secret else "1",
                content_type=KEY_VAULT_REF_CONTENT_TYPE if secret else None,
            )
        )
    manager = AzureReleaseManager(PROJECT, ENV, client=client, identity="bench")
    manager.create_release(MODEL, "r1")
    manager.activate(MODEL, "r1")
    manager.set_values(MODEL, {"k000": "2"})
    manager.create_release(MODEL, "r2")
    manager.activate(MODEL, "r2")
    loader = AzureConfigLoader(
        PROJECT,
        ENV,
        endpoint=ENDPOINT,
        credential=StaticTokenCredential(),
        secret_resolver=lambda uri: "secret",
        transport=transport,
    )
    transport.reset_counts()
    loader.load(MODEL)
    cold = len(transport.requests)
    transport.reset_counts()
    loader.load(MODEL, refresh=True)
    refresh = len(transport.requests)
    transport.reset_counts()
    manager.rollback(MODEL)
    rollback = len(transport.requests)
    assert loader.load(MODEL, refresh=True)["k000"] == 1
    return {"cold load": cold, "unchanged refresh": refresh, "rollback": rollback}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[5, 40, 150])
    args = parser.parse_args()
    print("| keys | operation | SSM requests | Azure requests | Azure / SSM |")
    print("| ---: | --- | ---: | ---: | ---: |")
    worst: dict[str, tuple[float, int]] = {}
    for keys in args.keys:
        ssm, azure = ssm_requests(keys), azure_requests(keys)
        for operation in ssm:
            ratio = azure[operation] / ssm[operation]
            if operation not in worst or ratio > worst[operation][0]:
                worst[operation] = (ratio, keys)
            print(f"| {keys} | {operation} | {ssm[operation]} | {azure[operation]} | {ratio:.2f} |")
    print()
    print(
        "Worst case (highest Azure/SSM ratio over the key counts): "
        + "; ".join(f"{operation} {ratio:.2f} at {keys} keys" for operation, (ratio, keys) in worst.items())
    )


if __name__ == "__main__":
    main()
