"""Differential: every case of the official JSON-Schema-Test-Suite (draft7: core, optional, optional/format,
read from ../shared/peer-suites) gets the same verdict and the same reasons on Spark as from the single-process
validator. Remote references are left out (contracts resolve only within `contracts/`)."""

from __future__ import annotations

import io
import json
import os
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from ml_infra.contracts.spark import contract_from_file, validate_dataframe
from ml_infra.contracts.validate import validate_stream, validator_for_contract

pytestmark = pytest.mark.spark

# .ci/run names the copy it fetched or verified (ML_INFRA_JSON_SCHEMA_SUITE); without it, the copy beside the
# project. Named but missing is a failure, not a skip.
SUITE_NAMED = "ML_INFRA_JSON_SCHEMA_SUITE" in os.environ
SUITE = Path(
    os.environ.get("ML_INFRA_JSON_SCHEMA_SUITE")
    or Path(__file__).resolve().parents[3] / "shared" / "peer-suites" / "json-schema-test-suite"
) / "tests" / "draft7"


def suite_groups() -> list[tuple[str, Any, list[Any]]]:
    groups = []
    for path in sorted(SUITE.rglob("*.json")):
        if path.name == "refRemote.json":
            continue
        for i, group in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            groups.append((f"{path.relative_to(SUITE)}#{i}", group["schema"], [t["data"] for t in group["tests"]]))
    return groups


def single_process_verdicts(schema_path: Path, cases: list[Any], tmp: Path) -> dict[int, list[tuple[str, str, str]]]:
    """{case: sorted reasons} of the rejected cases, through the single-process streaming path."""
    data = tmp / "cases.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    rejected = io.BytesIO()
    validate_stream(validator_for_contract(str(schema_path)), data, None, rejected)
    out = {}
    for raw in rejected.getvalue().splitlines():
        r = json.loads(raw)
        out[r["line"] - 1] = sorted((x["pointer"], x["keyword"], x["message"]) for x in r["reasons"])
    return out


@pytest.mark.skipif(not SUITE.is_dir() and not SUITE_NAMED,
                    reason="the official suite is not beside the project (../shared)")
def test_every_official_suite_case_gets_the_single_process_verdict_on_spark(spark: Any, tmp_path: Path):
    groups = suite_groups()
    rows, expected, judged, refused = [], {}, 0, []
    specs = {}
    for g, (label, schema, cases) in enumerate(groups):
        path = tmp_path / f"g{g}.schema.json"
        path.write_text(json.dumps(schema), encoding="utf-8")
        try:
            verdicts = single_process_verdicts(path, cases, tmp_path)
        except Exception as err:  # the single-process path refuses the schema: nothing to compare on Spark
            refused.append(f"{label}: {type(err).__name__}")
            continue
        specs[g] = contract_from_file(path)
        for c, case in enumerate(cases):
            rows.append((g, c, json.dumps(case)))
            expected[(g, c)] = verdicts.get(c)
        judged += len(cases)
    assert judged > 1500, refused  # nearly the whole suite is compared, not a sample

    # A few Spark jobs, each a union of one validation per group (a union of a few dozen plans stays cheap to
    # analyse; one job per group would spend the test's time starting jobs).
    got: dict[tuple[int, int], Any] = {key: None for key in expected}
    by_group: dict[int, list[tuple[int, int, str]]] = {}
    for row in rows:
        by_group.setdefault(row[0], []).append(row)
    groups_ids = list(specs)
    for start in range(0, len(groups_ids), 60):
        parts = []
        for g in groups_ids[start:start + 60]:
            df = spark.createDataFrame(by_group[g], "g int, c int, value string").coalesce(1)
            parts.append(validate_dataframe(df, specs[g], key_columns=["g", "c"]).rejected.select("g", "c", "reasons"))
        for r in reduce(lambda a, b: a.union(b), parts).collect():
            got[(r["g"], r["c"])] = sorted((x["pointer"], x["keyword"], x["message"]) for x in r["reasons"])
    differ = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert not differ, list(differ.items())[:5]
    assert sum(v is not None for v in expected.values()) > 500  # both verdicts are exercised
