"""The HTTP face of the fake: an azure-core `HttpTransport` that the official SDK and provider are given with
`transport=`. It parses the request the SDK built, calls the state (`state.AppConfigState`), renders the
response the way the service does, checks it against the REST spec (`spec.SpecValidator`) and hands it back to
the SDK's own pipeline (retry, polling, deserialisation all run unchanged).

Faults are injected here, where a network or a throttling front end would put them: `outage` (every request
fails to connect, as `ServiceRequestError`), `throttle(n, retry_after_ms)` (the next n requests get 429 with
`retry-after-ms`), and `before_request` (a hook tests use to interleave two writers). `sleep` is recorded, not
slept: azure-core's retry policy and LRO poller sleep through the transport, so the waits they asked for can be
asserted without waiting.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

from .spec import API_VERSION, SpecValidator
from .state import KEY_VALUE_FIELDS, AppConfigState, FakeAppConfigError, StoredKeyValue

PAGE_SIZE = 100
KV_TYPE = "application/vnd.microsoft.appconfig.kv+json; charset=utf-8"
KVSET_TYPE = "application/vnd.microsoft.appconfig.kvset+json; charset=utf-8"
SNAPSHOT_TYPE = "application/vnd.microsoft.appconfig.snapshot+json; charset=utf-8"
SNAPSHOTSET_TYPE = "application/vnd.microsoft.appconfig.snapshotset+json; charset=utf-8"
LABELSET_TYPE = "application/vnd.microsoft.appconfig.labelset+json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int


class _Response(HttpResponseImpl):
    def __init__(self, request: Any, status: int, headers: dict[str, str], body: bytes):
        super().__init__(
            request=request,
            internal_response=None,
            status_code=status,
            reason="",
            content_type=headers.get("Content-Type"),
            headers=case_insensitive_dict(headers),
            stream_download_generator=None,
        )
        self._content = body
        self._is_stream_consumed = True

    def read(self) -> bytes:
        return self._content or b""

    def body(self) -> bytes:
        return self._content or b""


class FakeAppConfigTransport(HttpTransport):
    """Serves App Configuration's data plane from `state` for every client built with `transport=this`."""

    def __init__(
        self,
        state: AppConfigState | None = None,
        *,
        validator: SpecValidator | None = None,
        operation_retry_after: int = 10,
    ):
        self.state = state if state is not None else AppConfigState()
        self.validator = validator if validator is not None else SpecValidator()
        # The recorded operation polls carried `Retry-After: 10`; the poller sleeps through `sleep` below.
        self.operation_retry_after = operation_retry_after
        self.outage = False
        self._throttle_left = 0
        self._throttle_ms = 0
        self.before_request: Callable[[str, str, dict[str, list[str]]], None] | None = None
        self.requests: list[Recorded] = []
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    # -- HttpTransport ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeAppConfigTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def sleep(self, duration: float) -> None:
        self.sleeps.append(float(duration))

    # -- faults and counters ------------------------------------------------------------------------------

    def throttle(self, count: int, retry_after_ms: int = 800) -> None:
        """Answer the next `count` requests with 429 and `retry-after-ms`."""
        with self._lock:
            self._throttle_left = count
            self._throttle_ms = retry_after_ms

    def counts(self) -> Counter[str]:
        return Counter(f"{r.method} {r.path.split('/')[1] if r.path.count('/') else r.path}" for r in self.requests)

    def reset_counts(self) -> None:
        self.requests.clear()

    # -- dispatch -----------------------------------------------------------------------------------------

    def send(self, request: Any, **kwargs: Any) -> Any:
        parsed = urllib.parse.urlsplit(request.url)
        path = urllib.parse.unquote(parsed.path) or "/"
        raw_path = parsed.path
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        method = request.method.upper()
        if self.before_request is not None:
            self.before_request(method, path, query)
        if self.outage:
            self.requests.append(Recorded(method, path, query, 0))
            raise ServiceRequestError(f"connection to {parsed.netloc} refused (fake outage)")
        status, headers, body = self._handle(method, path, query, request)
        self.requests.append(Recorded(method, path, query, status))
        self.validator.check(
            method,
            "/" + raw_path.lstrip("/").split("/", 1)[0] + ("/{x}" if raw_path.strip("/").count("/") else ""),
            status,
            headers,
            body,
        )
        return _Response(request, status, headers, body)

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], request: Any
    ) -> tuple[int, dict[str, str], bytes]:
        headers_in = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                problem = {
                    "type": "https://azconfig.io/errors/too-many-requests",
                    "title": "Too many requests",
                    "detail": "The request was throttled.",
                    "status": 429,
                }
                return self._render(429, problem, PROBLEM_TYPE, {"retry-after-ms": str(self._throttle_ms)})
        if not headers_in.get("authorization", "").startswith("Bearer "):
            return self._render(
                401,
                {"type": "https://azconfig.io/errors/unauthorized", "title": "Unauthorized", "status": 401},
                PROBLEM_TYPE,
            )
        versions = query.get("api-version", [])
        if versions != [API_VERSION]:
            problem = {
                "type": "https://azconfig.io/errors/invalid-api-version",
                "title": "Unsupported API version",
                "detail": f"this fake serves api-version {API_VERSION} only, got {versions}",
                "status": 400,
            }
            return self._render(400, problem, PROBLEM_TYPE)
        try:
            return self._route(method, path, query, headers_in, request)
        except FakeAppConfigError as err:
            if err.problem is None:
                return self._render(err.status, None, None, err.headers)
            return self._render(err.status, err.problem, PROBLEM_TYPE, err.headers)

    def _render(
        self, status: int, document: Any, content_type: str | None, extra: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "Date": format_datetime(datetime.now(UTC), usegmt=True),
            "Sync-Token": f"zAJw6V16=MToxNyM{self.state.sequence};sn={self.state.sequence}",
            "x-ms-correlation-request-id": f"fake-{len(self.requests)}",
        }
        body = b""
        if document is not None:
            body = json.dumps(document).encode("utf-8")
            headers["Content-Type"] = content_type or JSON_TYPE
        else:
            headers["Content-Length"] = "0"
        headers.update(extra or {})
        return status, headers, body

    @staticmethod
    def _one(query: dict[str, list[str]], name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    def _kv_response(self, kv: StoredKeyValue, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return self._render(
            status,
            kv.wire(),
            KV_TYPE,
            {
                "ETag": f'"{kv.etag}"',
                "Last-Modified": format_datetime(kv.last_modified, usegmt=True),
            },
        )

    def _page(
        self,
        items: list[Any],
        query: dict[str, list[str]],
        base: str,
        content_type: str,
        render: Callable[[Any], dict[str, Any]],
        *,
        etag: bool,
    ) -> tuple[int, dict[str, str], bytes]:
        # The SDK rebuilds the next request from the link through a case-insensitive dict: `After` may come back
        # as `after`.
        after = int(self._one(query, "After") or self._one(query, "after") or 0)
        page = items[after : after + PAGE_SIZE]
        document: dict[str, Any] = {"items": [render(item) for item in page]}
        extra: dict[str, str] = {}
        if after + PAGE_SIZE < len(items):
            params = {k: v for k, v in query.items() if k.lower() != "after"}
            params["After"] = [str(after + PAGE_SIZE)]
            link = f"{base}?{urllib.parse.urlencode(params, doseq=True)}"
            document["@nextLink"] = link
            extra["Link"] = f'<{link}>; rel="next"'
        if etag:
            # A page's ETag depends only on what it holds, so an unchanged page keeps its ETag.
            page_etag = _stable_etag([getattr(i, "etag", "") for i in page])
            document["etag"] = page_etag
            extra["ETag"] = f'"{page_etag}"'
        return self._render(200, document, content_type, extra)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], request: Any
    ) -> tuple[int, dict[str, str], bytes]:
        state = self.state
        segments = path.strip("/").split("/", 1)
        collection, name = segments[0], (segments[1] if len(segments) > 1 else None)
        label = self._one(query, "label")
        if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
        select = [f for s in query.get("$Select", []) for f in s.split(",") if f] or None
        tags = query.get("tags", [])

        if collection == "kv" and name is not None:
            if method == "GET":
                kv = state.get_key_value(name, label, if_match=if_match, if_none_match=if_none_match)
                if kv is None:
                    return self._render(304, None, None)
                return self._kv_response(kv)
            if method == "PUT":
                body = json.loads(request.content or b"{}") if request.content else {}
                return self._kv_response(
                    state.put_key_value(name, label, body, if_match=if_match, if_none_match=if_none_match)
                )
            if method == "DELETE":
                deleted = state.delete_key_value(name, label, if_match=if_match)
                if deleted is None:
                    return self._render(204, None, None)
                return self._kv_response(deleted)
        if collection == "locks" and name is not None and method in ("PUT", "DELETE"):
            return self._kv_response(state.set_lock(name, label, method == "PUT", if_match=if_match))
        if collection == "kv" and name is None and method == "GET":
            snapshot = self._one(query, "snapshot")
            if snapshot is not None:
                if self._one(query, "key") is not None or label is not None:
                    raise FakeAppConfigError(
                        400,
                        {
                            "type": "https://azconfig.io/errors/invalid-argument",
                            "title": "snapshot cannot be combined with key or label filters",
                            "status": 400,
                        },
                    )
                items = state.snapshot_items(snapshot)
            else:
                items = state.list_key_values(self._one(query, "key"), label, tags)
            return self._page(items, query, "/kv", KVSET_TYPE, lambda kv: kv.wire(select), etag=True)
        if collection == "revisions" and method == "GET":
            items = state.list_revisions(self._one(query, "key"), label, tags)
            return self._page(items, query, "/revisions", KVSET_TYPE, lambda kv: kv.wire(select), etag=False)
        if collection == "labels" and method == "GET":
            labels = state.list_labels(self._one(query, "name"))
            return self._page(
                labels, query, "/labels", LABELSET_TYPE, lambda lb: {"name": lb} if lb is not None else {}, etag=False
            )
        if collection == "snapshots" and name is not None:
            if method == "PUT":
                body = json.loads(request.content or b"{}")
                snapshot_obj, _ = state.create_snapshot(name, body)
                base = f"{urllib.parse.urlsplit(request.url).scheme}://{urllib.parse.urlsplit(request.url).netloc}"
                return self._render(
                    201,
                    snapshot_obj.wire(),
                    SNAPSHOT_TYPE,
                    {
                        "ETag": f'"{snapshot_obj.etag}"',
                        "Link": f'</kv?snapshot={name}&api-version={API_VERSION}>; rel="items"',
                        "Operation-Location": f"{base}/operations?snapshot={urllib.parse.quote(name)}"
                        f"&api-version={API_VERSION}",
                    },
                )
            if method == "GET":
                snapshot_obj = state.get_snapshot(name, if_match=if_match, if_none_match=if_none_match)
                if snapshot_obj is None:
                    return self._render(304, None, None)
                return self._render(
                    200,
                    snapshot_obj.wire(select),
                    SNAPSHOT_TYPE,
                    {
                        "ETag": f'"{snapshot_obj.etag}"',
                        "Link": f'</kv?snapshot={name}&api-version={API_VERSION}>; rel="items"',
                    },
                )
            if method == "PATCH":
                body = json.loads(request.content or b"{}")
                snapshot_obj = state.update_snapshot(name, str(body.get("status")), if_match=if_match)
                return self._render(200, snapshot_obj.wire(), SNAPSHOT_TYPE, {"ETag": f'"{snapshot_obj.etag}"'})
        if collection == "snapshots" and name is None and method == "GET":
            statuses = [s for v in query.get("status", []) for s in v.split(",") if s]
            items = state.list_snapshots(self._one(query, "name"), statuses)
            return self._page(items, query, "/snapshots", SNAPSHOTSET_TYPE, lambda s: s.wire(select), etag=False)
        if collection == "operations" and method == "GET":
            snapshot = self._one(query, "snapshot")
            if snapshot is None:
                raise FakeAppConfigError(
                    400,
                    {
                        "type": "https://azconfig.io/errors/invalid-argument",
                        "title": "snapshot is required",
                        "status": 400,
                    },
                )
            operation = state.poll_operation(snapshot)
            document: dict[str, Any] = {"id": operation.id, "status": operation.status}
            if operation.status == "Failed":
                document["error"] = {"code": "SnapshotCreationFailed", "message": operation.fail_with or "failed"}
            extra = {"Retry-After": str(self.operation_retry_after)} if operation.status == "Running" else {}
            return self._render(200, document, JSON_TYPE, extra)
        raise FakeAppConfigError(
            405,
            {
                "type": "https://azconfig.io/errors/method-not-allowed",
                "title": f"{method} /{path.strip('/')} is not served by this fake",
                "status": 405,
            },
        )


def _stable_etag(parts: list[str]) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256("|".join(parts).encode()).digest()).decode().rstrip("=")


__all__ = ["KEY_VALUE_FIELDS", "FakeAppConfigTransport", "Recorded"]
