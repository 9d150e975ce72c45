"""Every resource both committed stacks declare, recorded: URN, type, parent, provider, protect, ignoreChanges and
the inputs the engine receives (secrets redacted), in `tests/snapshots/<case>.json`.

Why: a refactor (a module moved, a constructor split into methods, a child created in another order) must not
change what `pulumi up` sees. A changed URN is a delete and a create of the cloud resource; a changed input is an
update. The snapshot was recorded before the structural split (issue 20) and is compared at every commit since:
a change that means to alter the declared resources rewrites it on purpose, and the diff shows every resource it
touches, for review:

    ML_INFRA_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_resource_snapshot.py

The contract job is off in both committed stacks; the third case turns it on (the configuration CI's Checkov run
uses) so that its resources are recorded too."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ml_infra.preview import evaluate, read_stack_files

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("ML_INFRA_UPDATE_SNAPSHOTS") == "1"

CONTRACT_JOB = {
    "contract": "training-record",
    "inputUrl": "s3://acme-ml-prod-data/training/2024-05",
    "validOutputUrl": "s3://acme-ml-prod-data/validated/2024-05/valid",
    "rejectedOutputUrl": "s3://acme-ml-prod-data/validated/2024-05/rejected",
    "libraryWheelUrl": "s3://acme-ml-prod-artifacts/wheels/ml_infra-0.1.0-py3-none-any.whl",
}

CASES = {
    "dev": ("dev", {}),
    "prod": ("prod", {}),
    "prod-contract-job": ("prod", {"contractJobEnabled": "true", "contractJob": json.dumps(CONTRACT_JOB)}),
}


def declared(project_dir: Path, case: str) -> dict[str, dict[str, Any]]:
    """The case's resources by URN, as `preview --json` prints them (minus the mock runtime's made-up ids)."""
    stack, overrides = CASES[case]
    config = dict(read_stack_files(project_dir, stack).config)
    config.update({f"ml-infra:{key}": value for key, value in overrides.items()})
    document = evaluate(project_dir, stack, config=config if overrides else None).to_json()
    # A file the program uploads (the Glue job's script) is named by its path: recorded relative to the checkout.
    text = json.dumps(document["resources"]).replace(json.dumps(str(project_dir.resolve()))[1:-1], "<project>")
    return {resource.pop("urn"): resource for resource in json.loads(text)}


def differences(recorded: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"- gone (Pulumi would delete it): {urn}" for urn in sorted(recorded.keys() - now.keys())]
    lines += [f"+ new (Pulumi would create it): {urn}" for urn in sorted(now.keys() - recorded.keys())]
    for urn in sorted(recorded.keys() & now.keys()):
        before, after = recorded[urn], now[urn]
        for field in sorted(before.keys() | after.keys()):
            if field == "inputs":
                inputs_before, inputs_after = before.get("inputs", {}), after.get("inputs", {})
                for key in sorted(inputs_before.keys() | inputs_after.keys()):
                    if inputs_before.get(key) != inputs_after.get(key):
                        lines.append(
                            f"~ {urn}: input {key}: {json.dumps(inputs_before.get(key))} -> "
                            f"{json.dumps(inputs_after.get(key))}"
                        )
            elif before.get(field) != after.get(field):
                lines.append(f"~ {urn}: {field}: {json.dumps(before.get(field))} -> {json.dumps(after.get(field))}")
    return lines


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_declared_resources_are_the_recorded_ones(project_dir: Path, case: str):
    path = SNAPSHOTS / f"{case}.json"
    now = declared(project_dir, case)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(path.read_text())
    found = differences(recorded, now)
    assert not found, (
        f"{case}: the program declares other resources than tests/snapshots/{case}.json records "
        f"({len(found)} difference(s)); if that is meant, rewrite the snapshot (module docstring) and review "
        "its diff:\n" + "\n".join(found[:60])
    )


def test_a_changed_urn_or_input_is_reported_by_name():
    """The comparison itself: a renamed resource is reported as gone and new, a changed input by its key."""
    recorded = {"urn:a": {"type": "t", "inputs": {"x": 1, "y": 2}}, "urn:b": {"type": "t", "inputs": {}}}
    now = {"urn:a": {"type": "t", "inputs": {"x": 1, "y": 3}}, "urn:c": {"type": "t", "inputs": {}}}
    assert differences(recorded, now) == [
        "- gone (Pulumi would delete it): urn:b",
        "+ new (Pulumi would create it): urn:c",
        "~ urn:a: input y: 2 -> 3",
    ]
    assert differences(recorded, recorded) == []
