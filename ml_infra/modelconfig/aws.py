"""AWS plumbing of the SSM backend (`ssm.SsmBackend`) and the CLI.

- Clients from the standard AWS settings (`AWS_PROFILE`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`
  and the rest of botocore's chain), so a moto server or a VPC endpoint works with no code change.
- Translation of AWS errors into the library's exceptions (`translate`), which the core retries or reports.

`Backoff` is the core's (`retry`); it is re-exported here for the code that imported it from this module.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ml_infra.modelconfig.errors import (
    BackendUnavailableError,
    InvalidInputError,
    ModelConfigError,
    PermissionDeniedError,
)
from ml_infra.modelconfig.retry import Backoff, RetryBudget

__all__ = ["Backoff", "RetryBudget", "boto3_session", "error_code", "error_message", "ssm_client", "translate"]

# boto3 clients are typed only with the mypy-boto3 stubs, which the library does not require.
SSMClient = Any

# Errors worth retrying: throttling, and transient server-side faults. SSM answers TooManyUpdates when several
# writers change one parameter at the same moment (two operators activating at once): the write was refused, so
# repeating it is safe.
REFUSED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "TooManyUpdates",
    }
)
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


def _client(service: str, *, profile: str | None, config: Any) -> Any:
    """A client of `service`, or InvalidInputError (exit 2) naming the AWS setting to fix: botocore raises
    NoRegionError, ValueError (an unusable AWS_ENDPOINT_URL) or ProfileNotFound while it builds the client."""
    from botocore.exceptions import NoRegionError, ProfileNotFound

    try:
        return boto3_session(profile).client(service, config=config)
    except NoRegionError:
        raise InvalidInputError(
            f"no AWS region for {service}; set AWS_REGION (or AWS_DEFAULT_REGION), e.g. AWS_REGION=eu-west-1"
        ) from None
    except ProfileNotFound as err:
        raise InvalidInputError(f"AWS_PROFILE: {err}; set it to a profile of your AWS config, or unset it") from None
    except ValueError as err:
        endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint is not None and "endpoint" in str(err).lower():
            raise InvalidInputError(
                f"AWS_ENDPOINT_URL: {endpoint!r} is not a valid endpoint URL; set it to a URL with a scheme and host, "
                "e.g. http://127.0.0.1:5000 for a local moto server, or unset it to use AWS"
            ) from None
        raise


def ssm_client(
    *, profile: str | None = None, max_attempts: int = 1, connect_timeout: float = 2.0, read_timeout: float = 5.0
) -> SSMClient:
    """An SSM client from the standard AWS settings.

    The core retries with its own `Backoff` (one budget for a whole load, sleeps injectable), so by default
    botocore does not retry as well: `max_attempts=1`.
    """
    config = client_config(max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return _client("ssm", profile=profile, config=config)


def sts_client(*, profile: str | None = None, max_attempts: int = 3) -> Any:
    return _client("sts", profile=profile, config=client_config(max_attempts=max_attempts))


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


def translate(err: BaseException, *, doing: str, write: bool = False) -> ModelConfigError:
    """The library's exception for an AWS failure during `doing` (e.g. "read /ml-infra/dev/ranker/_schema"),
    with a message an operator can act on. Transient faults become `BackendUnavailableError`, retryable for a
    read, and for a write only when SSM certainly refused it (`write=True`)."""
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
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in RETRYABLE_CODES or status >= 500:
            return BackendUnavailableError(
                f"cannot {doing}: SSM kept failing ({code}: {message})", retryable=not write or code in REFUSED_CODES
            )
        return ModelConfigError(f"cannot {doing}: {code}: {message}")
    if isinstance(err, ConnectionError | HTTPClientError):
        # A connection that failed before the request was sent (EndpointConnectionError, ConnectTimeoutError)
        # applied nothing; a read timeout may have.
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        sent_nothing = isinstance(err, EndpointConnectionError | ConnectTimeoutError)
        return BackendUnavailableError(
            f"cannot {doing}: SSM is unreachable ({err})", retryable=not write or sent_nothing
        )
    return ModelConfigError(f"cannot {doing}: {type(err).__name__}: {err}")
