"""The fast path of JSON Schema validation (ml_infra/contracts/fastpath.py) never accepts what the reference
engine rejects: proven differentially over the official JSON Schema test suite and over generated JSON lines
that aim at the edges (numbers at, just beyond and textually near their bounds, long and exponent number
texts, pattern and format near-misses, wrong types, missing and extra properties, duplicates)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from contract_helpers import bench_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_infra.contracts.engine import compile_reference, loads_exact
from ml_infra.contracts.fastpath import FORMATS, Unsupported, compile_fast_path, translate_pattern
from ml_infra.contracts.validate import JsonRecordValidator

ROOT = Path(__file__).resolve().parents[2]
# .ci/run names the copy it fetched or verified (ML_INFRA_JSON_SCHEMA_SUITE); without it, the copy beside the
# project. Named but missing is a failure, not a skip.
SUITE_NAMED = "ML_INFRA_JSON_SCHEMA_SUITE" in os.environ
SUITE = Path(
    os.environ.get("ML_INFRA_JSON_SCHEMA_SUITE") or ROOT.parent / "shared" / "peer-suites" / "json-schema-test-suite"
) / "tests" / "draft7"


bench = bench_module()


@pytest.mark.skipif(not SUITE.is_dir() and not SUITE_NAMED,
                    reason=f"the official JSON-Schema-Test-Suite is not at {SUITE}")
def test_the_fast_path_accepts_no_case_of_the_official_suite_that_must_be_rejected():
    from decimal import Decimal

    suite_script = ROOT / "scripts" / "json_schema_suite.py"
    spec = importlib.util.spec_from_file_location("json_schema_suite", suite_script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    compiled = accepted = 0
    for path in sorted(SUITE.rglob("*.json")):
        for group in json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal):
            schema = json.loads(module.exact_dumps(group["schema"]))
            fast = compile_fast_path(schema, "draft-07")
            if fast is None:
                continue
            compiled += 1
            for test in group["tests"]:
                line = module.exact_dumps(test["data"]).encode()
                if fast.accepts(line):
                    accepted += 1
                    assert test["valid"], f"{path.name}: {group['description']} / {test['description']}"
    # The fast path is really exercised, not skipped (most suite schemas have no single `type`, which the fast
    # path needs, and run on the reference engine only).
    assert compiled >= 30 and accepted >= 40, (compiled, accepted)


# ------------------------------------------------------------------------------------------------ generators


def _number_texts(low: Any, high: Any, step: Any, integer: bool) -> st.SearchStrategy[str]:
    anchors = [Fraction(0), Fraction(1), Fraction(-1)]
    for b in (low, high):
        if b is not None:
            anchors.append(Fraction(repr(b)) if isinstance(b, float) else Fraction(b))
    texts: list[st.SearchStrategy[str]] = []
    for a in anchors:
        f = float(a)
        texts.append(st.sampled_from([
            repr(f), repr(math.nextafter(f, math.inf)), repr(math.nextafter(f, -math.inf)),
            f"{f!r}00000000000000001" if "." in repr(f) else f"{f!r}.00000000000000001",
            f"{f - 1e-9:.17f}", str(int(a)) if a.denominator == 1 else repr(f),
            f"{f!r}e0", f"{int(a)}.0" if a.denominator == 1 else repr(f),
        ]))
    if step is not None:
        s = Fraction(repr(step)) if isinstance(step, float) else Fraction(step)
        texts.append(st.integers(-400, 400).map(lambda k, s=s: _decimal_text(k * s)))
        texts.append(st.integers(-400, 400).map(lambda k, s=s: _longer(_decimal_text(k * s))))
    texts.append(st.sampled_from(["1e-400", "-1e-330", "1e400", "2.5e-1", "18446744073709551617", "-0", "-0.0",
                                  "0.1", "1E+2", "99999999999999999999", "1e308", "-1e308",
                                  "1.7976931348623157e308", "5e-324", "1.0", "1"]))
    texts.append(st.integers(-(2**70), 2**70).map(str))
    if not integer:
        texts.append(st.floats(allow_nan=False, allow_infinity=False).map(repr))
    return st.one_of(texts)


def _longer(text: str) -> str:
    """The same number written with a 1 in the 17th significant place: a float cannot tell them apart."""
    return text + "00000000000000001" if "." in text else text + ".0000000000000001"


def _decimal_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    from decimal import Decimal

    return str(Decimal(value.numerator) / Decimal(value.denominator))


def _string_values(node: dict[str, Any]) -> st.SearchStrategy[str]:
    options: list[st.SearchStrategy[str]] = [st.text(max_size=12)]
    patterns = []
    if "pattern" in node:
        with contextlib.suppress(Unsupported):
            patterns.append(translate_pattern(node["pattern"]))
    if node.get("format") in FORMATS:
        patterns.append(FORMATS[node["format"]])
        options.append(st.sampled_from(["2024-02-29T12:00:00Z", "2024-05-01t12:00:00z", "2024-05-01T23:59:60Z",
                                        "2024-05-01", "2024-02-30", "10.0.0.1", "10.0.0.01", "1.2.3.4\n",
                                        "4B6F1D1E-2C1A-4E0B-9A53-1F5B7A2C9D10", "2024-05-01T12:00:00+24:00",
                                        "\u0662\u0660\u0662\u0664-05-01"]))
    for p in patterns:
        base = st.from_regex(p, fullmatch=False)
        options += [base, base.map(lambda s: s + "\n"), base.map(lambda s: s[:-1] if s else "x"),
                    base.map(lambda s: "\u0661" + s)]
    for key in ("maxLength", "minLength"):
        if key in node:
            n = int(node[key])
            options.append(st.sampled_from([n - 1, n, n + 1]).map(lambda k: "a" * max(k, 0)))
            options.append(st.sampled_from([n, n + 1]).map(lambda k: "\U0001F600" * max(k, 0)))
    return st.one_of(options)


def _clean_number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[str]:
    low = node.get("minimum", node.get("exclusiveMinimum", -1000))
    high = node.get("maximum", node.get("exclusiveMaximum", 1000))
    step = node.get("multipleOf", 1 if integer else None)
    lo, hi = Fraction(repr(low)) if isinstance(low, float) else Fraction(low), \
        Fraction(repr(high)) if isinstance(high, float) else Fraction(high)
    if step is None:
        return st.integers(0, 1000).map(lambda k: repr(float(lo + (hi - lo) * k / 1000)))
    s = Fraction(repr(step)) if isinstance(step, float) else Fraction(step)
    k_lo, k_hi = math.ceil(lo / s), math.floor(hi / s)
    if k_lo > k_hi:
        return st.just("0")
    return st.integers(k_lo, min(k_hi, k_lo + 10_000)).map(lambda k: _decimal_text(k * s))


@st.composite
def json_text(draw: st.DrawFn, node: Any, depth: int = 0, edgy: bool | None = None) -> str:
    """JSON text aimed at the edges of `node` (edgy) or mostly valid (clean), decided once per document."""
    if edgy is None:
        edgy = draw(st.booleans())
    if not edgy:
        return draw(clean_text(node, depth))
    if depth > 6 or node is True or node == {} or not isinstance(node, dict):
        return draw(st.sampled_from(["null", "1", '"x"', "[]", "{}"]))
    if draw(st.integers(0, 30)) == 0:  # a value of another type
        return draw(st.sampled_from(["null", "true", "1", "1.5", '"s"', "[]", "{}", '"1"']))
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        return draw(st.one_of(st.sampled_from(values).map(json.dumps),
                              st.sampled_from(["1.0", '"other"', "null", json.dumps(str(values[0]).upper())])))
    for word in ("anyOf", "oneOf"):
        if word in node:
            return draw(json_text(draw(st.sampled_from(node[word])), depth + 1, edgy))
    kind = node.get("type")
    if isinstance(kind, list):
        kind = draw(st.sampled_from(kind))
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", []))
        parts = []
        for name, sub in props.items():
            if name in required and draw(st.integers(0, 40)) == 0:
                continue  # a required property missing
            if name in required or draw(st.booleans()):
                parts.append(json.dumps(name) + ":" + draw(json_text(sub, depth + 1, edgy)))
        extra = node.get("additionalProperties", True)
        if draw(st.integers(0, 8)) == 0 or (isinstance(extra, dict) and not props):
            for i in range(draw(st.integers(1, 3))):
                sub = extra if isinstance(extra, dict) else True
                parts.append(json.dumps(f"extra{i}") + ":" + draw(json_text(sub, depth + 1, edgy)))
        if parts and draw(st.integers(0, 15)) == 0:
            parts.append(parts[0])  # a duplicate key
        return "{" + ",".join(parts) + "}"
    if kind == "array":
        hi = min(int(node.get("maxItems", 4)) + 1, 6)
        n = draw(st.integers(max(int(node.get("minItems", 0)) - 1, 0), max(hi, 0)))
        items = [draw(json_text(node.get("items", True), depth + 1, edgy)) for _ in range(n)]
        if items and node.get("uniqueItems") and draw(st.booleans()):
            items.append(items[0])
        return "[" + ",".join(items) + "]"
    if kind == "string":
        return json.dumps(draw(_string_values(node)))
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        return draw(_number_texts(low, high, node.get("multipleOf"), kind == "integer"))
    if kind == "boolean":
        return draw(st.sampled_from(["true", "false", "1"]))
    if kind == "null":
        return draw(st.sampled_from(["null", "0"]))
    return draw(st.sampled_from(["null", "1", '"x"']))


@st.composite
def clean_text(draw: st.DrawFn, node: Any, depth: int = 0) -> str:
    """Mostly valid JSON text for `node`, so that the fast path's accepting side is exercised."""
    if node is True or node == {} or not isinstance(node, dict) or depth > 6:
        return "null"
    if "enum" in node or "const" in node:
        return json.dumps(draw(st.sampled_from(node.get("enum", [node.get("const")]))))
    for word in ("anyOf", "oneOf"):
        if word in node:
            return draw(clean_text(draw(st.sampled_from(node[word])), depth + 1))
    kind = node.get("type")
    if isinstance(kind, list):
        kind = draw(st.sampled_from(kind))
    if kind == "object":
        props, required = node.get("properties", {}), set(node.get("required", []))
        parts = [json.dumps(k) + ":" + draw(clean_text(v, depth + 1)) for k, v in props.items()
                 if k in required or draw(st.booleans())]
        extra = node.get("additionalProperties", True)
        if isinstance(extra, dict) and not props:
            parts += [json.dumps(f"k{i}") + ":" + draw(clean_text(extra, depth + 1)) for i in range(2)]
        return "{" + ",".join(parts) + "}"
    if kind == "array":
        lo = int(node.get("minItems", 0))
        n = draw(st.integers(lo, max(lo, min(int(node.get("maxItems", 3)), 3))))
        items = node.get("items", True)
        if node.get("uniqueItems"):
            values = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True))
            return json.dumps([str(v) if items.get("type") == "string" else v for v in values])
        return "[" + ",".join(draw(clean_text(items, depth + 1)) for _ in range(n)) + "]"
    if kind == "string":
        pats = []
        if "pattern" in node:
            with contextlib.suppress(Unsupported):
                pats.append(translate_pattern(node["pattern"]))
        if node.get("format") in FORMATS:
            pats = [FORMATS[node["format"]]]
        lo, hi = int(node.get("minLength", 0)), int(node.get("maxLength", 12))
        value = draw(st.from_regex(pats[0], fullmatch=True)) if pats else draw(
            st.text(alphabet="abcxyz019-", min_size=lo, max_size=min(hi, 12)))
        return json.dumps(value)
    if kind in ("integer", "number"):
        return draw(_clean_number(node, kind == "integer"))
    if kind == "boolean":
        return draw(st.sampled_from(["true", "false"]))
    return "null"


def _inline(node: Any, root: Any, depth: int = 0) -> Any:
    """`node` with local `$ref`s replaced by what they name and `allOf` parts merged, so that the generators
    below can aim at its edges (only the inputs are made this way; verdicts come from the reference)."""
    if depth > 20 or not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = root
        for token in node["$ref"].lstrip("#/").split("/"):
            target = target[token] if token else target
        return _inline(target, root, depth + 1)
    out = {k: (_inline(v, root, depth + 1) if k in ("items", "not") else v) for k, v in node.items()
           if k not in ("allOf", "definitions", "$defs")}
    if "properties" in out:
        out["properties"] = {k: _inline(v, root, depth + 1) for k, v in out["properties"].items()}
    for word in ("anyOf", "oneOf"):
        if word in out:
            out[word] = [_inline(v, root, depth + 1) for v in out[word]]
    for part in node.get("allOf", []):
        part = _inline(part, root, depth + 1)
        out.setdefault("type", part.get("type"))
        out["properties"] = {**out.get("properties", {}), **part.get("properties", {})}
        out["required"] = list(dict.fromkeys([*out.get("required", []), *part.get("required", [])]))
    return out


SCHEMAS = {
    "nested": bench.nested_schema(),
    "money": bench.decimal_step_schema(),
    "github-event": bench.github_event_schema(),
    "invoice-refs": bench.refs_schema(),
    "strings": bench.strings_schema(),
    "numeric": bench.numeric_schema(6),
    "training-record": bench.training_schema(),
    "edges": {"type": "object", "properties": {
        "n": {"type": "number", "minimum": 0, "maximum": 1, "multipleOf": 0.125},
        "i": {"type": "integer", "exclusiveMinimum": 0.5, "maximum": 2**40, "multipleOf": 2.5},
        "x": {"type": "number", "exclusiveMinimum": -0.001, "maximum": 3.141592653589793},
        "u": {"type": "array", "items": {"type": "number"}, "uniqueItems": True},
        "s": {"type": ["string", "null"], "pattern": "^a.c$|^[x-z]{2,3}\\d?$", "maxLength": 4},
        "e": {"enum": [1, 2, 3]}, "d": {"type": "string", "format": "date"},
        "o": {"type": "object", "additionalProperties": {"type": "integer", "maximum": 9}},
    }},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_fast_path_compiles_for_every_benchmark_schema(name: str):
    assert compile_fast_path(SCHEMAS[name], "draft-07") is not None


@pytest.mark.slow  # 80 generated lines per schema, through both engines: seconds of CPU per schema
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_generated_lines_get_the_reference_engines_verdict(name: str):
    schema = SCHEMAS[name]
    validator = JsonRecordValidator(name, schema)
    reference = compile_reference(schema, "draft-07")
    fast = validator.fast_path
    assert fast is not None
    seen = {"accepted": 0, "declined": 0}

    @settings(max_examples=80, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(json_text(_inline(schema, schema)))
    def check(text: str) -> None:
        line = text.encode()
        try:
            expected = reference.is_valid(loads_exact(line))
        except ValueError:
            expected = False
        if fast.accepts(line):
            seen["accepted"] += 1
            assert expected, f"fast path accepted a line the reference rejects: {text[:300]}"
        else:
            seen["declined"] += 1
        assert (validator.validate_line(line) == []) is expected, text[:300]

    check()
    assert seen["accepted"] > 0 and seen["declined"] > 0, seen


@pytest.mark.parametrize(("text", "bound_schema", "valid"), [
    ("99.750000000000001", {"type": "number", "maximum": 99.75}, False),
    ("-10.50000000000000001", {"type": "number", "minimum": -10.5}, False),
    ("0.25000000000000001", {"type": "number", "multipleOf": 0.25}, False),
    ("1e-400", {"type": "number", "multipleOf": 0.25}, False),
    ("1e-400", {"type": "number", "exclusiveMinimum": 0}, True),
    ("18446744073709551617", {"type": "integer", "maximum": 18446744073709551616}, False),
    ("18446744073709551617", {"type": "integer", "maximum": 100}, False),
    ('"2024-05-01T12:00:00Z\\n"', {"type": "string", "format": "date-time"}, False),
    ('"abc\\n"', {"type": "string", "pattern": "^[a-z]+$"}, False),
    ("1.0", {"type": "integer", "maximum": 3}, True),
    ("0.07", {"type": "number", "multipleOf": 0.01}, True),
    ("1.10", {"type": "number", "multipleOf": 0.01}, True),
    ("1.005", {"type": "number", "multipleOf": 0.01}, False),
    ("0.0700000000000000001", {"type": "number", "multipleOf": 0.01}, False),
    ("7e-2", {"type": "number", "multipleOf": 0.01}, True),
    ("7e-3", {"type": "number", "multipleOf": 0.01}, False),
    ("1E+2", {"type": "number", "multipleOf": 0.01}, True),
    ("-0.0", {"type": "number", "multipleOf": 0.01, "minimum": 0}, True),
    ("10000.01", {"type": "number", "multipleOf": 0.01, "maximum": 10000}, False),
    ("100000000000000000.01", {"type": "number", "multipleOf": 0.01}, True),
    ('{"a": 1}', {"type": "object", "required": ["a"], "additionalProperties": False}, False),
    ('{"b": "xy"}', {"definitions": {"s": {"type": "string", "maxLength": 1}},
                     "properties": {"b": {"$ref": "#/definitions/s", "maxLength": 5}}, "type": "object"}, False),
    ('{"b": "x", "c": 1}', {"allOf": [{"type": "object", "properties": {"b": {"type": "string"}},
                                       "additionalProperties": False}, {"required": ["c"]}]}, False),
    ('"http://a:99999"', {"type": "string", "format": "uri"}, True),
])
def test_texts_that_a_float_or_python_regex_would_misjudge_get_the_exact_verdict(
        text: str, bound_schema: dict, valid: bool):
    validator = JsonRecordValidator("edge", bound_schema)
    if validator.fast_path is not None and not valid:
        assert not validator.fast_path.accepts(text.encode())
    assert (validator.validate_line(text.encode()) == []) is valid


@pytest.mark.parametrize(("record", "valid"), [
    ({"a": "x", "b": "y"}, True),
    ({"a": "y", "b": "x"}, False),  # each value against its own field's pattern, not its neighbour's
    ({"a": "x\u0000y", "b": ""}, False),
    ({"a": "x", "b": "y\u0000"}, False),
    ({"a": "xxx", "b": "y"}, False),
    ({"a": "x\n", "b": "y"}, False),  # ECMA `$` is the end of the text, not before a final newline
    ({"a": "x", "b": "y", "c": "nope"}, False),  # an optional string stays with msgspec's pattern
    ({"a": "x", "b": "y", "c": "c1"}, True),
])
def test_strings_judged_by_the_engine_get_their_own_fields_verdict(record: dict, valid: bool):
    schema = {"type": "object", "required": ["a", "b"],
              "properties": {"a": {"type": "string", "pattern": "^x.?$"}, "b": {"type": "string", "pattern": "^y?$"},
                             "c": {"type": "string", "pattern": "^c[0-9]$"}}}
    validator = JsonRecordValidator("own", schema)
    fast = validator.fast_path
    assert fast is not None and fast.string_check is not None
    line = json.dumps(record).encode()
    assert compile_reference(schema, "draft-07").is_valid(record) is valid
    assert (validator.validate_line(line) == []) is valid
    assert fast.accepts(line) is valid  # these are all within what the fast path judges
    assert fast.declined([line + b"\n"] * 3) == ([] if valid else [0, 1, 2])


# ------------------------------------------------------------------------------------------------ batches

# Lines that try to make a batch decoder misjudge where one line ends: two values on a line, a value split over
# two lines, text that looks like a line boundary inside a string, blank and CRLF lines, a missing newline.
_TRICKY_LINES = [
    b'{"x0": 1.5}{"x0": 2.5}', b'{"x0": 1.5} {"x0": 2.5}', b'{"x0": 1.5} 5 {"x0": 2.5}', b'{"x0": 1.5} ,{}',
    b'{"x0": {}', b'}', b'{"a": [{}', b'{}]}', b'{"s": "}\\n{"}', b'{"s": "} {"}', b'', b'\r', b'{}\r',
    b' {}', b'{} ', b'[{}]', b'null', b'{"x0": 1e-400}', b'{"x0": 0.25000000000000001}', b'{"x0":',
    b'\xff{}', b'{"x0": 99.75}', b'{"x0": "1"}', b'{}',
]


@st.composite
def _joined(draw: st.DrawFn, schema: Any) -> bytes:
    """Valid records glued into one line in ways a JSON-lines decoder must not take for two lines."""
    a, b = (draw(clean_text(schema)).encode() for _ in range(2))
    glue = draw(st.sampled_from([b"", b" ", b" 5 ", b" ,", b"\t", b' "x" ']))
    return draw(st.sampled_from([a + glue + b, b'{"q": {}', a[:-1] + b', "q": {}', a + glue]))


def _budgets(quick: int, full: int) -> list[Any]:
    """Hypothesis budgets: a few examples in the quick run, the full budget in the `slow` group (.ci/run)."""
    return [pytest.param(quick, id="quick"), pytest.param(full, id="full", marks=pytest.mark.slow)]


@pytest.mark.parametrize("examples", _budgets(3, 25))
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_batch_gets_the_verdict_of_each_of_its_lines(name: str, examples: int):
    schema = SCHEMAS[name]
    validator = JsonRecordValidator(name, schema)
    fast = validator.fast_path
    assert fast is not None

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(st.lists(st.one_of(json_text(schema).map(str.encode), st.sampled_from(_TRICKY_LINES),
                              _joined(schema)), max_size=80),
           st.sampled_from(["each", "none", "all-but-last"]))
    def check(bodies: list[bytes], newlines: str) -> None:
        if newlines == "each":
            lines = [b + b"\n" for b in bodies]
        elif newlines == "none":
            lines = list(bodies)
        else:
            lines = [b + b"\n" for b in bodies[:-1]] + bodies[-1:]
        assert fast.declined(lines) == [i for i, line in enumerate(lines) if not fast.accepts(line)]
        got = validator.validate_lines(lines)
        assert got == [validator.validate_line(line) for line in lines]

    check()


def test_a_batch_of_the_benchmark_lines_gets_the_verdicts_line_by_line():
    for name, schema, make, brk in [
        ("numeric", bench.numeric_schema(), bench.numeric_record, bench.numeric_break),
        ("nested", bench.nested_schema(), bench.nested_record, bench.nested_break),
        ("strings", bench.strings_schema(), bench.strings_record, bench.strings_break),
        ("github-event", bench.github_event_schema(), bench.github_event_record, bench.github_event_break),
        ("invoice-refs", bench.refs_schema(), bench.refs_record, bench.refs_break),
    ]:
        validator = JsonRecordValidator(name, schema)
        assert validator.fast_path is not None
        lines = [line + b"\n" for line in bench.lines_for(make, brk, 1500)]
        expected = [i for i, line in enumerate(lines) if validator.validate_line(line)]
        assert [i for i, _, _ in validator.check_lines(lines)] == expected
        assert len(expected) == 15


@pytest.mark.parametrize("examples", _budgets(30, 300))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_text_a_fast_path_format_accepts_the_reference_accepts_too(fmt: str, examples: int):
    reference = compile_reference({"type": "string", "format": fmt}, "draft-07")
    pattern = re.compile(FORMATS[fmt])

    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(FORMATS[fmt], fullmatch=True))
    def check(text: str) -> None:
        if pattern.match(text):
            assert reference.is_valid(text), text

    check()


# The strings of a window of records are judged by the engine in one call (FastPath.strings_failing): values
# that carry separators or near-misses of each pattern, in any order, must not let one record's strings be
# judged against another field's or record's pattern, and each failing record must be the one named.
_SEGMENTED = {"type": "object", "required": ["a", "b", "c"],
              "properties": {"a": {"type": "string", "pattern": "^x.?$"}, "b": {"type": "string", "pattern": "^y?$"},
                             "c": {"type": "string", "format": "date"}, "u": {"type": "array", "uniqueItems": True,
                                                                          "items": {"type": "integer"}},
                             "m": {"type": "number", "multipleOf": 0.01}}}  # a number screen: judged in windows
_SEGMENT_TEXT = st.lists(st.sampled_from(["x", "y", "\x00", "\n", "-", "2024-01-01", "}{"]), max_size=4).map("".join)


@pytest.mark.parametrize("examples", _budgets(20, 300))
def test_a_window_of_records_gets_each_records_pattern_verdict(examples: int):
    validator = JsonRecordValidator("segments", _SEGMENTED)
    fast = validator.fast_path
    reference = compile_reference(_SEGMENTED, "draft-07")
    assert fast is not None and fast.string_check is not None and fast.strings_failing is not None
    assert fast.batch_screen is not None  # so judged in windows, not line by line
    unique = {"u": st.lists(st.integers(0, 3), max_size=3), "m": st.sampled_from([0.5, 0.01, 0.015, 1e-5, 2])}
    near = st.fixed_dictionaries({"a": _SEGMENT_TEXT, "b": _SEGMENT_TEXT, "c": _SEGMENT_TEXT}, optional=unique)
    valid = st.fixed_dictionaries({"a": st.sampled_from(["x", "xy", "x-"]), "b": st.sampled_from(["", "y"]),
                                   "c": st.just("2024-01-01")}, optional=unique)
    seen = {"all accepted": 0, "some declined": 0}

    @st.composite
    def windows(draw: st.DrawFn) -> list[dict[str, Any]]:
        """Mostly valid records (so that whole windows pass) with a few near-misses at drawn places."""
        records = draw(st.lists(valid, min_size=1, max_size=40))
        for r in draw(st.lists(near, max_size=3)):
            records.insert(draw(st.integers(0, len(records))), r)
        return records

    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(windows())
    def check(records: list[dict[str, Any]]) -> None:
        lines = [json.dumps(r).encode() + b"\n" for r in records]
        declined = fast.declined(lines)
        assert declined == [i for i, line in enumerate(lines) if not fast.accepts(line)]
        seen["some declined" if declined else "all accepted"] += 1
        for i, r in enumerate(records):
            if i not in declined:
                assert reference.is_valid(r), r
        assert [bool(e) for e in validator.validate_lines(lines)] == [not reference.is_valid(r) for r in records]

    check()
    assert seen["all accepted"] > 0 and seen["some declined"] > 0, seen


# Patterns the translation to Python's `re` refuses (lookahead, `\p{...}`, backreference-free ECMA escapes) and
# formats it has no pattern for: on always-present strings the engine itself judges them, so such schemas keep
# the fast path; its verdict must still be the reference's, record by record and in batches.
_ENGINE_ONLY = {
    "type": "object", "required": ["code", "mail", "host", "v6", "tags", "items"],
    "properties": {
        "code": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]{3,8}$"},
        "mail": {"type": "string", "format": "email"},
        "host": {"type": "string", "format": "hostname", "maxLength": 20},
        "v6": {"type": "string", "format": "ipv6"},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^\\p{Lu}"}},
        "items": {"type": "array", "maxItems": 4, "items": {
            "type": "object", "required": ["id", "at"],
            "properties": {"id": {"type": "string", "format": "uuid"},
                           "at": {"type": "string", "format": "date-time", "pattern": "Z$"},
                           "note": {"type": "string", "pattern": "^[a-z]*$"}}}},
        "grid": {"type": "array", "items": {"type": "array", "items": {"type": "string", "pattern": "^[01]$"}}},
        # Optional, nullable and alternative strings: absent or of another type, the engine's keywords pass.
        "opt": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]+$"},
        "maybe": {"type": ["string", "null"], "format": "email"},
        "either": {"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "integer", "minimum": 0}]},
        "meta": {"type": "object", "required": ["owner"], "properties": {
            "owner": {"type": "string", "format": "hostname"},
            "list": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}},
            "deep": {"type": "object", "properties": {"code": {"type": "string", "pattern": "^\\p{Lu}{2}$"}}}}},
    },
}
_ENGINE_TEXT = {
    "code": ["abc1", "abcd", "a1", "ABC1", "abc1\n", "1234567890"],
    "mail": ["a@example.com", "a@", "@b", "a b@c.d", "a@b.c\n"],
    "host": ["example.com", "-bad.com", "a" * 25, "x_y.com", "a..b"],
    "v6": ["::1", "2001:db8::8a2e:370:7334", "1::2::3", "12345::", "::ffff:1.2.3.4"],
    "tag": ["Alpha", "Ärger", "beta", "", "1x"],
    "id": ["01234567-89ab-cdef-0123-456789abcdef", "0123456789abcdef0123456789abcdef",
           "01234567-89AB-CDEF-0123-456789ABCDEF", "{01234567-89ab-cdef-0123-456789abcdef}"],
    "at": ["2024-05-01T10:00:07Z", "2024-05-01t10:00:07z", "2024-05-01 10:00:07Z", "2024-05-01T10:00:07+01:00",
           "2024-02-30T10:00:07Z", "2016-12-31T23:59:60Z"],
    "note": ["abc", "ABC"],
    "cell": ["0", "1", "2", "01"],
    "opt": ["abc1", "abc", "ABC1", ""],
    "either": ["abc", "bcd", 3, -1, None, 2.5],
    "digits": ["123", "12a", ""],
    "deep": ["ÄB", "AB", "A", "ab"],
}


@st.composite
def _engine_only_record(draw: st.DrawFn) -> dict[str, Any]:
    pick = lambda key: draw(st.sampled_from(_ENGINE_TEXT[key]))  # noqa: E731
    record: dict[str, Any] = {
        "code": pick("code"), "mail": pick("mail"), "host": pick("host"), "v6": pick("v6"),
        "tags": [pick("tag") for _ in range(draw(st.integers(0, 3)))],
        "items": [{"id": pick("id"), "at": pick("at"), **({"note": pick("note")} if draw(st.booleans()) else {})}
                  for _ in range(draw(st.integers(0, 5)))],
    }
    for key, values in (("opt", _ENGINE_TEXT["opt"]), ("maybe", [*_ENGINE_TEXT["mail"], None, 5]),
                        ("either", _ENGINE_TEXT["either"])):
        if draw(st.booleans()):
            record[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        meta: dict[str, Any] = {"owner": pick("host")} if draw(st.integers(0, 5)) else {}
        if draw(st.booleans()):
            meta["list"] = [pick("digits") for _ in range(draw(st.integers(0, 3)))]
        if draw(st.booleans()):
            meta["deep"] = {"code": pick("deep")} if draw(st.booleans()) else {}
        record["meta"] = meta
    if draw(st.booleans()):
        rows = draw(st.integers(0, 2))
        record["grid"] = [[pick("cell") for _ in range(draw(st.integers(0, 2)))] for _ in range(rows)]
    return record


@pytest.mark.parametrize("examples", _budgets(60, 600))
def test_patterns_and_formats_only_the_engine_knows_keep_the_fast_path_and_its_verdict(examples: int):
    validator = JsonRecordValidator("engine-only", _ENGINE_ONLY)
    fast = validator.fast_path
    reference = compile_reference(_ENGINE_ONLY, "draft-07")
    assert fast is not None and fast.string_check is not None
    seen = {"accepted": 0, "rejected": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(_engine_only_record(), min_size=1, max_size=20))
    def check(records: list[dict[str, Any]]) -> None:
        lines = [json.dumps(r, ensure_ascii=bool(i % 2)).encode() + b"\n" for i, r in enumerate(records)]
        expected = [reference.is_valid(r) for r in records]
        for line, valid in zip(lines, expected, strict=True):
            if fast.accepts(line):
                assert valid, line
            assert (validator.validate_line(line) == []) is valid, line
            seen["accepted" if valid else "rejected"] += 1
        assert fast.declined(lines) == [i for i, line in enumerate(lines) if not fast.accepts(line)]
        assert [not reasons for reasons in validator.validate_lines(lines)] == expected

    check()
    assert seen["accepted"] > 0 and seen["rejected"] > 0, seen


def test_valid_records_with_engine_only_strings_are_accepted_by_the_fast_path():
    record = {"code": "abc1", "mail": "a@example.com", "host": "example.com", "v6": "::1", "tags": ["Ärger"],
              "items": [{"id": "01234567-89ab-cdef-0123-456789abcdef", "at": "2024-05-01T10:00:07Z"}],
              "grid": [["0", "1"], []]}
    fast = compile_fast_path(_ENGINE_ONLY, "draft-07")
    assert fast is not None and compile_reference(_ENGINE_ONLY, "draft-07").is_valid(record)
    assert fast.accepts(json.dumps(record).encode())
    assert not fast.accepts(json.dumps({**record, "grid": [["2"]]}).encode())
    assert not fast.accepts(json.dumps({**record, "items": [{**record["items"][0], "note": "ABC"}]}).encode())
    for extra, valid in [({"opt": "abc1"}, True), ({"opt": "abc"}, False), ({"maybe": None}, True),
                         ({"maybe": "a@b.co"}, True), ({"maybe": "a@"}, False), ({"either": 7}, True),
                         ({"either": "abc"}, True), ({"either": "b"}, False), ({"meta": {"owner": "x.org"}}, True),
                         ({"meta": {"owner": "x.org", "deep": {"code": "ÄB"}, "list": ["1"]}}, True),
                         ({"meta": {"owner": "x.org", "deep": {"code": "ab"}}}, False),
                         ({"meta": {"owner": "x.org", "list": ["1", "x"]}}, False)]:
        line = json.dumps({**record, **extra}).encode()
        assert compile_reference(_ENGINE_ONLY, "draft-07").is_valid({**record, **extra}) is valid, extra
        assert fast.accepts(line) is valid, extra


# The engine judges deferred strings under the contract's own draft: `duration` is a format from 2019-09 on
# (unknown, so not checked, before), and 2020-12 spells a positional list of schemas `prefixItems`.
_DRAFTED = {"type": "object", "required": ["a", "b"], "properties": {
    "a": {"type": "string", "format": "duration"},
    "b": {"type": "array", "items": {"type": "object", "required": ["c"],
                                     "properties": {"c": {"type": "string", "pattern": "^x"}}}}}}


@pytest.mark.parametrize("draft", ["draft-04", "draft-06", "draft-07", "2019-09", "2020-12"])
@pytest.mark.parametrize("record", [{"a": "P1D", "b": [{"c": "x1"}]}, {"a": "1 day", "b": [{"c": "x1"}]},
                                    {"a": "P1D", "b": [{"c": "x"}, {"c": "y"}]}])
def test_deferred_strings_are_judged_under_the_contracts_draft(draft: str, record: dict):
    fast = compile_fast_path(_DRAFTED, draft)
    assert fast is not None and fast.string_check is not None
    expected = compile_reference(_DRAFTED, draft).is_valid(record)
    line = json.dumps(record).encode()
    assert fast.accepts(line) is expected
    assert fast.declined([line + b"\n"] * 3) == ([] if expected else [0, 1, 2])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Fraction) or type(value).__name__ == "Decimal":
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


@pytest.mark.skipif(not SUITE.is_dir() and not SUITE_NAMED,
                    reason=f"the official JSON-Schema-Test-Suite is not at {SUITE}")
def test_the_official_suites_schemas_as_fields_of_a_record_get_the_reference_verdict():
    """Every group of the official suite, its schema given the type of each test's data and placed where
    records hold values (a required property, an optional one, the items of an array): the fast path,
    whose patterns and formats there go to the engine, never accepts what the reference rejects."""
    from decimal import Decimal

    spec = importlib.util.spec_from_file_location("json_schema_suite", ROOT / "scripts" / "json_schema_suite.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    compiled = accepted = rejected = 0
    for path in sorted(SUITE.rglob("*.json")):
        if "refRemote" in path.name or "cross-draft" in path.name:
            continue  # remote references: refused at load, never validated
        for group in json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal):
            inner = json.loads(module.exact_dumps(group["schema"]))
            if not isinstance(inner, dict):
                continue
            for kind in sorted({_json_type(test["data"]) for test in group["tests"]}):
                typed = inner if "type" in inner else {**inner, "type": kind}
                for place in ("required", "optional", "items"):
                    if place == "items":
                        schema: dict[str, Any] = {"type": "array", "items": typed}
                    else:
                        schema = {"type": "object", "properties": {"v": typed},
                                  **({"required": ["v"]} if place == "required" else {})}
                    try:
                        reference = compile_reference(schema, "draft-07")
                    except Exception:  # a `$ref` that no longer resolves where the schema was moved
                        continue
                    fast = compile_fast_path(schema, "draft-07")
                    if fast is None:
                        continue
                    compiled += 1
                    for test in group["tests"]:
                        data = json.loads(module.exact_dumps(test["data"]), parse_float=Decimal)
                        record = [data, data] if place == "items" else {"v": data}
                        line = module.exact_dumps(record).encode()
                        expected = reference.is_valid(loads_exact(line))
                        if fast.accepts(line):
                            accepted += 1
                            assert expected, f"{path.name}: {group['description']} / {test['description']} ({place})"
                        elif not expected:
                            rejected += 1
                        assert fast.declined([line + b"\n"] * 2) == ([] if fast.accepts(line) else [0, 1])
    assert compiled >= 400 and accepted >= 1000 and rejected >= 2000, (compiled, accepted, rejected)


@pytest.mark.parametrize("depth", [40, 250])
def test_strings_nested_deeper_than_python_can_parse_an_extract_for_still_get_a_verdict(depth: int):
    """An optional string `depth` objects down: its extract would nest `depth` conditionals, beyond the
    parser's 200 parentheses at 250. The fast path then leaves those strings to msgspec (or the schema to the
    reference engine), never an exception."""
    schema: dict[str, Any] = {"type": "string", "pattern": "^a"}
    good: Any = "a"
    bad: Any = "b"
    for _ in range(depth):
        schema, good, bad = {"type": "object", "properties": {"x": schema}}, {"x": good}, {"x": bad}
    fast = compile_fast_path(schema, "draft-07")
    assert fast is not None
    assert (fast.string_check is not None) is (depth < 200)
    assert fast.accepts(json.dumps(good).encode())
    assert not fast.accepts(json.dumps(bad).encode())
