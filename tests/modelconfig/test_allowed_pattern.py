"""`allowedPattern` runs on one linear-time engine (RE2) wherever a value is checked, and its syntax is the part
that RE2 and Java (the engine of SSM's AllowedPattern) share. Java itself is the reference here: the tests ask
a JVM what SSM's engine makes of the same patterns and values."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_infra.cli import app
from ml_infra.modelconfig import ConfigValidationError, ModelConfigLoader
from ml_infra.modelconfig.layout import KeySchema
from ml_infra.modelconfig.values import ValueProblem, allowed_pattern_problem, matches_allowed_pattern

from .conftest import ENV, NO_SLEEP, PROJECT, RANKER_SCHEMA, RANKER_VALUES, MotoServer, seed_model, ssm

JAVA_CHECK = Path(__file__).resolve().parent.parent / "java" / "RegexMatches.java"
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent

# Catastrophic for a backtracking engine (Python's re, Java): 2^n steps on n "a"s followed by a "b".
EVIL = "^(a+)+$"
EVIL_INPUT = "a" * 40 + "b"

SHARED_PATTERNS = [
    r"^[0-9]{4}\.[0-9]{1,2}\.[0-9]+$",
    r"[a-z]+",
    r"^[a-z][a-z0-9-]{0,62}$",
    r"(?i)ab+c",
    r"\d{3}-\d{4}",
    r"\w+@\w+\.com",
    r"(foo|bar)baz?",
    r"a.*?b",
    r"[^,]+(,[^,]+)*",
    r"\p{Lu}\p{Ll}+",
    r"(?<year>\d{4})-\d{2}",
    r"\Qa.b\E",
    r"^(a+)+$",
    r"(a|aa)*b",
    r"\s*\S+\s*",
    r"[A-Z]{2}\b.*",
    r"https://[a-z.]+/?",
    r"(?s)a.b",
    r"x{2,}y?",
]
SAMPLES = ["", "a", "ab", "abc", "ABC", "abbbc", "2026.11.2", "2026.1.x", "fraud-detector", "Fraud", "a\nb",
           "abc\n", "foo", "barbaz", "a,b,c", ",a", "555-1234", "me@x.com", "Éclair", "1999-12", "a.b", "axb",
           "aaaab", "aaaa", " x ", "AB rest", "https://a.b/", "xxy", "ümlaut"]


def java(pairs: list[tuple[str, str]]) -> list[str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    lines = "".join(f"{b64(p)}\t{b64(v)}\n" for p, v in pairs)
    done = subprocess.run(["java", str(JAVA_CHECK)], input=lines, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="needs a JVM (java 11+) as the reference")


@pytest.mark.slow  # starts a JVM: a second or more of CPU
@needs_java
def test_patterns_of_the_shared_syntax_match_exactly_what_java_matches():
    assert all(allowed_pattern_problem(p) is None for p in SHARED_PATTERNS)
    pairs = [(p, s) for p in SHARED_PATTERNS for s in SAMPLES if not (p == EVIL and len(s) > 20)]
    verdicts = java(pairs)
    ours = ["match" if matches_allowed_pattern(p, s) else "no-match" for p, s in pairs]
    disagreements = [(p, s, j, o) for (p, s), j, o in zip(pairs, verdicts, ours, strict=True) if j != o]
    assert disagreements == []
    assert verdicts.count("match") > 20 and verdicts.count("no-match") > 20  # both outcomes exercised


@pytest.mark.slow  # starts a JVM: a second or more of CPU
@needs_java
def test_java_only_constructs_are_refused_although_java_compiles_them():
    # Look-around, back-references, possessive quantifiers and atomic groups: SSM would store these patterns,
    # and they are what lets a backtracking engine blow up; RE2 has none of them.
    java_only = [r"(?=a)a+", r"(?!b)\w+", r"(?<=a)b", r"(a)\1", r"a*+b", r"(?>a+)b", r"a\Z"]
    assert all(verdict != "error" for verdict in java([(p, "ab") for p in java_only]))
    for pattern in java_only:
        assert allowed_pattern_problem(pattern) is not None, pattern


@pytest.mark.slow  # starts a JVM: a second or more of CPU
@needs_java
def test_re2_constructs_java_reads_differently_are_refused():
    # `(?P<n>...)` does not compile in Java; `[[:alpha:]]` compiles but is a set of characters that matches ":".
    assert java([("(?P<n>a)", "a"), ("[[:alpha:]]", ":")]) == ["error", "match"]
    assert "Python-style named group" in (allowed_pattern_problem("(?P<n>a)") or "")
    assert "POSIX class" in (allowed_pattern_problem("[[:alpha:]]") or "")


def test_a_refused_pattern_fails_loudly_rather_than_matching_nothing():
    with pytest.raises(ValueProblem, match=r"allowed pattern '\(\?=a\)a' is not a pattern the linear-time engine"):
        matches_allowed_pattern("(?=a)a", "a")
    assert "SSM allows at most 1024" in (allowed_pattern_problem("a" * 1025) or "")


def _finishes(body: Callable[[], object], seconds: float = 60) -> object:
    """Run `body` in a daemon thread: a backtracking engine would still be running when the wait ends."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(body()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the pattern check hangs (catastrophic backtracking)"
    return result[0]


@pytest.mark.slow  # a fresh interpreter importing the Pulumi SDKs: seconds of CPU
def test_preview_refuses_a_value_against_a_catastrophic_pattern_without_hanging(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "contracts", project / "contracts")
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    old = 'value: "2026.11.2"\n          description: Model package version served by the endpoint.\n' \
          '          allowedPattern: "^[0-9]{4}\\\\.[0-9]{1,2}\\\\.[0-9]+$"'
    assert old in text
    stack.write_text(text.replace(old, f'value: "{EVIL_INPUT}"\n          allowedPattern: "{EVIL}"'))
    done = subprocess.run(
        [sys.executable, "-m", "ml_infra", "preview", "--stack", "dev", "--project-dir", str(project)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "ml-infra:models.fraud-detector.parameters.model-version: " in done.stderr
    assert f"does not match the allowed pattern '{EVIL}'" in done.stderr


@pytest.fixture
def evil_model(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    schema = {**RANKER_SCHEMA, "label": KeySchema(ssm_type="String", value_type="string", allowed_pattern=EVIL)}
    seed_model(moto_server.client(), "ranker", schema, {**RANKER_VALUES, "label": "aaa"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ML_INFRA_ENV", ENV)
    return moto_server


def test_config_set_refuses_a_value_against_a_catastrophic_pattern_without_hanging(evil_model: MotoServer):
    result = _finishes(lambda: CliRunner().invoke(app, ["config", "set", "ranker", f"label={EVIL_INPUT}"]))
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert f"label: value '{EVIL_INPUT}' does not match the allowed pattern '{EVIL}'" in result.stderr  # type: ignore[attr-defined]


def test_the_loader_refuses_a_stored_value_against_a_catastrophic_pattern_without_hanging(aws: None):
    client = ssm()
    schema = {"label": KeySchema(ssm_type="String", value_type="string", allowed_pattern=EVIL)}
    seed_model(client, "ranker", schema, {"label": EVIL_INPUT})
    loader = ModelConfigLoader(PROJECT, ENV, client=client, backoff=NO_SLEEP)

    def load() -> object:
        try:
            loader.load("ranker")
        except ConfigValidationError as err:
            return err
        return None

    error = _finishes(load)
    assert isinstance(error, ConfigValidationError)
    assert any("does not match the allowed pattern" in p.reason for p in error.problems)
