"""The result model of a compatibility check, shared by the JSON Schema and Avro engines, the git and registry
gates and the CLI: what changed, where, whether it is compatible, and who it breaks.

A `Change` is one difference between two schema versions, seen in one direction (`original` -> `update`, read
"a reader on `update` reading data written under `original`"). A `Finding` is a comparison of the new version
of a contract with one earlier version under one mode; a `ContractReport` holds every finding for one contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["backward", "forward"]

# Who a breaking change hurts, in a data engineer's words. BACKWARD: the new schema must read old data, so a
# break hits consumers that upgrade first. FORWARD: old schemas must read new data, so a break hits consumers
# that have not upgraded yet when producers do.
IMPACT: dict[Direction, str] = {
    "backward": "consumers on the new version cannot read records written with {version}",
    "forward": "consumers still on {version} cannot read records written with the new version",
}


@dataclass(frozen=True)
class Change:
    """One difference between two schemas.

    kind: a stable identifier (for JSON Schema the name Confluent's schema registry uses, e.g.
    `MAX_LENGTH_DECREASED`; for Avro the `avro` package's incompatibility type, e.g. `TYPE_MISMATCH`).
    location: a JSON pointer into the schema (`/properties/label/maxLength`) or an Avro field path.
    """

    kind: str
    location: str
    compatible: bool
    message: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "location": self.location,
            "compatible": self.compatible,
            "message": self.message,
        }
        if self.old is not None:
            out["old"] = self.old
        if self.new is not None:
            out["new"] = self.new
        return out


@dataclass(frozen=True)
class Finding:
    """The new version of a contract compared with one earlier version in one direction."""

    direction: Direction
    against: str  # a human label of the earlier version: "origin/main:contracts/x.schema.json", "registry v3"
    changes: tuple[Change, ...]

    @property
    def compatible(self) -> bool:
        return all(c.compatible for c in self.changes)

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.compatible)

    @property
    def impact(self) -> str:
        return IMPACT[self.direction].format(version=self.against)

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "against": self.against,
            "compatible": self.compatible,
            "impact": None if self.compatible else self.impact,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass
class ContractReport:
    """Every finding for one contract, and the verdict under its mode."""

    contract: str
    data_format: str
    mode: str
    status: Literal["compatible", "breaking", "new", "unchanged", "skipped", "deleted"] = "compatible"
    note: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "breaking"

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "format": self.data_format,
            "mode": self.mode,
            "status": self.status,
            "ok": self.ok,
            "note": self.note,
            "findings": [f.to_json() for f in self.findings],
        }


def verdict(reports: list[ContractReport]) -> int:
    """The exit code of a gate run: 0 when every contract passes, 1 when any has a breaking change."""
    return 0 if all(r.ok for r in reports) else 1
