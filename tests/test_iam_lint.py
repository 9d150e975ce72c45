"""Every IAM identity-policy document the program builds, linted with parliament (offline, with its bundled
copy of the AWS Service Authorization Reference): no finding of MEDIUM or higher, except the allowlist below.

Identity policies only: trust policies and key/bucket policies are resource policies, which parliament
models poorly (it reports a trust policy's missing Resource as MALFORMED, and a key policy's "Resource": "*",
which means "this key", as RESOURCE_STAR); the guardrail rules check those (tests/test_guardrails.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import parliament
import pytest

from ml_infra.preview import Evaluation, reveal_secrets

SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# parliament rates a misspelt action or service LOW, but such a statement silently grants nothing: a bug.
ALWAYS_SERIOUS = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX"}
# (resource name, parliament issue) -> why it is accepted. Empty: nothing is accepted today; an entry needs a
# reason a reviewer agrees with, and the test below fails when an entry is no longer needed.
ALLOWED: dict[tuple[str, str], str] = {}


def identity_documents(evaluation: Evaluation) -> Iterator[tuple[str, str]]:
    for registration in evaluation.resources:
        props = reveal_secrets(registration.raw_inputs)
        if registration.type in (
            "aws:iam/policy:Policy",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/userPolicy:UserPolicy",
            "aws:iam/groupPolicy:GroupPolicy",
        ):
            yield registration.name, props["policy"]
        elif registration.type == "aws:iam/role:Role":
            for inline in props.get("inlinePolicies") or []:
                yield f"{registration.name}/{inline.get('name')}", inline["policy"]


def findings(document: str) -> list[parliament.finding.Finding]:
    return [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(document).findings]


def serious(document: str) -> list[tuple[str, str, str]]:
    return [
        (f.issue, f.severity, str(f.detail))
        for f in findings(document)
        if SEVERITIES.index(f.severity) >= SEVERITIES.index("MEDIUM") or f.issue in ALWAYS_SERIOUS
    ]


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def test_every_iam_policy_document_has_no_parliament_finding_of_medium_or_higher(stack: Evaluation):
    documents = dict(identity_documents(stack))
    assert len(documents) >= 4  # read policies, invoke policies, execution and AppSync role policies
    problems = {
        name: [issue for issue in serious(document) if (name, issue[0]) not in ALLOWED]
        for name, document in documents.items()
    }
    assert {name: issues for name, issues in problems.items() if issues} == {}


def test_every_allowlisted_finding_still_occurs(dev: Evaluation, prod: Evaluation):
    occurring = {
        (name, issue)
        for evaluation in (dev, prod)
        for name, document in identity_documents(evaluation)
        for issue, _, _ in serious(document)
    }
    assert set(ALLOWED) <= occurring


def test_lint_catches_a_misspelt_action_a_resource_of_another_service_and_a_bad_condition():
    # The linter is live and its bundled data loads offline: a broken document is caught.
    broken = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::bucket/*"},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:dynamodb:eu-west-1:1:table/t"},
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::bucket/*",
                    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "not-a-date"}},
                },
            ],
        }
    )
    issues = {issue for issue, _, _ in serious(broken)}
    assert {"UNKNOWN_ACTION", "INVALID_ARN", "MISMATCHED_TYPE"} <= issues
