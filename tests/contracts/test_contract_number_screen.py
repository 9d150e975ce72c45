"""The number screen of the contract fast path (`number_screen` in ml_infra/contracts/fastpath.py): the byte
check that sends a line to the reference engine when a number in it may be misjudged as a float. A batch is
screened once over its whole buffer and the hits are mapped to lines, so these tests put the numbers that
need the exact path where that mapping could go wrong (first and last line, both sides of a decoder window's
edge, every line) among otherwise valid benchmark records, and compare every verdict with the reference
engine's and with the fast path's line by line."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from contract_helpers import bench_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_infra.contracts.engine import compile_reference, loads_exact
from ml_infra.contracts.fastpath import _FIND_PIECE, CHECKED_WINDOW, WINDOW, negative_exponent, number_screen
from ml_infra.contracts.validate import JsonRecordValidator

ROOT = Path(__file__).resolve().parents[2]


bench = bench_module()
MARK = "@@number@@"


@pytest.mark.parametrize(("text", "digits", "expected"), [
    (b'{"id":"SE-123456","n":2}', 1, False),  # `E-` and digits in an id, no digit before the E
    (b'{"x":1E-5}', 1, True),
    (b'{"x":1e-5}', 1, True),
    (b'{"x":-1.5e-7,"y":2}', 1, True),
    (b'{"x":1e-400}', 3, True),
    (b'{"x":1e-40}', 3, False),
    (b'{"x":1e+5,"y":-2,"z":1E5}', 1, False),
    (b'{"s":"9E-1"}', 1, True),  # inside a string: a false positive, which only costs speed
])
def test_negative_exponents_are_found_by_their_bytes(text: bytes, digits: int, expected: bool):
    assert negative_exponent(text, digits) is expected


# Pieces of JSON-ish text that the screens look at, so that generated lines hit them often, in any order.
_PIECES = st.sampled_from([
    "0", "1", "9", "5", ".", "e", "E", "-", "+", "0000000", "9999999", "SE-1", "1e-400", "1E-5", "0.005", "10.01",
    '"', ",", ":", " ", "x", "}", "{", "]", "\r", "\x00", "é",
])


@pytest.mark.parametrize(("long_numbers", "decimal_places"), [(True, None), (False, 1), (False, 2), (True, 2)])
@pytest.mark.parametrize("examples", [pytest.param(40, id="quick"), pytest.param(400, id="full",
                                                                                  marks=pytest.mark.slow)])
def test_a_batch_screened_at_once_sends_on_exactly_the_lines_screened_one_by_one(
        long_numbers: bool, decimal_places: int | None, examples: int):
    screen = number_screen(long_numbers, decimal_places)
    assert screen is not None

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=1, max_size=40))
    def check(bodies: list[str]) -> None:
        lines = [body.encode() + b"\n" for body in bodies]
        offsets = [0, *itertools.accumulate(map(len, lines))]
        assert screen.lines(b"".join(lines), offsets) == [i for i, line in enumerate(lines) if screen.line(line)]

    check()


@pytest.mark.parametrize("run", [b"0000000", b"9999999"])
def test_a_run_of_zeros_or_nines_across_the_pieces_a_batch_is_searched_in_is_found(run: bytes):
    screen = number_screen(True, None)
    assert screen is not None
    for edge in (_FIND_PIECE, 2 * _FIND_PIECE):
        for at in range(edge - len(run), edge + 2):  # the run across the edge, or starting at or after it
            number = b'{"x":1.'  # 7 bytes before the run, after a first line of at - 7 bytes
            lines = [b"{" + b" " * (at - len(number) - 3) + b"}\n", number + run + b"1}\n", b'{"x":2}\n']
            assert b"".join(lines).find(run) == at
            offsets = [0, *itertools.accumulate(map(len, lines))]
            assert screen.lines(b"".join(lines), offsets) == [1], (edge, at)


def _money(rnd: random.Random, i: int, text: str | None) -> str:
    r: dict[str, Any] = bench.money_record(rnd, i)
    if text is not None and text.startswith('"'):
        r["memo"] = json.loads(text)  # a string property: the schema allows any other property
    elif text is not None:
        r[f"amount_{i % 12}"] = MARK
    return json.dumps(r, separators=(",", ":"))


def _refs(rnd: random.Random, i: int, text: str | None) -> str:
    r: dict[str, Any] = bench.refs_record(rnd, i)
    if text is not None and text.startswith('"'):
        r["lines"][0]["sku"] = json.loads(text)
    elif text is not None:
        (r["total"] if i % 2 else r["lines"][-1]["price"])["amount"] = MARK
    return json.dumps(r, separators=(",", ":"))


def _numeric(rnd: random.Random, i: int, text: str | None) -> str:
    r: dict[str, Any] = bench.numeric_record(rnd, i)
    if text is not None:
        r[f"x{3 * (i % 8)}"] = MARK  # minimum -10.5, maximum 99.75, multipleOf 0.25
    return json.dumps(r, separators=(",", ":"))


N = 2 * WINDOW + 3  # three windows of the number-only schemas, nine of those with checks after decoding
EDGES = sorted({0, N - 1, *(k * w + d for w in (WINDOW, CHECKED_WINDOW) for k in (1, 2) for d in (-1, 0)
                            if k * w + d < N)})
PLACES = {"first": [0], "last": [N - 1], "window-edges": EDGES, "every": list(range(N))}
CASES = {
    # schema, record maker, and the texts that must take the exact path, each with the reference's verdict
    "money": (bench.decimal_step_schema(), _money,
              [("1e-400", False), ("1E-5", False), ("0.0049999999999999999", False), ("10.005", False),
               ("0.0100000000000000001", False), ("7e-2", True), ("1.100", True), ('"SE-12 1E-5 10.005"', True)]),
    "invoice-refs": (bench.refs_schema(), _refs,
                     [("1e-400", False), ("1E-5", False), ("0.0049999999999999999", False), ("10.005", False),
                      ("7e-2", True), ("1.100", True), ('"9E-5"', True)]),
    "numeric": (bench.numeric_schema(), _numeric,
                [("1e-400", False), ("0.25000000000000001", False), ("99.750000000000001", False),
                 ("-10.50000000000000001", False), ("0.2499999999999999999", False), ("1e-300", False),
                 ("2.50000000", True)]),
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_numbers_that_need_the_exact_path_get_it_wherever_they_sit_in_a_batch(name: str, place: str):
    schema, make, texts = CASES[name]
    validator = JsonRecordValidator(name, schema)
    fast = validator.fast_path
    reference = compile_reference(schema, "draft-07")
    assert fast is not None and fast.batch_screen is not None
    for text, text_valid in texts:
        rnd = random.Random(11)
        marked = set(PLACES[place])
        bodies = [make(rnd, i, text if i in marked else None).replace(f'"{MARK}"', text).encode()
                  for i in range(N)]
        valid = [_valid(reference, body) for body in bodies]  # the same with or without a newline
        assert valid == [text_valid if i in marked else True for i in range(N)], f"{name} {text}: not a test"
        for newlines in ("each", "none", "all-but-last", "a-blank-line"):
            if newlines == "none":
                lines = bodies
            elif newlines == "all-but-last":
                lines = [b + b"\n" for b in bodies[:-1]] + bodies[-1:]
            else:
                lines = [b + b"\n" for b in bodies]
            expected, expected_valid = sorted(marked), valid
            if newlines == "a-blank-line":  # not one `{...}` per line: the batch is sorted out by shape
                lines.insert(N // 2, b"\n")
                expected = sorted({*(i + (i >= N // 2) for i in marked), N // 2})
                expected_valid = [*valid[:N // 2], False, *valid[N // 2:]]
            case = f"{name} {place} {text} {newlines}"
            declined = fast.declined(lines)
            assert declined == [i for i, line in enumerate(lines) if not fast.accepts(line)], case
            # Every line with such a number goes to the reference engine; every other (valid) record does not.
            assert declined == expected, case
            verdicts = [not reasons for reasons in validator.validate_lines(lines)]
            assert verdicts == expected_valid, case


def _valid(reference: Any, line: bytes) -> bool:
    try:
        return reference.is_valid(loads_exact(line))
    except ValueError:
        return False
