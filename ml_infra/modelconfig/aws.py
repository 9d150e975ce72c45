"""AWS plumbing shared by the loader and the release tools.

- Clients from the standard AWS settings (`AWS_PROFILE`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`
  and the rest of botocore's chain), so a moto server or a VPC endpoint works with no code change.
- A bounded retry with exponential backoff and full jitter (`Backoff`).
- Batched `GetParameters` with `name:version` and `name:label` selectors (`get_parameters`).
- Translation of AWS errors into the library's exceptions (`translate`).
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ml_infra.modelconfig.errors import (
    ConfigUnavailableError,
    InvalidInputError,
    ModelConfigError,
    PermissionDeniedError,
)

# boto3 clients are typed only with the mypy-boto3 stubs, which the library does not require.
SSMClient = Any

T = TypeVar("T")

GET_PARAMETERS_MAX_NAMES = 10  # SSM's limit per GetParameters call

# Errors worth retrying: throttling, and transient server-side faults. SSM answers TooManyUpdates when several
# writers change one parameter at the same moment (two operators activating at once): retrying lets each write
# land in turn, and the last one wins.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "TooManyUpdates",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "KMSAccessDeniedException"}
)


@functools.cache
def _data_loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


def boto3_session(profile: str | None = None) -> Any:
    """A boto3 session from the standard settings. botocore reads `AWS_DEFAULT_REGION` but not `AWS_REGION`
    (which the AWS CLI v2 and the other SDKs honour), so `AWS_REGION` is applied here when it is set.

    Sessions share one botocore data loader: the service models are parsed once per process, not per session
    (a fresh session otherwise re-reads them, a few hundred milliseconds each time)."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _data_loader())
    region = os.environ.get("AWS_REGION") or None
    return boto3.Session(botocore_session=core, profile_name=profile, region_name=region)


def client_config(*, max_attempts: int, connect_timeout: float = 2.0, read_timeout: float = 5.0) -> Any:
    """botocore settings: short timeouts (a hung connection must not hold an application), and botocore's own
    standard retry mode with `max_attempts` (1 = no retry inside botocore)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def ssm_client(
    *, profile: str | None = None, max_attempts: int = 1, connect_timeout: float = 2.0, read_timeout: float = 5.0
) -> SSMClient:
    """An SSM client from the standard AWS settings.

    The loader retries with its own `Backoff` (one budget for a whole load, sleeps injectable), so by default
    botocore does not retry as well: `max_attempts=1`. The CLI, which has no such loop, asks for more.
    """
    return boto3_session(profile).client(
        "ssm",
        config=client_config(max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout),
    )


def sts_client(*, profile: str | None = None, max_attempts: int = 3) -> Any:
    return boto3_session(profile).client("sts", config=client_config(max_attempts=max_attempts))


def error_code(err: BaseException) -> str | None:
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", "")) or None
    return None


def error_message(err: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Message", "")) or str(err)
    return str(err)


def is_retryable(err: BaseException) -> bool:
    """True for throttling, server faults, timeouts and connection failures: the faults that pass."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(err, ConnectionError | HTTPClientError):
        return True
    if isinstance(err, ClientError):
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(err) in RETRYABLE_CODES or status >= 500
    return False


@dataclass(frozen=True)
class Backoff:
    """How often and how long to retry one operation: exponential backoff with full jitter, bounded by a number
    of attempts and by a deadline for the whole operation (a load of several calls, an activation).

    Written here rather than left to botocore's retry mode because botocore retries each call on its own budget
    with a sleep nothing can replace: an application must know how long at most a load blocks before it is served
    the last known good configuration, and tests must run the same code with no real sleeping (`sleep=`).
    """

    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    deadline: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic

    def start(self) -> RetryBudget:
        return RetryBudget(self, self.clock())


@dataclass
class RetryBudget:
    """The retries left to one operation; every AWS call of the operation goes through `call`."""

    backoff: Backoff
    started: float
    retries: int = field(default=0)

    def call(self, fn: Callable[[], T]) -> T:
        policy = self.backoff
        attempt = 1
        while True:
            try:
                return fn()
            except Exception as err:
                if not is_retryable(err) or attempt >= policy.attempts:
                    raise
                delay = policy.jitter() * min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
                if policy.clock() - self.started + delay > policy.deadline:
                    raise
                policy.sleep(delay)
                attempt += 1
                self.retries += 1


@dataclass(frozen=True)
class StoredParameter:
    """One parameter version as SSM returned it. `text` is decrypted for a SecureString when asked."""

    name: str
    text: str = field(repr=False)  # may be a decrypted secret
    version: int = 0
    ssm_type: str = "String"
    last_modified: datetime | None = None


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def split_selector(selector: str) -> tuple[str, str]:
    """`/p/e/m/key:7` -> (`/p/e/m/key`, `7`). Parameter names cannot contain ':'."""
    name, _, qualifier = selector.partition(":")
    return name, qualifier


def get_parameters(
    client: SSMClient, selectors: Sequence[str], *, budget: RetryBudget, decrypt: bool = True
) -> tuple[dict[str, StoredParameter], list[str]]:
    """Fetch parameters by name, `name:version` or `name:label`, ten per call (SSM's limit): ceil(N/10) calls.

    Returns what was found, keyed by the selector as given, and the selectors SSM reported invalid (no such
    parameter, version or label). Written by hand rather than with Powertools' `get_parameters_by_name`, which
    keys its results by the bare name SSM returns (a selector fails with KeyError) and keeps only the value: a
    release needs the exact version and type of each key.
    """
    if len({split_selector(s)[0] for s in selectors}) != len(selectors):
        raise ValueError("each parameter may be selected once per fetch")
    found: dict[str, StoredParameter] = {}
    invalid: list[str] = []
    for chunk in _chunks(list(selectors), GET_PARAMETERS_MAX_NAMES):
        names = list(chunk)
        response = budget.call(lambda names=names: client.get_parameters(Names=names, WithDecryption=decrypt))
        returned = {p["Name"]: p for p in response.get("Parameters", [])}
        for selector in chunk:
            name, qualifier = split_selector(selector)
            parameter = returned.get(name)
            if parameter is None:
                continue
            version = int(parameter["Version"])
            if qualifier.isdigit() and version != int(qualifier):
                continue
            found[selector] = StoredParameter(
                name=name,
                text=parameter["Value"],
                version=version,
                ssm_type=parameter["Type"],
                last_modified=parameter.get("LastModifiedDate"),
            )
        invalid.extend(str(s) for s in response.get("InvalidParameters", []))
    invalid.extend(s for s in selectors if s not in found and s not in invalid)
    return found, invalid


def translate(err: BaseException, *, doing: str) -> ModelConfigError:
    """The library's exception for an AWS failure during `doing` (e.g. "read /ml-infra/dev/ranker/_schema"),
    with a message an operator can act on."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(err, ModelConfigError):
        return err
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return InvalidInputError(
            f"cannot {doing}: no AWS credentials found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or run where a role is attached"
        )
    if isinstance(err, NoRegionError):
        return InvalidInputError(f"cannot {doing}: no AWS region; set AWS_REGION or AWS_DEFAULT_REGION")
    if isinstance(err, ClientError):
        code = error_code(err) or "error"
        message = error_message(err)
        if code in ACCESS_DENIED_CODES or "AccessDenied" in code:
            return PermissionDeniedError(f"AWS denied permission to {doing}: {message}")
        if code in RETRYABLE_CODES:
            return ConfigUnavailableError(f"cannot {doing}: SSM kept failing ({code}: {message})")
        return ModelConfigError(f"cannot {doing}: {code}: {message}")
    if isinstance(err, ConnectionError | HTTPClientError):
        return ConfigUnavailableError(f"cannot {doing}: SSM is unreachable ({err})")
    return ModelConfigError(f"cannot {doing}: {type(err).__name__}: {err}")
