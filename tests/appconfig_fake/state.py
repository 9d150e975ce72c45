"""The state of the fake App Configuration store, apart from HTTP (moto's split: a backend object per service).

Key-values (with labels, tags, locks), their revisions, labels, snapshots and the long-running operations that
create them. Every method is what one REST operation does to the state; `FakeAppConfigError` carries the status
and the problem details the HTTP layer renders. One lock makes each operation atomic, as the service's own
compare-and-swap on ETags is.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

KEY_VALUE_FIELDS = ("etag", "key", "label", "content_type", "value", "tags", "locked", "last_modified")


class FakeAppConfigError(Exception):
    """An error response: status, and the problem-details body (None: an empty body, as the service sends for
    412)."""

    def __init__(self, status: int, problem: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {problem}")
        self.status = status
        self.problem = problem
        self.headers = headers or {}


def _problem(status: int, kind: str, title: str, detail: str = "", name: str | None = None) -> FakeAppConfigError:
    body: dict[str, Any] = {"type": f"https://azconfig.io/errors/{kind}", "title": title, "status": status}
    if name is not None:
        body["name"] = name
    if detail:
        body["detail"] = detail
    return FakeAppConfigError(status, body)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass(frozen=True)
class StoredKeyValue:
    key: str
    label: str | None
    value: str | None
    content_type: str | None
    tags: dict[str, str]
    locked: bool
    etag: str
    last_modified: datetime

    def wire(self, select: Iterable[str] | None = None) -> dict[str, Any]:
        """The JSON form; a field that is None is left out (the 2024-09-01 spec types `label` etc. as plain
        strings, where the live service writes `null`)."""
        data: dict[str, Any] = {
            "etag": self.etag,
            "key": self.key,
            "label": self.label,
            "content_type": self.content_type,
            "value": self.value,
            "tags": dict(self.tags),
            "locked": self.locked,
            "last_modified": _iso(self.last_modified),
        }
        fields = list(select) if select else list(KEY_VALUE_FIELDS)
        return {k: data[k] for k in fields if data.get(k) is not None}


@dataclass
class StoredSnapshot:
    name: str
    status: str
    filters: list[dict[str, Any]]
    composition_type: str
    created: datetime
    retention_period: int
    tags: dict[str, str]
    items: list[StoredKeyValue]
    etag: str
    expires: datetime | None = None

    def wire(self, select: Iterable[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "etag": self.etag,
            "name": self.name,
            "status": self.status,
            "filters": [
                {"key": f["key"], **({"label": f["label"]} if "label" in f else {}), "tags": f.get("tags", [])}
                for f in self.filters
            ],
            "composition_type": self.composition_type,
            "created": _iso(self.created),
            "expires": _iso(self.expires) if self.expires else None,
            "size": sum(len((kv.value or "").encode()) + len(kv.key) for kv in self.items)
            if self.status != "provisioning"
            else 0,
            "items_count": len(self.items) if self.status != "provisioning" else 0,
            "tags": dict(self.tags),
            "retention_period": self.retention_period,
        }
        fields = list(select) if select else list(data)
        return {k: data[k] for k in fields if data.get(k) is not None}


@dataclass
class SnapshotOperation:
    snapshot: str
    polls_left: int
    fail_with: str | None = None
    status: str = "Running"
    id: str = field(default="")


def _filter_matches(pattern: str | None, value: str | None, *, is_label: bool) -> bool:
    """App Configuration's key and label filters: exact, `prefix*`, `*`, comma-separated alternatives, `\\0` for
    the null label; `\\` escapes `*`, `,` and itself."""
    if pattern is None:
        return True
    for alternative in _split_filter(pattern):
        if is_label and alternative == "\0":
            if value is None:
                return True
            continue
        literal, star = _unescape(alternative)
        if star:
            if value is not None and value.startswith(literal):
                return True
        elif value == literal or (is_label and literal == "" and value is None):
            return True
    return False


def _split_filter(pattern: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in pattern:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.replace("\\0", "\0") if p == "\\0" else p for p in parts]


def _unescape(alternative: str) -> tuple[str, bool]:
    """(literal prefix or value, whether it ends with an unescaped `*`)."""
    out, escaped, star = "", False, False
    for index, char in enumerate(alternative):
        if escaped:
            out += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            if index != len(alternative) - 1:
                raise _problem(400, "invalid-argument", "Invalid filter", "'*' is allowed only at the end", "key")
            star = True
        else:
            out += char
    return out, star


def _tags_match(tags: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        name, sep, value = item.partition("=")
        if not sep:
            raise _problem(400, "invalid-argument", "Invalid tags filter", f"{item!r} is not name=value", "tags")
        if value == "\0":
            if name in tags:
                return False
        elif tags.get(name) != value:
            return False
    return True


class AppConfigState:
    """One store's data plane. `clock` gives the time (tests move it to expire archived snapshots);
    `provisioning_polls` is how many operation polls a snapshot stays `provisioning` (the recorded session
    needed two `Running` polls before `Succeeded`)."""

    def __init__(
        self,
        *,
        provisioning_polls: int = 2,
        default_retention_seconds: int = 2_592_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.lock = threading.RLock()
        self.key_values: dict[tuple[str, str | None], StoredKeyValue] = {}
        self.revisions: list[StoredKeyValue] = []
        self.snapshots: dict[str, StoredSnapshot] = {}
        self.operations: dict[str, SnapshotOperation] = {}
        self.provisioning_polls = provisioning_polls
        self.default_retention_seconds = default_retention_seconds
        self.clock = clock
        self.sequence = 0
        self._etags = itertools.count(1)
        # Test hook: make the next snapshot creation fail (the operation ends `Failed`, the snapshot `failed`).
        self.fail_next_snapshot: str | None = None

    # -- helpers ------------------------------------------------------------------------------------------

    def _etag(self, *parts: Any) -> str:
        digest = hashlib.sha256(repr((next(self._etags), time.monotonic_ns(), parts)).encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _bump(self) -> int:
        self.sequence += 1
        return self.sequence

    @staticmethod
    def _matches_etag(condition: str, etag: str) -> bool:
        """`If-Match`/`If-None-Match`: `*` or a quoted ETag (the SDK sends `"<etag>"`, the service compares the
        quoted form)."""
        condition = condition.strip()
        if condition == "*":
            return True
        return condition == f'"{etag}"'

    def _expire(self) -> None:
        now = self.clock()
        for name in [n for n, s in self.snapshots.items() if s.expires and s.expires <= now]:
            del self.snapshots[name]

    # -- key-values ---------------------------------------------------------------------------------------

    def get_key_value(
        self, key: str, label: str | None, *, if_match: str | None, if_none_match: str | None
    ) -> StoredKeyValue | None:
        """The key-value, or None for 304 Not Modified (If-None-Match matched)."""
        with self.lock:
            stored = self.key_values.get((key, label))
            if stored is None:
                raise FakeAppConfigError(404)
            if if_match is not None and not self._matches_etag(if_match, stored.etag):
                raise FakeAppConfigError(412)
            if if_none_match is not None and self._matches_etag(if_none_match, stored.etag):
                return None
            return stored

    def put_key_value(
        self, key: str, label: str | None, body: dict[str, Any], *, if_match: str | None, if_none_match: str | None
    ) -> StoredKeyValue:
        with self.lock:
            if not key or key in (".", "..") or "%" in key:
                raise _problem(400, "invalid-key", "Invalid key", f"key {key!r} is not allowed", "key")
            current = self.key_values.get((key, label))
            if if_match is not None and (current is None or not self._matches_etag(if_match, current.etag)):
                raise FakeAppConfigError(412)
            if if_none_match is not None and current is not None and self._matches_etag(if_none_match, current.etag):
                raise FakeAppConfigError(412)
            if current is not None and current.locked:
                raise self._locked(key)
            tags = body.get("tags") or {}
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise _problem(400, "invalid-argument", "Invalid tags", "tags must map names to strings", "tags")
            stored = StoredKeyValue(
                key=key,
                label=label,
                value=body.get("value"),
                content_type=body.get("content_type"),
                tags=dict(tags),
                locked=False,
                etag=self._etag(key, label, body.get("value")),
                last_modified=self.clock(),
            )
            self.key_values[(key, label)] = stored
            self.revisions.append(stored)
            self._bump()
            return stored

    def delete_key_value(self, key: str, label: str | None, *, if_match: str | None) -> StoredKeyValue | None:
        with self.lock:
            current = self.key_values.get((key, label))
            if current is None:
                if if_match is not None:
                    raise FakeAppConfigError(412)
                return None
            if if_match is not None and not self._matches_etag(if_match, current.etag):
                raise FakeAppConfigError(412)
            if current.locked:
                raise self._locked(key)
            del self.key_values[(key, label)]
            self.revisions.append(
                replace(current, value=None, etag=self._etag("deleted", key, label), last_modified=self.clock())
            )
            self._bump()
            return current

    def set_lock(self, key: str, label: str | None, locked: bool, *, if_match: str | None) -> StoredKeyValue:
        with self.lock:
            current = self.key_values.get((key, label))
            if current is None:
                raise FakeAppConfigError(404)
            if if_match is not None and not self._matches_etag(if_match, current.etag):
                raise FakeAppConfigError(412)
            stored = replace(
                current, locked=locked, etag=self._etag("lock", key, label, locked), last_modified=self.clock()
            )
            self.key_values[(key, label)] = stored
            self.revisions.append(stored)
            self._bump()
            return stored

    @staticmethod
    def _locked(key: str) -> FakeAppConfigError:
        # Body as recorded (test_set_read_only), the service's own spelling included.
        return _problem(
            409,
            "key-locked",
            f"Modifing key '{key}' is not allowed",
            "The key is read-only. To allow modification unlock it first.",
            key,
        )

    def list_key_values(
        self, key_filter: str | None, label_filter: str | None, tags: list[str]
    ) -> list[StoredKeyValue]:
        with self.lock:
            found = [
                kv
                for (k, label), kv in self.key_values.items()
                if _filter_matches(key_filter, k, is_label=False)
                and (label_filter is None or _filter_matches(label_filter, label, is_label=True))
                and _tags_match(kv.tags, tags)
            ]
            return sorted(found, key=lambda kv: (kv.key, kv.label or ""))

    def list_revisions(self, key_filter: str | None, label_filter: str | None, tags: list[str]) -> list[StoredKeyValue]:
        with self.lock:
            found = [
                kv
                for kv in self.revisions
                if _filter_matches(key_filter, kv.key, is_label=False)
                and (label_filter is None or _filter_matches(label_filter, kv.label, is_label=True))
                and _tags_match(kv.tags, tags)
            ]
            return list(reversed(found))  # newest first, as the service lists them

    def list_labels(self, name_filter: str | None) -> list[str | None]:
        with self.lock:
            labels = {label for (_, label) in self.key_values}
            return sorted(
                (lb for lb in labels if name_filter is None or _filter_matches(name_filter, lb, is_label=True)),
                key=lambda lb: lb or "",
            )

    # -- snapshots ----------------------------------------------------------------------------------------

    def create_snapshot(self, name: str, body: dict[str, Any]) -> tuple[StoredSnapshot, SnapshotOperation]:
        with self.lock:
            self._expire()
            if name in self.snapshots:
                raise _problem(
                    409,
                    "already-exists",
                    f"The snapshot with name '{name}' already exists.",
                    "Snapshots are immutable: choose another name.",
                    "name",
                )
            filters = body.get("filters")
            if not isinstance(filters, list) or not 1 <= len(filters) <= 3:
                raise _problem(400, "invalid-argument", "Invalid filters", "1 to 3 filters are required", "filters")
            composition = body.get("composition_type", "key")
            if composition not in ("key", "key_label"):
                raise _problem(400, "invalid-argument", "Invalid composition type", "", "composition_type")
            retention = int(body.get("retention_period") or self.default_retention_seconds)
            if not 3600 <= retention <= 7_776_000:
                raise _problem(400, "invalid-argument", "Invalid retention period", "", "retention_period")
            # Composition: filters are applied in order; with `key`, a later filter's key-value replaces an
            # earlier one with the same key.
            chosen: dict[Any, StoredKeyValue] = {}
            for item in filters:
                for kv in self.list_key_values(item.get("key"), item.get("label", "\0"), item.get("tags") or []):
                    chosen[kv.key if composition == "key" else (kv.key, kv.label)] = kv
            snapshot = StoredSnapshot(
                name=name,
                status="provisioning",
                filters=[dict(f) for f in filters],
                composition_type=composition,
                created=self.clock(),
                retention_period=retention,
                tags=dict(body.get("tags") or {}),
                items=sorted(chosen.values(), key=lambda kv: kv.key),
                etag=self._etag("snapshot", name),
            )
            self.snapshots[name] = snapshot
            operation = SnapshotOperation(name, self.provisioning_polls, self.fail_next_snapshot, id=self._etag(name))
            self.fail_next_snapshot = None
            self.operations[name] = operation
            if operation.polls_left <= 0:
                self._advance(operation)
            self._bump()
            return snapshot, operation

    def _advance(self, operation: SnapshotOperation) -> None:
        snapshot = self.snapshots.get(operation.snapshot)
        if operation.fail_with:
            operation.status = "Failed"
            if snapshot is not None:
                snapshot.status = "failed"
                snapshot.items = []
        else:
            operation.status = "Succeeded"
            if snapshot is not None and snapshot.status == "provisioning":
                snapshot.status = "ready"

    def poll_operation(self, snapshot: str) -> SnapshotOperation:
        with self.lock:
            operation = self.operations.get(snapshot)
            if operation is None:
                raise FakeAppConfigError(404)
            if operation.status == "Running":
                operation.polls_left -= 1
                if operation.polls_left < 0:
                    self._advance(operation)
            return operation

    def get_snapshot(
        self, name: str, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> StoredSnapshot | None:
        with self.lock:
            self._expire()
            snapshot = self.snapshots.get(name)
            if snapshot is None:
                raise _problem(404, "not-found", "Not Found", f"snapshot '{name}' does not exist", "name")
            if if_match is not None and not self._matches_etag(if_match, snapshot.etag):
                raise FakeAppConfigError(412)
            if if_none_match is not None and self._matches_etag(if_none_match, snapshot.etag):
                return None
            return snapshot

    def update_snapshot(self, name: str, status: str, *, if_match: str | None) -> StoredSnapshot:
        with self.lock:
            snapshot = self.get_snapshot(name, if_match=if_match)
            assert snapshot is not None
            if status not in ("ready", "archived"):
                raise _problem(400, "invalid-argument", "Invalid status", "status must be ready or archived", "status")
            if snapshot.status in ("provisioning", "failed"):
                raise _problem(409, "conflict", f"Snapshot '{name}' is {snapshot.status}", "", "status")
            if status != snapshot.status:
                snapshot.status = status
                snapshot.expires = (
                    self.clock() + timedelta(seconds=snapshot.retention_period) if status == "archived" else None
                )
                snapshot.etag = self._etag("snapshot", name, status)
                self._bump()
            return snapshot

    def list_snapshots(self, name_filter: str | None, statuses: list[str]) -> list[StoredSnapshot]:
        with self.lock:
            self._expire()
            return [
                s
                for n, s in sorted(self.snapshots.items())
                if (name_filter is None or _filter_matches(name_filter, n, is_label=False))
                and (not statuses or s.status in statuses)
            ]

    def snapshot_items(self, name: str) -> list[StoredKeyValue]:
        with self.lock:
            snapshot = self.get_snapshot(name)
            assert snapshot is not None
            if snapshot.status not in ("ready", "archived"):
                raise _problem(409, "conflict", f"Snapshot '{name}' is {snapshot.status}", "", "snapshot")
            return list(snapshot.items)

    # -- conveniences for tests (what an operator could do by hand in the portal) ---------------------------

    def expire_snapshot(self, name: str) -> None:
        """Drop a snapshot as the service does when an archived snapshot's retention ends."""
        with self.lock:
            self.snapshots.pop(name, None)
