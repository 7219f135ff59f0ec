"""parse_range against RFC 9110 §14.1-14.2 and against hostile headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.apps.filelink._ranges import (
    COALESCE_GAP,
    MAX_RANGE_HEADER,
    MAX_RANGES,
    ByteRange,
    RangeAnswer,
    parse_range,
)

SIZE = 10_000
FULL = "full"
NONE = "unsatisfiable"
Expected = str | list[tuple[int, int]]

HUGE = "9" * 30  # past 19 digits: never converted

CASES: list[tuple[str, str | None, int, Expected]] = [
    # -- no range, or one the server ignores (RFC 9110 §14.2) --
    ("absent", None, SIZE, FULL),
    ("empty", "", SIZE, FULL),
    ("blank", "   ", SIZE, FULL),
    ("another unit", "items=0-1", SIZE, FULL),
    ("no equals sign", "bytes 0-1", SIZE, FULL),
    ("no unit", "=0-1", SIZE, FULL),
    ("empty range set", "bytes=", SIZE, FULL),
    ("only commas", "bytes=, ,", SIZE, FULL),
    ("lone dash", "bytes=-", SIZE, FULL),
    ("garbage", "bytes=abc", SIZE, FULL),
    ("no dash", "bytes=5", SIZE, FULL),
    ("three numbers", "bytes=1-2-3", SIZE, FULL),
    ("negative first", "bytes=-1-5", SIZE, FULL),
    ("double dash", "bytes=--5", SIZE, FULL),
    ("negative last", "bytes=5--1", SIZE, FULL),
    ("plus sign", "bytes=+1-5", SIZE, FULL),
    ("hex", "bytes=0x10-20", SIZE, FULL),
    ("decimal point", "bytes=1.5-3", SIZE, FULL),
    ("space inside a range", "bytes=0 -1", SIZE, FULL),
    ("arabic-indic digit", "bytes=٣-5", SIZE, FULL),
    ("superscript digit", "bytes=²-5", SIZE, FULL),
    ("last before first", "bytes=5-2", SIZE, FULL),
    ("last before first, among valid ones", "bytes=0-1,5-2", SIZE, FULL),
    ("semicolon", "bytes=0-1;2-3", SIZE, FULL),
    ("garbage after a valid range", "bytes=0-1,x", SIZE, FULL),
    # -- RFC 9110 §14.1.2 examples on a 10000-byte file --
    ("first 500 bytes", "bytes=0-499", SIZE, [(0, 499)]),
    ("second 500 bytes", "bytes=500-999", SIZE, [(500, 999)]),
    ("final 500 bytes, suffix", "bytes=-500", SIZE, [(9500, 9999)]),
    ("final 500 bytes, open", "bytes=9500-", SIZE, [(9500, 9999)]),
    ("first and last byte", "bytes=0-0,-1", SIZE, [(0, 0), (9999, 9999)]),
    ("adjacent", "bytes=500-600,601-999", SIZE, [(500, 999)]),
    ("overlapping", "bytes=500-700,601-999", SIZE, [(500, 999)]),
    (
        "three, one of them a suffix",
        "bytes=0-999, 4500-5499, -1000",
        SIZE,
        [(0, 999), (4500, 5499), (9000, 9999)],
    ),
    # -- the edges of the file --
    ("whole file from zero is partial", "bytes=0-", SIZE, [(0, 9999)]),
    ("last byte", "bytes=9999-", SIZE, [(9999, 9999)]),
    ("last-pos past the end is clamped", "bytes=0-99999", SIZE, [(0, 9999)]),
    ("suffix longer than the file", "bytes=-20000", SIZE, [(0, 9999)]),
    ("suffix as long as the file", "bytes=-10000", SIZE, [(0, 9999)]),
    ("suffix of zero", "bytes=-0", SIZE, NONE),
    ("starts at the size", "bytes=10000-", SIZE, NONE),
    ("starts past the end", "bytes=10000-20000", SIZE, NONE),
    ("unsatisfiable ones are dropped", "bytes=20000-,0-1", SIZE, [(0, 1)]),
    ("all unsatisfiable", "bytes=20000-,-0,10000-10001", SIZE, NONE),
    # -- an empty file: nothing is satisfiable --
    ("empty file, no range", None, 0, FULL),
    ("empty file, from zero", "bytes=0-", 0, NONE),
    ("empty file, first byte", "bytes=0-0", 0, NONE),
    ("empty file, suffix", "bytes=-5", 0, NONE),
    ("empty file, garbage", "bytes=x", 0, FULL),
    # -- spelling: case, whitespace, empty elements (RFC 9110 §5.6.1) --
    ("unit in capitals", "BYTES=0-1", SIZE, [(0, 1)]),
    ("spaces around = and commas", "Bytes = 0-1 , 200-300", SIZE, [(0, 1), (200, 300)]),
    ("tabs", "bytes=0-1,\t200-300\t", SIZE, [(0, 1), (200, 300)]),
    ("empty element", "bytes=0-1,,200-300", SIZE, [(0, 1), (200, 300)]),
    ("leading comma", "bytes=,0-1", SIZE, [(0, 1)]),
    ("trailing comma", "bytes=0-1,", SIZE, [(0, 1)]),
    ("leading zeros", "bytes=" + "0" * 40 + "5-" + "0" * 40 + "9", SIZE, [(5, 9)]),
    # -- numbers past 19 digits --
    ("huge first-pos", f"bytes={HUGE}-", SIZE, NONE),
    ("huge first and last", f"bytes={HUGE}-{HUGE}9", SIZE, NONE),
    ("huge last-pos is clamped", f"bytes=0-{HUGE}", SIZE, [(0, 9999)]),
    ("huge suffix is the whole file", f"bytes=-{HUGE}", SIZE, [(0, 9999)]),
    ("huge first, small last", f"bytes={HUGE}-5", SIZE, FULL),
    ("20 digits before 19", "bytes=" + "1" * 20 + "-" + "9" * 19, SIZE, FULL),
    ("huge first dropped, another kept", f"bytes={HUGE}-,5-6", SIZE, [(5, 6)]),
    ("19 digits converted", "bytes=0-" + "9" * 19, SIZE, [(0, 9999)]),
    # -- coalescing: sorted, merged when the gap is under COALESCE_GAP bytes --
    ("out of order", "bytes=5000-5009,0-9", SIZE, [(0, 9), (5000, 5009)]),
    ("gap of 40", "bytes=0-9,50-59", SIZE, [(0, 59)]),
    ("gap of 79", "bytes=0-9,89-99", SIZE, [(0, 99)]),
    ("gap of 80", "bytes=0-9,90-99", SIZE, [(0, 9), (90, 99)]),
    ("contained", "bytes=0-999,10-20", SIZE, [(0, 999)]),
    ("first and last byte of a small file", "bytes=0-0,-1", 10, [(0, 9)]),
    ("the same range 1000 times", "bytes=" + "0-0," * 1000, SIZE, [(0, 0)]),
    (
        "16 separate ranges",
        "bytes=" + ",".join(f"{i * 100}-{i * 100}" for i in range(MAX_RANGES)),
        SIZE,
        [(i * 100, i * 100) for i in range(MAX_RANGES)],
    ),
    (
        "17 separate ranges: the file once",
        "bytes=" + ",".join(f"{i * 100}-{i * 100}" for i in range(MAX_RANGES + 1)),
        SIZE,
        FULL,
    ),
    (
        "17 ranges that coalesce into one",
        "bytes=" + ",".join(f"{i * 10}-{i * 10 + 5}" for i in range(MAX_RANGES + 1)),
        SIZE,
        [(0, 165)],
    ),
    # -- length --
    ("exactly the longest header", "bytes=0-1" + "," * (MAX_RANGE_HEADER - 9), SIZE, [(0, 1)]),
    ("one character too long", "bytes=0-1" + "," * (MAX_RANGE_HEADER - 8), SIZE, FULL),
    ("5000 characters", "bytes=0-1" + " " * 5000, SIZE, FULL),
    (
        "1000 distinct ranges (too long)",
        "bytes=" + ",".join(f"{i * 200}-{i * 200}" for i in range(1000)),
        10**6,
        FULL,
    ),
]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [pytest.param(header, size, expected, id=name) for name, header, size, expected in CASES],
)
def test_parse_range(header: str | None, size: int, expected: Expected) -> None:
    answer = parse_range(header, size)
    if isinstance(expected, str):
        assert answer == RangeAnswer(expected, ())  # type: ignore[arg-type]
    else:
        assert answer.status == "partial"
        assert [(r.start, r.end) for r in answer.ranges] == expected


def test_length_is_inclusive() -> None:
    assert ByteRange(0, 0).length == 1
    assert ByteRange(10, 19).length == 10


def test_a_long_header_of_many_ranges_is_answered() -> None:
    # ~440 one-byte ranges in 4096 characters: one pass and a sort, no blow-up.
    parts, length, i = [], len("bytes="), 0
    while length + len(f"{i * 7}-{i * 7},") <= MAX_RANGE_HEADER:
        parts.append(f"{i * 7}-{i * 7}")
        length += len(parts[-1]) + 1
        i += 1
    header = "bytes=" + ",".join(reversed(parts))
    assert len(header) <= MAX_RANGE_HEADER
    assert len(parts) > 400
    assert parse_range(header, 10**9) == RangeAnswer("partial", (ByteRange(0, (i - 1) * 7),))
    spread = "bytes=" + ",".join(f"{n * 1000}-{n * 1000}" for n in range(len(parts)))
    assert parse_range(spread[:MAX_RANGE_HEADER].rsplit(",", 1)[0], 10**9).status == "full"


def _assert_well_formed(answer: RangeAnswer, size: int) -> None:
    if answer.status != "partial":
        assert answer.ranges == ()
        return
    assert 1 <= len(answer.ranges) <= MAX_RANGES
    for r in answer.ranges:
        assert 0 <= r.start <= r.end < size
    for a, b in zip(answer.ranges, answer.ranges[1:], strict=False):
        assert b.start - a.end - 1 >= COALESCE_GAP  # sorted, disjoint, not mergeable


sizes = st.integers(min_value=0, max_value=10**15)
positions = st.integers(min_value=0, max_value=10**16)


@given(size=sizes, first=positions, span=st.integers(min_value=0, max_value=10**16))
def test_a_single_range_stays_in_the_file(size: int, first: int, span: int) -> None:
    answer = parse_range(f"bytes={first}-{first + span}", size)
    _assert_well_formed(answer, size)
    if first < size:
        assert answer.ranges == (ByteRange(first, min(first + span, size - 1)),)
    else:
        assert answer.status == "unsatisfiable"


@given(size=sizes, first=positions)
def test_an_open_range_or_a_suffix_stays_in_the_file(size: int, first: int) -> None:
    _assert_well_formed(parse_range(f"bytes={first}-", size), size)
    suffix = parse_range(f"bytes=-{first}", size)
    _assert_well_formed(suffix, size)
    if first and size:
        assert suffix.ranges == (ByteRange(max(0, size - first), size - 1),)
    else:
        assert suffix.status == "unsatisfiable"


@given(
    size=st.integers(min_value=0, max_value=5000),
    specs=st.lists(
        st.tuples(st.integers(0, 6000), st.integers(0, 600) | st.none()), min_size=1, max_size=40
    ),
)
def test_coalesced_ranges_cover_every_requested_byte(
    size: int, specs: list[tuple[int, int | None]]
) -> None:
    header = "bytes=" + ",".join(
        f"{first}-" if span is None else f"{first}-{first + span}" for first, span in specs
    )
    answer = parse_range(header, size)
    _assert_well_formed(answer, size)
    wanted = [
        (first, size - 1 if span is None else min(first + span, size - 1))
        for first, span in specs
        if first < size
    ]
    if not wanted:
        assert answer.status == "unsatisfiable"
    elif answer.status == "partial":
        for first, last in wanted:
            assert any(r.start <= first and last <= r.end for r in answer.ranges)
