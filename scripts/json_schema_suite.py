"""The official JSON-Schema-Test-Suite (draft7) fed through `ml-infra contracts validate`, the command users run.

For every group of every file: the group's schema is written as a plain schema file (no `$schema` unless the
group has one, so the default draft, draft-07, is what is tested), every test's data as one JSON line (numbers
written with their exact text from the suite file, so `1.0000000000000000001` stays what it is), and the
command is run with `--rejected`; a line is judged valid when it is not among the rejected ones. A group whose
command exits with anything but 0 or 1 fails all its tests.

Sections: core files (the standard every implementation reports; must be 100%), `optional/` and
`optional/format/` (graded separately, reported). `refRemote.json` is left out of the score: it fetches schemas
from `http://localhost:1234/`, and contracts refuse remote references, so each of its groups is checked to be
refused with exit 2 instead.

The suite is read from `../shared/peer-suites/json-schema-test-suite/` relative to the repository root (where
CI's copy is), or `--suite DIR`; it is never copied into the repository.

    .venv/bin/python scripts/json_schema_suite.py [--markdown] [--section core] [--allow-missing]

Exit 0 when every core case passes and every refRemote group is refused, 1 otherwise, 2 when the suite is
missing (0 with `--allow-missing`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SUITE = ROOT.parent / "shared" / "peer-suites" / "json-schema-test-suite"
REMOTE_FILES = {"refRemote.json"}


def exact_dumps(value: Any) -> str:
    """JSON text of a value read with Decimal fractions, writing each number with its exact text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(exact_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + exact_dumps(v) for k, v in value.items()) + "}"
    raise TypeError(type(value))


@dataclass
class Section:
    name: str
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 100.0


def run_group(group: dict[str, Any], work: Path, index: int) -> tuple[int, list[bool]]:
    """(exit code, the verdict for each test) of one group through the CLI."""
    from typer.testing import CliRunner

    from ml_infra.cli import app

    schema = work / f"g{index}.schema.json"
    schema.write_text(exact_dumps(group["schema"]), encoding="utf-8")
    data = work / f"g{index}.jsonl"
    data.write_text("".join(exact_dumps(t["data"]) + "\n" for t in group["tests"]), encoding="utf-8")
    rejected = work / f"g{index}.rejected.jsonl"
    result = CliRunner().invoke(app, ["contracts", "validate", str(schema), str(data), "--rejected", str(rejected),
                                      "--json"])
    if result.exit_code not in (0, 1):
        return result.exit_code, []
    bad = {json.loads(x)["line"] for x in rejected.read_bytes().split(b"\n") if x}
    return result.exit_code, [i not in bad for i in range(1, len(group["tests"]) + 1)]


def run_file(path: Path, section: Section, work: Path, remote: Section | None = None) -> None:
    groups = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    for gi, group in enumerate(groups):
        code, verdicts = run_group(group, work, gi)
        if remote is not None:  # refRemote: every group must be refused before any record is judged
            remote.total += 1
            if code == 2:
                remote.passed += 1
            else:
                remote.failures.append(f"{path.name}: {group['description']}: exit {code}, expected 2 (refused)")
            continue
        for ti, test in enumerate(group["tests"]):
            section.total += 1
            if verdicts and verdicts[ti] == test["valid"]:
                section.passed += 1
            else:
                got = f"exit {code}" if not verdicts else ("valid" if verdicts[ti] else "invalid")
                where = path.relative_to(path.parents[1] if "optional" in path.parts else path.parent)
                section.failures.append(f"{where}: {group['description']} / {test['description']}: got {got}")


def run_suite(suite: Path, sections: set[str]) -> tuple[list[Section], Section]:
    base = suite / "tests" / "draft7"
    core, optional, formats = Section("core"), Section("optional/"), Section("optional/format/")
    remote = Section("refRemote (refused)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "core" in sections:
            for f in sorted(base.glob("*.json")):
                run_file(f, core, work, remote if f.name in REMOTE_FILES else None)
        if "optional" in sections:
            for f in sorted((base / "optional").glob("*.json")):
                run_file(f, optional, work)
        if "format" in sections:
            for f in sorted((base / "optional" / "format").glob("*.json")):
                run_file(f, formats, work)
    return [s for s, key in ((core, "core"), (optional, "optional"), (formats, "format")) if key in sections], remote


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE, help="the json-schema-test-suite folder")
    parser.add_argument("--section", action="append", choices=["core", "optional", "format"],
                        help="only these sections (repeatable); default: all three")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--allow-missing", action="store_true", help="exit 0 when the suite is not there")
    args = parser.parse_args(argv)
    if not (args.suite / "tests" / "draft7").is_dir():
        print(f"{args.suite}: the JSON-Schema-Test-Suite is not there (expected tests/draft7/ inside); CI has "
              "it at ../shared/peer-suites/json-schema-test-suite relative to the repository root.", file=sys.stderr)
        return 0 if args.allow_missing else 2
    sections, remote = run_suite(args.suite, set(args.section or ["core", "optional", "format"]))
    print("| draft7 section | cases | agree | score |")
    print("| --- | ---: | ---: | ---: |")
    for s in sections:
        print(f"| {s.name} | {s.total} | {s.passed} | {s.percent:.1f}% |")
    if remote.total:
        print(f"| refRemote.json (remote $ref: refused with exit 2) | {remote.total} groups | {remote.passed} | "
              f"{remote.percent:.1f}% |")
    if not args.markdown:
        for s in [*sections, remote]:
            for failure in s.failures:
                print(f"  {s.name}: {failure}")
    core = next((s for s in sections if s.name == "core"), None)
    ok = (core is None or core.passed == core.total) and remote.passed == remote.total
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
