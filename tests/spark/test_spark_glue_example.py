"""The worked examples of docs/spark.md run as written: the Glue 5 job script (on a local Spark session, with
its contract from a mocked Glue registry and the job arguments the doc gives) and the library snippet."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.spark

PROJECT = Path(__file__).resolve().parents[2]
DOC = PROJECT / "docs" / "spark.md"
SCRIPT = PROJECT / "docs" / "examples" / "glue_validate_contract.py"


def marked_block(marker: str) -> str:
    """The fenced block that follows `<!-- marker -->` in docs/spark.md."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {re.escape(marker)} -->\s*```[a-z]*\n(.*?)\n[ \t]*```", text, re.S)
    assert found, f"docs/spark.md has no block marked {marker}"
    return found.group(1)


def test_the_glue_job_runs_with_the_documented_arguments_on_a_registry_contract(
    spark: Any, tmp_path: Path, aws_registry: Any
):
    job = json.loads(marked_block("glue-job-definition"))
    arguments = job["DefaultArguments"]
    assert job["GlueVersion"] == "5.0" and job["Command"]["PythonVersion"] == "3"
    assert arguments["--additional-python-modules"].endswith(".whl")
    assert job["SecurityConfiguration"]  # encrypted logs, bookmarks and outputs
    contract = PROJECT / "contracts" / "training-record.schema.json"
    aws_registry.create_registry(RegistryName=arguments["--registry"])
    aws_registry.create_schema(RegistryId={"RegistryName": arguments["--registry"]}, SchemaName=arguments["--schema"],
                               DataFormat="JSON", Compatibility="BACKWARD", SchemaDefinition=contract.read_text())
    data = tmp_path / "in"
    data.mkdir()
    (data / "part-0.jsonl").write_text('{"not": "a training record"}\nnot json\n', encoding="utf-8")
    # The documented arguments, with the S3 locations swapped for local folders; Glue's own arguments too.
    argv = []
    for key, value in {**arguments, "--input": str(data), "--valid-output": str(tmp_path / "valid"),
                       "--rejected-output": str(tmp_path / "rejected"), "--JOB_ID": "j_1",
                       "--job-bookmark-option": "job-bookmark-disable"}.items():
        argv += [key, value]
    main = runpy.run_path(str(SCRIPT))["main"]
    assert main(argv) == 1  # --fail-on-rejected true in the documented arguments
    rejected = [json.loads(x) for p in sorted((tmp_path / "rejected").glob("part-*"))
                for x in p.read_text().splitlines()]
    assert sorted(r["line"] for r in rejected) == [1, 2] and all(r["reasons"] for r in rejected)
    assert list((tmp_path / "valid").glob("part-*")) == []


def test_the_library_example_runs_as_written(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(PROJECT)
    namespace: dict[str, Any] = {"spark": spark, "output": str(tmp_path)}
    exec(compile(marked_block("example: library"), str(DOC), "exec"), namespace)
    assert namespace["balance"].balanced
