"""Fixtures for the model-configuration tests: moto in-process and as a server, a model seeded the way the Pulumi
program seeds it, a counter of SSM API calls, and fault injection (throttling, timeouts, outages) through
botocore's own event hooks, so the faults travel the same code path as real ones."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from ml_infra.modelconfig import Backoff, ReleaseManager
from ml_infra.modelconfig.aws import boto3_session
from ml_infra.modelconfig.layout import (
    KeySchema,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
    active_release_parameter_name,
    parameter_name,
    pointer_for,
    release_parameter_name,
    schema_parameter_name,
)

PROJECT = "ml-infra"
ENV = "dev"
REGION = "eu-west-1"
CMK_ALIAS = "alias/ml-infra-dev-model-parameters"

# No real sleeping in tests; the sleeps asked for are recorded by the tests that check backoff.
NO_SLEEP = Backoff(sleep=lambda _: None, jitter=lambda: 1.0)


@pytest.fixture(autouse=True)
def aws_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, and nothing from the developer's own AWS setup."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "ML_INFRA_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@dataclass
class MotoServer:
    url: str
    server: ThreadedMotoServer

    def client(self, service: str = "ssm", **config: Any) -> Any:
        return boto3_session().client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
        )


def _start_server() -> MotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(f"http://{host}:{port}", server)


def _reset(server: MotoServer) -> None:
    # Every test starts from an empty account (the server shares moto's in-process backends).
    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"), timeout=5).close()


@pytest.fixture(scope="session")
def _shared_moto_server() -> Iterator[MotoServer]:
    server = _start_server()
    try:
        yield server
    finally:
        server.server.stop()


@pytest.fixture
def moto_server(_shared_moto_server: MotoServer) -> MotoServer:
    """A moto server on 127.0.0.1 (one per session, emptied for each test)."""
    _reset(_shared_moto_server)
    return _shared_moto_server


@pytest.fixture
def own_moto_server() -> Iterator[MotoServer]:
    """A moto server of this test alone, which the test may stop."""
    server = _start_server()
    _reset(server)
    try:
        yield server
    finally:
        server.server.stop()


def ssm(**config: Any) -> Any:
    """An SSM client for in-process moto (service models parsed once per run, see `boto3_session`)."""
    return boto3_session().client("ssm", region_name=REGION, config=Config(retries={"total_max_attempts": 1}, **config))


# -- API call counting --------------------------------------------------------------------------------------


class ApiCalls:
    """Counts the SSM API calls a client makes (each retry attempt is a call: it is what SSM bills and limits)."""

    def __init__(self, client: Any):
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.ssm", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        self.counts[target.rsplit(".", 1)[-1]] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()


# -- fault injection ----------------------------------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class Faults:
    """Makes a client's calls fail before they reach SSM: `throttle`, `timeout`, `outage`, `deny` for the next
    `times` calls of an operation (None = every operation, times None = until `clear`)."""

    def __init__(self, client: Any):
        self._rules: list[dict[str, Any]] = []
        # Registered first so it answers before moto's in-process stub.
        client.meta.events.register_first("before-send.ssm", self._before_send)

    def add(self, kind: str, operation: str | None = None, times: int | None = None) -> None:
        self._rules.append({"kind": kind, "operation": operation, "left": times})

    def clear(self) -> None:
        self._rules.clear()

    def _before_send(self, request: Any, **_: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        for rule in self._rules:
            if rule["operation"] not in (None, operation) or rule["left"] == 0:
                continue
            if rule["left"] is not None:
                rule["left"] -= 1
            kind = rule["kind"]
            if kind == "outage":
                raise EndpointConnectionError(endpoint_url=request.url)
            if kind == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            code, status = {
                "throttle": ("ThrottlingException", 400),
                "deny": ("AccessDeniedException", 400),
                "server": ("InternalServerError", 500),
            }[kind]
            body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
            return AWSResponse(request.url, status, HeadersDict({"x-amzn-ErrorType": code}), _Body(body))
        return None


# -- a model as the Pulumi program seeds it -----------------------------------------------------------------

RANKER_SCHEMA = {
    "max_results": KeySchema(ssm_type="String", value_type="integer", minimum=1, maximum=100),
    "threshold": KeySchema(ssm_type="String", value_type="number", minimum=0, maximum=1),
    "use_gpu": KeySchema(ssm_type="String", value_type="boolean"),
    "features": KeySchema(ssm_type="StringList", value_type="list"),
    "routing": KeySchema(ssm_type="String", value_type="json"),
    "mode": KeySchema(ssm_type="String", value_type="string", allowed_values=["fast", "exact"]),
    "api_token": KeySchema(ssm_type="SecureString", value_type="secret", description="Vendor API token"),
}
RANKER_VALUES = {
    "max_results": "20",
    "threshold": "0.5",
    "use_gpu": "true",
    "features": "age,country,clicks",
    "routing": '{"primary": "eu", "weights": [0.7, 0.3]}',
    "mode": "fast",
    "api_token": "tok-initial-9f8e7d",
}


def seed_model(
    client: Any,
    model: str,
    schema: dict[str, KeySchema],
    values: dict[str, str],
    *,
    project: str = PROJECT,
    env: str = ENV,
) -> ReleaseDocument:
    """Create what the Pulumi program creates for a model: every key parameter, `_schema`, the unlabelled
    initial release at `_release/initial` and the pointer to it at `_release/active`."""
    versions: dict[str, ReleasedKey] = {}
    for key, declared in schema.items():
        kwargs: dict[str, Any] = {
            "Name": parameter_name(project, env, model, key),
            "Value": values[key],
            "Type": declared.ssm_type,
            "Description": declared.description or f"{key} of {model}",
        }
        if declared.ssm_type == "SecureString":
            # The stack's customer-managed key (moto's SSM records the key id; it does not call KMS).
            kwargs["KeyId"] = CMK_ALIAS
        version = client.put_parameter(**kwargs)["Version"]
        versions[key] = ReleasedKey(version=version, ssm_type=declared.ssm_type)
    model_schema = ModelSchema(project=project, environment=env, model=model, keys=schema)
    client.put_parameter(
        Name=schema_parameter_name(project, env, model), Value=model_schema.model_dump_json(), Type="String"
    )
    initial = ReleaseDocument(
        release_id="initial",
        project=project,
        environment=env,
        model=model,
        keys=versions,
        created_by="pulumi",
        note="Seeded by the Pulumi program at the first deployment.",
    )
    text = initial.model_dump_json()
    client.put_parameter(Name=release_parameter_name(project, env, model, "initial"), Value=text, Type="String")
    pointer = pointer_for(initial, text).model_dump_json()
    client.put_parameter(Name=active_release_parameter_name(project, env, model), Value=pointer, Type="String")
    return initial


def many_keys(count: int) -> tuple[dict[str, KeySchema], dict[str, str]]:
    """`count` integer keys k00.. with values 0.."""
    schema = {f"k{i:02d}": KeySchema(ssm_type="String", value_type="integer") for i in range(count)}
    return schema, {f"k{i:02d}": str(i) for i in range(count)}


@pytest.fixture
def ranker(aws: None) -> ReleaseDocument:
    return seed_model(ssm(), "ranker", RANKER_SCHEMA, RANKER_VALUES)


def manager(client: Any | None = None, env: str = ENV, endpoint_url: str | None = None) -> ReleaseManager:
    """An operator's ReleaseManager (in-process moto, or the moto server at `endpoint_url`)."""
    client = client if client is not None else ssm()
    sts = boto3_session().client("sts", region_name=REGION, endpoint_url=endpoint_url)
    return ReleaseManager(PROJECT, env, client=client, sts=sts, backoff=NO_SLEEP)


# -- a misbehaving network: a TCP proxy in front of the moto server -------------------------------------------


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream` (host, port) whose behaviour the test sets in `mode`:

    - "pass": relays both ways;
    - "hang": reads the request and never answers (a hung endpoint; the connection stays open);
    - "trickle": relays the request, then the response one byte per `trickle_interval` seconds (a read
      timeout per socket read never fires);
    - "throttle": answers every request at once with HTTP 400 ThrottlingException, as SSM does when throttling;
    - "slow": relays, after holding each request for `delay` seconds.

    `only` (bytes) limits the fault to requests whose bytes contain it (others pass), e.g. one model's path.
    """

    def __init__(self, upstream: tuple[str, int]):
        import socket

        self.upstream = upstream
        self.mode = "pass"
        self.only: bytes | None = None
        self.trickle_interval = 1.0
        self.delay = 0.3
        self._closing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2)
        self._listener.close()

    def _accept(self) -> None:

        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: Any) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _serve(self, conn: Any) -> None:
        import socket

        conn.settimeout(30)
        try:
            while not self._closing.is_set():
                request = self._read_request(conn)
                if not request:
                    return
                mode = self.mode if self.only is None or self.only in request else "pass"
                if mode == "hang":
                    self._closing.wait(60)
                    return
                if mode == "throttle":
                    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                    conn.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n"
                        b"x-amzn-ErrorType: ThrottlingException\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                    continue
                if mode == "slow":
                    time.sleep(self.delay)
                with socket.create_connection(self.upstream, timeout=30) as upstream:
                    # One request per upstream connection: ask the server to close, then relay what it sends.
                    head, _, body = request.partition(b"\r\n\r\n")
                    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
                    upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)
                    response = b""
                    while True:
                        chunk = upstream.recv(65536)
                        if not chunk:
                            break
                        response += chunk
                if mode == "trickle":
                    for index in range(len(response)):
                        if self._closing.wait(self.trickle_interval):
                            return
                        conn.sendall(response[index : index + 1])
                    return
                conn.sendall(response)
                return  # the server closed: the client opens a new connection for the next request
        except OSError:
            return
        finally:
            conn.close()


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultyProxy]:
    host, port = moto_server.server.get_host_and_port()
    faulty = FaultyProxy((host, port))
    try:
        yield faulty
    finally:
        faulty.close()
