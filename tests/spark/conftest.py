"""A local Spark session for the tests marked `spark` (slow to start: excluded from the default `pytest` run,
run by `.ci/run` as `pytest -m spark`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from ml_infra.contracts.spark import local_session

    session = local_session("local[2]")
    # Small splits, so that a test file of a few hundred KB is read as several splits by two tasks: line numbers
    # and counts must hold across split boundaries.
    session.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    session.conf.set("spark.sql.files.openCostInBytes", str(8 * 1024))
    yield session
    session.stop()


@pytest.fixture
def aws_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Glue client on moto's in-process mock (the driver fetches the contract; executors never call AWS)."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GLUE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield boto3.client("glue", region_name="eu-west-1")
