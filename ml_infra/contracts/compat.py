"""Glue compatibility modes applied to a contract and its earlier versions.

A mode says which directions to check and against which versions (Glue's definitions):

| mode | direction | against |
| --- | --- | --- |
| NONE | none | - |
| DISABLED | no new version at all | the latest |
| BACKWARD / FORWARD / FULL | new reads old / old reads new / both | the latest version |
| BACKWARD_ALL / FORWARD_ALL / FULL_ALL | same | every earlier version |

The engines: `jsonschema_compat.diff` (Confluent's JSON Schema rules) and `avro_compat.reader_can_read` (the
`avro` package's checker). Where the earlier versions come from (git, the Glue registry) is the caller's
business: see `history.py` and `registry.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ml_infra.contracts.report import Change, ContractReport, Direction, Finding

MODE_DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    "NONE": (),
    "DISABLED": (),
    "BACKWARD": ("backward",),
    "BACKWARD_ALL": ("backward",),
    "FORWARD": ("forward",),
    "FORWARD_ALL": ("forward",),
    "FULL": ("backward", "forward"),
    "FULL_ALL": ("backward", "forward"),
}


class IncomparableSchemas(ValueError):
    """Two versions cannot be compared (different formats, an unparsable earlier version)."""


@dataclass(frozen=True)
class Version:
    """One earlier version of a contract: where it came from (for the report) and its text."""

    label: str
    text: str


def _same_document(a: str, b: str) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except json.JSONDecodeError:
        return a == b


def compare(data_format: str, old_text: str, new_text: str, direction: Direction) -> list[Change]:
    """The changes from `old_text` to `new_text` seen in one direction. Backward: a reader on the new version
    reads data written with the old one. Forward: a reader on the old version reads data written with the new.
    """
    if data_format == "AVRO":
        from ml_infra.contracts.avro_compat import AvroSchemaProblem, reader_can_read

        reader, writer = (new_text, old_text) if direction == "backward" else (old_text, new_text)
        try:
            return reader_can_read(reader, writer)
        except AvroSchemaProblem as err:
            raise IncomparableSchemas(str(err)) from err
    from ml_infra.contracts.jsonschema_compat import SchemaProblem, diff

    try:
        old_doc: Any = json.loads(old_text)
        new_doc: Any = json.loads(new_text)
    except json.JSONDecodeError as err:
        raise IncomparableSchemas(f"not JSON: {err}") from err
    try:
        if direction == "backward":
            return diff(old_doc, new_doc)
        return diff(new_doc, old_doc)
    except SchemaProblem as err:
        raise IncomparableSchemas(str(err)) from err


def check(
    contract: str, data_format: str, mode: str, new_text: str, history: list[Version]
) -> ContractReport:
    """Judge the new text of a contract against its earlier versions (oldest first) under `mode`."""
    report = ContractReport(contract=contract, data_format=data_format, mode=mode)
    if mode not in MODE_DIRECTIONS:
        raise ValueError(f"unknown compatibility mode {mode!r}; allowed: {', '.join(MODE_DIRECTIONS)}")
    if not history:
        report.status = "new"
        report.note = "no earlier version: a new contract passes"
        return report
    latest = history[-1]
    if _same_document(latest.text, new_text):
        report.status = "unchanged"
        report.note = f"same as {latest.label}"
        return report
    if mode == "NONE":
        report.status = "skipped"
        report.note = "mode NONE: any change is accepted"
        return report
    if mode == "DISABLED":
        report.status = "breaking"
        report.note = "mode DISABLED: no new version may be registered"
        report.findings.append(
            Finding("backward", latest.label, (
                Change("VERSIONING_DISABLED", "/", False,
                       "the contract changed, but its mode DISABLED refuses every new version"),
            ))
        )
        return report
    against = history if mode.endswith("_ALL") else [latest]
    for version in against:
        if _same_document(version.text, new_text):
            continue
        for direction in MODE_DIRECTIONS[mode]:
            changes = compare(data_format, version.text, new_text, direction)
            report.findings.append(Finding(direction, version.label, tuple(changes)))
    if any(not f.compatible for f in report.findings):
        report.status = "breaking"
    else:
        report.status = "compatible"
    checked = ", ".join(dict.fromkeys(f.against for f in report.findings)) or latest.label
    report.note = f"checked {'/'.join(MODE_DIRECTIONS[mode])} against {checked}"
    return report


def mode_relaxed(old: str, new: str) -> bool:
    """Whether `new` checks less than `old`: a direction dropped, every-version (_ALL) checks dropped, or
    versioning re-enabled after DISABLED."""
    if old == new:
        return False
    if old == "DISABLED":
        return True
    if new == "DISABLED":
        return False
    dropped_direction = not set(MODE_DIRECTIONS[old]) <= set(MODE_DIRECTIONS[new])
    dropped_all = old.endswith("_ALL") and not new.endswith("_ALL")
    return dropped_direction or dropped_all


def check_mode_change(
    contract: str, data_format: str, old_mode: str, new_mode: str, new_text: str,
    history: list[Version], allow_relax: bool = False,
) -> ContractReport:
    """A contract whose mode changes in the same change: the schema change is judged under both the old and
    the new mode (a change that only the new, looser mode lets through is still breaking for the consumers
    the old mode protected), and relaxing the mode is itself a breaking finding unless `allow_relax`."""
    under_new = check(contract, data_format, new_mode, new_text, history)
    under_old = check(contract, data_format, old_mode, new_text, history)
    report = ContractReport(contract=contract, data_format=data_format, mode=f"{old_mode} -> {new_mode}")
    report.findings = [*under_new.findings,
                       *(Finding(f.direction, f"{f.against} (under the old mode {old_mode})", f.changes)
                         for f in under_old.findings)]
    relaxed = mode_relaxed(old_mode, new_mode)
    if relaxed:
        label = history[-1].label if history else "the base manifest"
        report.findings.append(Finding("backward", label, (
            Change("MODE_RELAXED", "contracts.yaml", allow_relax,
                   f"compatibility mode relaxed from {old_mode} to {new_mode}: later versions will be checked "
                   "less than consumers were promised" + (" (allowed explicitly)" if allow_relax else
                                                          "; pass --allow-mode-change to accept it"),
                   old=old_mode, new=new_mode),
        )))
    if under_new.status == "breaking" or under_old.status == "breaking" or (relaxed and not allow_relax):
        report.status = "breaking"
    elif under_new.status in ("new", "unchanged") and not relaxed:
        report.status = under_new.status
    else:
        report.status = "compatible"
    report.note = (f"mode changed from {old_mode} to {new_mode}{' (relaxed)' if relaxed else ''}; schema judged "
                   f"under both: {under_old.status} under {old_mode}, {under_new.status} under {new_mode}")
    return report


def deleted_report(contract: str, label: str, old_mode: str | None, allowed: bool) -> ContractReport:
    """A contract that existed in the earlier version and is gone now (a rename is a deletion plus a new
    contract): breaking unless the deletion is allowed explicitly."""
    report = ContractReport(contract=contract, data_format="", mode=old_mode or "?")
    if allowed:
        report.status = "deleted"
        report.note = f"deleted since {label}; allowed explicitly (--allow-delete)"
        return report
    report.status = "breaking"
    report.note = f"deleted since {label} (a rename is a deletion plus a new contract)"
    report.findings.append(Finding("forward", label, (
        Change("CONTRACT_DELETED", label, False,
               f"contract {contract!r} was deleted: producers and consumers that use it lose their contract; "
               f"pass --allow-delete {contract} if that is intended"),
    )))
    return report
