"""Measure the JSON Schema compatibility engine against Confluent Schema Registry's public test vectors.

The vectors live outside the repository, in `../shared/peer-suites/confluent-jsonschema-diff/` relative to the
repository root (they are not ours to commit). Each case has `original_schema`, `update_schema` and Confluent's
verdict `compatible` (backward compatible: a reader on the update reads every document valid under the
original). This script prints the per-file agreement and every disagreement, and exits 1 if any file agrees
on fewer than `--target` percent (default 99) of its cases, 2 if the vectors are missing.

    .venv/bin/python scripts/confluent_conformance.py [--vectors DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VECTORS = REPO_ROOT.parent / "shared" / "peer-suites" / "confluent-jsonschema-diff"
VECTOR_FILES = (
    "diff-schema-examples.json",
    "diff-combined-schema-examples.json",
    "diff-schema-examples-2020-12.json",
    "diff-combined-schema-examples-2020-12.json",
)


def strip_trailing_commas(text: str) -> str:
    """Remove commas that directly precede `]` or `}` outside strings: one vector file is lenient JSON.

    A character scanner rather than a regular expression, so that a comma inside a string value is kept."""
    out: list[str] = []
    in_string = escaped = False
    pending_comma: list[str] = []  # a comma and the whitespace after it, held until we see what follows
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if pending_comma:
            if ch.isspace():
                pending_comma.append(ch)
                continue
            if ch in "]}":
                out.extend(pending_comma[1:])  # drop the comma, keep the layout
            else:
                out.extend(pending_comma)
            pending_comma = []
        if ch == ",":
            pending_comma = [ch]
            continue
        out.append(ch)
        if ch == '"':
            in_string = True
    out.extend(pending_comma)
    return "".join(out)


def load_cases(path: Path) -> list[dict[str, Any]]:
    return json.loads(strip_trailing_commas(path.read_text(encoding="utf-8")))


@dataclass
class FileScore:
    name: str
    total: int = 0
    agreed: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.agreed / self.total if self.total else 0.0


def measure(vectors: Path) -> list[FileScore]:
    from ml_infra.contracts.jsonschema_compat import SchemaProblem, diff

    scores = []
    for name in VECTOR_FILES:
        score = FileScore(name)
        for index, case in enumerate(load_cases(vectors / name)):
            score.total += 1
            try:
                changes = diff(case["original_schema"], case["update_schema"])
                ours: bool | str = all(c.compatible for c in changes)
                detail = [f"{c.kind} {c.location}" for c in changes]
            except SchemaProblem as err:
                ours, detail = "error", [str(err)]
            if ours == case["compatible"]:
                score.agreed += 1
            else:
                score.disagreements.append(
                    {
                        "index": index,
                        "description": case["description"],
                        "confluent": case["compatible"],
                        "ours": ours,
                        "confluent_changes": case.get("changes", []),
                        "our_changes": detail,
                    }
                )
        scores.append(score)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS, help="folder of the vector files")
    parser.add_argument("--target", type=float, default=99.0, help="minimum agreement per file, in percent")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    missing = [n for n in VECTOR_FILES if not (args.vectors / n).is_file()]
    if missing:
        print(f"{args.vectors}: missing vector files {missing}; expected Confluent's "
              "confluent-jsonschema-diff suite there.", file=sys.stderr)
        return 2
    scores = measure(args.vectors)
    failed = [s for s in scores if s.percent < args.target]
    if args.json:
        print(json.dumps({
            "target_percent": args.target,
            "ok": not failed,
            "files": [{"file": s.name, "cases": s.total, "agreed": s.agreed, "percent": round(s.percent, 2),
                       "disagreements": s.disagreements} for s in scores],
        }, indent=2))
    else:
        print("| file | cases | agree | score |")
        print("| --- | ---: | ---: | ---: |")
        for s in scores:
            print(f"| {s.name} | {s.total} | {s.agreed} | {s.percent:.1f}% |")
        total = sum(s.total for s in scores)
        agreed = sum(s.agreed for s in scores)
        print(f"| all | {total} | {agreed} | {100.0 * agreed / total:.1f}% |")
        for s in scores:
            for d in s.disagreements:
                print(f"\nDISAGREE {s.name}[{d['index']}] {d['description']!r}: Confluent compatible="
                      f"{d['confluent']}, ours={d['ours']}")
                print(f"  Confluent's changes: {d['confluent_changes']}")
                print(f"  our changes:         {d['our_changes']}")
        print(f"\n{'OK' if not failed else 'BELOW TARGET'}: every file must agree on >= {args.target}% "
              f"of its cases" + (f"; below: {[s.name for s in failed]}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
