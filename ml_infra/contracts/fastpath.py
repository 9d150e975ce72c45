"""The fast path of JSON Schema validation: a schema compiled to msgspec types, so that one pass of msgspec's C
decoder parses a JSON line and checks it, without building Python dicts or calling the reference engine.

The fast path only ever ACCEPTS. A line it does not accept (a decode or constraint error, or a keyword it cannot
judge) goes to the reference engine (`engine.py`), which decides and explains. So the fast path must never
accept a line the reference rejects; it may decline a line the reference accepts (that costs speed, not
correctness). Every construct below is chosen for that one-sided guarantee, and tests/contracts prove it
differentially over the official suite and generated records:

- objects -> `msgspec.Struct` (declared properties, `required`, `additionalProperties: false` as
  `forbid_unknown_fields`), or `dict[str, T]` for `additionalProperties: {schema}` without `properties`;
- arrays -> `list[T]` with `minItems`/`maxItems`; `uniqueItems` of scalars as a check after decoding;
- strings -> `str` with `minLength`/`maxLength` (both count code points). Their `pattern` and `format`:
  - on a string reached through Structs (properties, items of arrays so reached, the string branch of a
    union), judged by the reference engine itself (`StringChecks`): after decoding, the strings of a record
    are taken out of the Structs into a tuple (an absent one as None, a value of another branch as it is,
    both of which `pattern` and `format` let pass, as in the reference) and the engine, compiled with the
    same draft and format checks, judges that tuple against the same keywords, in one call per line or per
    window. The verdict is the reference's own, for any ECMA-262 pattern and any format;
  - elsewhere (values of `additionalProperties: {schema}` maps), `Meta(pattern=...)`,
    translated from the ECMA-262 subset whose meaning Python's `re` shares (literals, classes, quantifiers,
    groups, alternation, anchors; `\\d` as `[0-9]`, `$` as `\\Z`), and `format` `date-time`, `date`, `uuid`,
    `ipv4` and `uri` as regular expressions that accept a subset of what the reference accepts; anything
    else in such a pattern or format leaves the schema to the reference engine;
- integers -> `int` (exact at any size; a JSON `1.0` is declined and judged by the reference), bounds exact;
- numbers -> `float` with bounds: strict comparisons are sound whatever digits the text has (rounding is
  monotonic: `float(text) < float(bound)` implies `text <= bound`); an inclusive bound of at most 8
  significant digits is compared inclusively, with the screen below for texts that round onto it. `multipleOf` on
  numbers only for divisors of the form m/2^k (0.5, 0.25) and values of at most 8 significant digits, where
  the float is the text exactly unless the bytes show a longer number rounding to it (a run of seven zeros
  or nines, or a tiny exponent: then the line goes to the reference engine);
- `enum`/`const` of strings or integers -> `Literal`; `anyOf`/`oneOf` of branches of different JSON types ->
  a union (`oneOf` then equals `anyOf`); `type` lists of such types;
- numbers with a decimal `multipleOf` of 10**-k (0.1, 0.01, ...): `float` below 10**(15-k), and a byte screen
  over the line (`number_screen`): a number with a nonzero digit after the k-th decimal or a negative exponent
  sends the line to the reference engine, so every accepted number is n * 10**-k exactly (decided on the
  number's text, as JSON Schema does, never on the float), and has at most 15 significant digits, so its
  float compares exactly with bounds of at most 15 digits;
- local `$ref` (`#`, `#/definitions/x`, any JSON pointer into the schema; not recursive; none under an
  embedded `$id`) -> the schema it names (before 2019-09 its siblings are ignored, as those drafts say);
  `allOf` -> its parts merged into one schema where that changes nothing they accept: disjoint keywords,
  equal values, `required` united, a property named twice gets the `allOf` of both, `additionalProperties:
  false` only in a part that declares every property of the merge;
- `format: uri` in such maps as a subset of RFC 3986 (http/https, a host of unreserved
  characters, no port, no percent-escapes);
- annotations (`title`, `description`, `default`, `examples`, `$comment`, `$schema`, `$id`, `definitions`)
  are ignored.

Anything else (`not`, `if`/`then`/`else`, `patternProperties`, `dependencies`, tuples, `contains`, recursive
`$ref`, `multipleOf` steps such as 0.05, a pattern or format outside the subset above in such a map, ...)
makes `compile_fast_path` return None: the whole schema runs on the reference engine.

Batches (`FastPath.declined`): a schema is judged WINDOW lines per call of msgspec's `decode_lines`
(CHECKED_WINDOW for a schema with checks after decoding), except one with checks after decoding but no number
screen, which is judged line by line (measured: windows gain nothing there); the docstring there says why a
window gives each line its own verdict. The number screen runs once over the whole batch (a few C-level
passes; the windows look up the lines it sent on), and the engine judges the strings of all records of a window
in one call.
Decoded Structs are `gc=False`: decoded JSON cannot form reference cycles, and tracking them cost a third of
decode time in a batch.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal, Union

ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "$schema", "$id",
                         "definitions", "$defs",  # containers that `$ref` reaches into, not assertions
                         "readOnly", "writeOnly", "deprecated"})
DIGIT = "[0-9]"
DATE = (f"{DIGIT}{{4}}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1{DIGIT}|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
        f"|(?:0[13578]|1[02])-31)")
TIME = (f"(?:[01]{DIGIT}|2[0-3]):[0-5]{DIGIT}:[0-5]{DIGIT}(?:\\.{DIGIT}+)?"
        f"(?:Z|[+-](?:[01]{DIGIT}|2[0-3]):[0-5]{DIGIT})")
OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
URI_CHARS = "A-Za-z0-9._~!$&'()*+,;=:@\\-"  # RFC 3986 unreserved and sub-delims, no percent-escapes
FORMATS = {
    "date-time": f"^{DATE}T{TIME}\\Z",
    "date": f"^{DATE}\\Z",
    "uuid": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\Z",
    "ipv4": f"^(?:{OCTET}\\.){{3}}{OCTET}\\Z",
    # http(s), a host of unreserved characters (an RFC 3986 reg-name), no port, no percent-escapes: a subset of
    # what the reference accepts (tests/contracts: generated texts of this pattern, all accepted by it).
    "uri": (f"^https?://[A-Za-z0-9._~\\-]+(?:/[{URI_CHARS}/]*)?(?:\\?[{URI_CHARS}/?]*)?"
            f"(?:#[{URI_CHARS}/?]*)?\\Z"),
}
# The fast path takes `multipleOf` on numbers only for values of at most this many significant digits.
MULTIPLE_OF_DIGITS = 8
MAX_BINARY_FRACTION_BITS = 6


# The number screens are regular expressions over the raw bytes that each start with one literal byte: `re`
# scans for that byte in a tight C loop and runs the rest of the pattern only where it occurs, so a screen is
# one pass over the text whatever digits it holds, with no Python frame per number. Measured before this
# (timeit, 20,000 benchmark lines): literal searches over digit-marked text (every digit translated to \x01
# first) cost a `translate` pass, and their needles of \x01 bytes defeat `bytes.find`'s skips on digit-heavy
# text (a window of invoice-refs lines, whose ids such as "SE-123456" hold `E-`, cost 4 ns a byte).
_NEGATIVE_EXPONENTS = {
    # Anchored on `-`: one pass finds both `e-` and `E-`, and `-` is rarer than `e` in most text. The
    # lookbehind, run only at a `-`, wants a digit and `e` or `E` before it, so "SE-123456" does not match.
    digits: re.compile(rb"-(?<=[0-9][eE]-)[0-9]{%d}" % digits).search for digits in (1, 3)
}
# Runs of zeros or nines: found by `bytes.find` (measured faster than `re` for these needles), in a batch
# piece by piece: CPython searches a text of 30,000 bytes or more with its two-way algorithm, measured 25%
# slower here than the skip search it uses on shorter texts.
_LONG_RUNS = (b"0000000", b"9999999")
_FIND_PIECE = 16384


def negative_exponent(line: bytes, digits: int = 1) -> bool:
    """Whether `line` may hold a number with a negative exponent of at least `digits` (1 or 3) digits
    (`1e-400`): a digit, `e-` or `E-`, `digits` digits. A match inside a string only costs speed."""
    # memchr first (one-byte searches, far faster than any pattern): most lines have no `-`, or no `e`/`E`.
    return b"-" in line and (b"e" in line or b"E" in line) and _NEGATIVE_EXPONENTS[digits](line) is not None


def may_round_to_a_short_number(line: bytes) -> bool:
    """Whether some number token in `line` may be a longer text that rounds to a float of at most
    MULTIPLE_OF_DIGITS significant digits (so the float is not the text), judged on the bytes: such a text
    differs from the float within 2**-53 of it, so its digits after the float's own continue with at least
    16 - MULTIPLE_OF_DIGITS zeros or nines; or it underflows to 0.0 through a 3-digit negative exponent
    (msgspec flushes it to zero). False positives (a run of zeros in a string) only cost the slower path."""
    return b"0000000" in line or b"9999999" in line or negative_exponent(line, 3)


@dataclass(frozen=True)
class NumberScreen:
    """The byte-level screen of a fast path: `line(line)` is True for a line that must go to the reference
    engine because a number in it may be misjudged as a float; `lines(buf, offsets)` gives, in one pass over
    a batch, the indices of the lines for which `line` is True (see `number_screen`)."""

    line: Callable[[bytes], bool]
    lines: Callable[[bytes, list[int]], list[int]]


def number_screen(long_numbers: bool, decimal_places: int | None) -> NumberScreen | None:
    """The number screen of a fast path (None when it needs none). `long_numbers`: a run of zeros or nines
    or a 3-digit negative exponent (`may_round_to_a_short_number`). `decimal_places` (a `multipleOf` of
    10**-k on numbers): a number with more than k decimals, or a negative exponent, sends the line on;
    without those every number in the line is exactly a multiple of 10**-k (a positive exponent only
    multiplies by a power of ten), which JSON Schema judges on the decimal value, never on the float. Texts
    in strings (and trailing zeros, `1.500`) may match too: that only costs speed.

    `lines(buf, offsets)` judges a batch whose line i is buf[offsets[i]:offsets[i + 1]], each line ending
    with its newline, with the same patterns over the whole buffer, each hit mapped to its line by bisection
    (the search then resumes at the next line): no match can span two lines, as no pattern (lookbehind
    included) matches a newline, so the indices are exactly the lines for which `line` is True."""
    if decimal_places is None and not long_numbers:
        return None
    runs = _LONG_RUNS if long_numbers else ()
    if decimal_places is None:
        searches: list[Callable[..., Any]] = []
        exponent = _NEGATIVE_EXPONENTS[3]
        screen_line = may_round_to_a_short_number
    else:
        # `.` and k+1 digits: a number with more than k decimals (re tries the digits only at a `.`).
        longer = re.compile(rb"\.[0-9]{%d}" % (decimal_places + 1)).search
        searches = [longer]
        # Any negative exponent: this also covers the 3-digit ones of `may_round_to_a_short_number`.
        exponent = _NEGATIVE_EXPONENTS[1]

        def screen_line(line: bytes) -> bool:
            return (longer(line) is not None or negative_exponent(line)
                    or (long_numbers and (b"0000000" in line or b"9999999" in line)))

    def lines(buf: bytes, offsets: list[int]) -> list[int]:
        found: set[int] = set()
        patterns = list(searches)
        if b"-" in buf and (b"e" in buf or b"E" in buf):  # as in `negative_exponent`, for the whole batch
            patterns.append(exponent)
        for search in patterns:
            hit = search(buf)
            while hit is not None:
                i = bisect.bisect_right(offsets, hit.start()) - 1
                found.add(i)
                hit = search(buf, offsets[i + 1])
        end = len(buf)
        for run in runs:
            at = 0
            while at < end:
                # A run that starts in at..stop-1 (searched in pieces: see _FIND_PIECE).
                stop = min(at + _FIND_PIECE, end)
                hit = buf.find(run, at, stop + len(run) - 1)
                if hit < 0:
                    at = stop
                    continue
                i = bisect.bisect_right(offsets, hit) - 1
                found.add(i)
                at = offsets[i + 1]
        return sorted(found)

    return NumberScreen(screen_line, lines)


NUMERIC_KEYS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
KIND_KEYS: dict[str, set[str]] = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "integer": NUMERIC_KEYS, "number": NUMERIC_KEYS, "boolean": set(), "null": set(),
}


class Unsupported(Exception):
    """The schema uses something the fast path cannot judge exactly."""


_VALUE_INDEX = re.compile(r"`\$\[(\d+)\]")
_BYTE_OFFSET = re.compile(r"\(byte (\d+)\)")
WINDOW = 64  # lines per decoder call in a batch (measured: larger windows gain nothing)
CHECKED_WINDOW = 16
# A `}` followed on its line by anything but `,` `}` `]`: where a line could hold a second value.
_VALUE_AFTER_A_CLOSE = re.compile(rb"\}[ \t\r]*[^,\]\}\n \t\r]")


@dataclass
class FastPath:
    """A compiled fast path: `accepts(line)` is True only for lines the reference engine accepts, and
    `declined(lines)` gives the indices of a batch's lines that `accepts` would not accept."""

    decoder: Any
    checks: list[tuple[tuple[str, ...], Callable[[Any], bool]]] = field(default_factory=list)
    screen_long_numbers: bool = False
    decimal_places: int | None = None  # every number must have at most this many (nonzero) decimals
    # For batches: the same schema with inclusive bounds taken strictly, which needs no screen for them (a
    # value on a bound is then judged again line by line, by `accepts`).
    batch_decoder: Any = None
    batch_screen_long_numbers: bool = False
    # The `pattern`/`format` keywords of the strings reached through Structs, judged by the reference engine in
    # one call per line or window (see StringChecks, string_checker).
    string_check: tuple[Any, ...] | None = None
    accepts: Callable[[bytes], bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One closure per shape, built once: this runs for every line, so no work is repeated per call.
        import msgspec

        decode = self.decoder.decode
        failed = msgspec.DecodeError  # ValidationError is a DecodeError
        unset = msgspec.UNSET
        checks = list(self.checks)
        self.screen = number_screen(self.screen_long_numbers, self.decimal_places)
        screen = self.screen.line if self.screen is not None else None
        if self.batch_decoder is None:
            self.batch_decoder, self.batch_screen_long_numbers = self.decoder, self.screen_long_numbers
        self.batch_screen = number_screen(self.batch_screen_long_numbers, self.decimal_places)
        self.strings_failing: Callable[[list[Any]], list[int]] | None = None
        strings_ok: Callable[[Any], bool] | None = None
        if self.string_check is not None:
            strings_ok, self.strings_failing = _string_verdicts(*self.string_check)
            checks.append(((), strings_ok))
        self.value_checks = bool(checks)
        self.other_checks = checks[:-1] if strings_ok is not None else checks

        def passing(checks: list[tuple[tuple[str, ...], Callable[[Any], bool]]]) -> Callable[[Any], bool]:
            def value_ok(value: Any) -> bool:
                for path, check in checks:
                    target = value
                    for attr in path:
                        target = getattr(target, attr, None)
                        if target is None or target is unset:
                            break
                    else:
                        if not check(target):
                            return False
                return True
            return value_ok

        value_ok = passing(checks)
        self.value_ok = value_ok
        self.other_checks_ok = passing(self.other_checks) if self.other_checks else None

        def accepts(line: bytes) -> bool:
            try:
                value = decode(line)
            except failed:
                return False
            if screen is not None and screen(line):
                return False
            return value_ok(value)

        def accepts_plain(line: bytes) -> bool:
            try:
                decode(line)
            except failed:
                return False
            return True

        self.accepts = accepts if checks or screen is not None else accepts_plain
        if strings_ok is not None and not self.other_checks and screen is None:
            # The string check is the only check: the same verdict as `accepts` (whose `value_ok` then runs
            # just that check on the whole value), without its two Python frames per line.
            only_strings = strings_ok

            def accepts_strings(line: bytes) -> bool:
                try:
                    value = decode(line)
                except failed:
                    return False
                return only_strings(value)

            self.accepts = accepts_strings

    # -------------------------------------------------------------------------------------------- batches

    def declined(self, lines: list[bytes]) -> list[int]:
        """The indices of `lines` (JSON lines, each with or without its newline) that `accepts` would not
        accept; every other line is accepted.

        Lines are judged WINDOW lines per call of msgspec's `Decoder.decode_lines`, which saves the Python
        call per record. A schema whose values need checks after decoding (uniqueItems, the engine's strings)
        checks the decoded values of the window (`_screened_or_checked`); as msgspec keeps no value of a
        call that fails, the lines before a failure are decoded again for that, in smaller windows
        (CHECKED_WINDOW) to bound the repeated work. Such a schema with no number screen at all is judged
        line by line (measured: no faster in windows). Why a window gives each line its own verdict: lines
        are joined only when each starts with `{` and ends with `}`. A value then cannot run on past its
        line: a JSON string cannot hold a raw newline, and after a `}` inside a value only `,` `}` `]` may
        follow, never the `{` that starts the next line, so the decoder fails there. Every line thus holds at
        least one whole value, and as many values as lines means one value per line, decoded and checked as
        `decode(line)` would. When the decoder fails at a value (`$[i]`) or a byte, the lines before it
        were decoded and type-checked; they are taken as one value each only if no `}` on them is followed
        by another value (else decoded again and counted), the line(s) at the failure are judged one by one
        with `accepts`, and decoding resumes after them. Hand-written because msgspec reports no line
        boundaries; every verdict is still msgspec's."""
        n = len(lines)
        if n == 0:
            return []
        if self.value_checks and self.batch_screen is None and self.screen is None:
            # Measured (github-event and strings): with checks after decoding and no number screen at all,
            # windows gain nothing over line by line (the lines before a failure are decoded twice). With a
            # screen per line that the batch decoder does without (nested), windows are about 1.7x faster.
            accepts = self.accepts
            return [i for i, line in enumerate(lines) if not accepts(line)]
        buf = b"".join(lines)
        newlines = buf.count(b"\n")
        if newlines == n - 1 and not lines[-1].endswith(b"\n"):  # a file's last line without its newline
            buf += b"\n"
            newlines = n
            lines = [*lines[:-1], lines[-1] + b"\n"]
        # (bytes.startswith unbound over repeat(): several times faster than a methodcaller per line)
        if newlines == n and all(map(bytes.endswith, lines, itertools.repeat(b"}\n"))) \
                and all(map(bytes.startswith, lines, itertools.repeat(b"{"))):
            offsets = [0, *itertools.accumulate(map(len, lines))]
        elif newlines == 0 and all(map(bytes.endswith, lines, itertools.repeat(b"}"))) \
                and all(map(bytes.startswith, lines, itertools.repeat(b"{"))):
            buf = b"\n".join(lines) + b"\n"
            offsets = [0, *itertools.accumulate(len(line) + 1 for line in lines)]
        else:  # newlines inside values, blank lines, CRLF endings, other roots: sorted out line by line
            return self._declined_by_shape(lines)
        return self._declined_in_windows(lines, buf, offsets)

    def _declined_in_windows(self, lines: list[bytes], buf: bytes, offsets: list[int]) -> list[int]:
        out: list[int] = []
        view = memoryview(buf)
        # The number screen over the whole batch at once (a few C-level passes, a Python step per line it
        # sends on), not per window: the windows then only look up the lines it sent on (`_screened`).
        screened = self.batch_screen.lines(buf, offsets) if self.batch_screen is not None else []
        # With checks after decoding, the values of a window that fails part-way are decoded again (msgspec
        # keeps none): smaller windows bound that waste (measured on github-event: 16 lines, not 64).
        window = CHECKED_WINDOW if self.value_checks else WINDOW
        for first in range(0, len(lines), window):
            out.extend(self._declined_from(lines, view, offsets, first, min(first + window, len(lines)),
                                           screened))
        return out

    def _declined_by_shape(self, lines: list[bytes]) -> list[int]:
        """Lines that are not one `{...}` each (blank lines, CRLF endings, other roots) one by one; the rest
        as a batch."""
        shaped: list[int] = []
        out: list[int] = []
        for i, line in enumerate(lines):
            body = line[:-1] if line.endswith(b"\n") else line
            if body[:1] == b"{" and body[-1:] == b"}" and b"\n" not in body:
                shaped.append(i)
            elif not self.accepts(line):
                out.append(i)
        if shaped:
            picked = [lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n" for i in shaped]
            offsets = [0, *itertools.accumulate(map(len, picked))]
            out.extend(shaped[j] for j in self._declined_in_windows(picked, b"".join(picked), offsets))
            out.sort()
        return out

    def _declined_from(self, lines: list[bytes], view: memoryview, offsets: list[int], start: int,
                       n: int, screened: list[int]) -> list[int]:
        """Lines start..n-1 of the batch whose bytes `view` holds (line i at offsets[i]:offsets[i+1]);
        `screened`: the sorted indices of the batch's lines that the batch's number screen sends on."""
        import msgspec

        decode_lines = self.batch_decoder.decode_lines
        out: list[int] = []
        while start < n:
            try:
                values = decode_lines(view[offsets[start]:offsets[n]])
            except msgspec.ValidationError as err:
                m = _VALUE_INDEX.search(str(err))
                stop = start + int(m.group(1)) if m else n
                if stop < n:
                    at = [stop]
                else:
                    stop, at = start, list(range(start, n))
            except msgspec.DecodeError as err:
                m = _BYTE_OFFSET.search(str(err))
                if m:
                    k = min(bisect.bisect_right(offsets, offsets[start] + int(m.group(1))) - 1, n - 1)
                    stop = max(start, k - 1)  # the line before may hold a value that ran on into this one
                    at = list(range(stop, k + 1))
                else:  # truncated: the last lines
                    stop = max(start, n - 2)
                    at = list(range(stop, n))
            else:
                if len(values) == n - start:
                    out.extend(self._screened_or_checked(screened, start, n, values))
                else:
                    out.extend(i for i in range(start, n) if not self.accepts(lines[i]))
                return out
            if stop > start:
                if self.value_checks:
                    # The values before the failure are needed for the checks after decoding: decoded again.
                    try:
                        values = decode_lines(view[offsets[start]:offsets[stop]])
                    except msgspec.DecodeError:
                        values = []
                    if len(values) == stop - start:
                        out.extend(self._screened_or_checked(screened, start, stop, values))
                    else:
                        out.extend(i for i in range(start, stop) if not self.accepts(lines[i]))
                elif _VALUE_AFTER_A_CLOSE.search(view, offsets[start], offsets[stop]) is None:
                    # Decoded and type-checked before the failure, and each line held exactly one value.
                    out.extend(_screened(screened, start, stop))
                else:
                    try:
                        counted = len(decode_lines(view[offsets[start]:offsets[stop]]))
                    except msgspec.DecodeError:
                        counted = -1
                    if counted == stop - start:
                        out.extend(_screened(screened, start, stop))
                    else:
                        out.extend(i for i in range(start, stop) if not self.accepts(lines[i]))
            out.extend(i for i in at if not self.accepts(lines[i]))
            start = at[-1] + 1
        return out

    def _screened_or_checked(self, screened: list[int], start: int, stop: int, values: list[Any]) -> list[int]:
        """Lines start..stop-1, decoded and type-checked as `values` (one per line), that the number screen
        (`screened`, see `_screened`) or a check after decoding sends on: the strings of all records in one
        call of the engine (see `strings_failing`), and any other check record by record."""
        declined = _screened(screened, start, stop)
        if not self.value_checks:
            return declined
        every, others = self.strings_failing, self.other_checks_ok
        if every is None:
            failing = [start + j for j, value in enumerate(values) if not self.value_ok(value)]
        else:
            failing = [start + j for j in every(values)]
            if others is not None:
                failing = sorted({*failing, *(start + j for j, value in enumerate(values) if not others(value))})
        if not declined:
            return failing
        return sorted(set(declined).union(failing)) if failing else declined


def _screened(screened: list[int], start: int, stop: int) -> list[int]:
    """The lines start..stop-1 that the batch's number screen sends on (to the reference engine), from
    `screened`, the sorted indices the screen found in one pass over the whole batch (NumberScreen.lines):
    two bisections per window, instead of screening each window's bytes again."""
    if not screened:
        return []
    return screened[bisect.bisect_left(screened, start):bisect.bisect_left(screened, stop)]


# ------------------------------------------------------------------------------------------------ strings

# RFC 4122 text, as ECMA-262: what the reference's `uuid` check (engine.UUID_RE) accepts, less a trailing newline.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass
class StringChecks:
    """The `pattern` and `format` keywords of the strings at fixed attribute paths of a decoded Struct,
    directly or as items of arrays so reached (absent or not). They are judged by the
    reference engine itself, over plain tuples of those strings: Rust's regex and format checks, in one call per
    batch, instead of Python's `re` once per value (measured: several times faster per character, and the
    verdict is the reference's own, for any ECMA-262 pattern and any format).

    `entries`: (path, schema, items). A string: its path, `{"pattern": ..., "format": ...}` as written, and
    None. An array: its path, None, and the checks of its items (paths relative to an item; the path `()` is
    the item itself). The engine takes no msgspec `UNSET`, so a value that may be absent is read as None
    (`absent`), which `pattern` and `format` let pass, as JSON Schema does for a property that is not there."""

    entries: list[tuple[tuple[str, ...], Any, StringChecks | None]] = field(default_factory=list)
    # Attribute paths (from the same root as the entries) whose value may be absent (`UNSET`): read as None,
    # which `pattern` and `format` let pass (they judge strings only), as JSON Schema does for an absent value.
    absent: set[tuple[str, ...]] = field(default_factory=set)

    def itself(self) -> bool:
        """Whether the checks are of the value itself (a string, or an array of checked items)."""
        return len(self.entries) == 1 and self.entries[0][0] == ()

    def expression(self, name: str, depth: int = 0) -> str:
        """A Python expression of what `schema()` judges, for the value named `name`: a tuple with one element
        per entry (a string, or a list of its array's item extracts)."""
        if self.itself():
            items = self.entries[0][2]
            return name if items is None else self._items(name, items, depth)
        parts = []
        for path, _, items in self.entries:
            if not all(_ATTRIBUTE.fullmatch(attr) for attr in path):
                raise Unsupported("attribute path")  # never: paths are the compiler's own `f<n>` names
            value = self._access(name, path, ())
            parts.append(value if items is None else self._items(value, items, depth))
        return "(" + ", ".join(parts) + ",)"

    def _access(self, base: str, path: tuple[str, ...], prefix: tuple[str, ...]) -> str:
        """`base.path`, where every step that may be absent (`UNSET`) reads as None instead."""
        if not path:
            return base
        here = (*prefix, path[0])
        step = f"{base}.{path[0]}"
        if here not in self.absent:
            return self._access(step, path[1:], here)
        # The step is read twice rather than held (`:=` may not appear in a comprehension's iterable).
        return f"(None if {step} is UNSET else {self._access(step, path[1:], here)})"

    @staticmethod
    def _items(value: str, items: StringChecks, depth: int) -> str:
        item = f"item{depth}"
        inner = items.expression(item, depth + 1)
        # An absent array reads as None: no items to judge.
        return value if inner == item else f"[{inner} for {item} in ({value} or ())]"

    def extractor(self) -> Callable[[Any], Any] | None:
        """The function from one decoded value to what `schema()` judges; None when that is the value itself.
        Generated from `expression` rather than composed of `operator.attrgetter`s: Python 3.11's specialized
        attribute loads on Struct slots made it 1.7x faster (github-event: 0.52 us against 0.91 us a record).
        The generated text holds only the compiler's attribute names, never schema text."""
        text = self.expression("value")
        if text == "value":
            return None
        import msgspec

        # The text is built above from the compiler's own names: no schema or record text is evaluated.
        return eval(f"lambda value: {text}", {"__builtins__": {}, "UNSET": msgspec.UNSET})

    def schema(self, items_keyword: str) -> Any:
        """The schema the extract of a value must satisfy (`items_keyword`: `items`, or `prefixItems` from
        2020-12, for a positional list of schemas)."""
        parts = [schema if items is None else {"items": items.schema(items_keyword)}
                 for _, schema, items in self.entries]
        return parts[0] if self.itself() else {items_keyword: parts}


_ATTRIBUTE = re.compile(r"f[0-9]+")


def string_checker(checks: StringChecks, draft: str) -> tuple[Any, ...]:
    """(extract, batch extract, validator of one extract, validator of a list of extracts), the validators
    compiled by the reference engine's own `compile_reference` (same draft, same format checks). Raises
    SchemaCompileError."""
    from ml_infra.contracts.engine import compile_reference

    one = checks.schema("prefixItems" if draft == "2020-12" else "items")
    extract = checks.extractor()
    extract_all: Callable[[list[Any]], list[Any]] = list if extract is None else (
        lambda values: list(map(extract, values)))
    return extract, extract_all, compile_reference(one, draft), compile_reference({"items": one}, draft)


def _string_verdicts(extract: Callable[[Any], Any] | None, extract_all: Callable[[list[Any]], list[Any]], one: Any,
                     many: Any) -> tuple[Callable[[Any], bool], Callable[[list[Any]], list[int]]]:
    """(check of one decoded value, indices of the failing values of a list). Any error of the engine
    declines (the line then goes to the reference engine as a whole, which decides and explains)."""
    one_valid, many_valid, many_errors = one.is_valid, many.is_valid, many.iter_errors

    def strings_ok(value: Any) -> bool:
        try:
            return one_valid(value if extract is None else extract(value))
        except Exception:  # declining is always safe
            return False

    def strings_failing(values: list[Any]) -> list[int]:
        try:
            instances = extract_all(values)
            if many_valid(instances):
                return []
            return sorted({int(e.instance_path[0]) for e in many_errors(instances)})
        except Exception:  # declining is always safe
            return list(range(len(values)))

    return strings_ok, strings_failing


# ------------------------------------------------------------------------------------------------ patterns

_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_"}
_PLAIN_ESCAPES = set(".-/\\+*?()[]{}|^$")


def translate_pattern(pattern: str) -> str:
    """An ECMA-262 pattern as a Python pattern with the same matches, for a safe subset; Unsupported else."""
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    prev_quantifiable = False
    while i < n:
        c = pattern[i]
        if ord(c) > 0xFFFF or c in "\r\n\x00":
            raise Unsupported(f"pattern character {c!r}")
        if c == "\\":
            if i + 1 >= n:
                raise Unsupported("trailing backslash")
            e = pattern[i + 1]
            if e == "d":
                out.append("[0-9]")
            elif e == "w":
                out.append("[A-Za-z0-9_]")
            elif e in _PLAIN_ESCAPES:
                out.append("\\" + e)
            else:
                raise Unsupported(f"escape \\{e}")
            i += 2
            prev_quantifiable = True
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                raise Unsupported("negated class")
            parts: list[str] = []
            after_escape = False
            while j < n and pattern[j] != "]":
                ch = pattern[j]
                if ch == "\\":
                    if j + 1 >= n:
                        raise Unsupported("class escape")
                    e = pattern[j + 1]
                    if e in _CLASS_ESCAPES:
                        parts.append(_CLASS_ESCAPES[e])
                        after_escape = True
                    elif e in _PLAIN_ESCAPES:
                        parts.append("\\" + e)
                        after_escape = False
                    else:
                        raise Unsupported(f"class escape \\{e}")
                    j += 2
                    continue
                if ch == "[" or ord(ch) > 0xFFFF or ch in "\r\n":
                    raise Unsupported("class character")
                if ch == "-" and parts and not after_escape and j + 1 < n and pattern[j + 1] not in "]\\":
                    parts.append("-")
                else:
                    parts.append("\\" + ch if ch in "-^" else ch)
                after_escape = False
                j += 1
            if j >= n or not parts:
                raise Unsupported("unterminated or empty class")
            out.append("[" + "".join(parts) + "]")
            i = j + 1
            prev_quantifiable = True
            continue
        if c == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif i + 1 < n and pattern[i + 1] == "?":
                raise Unsupported("group flag or lookaround")
            else:
                out.append("(?:")  # capturing or not, the same matches; no capture is cheaper
                i += 1
            depth += 1
            prev_quantifiable = False
            continue
        if c == ")":
            if depth == 0:
                raise Unsupported("unbalanced")
            depth -= 1
            out.append(")")
            i += 1
            prev_quantifiable = True
            continue
        if c in "*+?":
            if not prev_quantifiable:
                raise Unsupported("quantifier")
            out.append(c)
            i += 1
            if i < n and pattern[i] == "?":
                out.append("?")
                i += 1
            prev_quantifiable = False
            continue
        if c == "{":
            m = re.match(r"\{(\d{1,4})(,(\d{0,4}))?\}", pattern[i:])
            if not m or not prev_quantifiable:
                raise Unsupported("brace")
            if m.group(3) and int(m.group(3)) < int(m.group(1)):
                raise Unsupported("brace range")
            out.append(m.group(0))
            i += len(m.group(0))
            if i < n and pattern[i] == "?":
                out.append("?")
                i += 1
            prev_quantifiable = False
            continue
        if c == "}" or c == "]":
            raise Unsupported("stray bracket")
        if c == "^":
            out.append("^")
            prev_quantifiable = False
        elif c == "$":
            out.append("\\Z")
            prev_quantifiable = False
        elif c == "|":
            out.append("|")
            prev_quantifiable = False
        elif c == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")  # ECMA's `.`: anything but a line terminator
            prev_quantifiable = True
        else:
            out.append(re.escape(c))
            prev_quantifiable = True
        i += 1
    if depth:
        raise Unsupported("unbalanced")
    translated = "".join(out)
    re.compile(translated)
    return translated


def _all_of_patterns(patterns: list[str]) -> str:
    if len(patterns) == 1:
        return patterns[0]
    return "^" + "".join(f"(?=[\\s\\S]*?(?:{p}))" for p in patterns)


# ------------------------------------------------------------------------------------------------ schemas


def _exact(value: Any) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported("non-numeric bound")
    if isinstance(value, float) and not math.isfinite(value):
        raise Unsupported("infinite bound")
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _short(value: Fraction, digits: int = MULTIPLE_OF_DIGITS) -> bool:
    """Whether a bound has a decimal form of at most `digits` significant digits."""
    if value == 0:
        return True
    num, den = value.numerator, value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return False  # not a finite decimal
    shown = str(abs(num) * 2 ** (max(twos, fives) - twos) * 5 ** (max(twos, fives) - fives)).rstrip("0")
    return len(shown) <= digits


class _Compiler:
    def __init__(self, draft: str, root: Any = None):
        self.draft = draft
        self.root = root
        self.expanding: set[str] = set()
        self.embedded_ids = _has_embedded_id(root)
        self.names = itertools.count()
        self.checks: list[tuple[tuple[str, ...], Callable[[Any], bool]]] = []
        self.screen = False
        self.decimal_places: int | None = None
        self.strict_bounds = False  # inclusive bounds taken strictly (no screen needed for them)
        self.strings = StringChecks()
        self.defer = True  # `pattern`/`format` of always-present strings to the engine (StringChecks)
        self.in_items = False  # compiling the items of an array whose strings are deferred (paths are relative)

    def node(self, schema: Any, path: tuple[str, ...] | None, required: bool = False) -> Any:
        """The msgspec type for `schema`. `path`: attribute path from the root Struct when the value is
        reachable through Struct attributes only (post-decode checks can be placed there), else None."""
        if schema is True or schema == {}:
            import msgspec

            return msgspec.Raw
        if not isinstance(schema, dict):
            raise Unsupported("boolean false schema")
        if "$ref" in schema:
            return self.reference(schema, path, required)
        keys = set(schema) - ANNOTATIONS
        if "allOf" in keys:
            return self.node(self.merge([{k: v for k, v in schema.items() if k != "allOf"}, *schema["allOf"]]),
                             path, required)
        if "anyOf" in keys or "oneOf" in keys:
            return self.alternatives(schema, keys, path)
        if "enum" in keys or "const" in keys:
            return self.enum(schema, keys)
        kind = schema.get("type")
        if isinstance(kind, list):
            if not kind or len(set(kind)) != len(kind):
                raise Unsupported("type list")
            if len(kind) == 1:
                return self.node({**schema, "type": kind[0]}, path, required)
            # Each branch keeps only its own type's keywords (maxLength says nothing about null).
            branches = [{k: v for k, v in schema.items() if k in KIND_KEYS.get(t, set())} | {"type": t}
                        for t in kind]
            if set(schema) - ANNOTATIONS - {"type"} - set().union(*(KIND_KEYS.get(t, set()) for t in kind)):
                raise Unsupported("keywords beside a type list")
            return self.union(branches, path)
        if kind is None:
            raise Unsupported("a schema without a single type")
        handler = {"object": self.obj, "array": self.array, "string": self.string, "integer": self.integer,
                   "number": self.number, "boolean": self.boolean, "null": self.null}.get(kind)
        if handler is None:
            raise Unsupported(f"type {kind!r}")
        if kind == "string":
            return self.string(schema, keys, path, required)
        if kind in ("object", "array"):
            return handler(schema, keys, path, required)
        return handler(schema, keys, path)

    # -------------------------------------------------------------------------------- $ref and allOf

    def resolve(self, ref: Any) -> Any:
        """The subschema a local `$ref` ("#", "#/definitions/x", any JSON pointer into this document) names;
        Unsupported for anything else (another document, an anchor, an embedded `$id` that could move the
        base)."""
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")) or self.embedded_ids:
            raise Unsupported(f"$ref {ref!r}")
        from urllib.parse import unquote

        target = self.root
        for token in ref[2:].split("/") if ref != "#" else []:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise Unsupported(f"$ref {ref!r} does not resolve")
        return target

    def deref(self, schema: dict[str, Any]) -> Any:
        """A `$ref` node as the schema it stands for: before 2019-09 the reference alone (its siblings are
        ignored, as those drafts say), from 2019-09 on the reference and its siblings together."""
        ref = schema["$ref"]
        if ref in self.expanding:
            raise Unsupported("recursive $ref")
        target = self.resolve(ref)
        if self.draft in ("draft-04", "draft-06", "draft-07"):
            return target
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {"allOf": [siblings, target]} if set(siblings) - ANNOTATIONS else target

    def reference(self, schema: dict[str, Any], path: tuple[str, ...] | None, required: bool) -> Any:
        ref = schema["$ref"]
        target = self.deref(schema)
        self.expanding.add(ref)
        try:
            return self.node(target, path, required)
        finally:
            self.expanding.discard(ref)

    def merge(self, parts: list[Any]) -> dict[str, Any]:
        """`allOf` as one schema, where its parts can be merged without changing what they accept: disjoint
        keywords, equal values, `required` united, `properties` merged (a property named twice gets the
        `allOf` of both), `additionalProperties: false` only where its own part declares every property."""
        flat: list[dict[str, Any]] = []
        pending = list(parts)
        seen_refs: set[str] = set()
        while pending:
            part = pending.pop(0)
            if part is True or part == {}:
                continue
            if not isinstance(part, dict):
                raise Unsupported("allOf part")
            if "$ref" in part:
                if part["$ref"] in seen_refs or part["$ref"] in self.expanding:
                    raise Unsupported("recursive $ref")
                seen_refs.add(part["$ref"])
                pending.insert(0, self.deref(part))
                continue
            if "allOf" in part:
                pending[:0] = [{k: v for k, v in part.items() if k != "allOf"}, *part["allOf"]]
                continue
            flat.append({k: v for k, v in part.items() if k not in ANNOTATIONS})
        merged: dict[str, Any] = {}
        for part in flat:
            for key, value in part.items():
                if key not in merged:
                    merged[key] = dict(value) if key == "properties" and isinstance(value, dict) else value
                elif key == "properties" and isinstance(value, dict) and isinstance(merged[key], dict):
                    for name, sub in value.items():
                        old = merged[key].get(name)
                        merged[key][name] = sub if old is None or old == sub else {"allOf": [old, sub]}
                elif key == "required" and isinstance(value, list) and isinstance(merged[key], list):
                    merged[key] = merged[key] + [r for r in value if r not in merged[key]]
                elif merged[key] != value:
                    raise Unsupported(f"allOf parts disagree on {key!r}")
        declared = set(merged.get("properties", {})) | set(merged.get("required", []))
        for part in flat:
            extra = part.get("additionalProperties", True)
            if extra is True or extra == {}:
                continue
            if extra is not False or not declared <= set(part.get("properties", {})):
                raise Unsupported("additionalProperties under allOf")
        return merged

    def only(self, keys: set[str], allowed: set[str]) -> None:
        extra = keys - allowed - {"type"}
        if extra:
            raise Unsupported(f"keywords {sorted(extra)}")

    def alternatives(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None) -> Any:
        word = "anyOf" if "anyOf" in keys else "oneOf"
        if keys != {word}:
            raise Unsupported("anyOf/oneOf beside other keywords")
        branches = schema[word]
        if not isinstance(branches, list) or not branches:
            raise Unsupported("anyOf/oneOf")
        if word == "oneOf":
            kinds = [b.get("type") if isinstance(b, dict) else None for b in branches]
            numeric = sum(k in ("integer", "number") for k in kinds)
            if None in kinds or len(set(kinds)) != len(kinds) or numeric > 1:
                # Branches that may overlap: "exactly one" is not "at least one".
                raise Unsupported("oneOf with branches that may overlap")
        return self.union(branches, path)

    def union(self, branches: list[Any], path: tuple[str, ...] | None) -> Any:
        by_kind: dict[str, list[Any]] = {}
        for b in branches:
            if not isinstance(b, dict) or not isinstance(b.get("type"), str):
                raise Unsupported("union branch without a single type")
            by_kind.setdefault("number" if b["type"] in ("integer", "number") else b["type"], []).append(b)
        types = []
        for kind, group in by_kind.items():
            if len(group) > 1:
                # Several branches of one kind: take a branch that accepts every value of that kind, if any.
                loose = [b for b in group if b["type"] == "number" and set(b) - ANNOTATIONS == {"type"}]
                if not loose:
                    raise Unsupported("several branches of one type")
                group = loose[:1]
            if kind in ("object", "array"):
                raise Unsupported("union of containers")
            # A string branch's pattern and format can be deferred: the engine judges strings only, so the
            # value of another branch (a number, null) passes them, as it passes them in the reference.
            types.append(self.node(group[0], path if kind == "string" else None))
        return Union[tuple(types)]  # noqa: UP007 - a runtime union of msgspec types

    def enum(self, schema: dict[str, Any], keys: set[str]) -> Any:
        values = list(schema["enum"]) if "enum" in keys else [schema["const"]]
        if "enum" in keys and "const" in keys:
            raise Unsupported("enum and const")
        kind = schema.get("type")
        self.only(keys, {"enum", "const"})
        if values and all(isinstance(v, str) for v in values) and kind in (None, "string"):
            return Literal[tuple(values)]  # type: ignore[valid-type]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values) \
                and kind in (None, "integer", "number") and all(abs(v) < 2**63 for v in values):
            return Literal[tuple(values)]  # type: ignore[valid-type]
        raise Unsupported("enum of other values")

    def obj(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None,
            required_here: bool = False) -> Any:
        """`required_here`: this object is always present (the root, or required all the way down)."""
        import msgspec

        self.only(keys, {"properties", "required", "additionalProperties"})
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        additional = schema.get("additionalProperties", True)
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise Unsupported("properties/required")
        if not properties and isinstance(additional, dict) and "required" not in keys:
            return dict[str, self.node(additional, None)]
        if additional not in (True, False, {}):
            raise Unsupported("additionalProperties schema beside properties")
        if additional is False and any(r not in properties for r in required):
            # Such a property is both required and forbidden: a Struct field would accept it.
            raise Unsupported("required property that additionalProperties forbids")
        fields: list[Any] = []
        rename: dict[str, str] = {}
        names = list(properties) + [r for r in required if r not in properties]
        if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise Unsupported("property names")
        for index, prop in enumerate(names):
            attr = f"f{index}"
            rename[attr] = prop
            sub_path = None if path is None else (*path, attr)
            if sub_path is not None and prop not in required:
                self.strings.absent.add(sub_path)
            always = required_here and prop in required
            t = self.node(properties[prop], sub_path, always) if prop in properties else msgspec.Raw
            if prop in required:
                fields.append((attr, t))
            else:
                fields.append((attr, Union[t, msgspec.UnsetType], msgspec.UNSET))  # noqa: UP007
        return msgspec.defstruct(f"Fast{next(self.names)}", fields, rename=rename, kw_only=True,
                                 forbid_unknown_fields=additional is False, gc=False)

    def array(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None,
              required: bool = False) -> Any:
        import msgspec

        self.only(keys, {"items", "minItems", "maxItems", "uniqueItems"})
        items = schema.get("items", True)
        if isinstance(items, list):
            raise Unsupported("tuple items")
        if self.defer and path is not None:
            # Reachable through Structs: the strings of its items are deferred too, with paths from the item.
            outer, outer_in_items = self.strings, self.in_items
            self.strings, self.in_items = StringChecks(), True
            try:
                item = self.node(items, (), True)
                inner = self.strings
            finally:
                self.strings, self.in_items = outer, outer_in_items
            if inner.entries:
                self.strings.entries.append((path, None, inner))
        else:
            item = self.node(items, None)
        meta = {}
        if "minItems" in keys:
            meta["min_length"] = int(schema["minItems"])
        if "maxItems" in keys:
            meta["max_length"] = int(schema["maxItems"])
        if schema.get("uniqueItems") is True:
            scalar = isinstance(items, dict) and items.get("type") in ("string", "integer", "number", "boolean")
            if path is None or not scalar or self.in_items:
                raise Unsupported("uniqueItems here")
            self.checks.append((path, lambda v: len(set(v)) == len(v)))
        t = list[item]
        return Annotated[t, msgspec.Meta(**meta)] if meta else t

    def string(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None,
               required: bool = False) -> Any:
        import msgspec

        self.only(keys, {"minLength", "maxLength", "pattern", "format"})
        meta: dict[str, Any] = {}
        if "minLength" in keys:
            meta["min_length"] = int(schema["minLength"])
        if "maxLength" in keys:
            meta["max_length"] = int(schema["maxLength"])
        if self.defer and path is not None and ("pattern" in keys or "format" in keys):
            # Reachable through Structs: judged by the reference engine with the record's other strings.
            deferred = {k: schema[k] for k in ("pattern", "format") if k in keys}
            if deferred.get("format") == "uuid":  # the engine's `uuid` is a Python callback: its pattern instead
                del deferred["format"]
                deferred = {**deferred, "allOf": [{"pattern": UUID_PATTERN}]} if deferred else {"pattern": UUID_PATTERN}
            self.strings.entries.append((path, deferred, None))
            return Annotated[str, msgspec.Meta(**meta)] if meta else str
        patterns = []
        if "pattern" in keys:
            patterns.append(translate_pattern(schema["pattern"]))
        if "format" in keys:
            fmt = schema["format"]
            if fmt not in FORMATS:
                raise Unsupported(f"format {fmt!r}")
            patterns.append(FORMATS[fmt])
        if patterns:
            meta["pattern"] = _all_of_patterns(patterns)
        return Annotated[str, msgspec.Meta(**meta)] if meta else str

    def integer(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None) -> Any:
        import msgspec

        self.only(keys, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
        low, high = self.bounds(schema, keys)
        meta: dict[str, Any] = {}
        if low is not None:
            exclusive, value = low
            meta["ge"] = math.floor(value) + 1 if exclusive else math.ceil(value)
        if high is not None:
            exclusive, value = high
            meta["le"] = math.ceil(value) - 1 if exclusive else math.floor(value)
        if "multipleOf" in keys:
            d = _exact(schema["multipleOf"])
            if d <= 0:
                raise Unsupported("multipleOf")
            # An integer x is a multiple of p/q (reduced) exactly when p divides x.
            if d.numerator != 1:
                meta["multiple_of"] = d.numerator
        for k in ("ge", "le"):
            if k in meta and abs(meta[k]) >= 2**63:
                raise Unsupported("bound beyond 64 bits")
        return Annotated[int, msgspec.Meta(**meta)] if meta else int

    def number(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None) -> Any:
        import msgspec

        self.only(keys, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
        low, high = self.bounds(schema, keys)
        meta: dict[str, Any] = {}
        step = _exact(schema["multipleOf"]) if "multipleOf" in keys else None
        places = len(str(step.denominator)) - 1 if step is not None else 0
        if step is not None and step > 0 and step.numerator == 1 and step.denominator == 10 ** places \
                and 1 <= places <= 9:
            # A decimal step (0.1, 0.01, ...): the number screen (number_screen) sends on every line with a
            # longer decimal or an exponent, so an accepted number is n * 10**-places; below 10**(15 -
            # places) it has at most 15 significant digits, and so has its float exactly: bounds of at most
            # 15 significant digits are then compared exactly, inclusive or not.
            self.decimal_places = min(self.decimal_places or places, places)
            limit = float(10 ** (15 - places))
            meta["lt"], meta["gt"] = limit, -limit
            for bound, strict, loose, pick in ((low, "gt", "ge", max), (high, "lt", "le", min)):
                if bound is None:
                    continue
                exclusive, value = bound
                if not _short(value, 15):
                    raise Unsupported("bound beside a decimal step")
                if exclusive:
                    meta[strict] = pick(meta[strict], float(value))
                elif pick(meta[strict], float(value)) == float(value):
                    meta.pop(strict)
                    meta[loose] = float(value)
            return Annotated[float, msgspec.Meta(**meta)]
        # Strict float bounds are always sound: float(text) > float(bound) implies text >= bound (rounding
        # is monotonic). An inclusive bound of at most MULTIPLE_OF_DIGITS significant digits may be taken
        # inclusively: a text that rounds onto it without being it shows as a run of zeros or nines, which
        # the screen (may_round_to_a_short_number) sends to the reference engine.
        if low is not None:
            exclusive, value = low
            if not exclusive and _short(value) and not self.strict_bounds:
                self.screen = True
                meta["ge"] = float(value)
            else:
                meta["gt"] = float(value)
        if high is not None:
            exclusive, value = high
            if not exclusive and _short(value) and not self.strict_bounds:
                self.screen = True
                meta["le"] = float(value)
            else:
                meta["lt"] = float(value)
        if step is not None:
            d = step
            k = d.denominator.bit_length() - 1
            if d <= 0 or d.denominator != 1 << k or k > MAX_BINARY_FRACTION_BITS:
                raise Unsupported("multipleOf that is neither m/2^k nor 10^-k")
            # fmod on floats is exact for such divisors, and a multiple below `limit` has at most
            # MULTIPLE_OF_DIGITS significant digits: the float is then the text unless the screen
            # (may_round_to_a_short_number) sees a longer text that rounds to it.
            self.screen = True
            meta["multiple_of"] = float(d)
            limit = float(10 ** (MULTIPLE_OF_DIGITS - k))
            if meta.get("le", limit) >= limit:
                meta.pop("le", None)
                meta["lt"] = min(meta.get("lt", limit), limit)
            if meta.get("ge", -limit) <= -limit:
                meta.pop("ge", None)
                meta["gt"] = max(meta.get("gt", -limit), -limit)
        return Annotated[float, msgspec.Meta(**meta)] if meta else float

    def bounds(self, schema: dict[str, Any], keys: set[str]) -> tuple[Any, Any]:
        """((exclusive, Fraction) | None, same): the tightest lower and upper bound, by draft."""
        lows: list[tuple[bool, Fraction]] = []
        highs: list[tuple[bool, Fraction]] = []
        if self.draft == "draft-04":
            if "minimum" in keys:
                lows.append((schema.get("exclusiveMinimum") is True, _exact(schema["minimum"])))
            if "maximum" in keys:
                highs.append((schema.get("exclusiveMaximum") is True, _exact(schema["maximum"])))
        else:
            if "minimum" in keys:
                lows.append((False, _exact(schema["minimum"])))
            if "exclusiveMinimum" in keys:
                lows.append((True, _exact(schema["exclusiveMinimum"])))
            if "maximum" in keys:
                highs.append((False, _exact(schema["maximum"])))
            if "exclusiveMaximum" in keys:
                highs.append((True, _exact(schema["exclusiveMaximum"])))
        low = max(lows, key=lambda b: (b[1], b[0])) if lows else None
        high = min(highs, key=lambda b: (b[1], not b[0])) if highs else None
        return low, high

    def boolean(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None) -> Any:
        self.only(keys, set())
        return bool

    def null(self, schema: dict[str, Any], keys: set[str], path: tuple[str, ...] | None) -> Any:
        self.only(keys, set())
        return None


def _has_embedded_id(root: Any) -> bool:
    """Whether any object below the root has an `$id` (or draft-04 `id`): a base URI there could make a
    local-looking `$ref` mean another place, so such schemas keep `$ref` for the reference engine."""
    stack = [root]
    first = True
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not first and (isinstance(node.get("$id"), str) or isinstance(node.get("id"), str)):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        first = False
    return False


def compile_fast_path(schema: Any, draft: str) -> FastPath | None:
    """The fast path of `schema`, or None when it uses anything the fast path cannot judge exactly."""
    import msgspec

    from ml_infra.contracts.engine import SchemaCompileError

    for defer in (True, False):
        compiler = _Compiler(draft, schema)
        compiler.defer = defer
        try:
            t = compiler.node(schema, (), True)
            decoder = msgspec.json.Decoder(t)
        except (Unsupported, TypeError, ValueError, re.error, RecursionError):
            if defer:
                continue  # e.g. a string check the engine cannot compile alone: without deferring, if at all
            return None
        string_check = None
        if compiler.strings.entries:
            try:
                string_check = string_checker(compiler.strings, draft)
            except (SchemaCompileError, ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                # e.g. an extract nested past what Python's parser takes ("too many nested parentheses")
                continue
        batch_decoder, batch_screen = None, False
        if compiler.screen:
            strict = _Compiler(draft, schema)
            strict.defer, strict.strict_bounds = defer, True
            try:
                batch_decoder = msgspec.json.Decoder(strict.node(schema, (), True))
                batch_screen = strict.screen
            except (Unsupported, TypeError, ValueError, re.error, RecursionError):
                batch_decoder = None
        return FastPath(decoder, compiler.checks, screen_long_numbers=compiler.screen,
                        decimal_places=compiler.decimal_places, batch_decoder=batch_decoder,
                        batch_screen_long_numbers=batch_screen, string_check=string_check)
    return None
