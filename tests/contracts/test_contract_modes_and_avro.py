"""Glue modes applied to version histories, and Avro reader/writer rules through the `avro` package."""

from __future__ import annotations

import json

from ml_infra.contracts.avro_compat import reader_can_read
from ml_infra.contracts.compat import Version, check


def avro(*fields):
    return json.dumps({"type": "record", "name": "Request", "fields": list(fields)})


V1 = avro({"name": "id", "type": "string"}, {"name": "score", "type": "int"})
V2 = avro({"name": "id", "type": "string"})
V3 = avro({"name": "id", "type": "string"}, {"name": "score", "type": "string", "default": ""})


def test_adding_a_field_without_default_breaks_backward_readers_and_names_the_field():
    changes = reader_can_read(avro({"name": "id", "type": "string"}, {"name": "region", "type": "string"}),
                              avro({"name": "id", "type": "string"}))
    [change] = changes
    assert change.kind == "READER_FIELD_MISSING_DEFAULT_VALUE"
    assert "region" in change.location and "region" in change.message


def test_adding_a_field_with_default_is_full_compatible():
    new = avro({"name": "id", "type": "string"}, {"name": "region", "type": "string", "default": "eu"})
    report = check("req", "AVRO", "FULL", new, [Version("v1", avro({"name": "id", "type": "string"}))])
    assert report.status == "compatible"
    assert {f.direction for f in report.findings} == {"backward", "forward"}


def test_removing_a_required_field_breaks_forward_readers():
    report = check("req", "AVRO", "FORWARD", V2, [Version("v1", V1)])
    assert report.status == "breaking"
    [finding] = report.findings
    assert finding.direction == "forward"
    assert "consumers still on v1" in finding.impact
    assert any("score" in c.location for c in finding.breaking)


def test_backward_checks_only_the_latest_version_but_backward_all_checks_every_one():
    history = [Version("v1", V1), Version("v2", V2)]
    assert check("req", "AVRO", "BACKWARD", V3, history).status == "compatible"
    report = check("req", "AVRO", "BACKWARD_ALL", V3, history)
    assert report.status == "breaking"
    assert [f.against for f in report.findings if not f.compatible] == ["v1"]


def test_disabled_refuses_any_change_but_accepts_the_same_version():
    assert check("req", "AVRO", "DISABLED", V2, [Version("v1", V1)]).status == "breaking"
    assert check("req", "AVRO", "DISABLED", V1, [Version("v1", V1)]).status == "unchanged"


def test_none_accepts_a_breaking_change_and_a_new_contract_passes():
    assert check("req", "AVRO", "NONE", V2, [Version("v1", V1)]).ok
    new = check("req", "AVRO", "FULL_ALL", V1, [])
    assert (new.status, new.ok) == ("new", True)


def test_json_forward_mode_reverses_the_comparison():
    old = json.dumps({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    new = json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    assert check("t", "JSON", "BACKWARD", new, [Version("v1", old)]).status == "compatible"
    forward = check("t", "JSON", "FORWARD", new, [Version("v1", old)])
    assert forward.status == "breaking"
    assert forward.findings[0].breaking[0].kind == "REQUIRED_ATTRIBUTE_ADDED"
