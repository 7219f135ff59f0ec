"""The ``Range`` request header (RFC 9110 §14.1-14.2), read into the byte ranges to send.

Every answer is one of three: the whole file (200), some ranges of it (206), or
none (416). A header the server may ignore (invalid, too long, another unit, too
many pieces) is answered with the whole file, which RFC 9110 §14.2 permits and
which every client handles. Parsing is a single pass; digit strings are measured
before ``int()`` sees them, so no header can make the server do big-number work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COALESCE_GAP",
    "MAX_RANGES",
    "MAX_RANGE_HEADER",
    "ByteRange",
    "RangeAnswer",
    "parse_range",
]

MAX_RANGE_HEADER = 4096  # characters; a longer header is ignored (whole file)
MAX_RANGES = 16  # ranges left after coalescing; more and the file is sent once, whole
# Ranges closer than this are sent as one: a part's own headers cost about as much
# (RFC 9110 §15.3.7 lets a server coalesce ranges separated by such a gap).
COALESCE_GAP = 80
_MAX_DIGITS = 19  # 10**19 bytes is past any file; longer numbers are never converted
_DIGITS = frozenset("0123456789")  # str.isdigit() would also take "²" and "٣"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` of a file, both included (as in ``Content-Range``)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class RangeAnswer:
    """What to send: ``full`` (200), ``partial`` (206, ``ranges`` sorted and disjoint)
    or ``unsatisfiable`` (416)."""

    status: Literal["full", "partial", "unsatisfiable"]
    ranges: tuple[ByteRange, ...] = ()


_FULL = RangeAnswer("full")
_UNSATISFIABLE = RangeAnswer("unsatisfiable")


class _Invalid(Exception):
    """The header breaks the grammar: it is ignored."""


def parse_range(header: str | None, size: int) -> RangeAnswer:
    """The answer to ``Range: header`` for a file of ``size`` bytes."""
    if not header or len(header) > MAX_RANGE_HEADER:
        return _FULL
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return _FULL
    try:
        wanted = _satisfiable(range_set, size)
    except _Invalid:
        return _FULL
    if not wanted:
        return _UNSATISFIABLE
    ranges = _coalesce(wanted)
    if len(ranges) > MAX_RANGES:
        return _FULL
    return RangeAnswer("partial", tuple(ranges))


def _satisfiable(range_set: str, size: int) -> list[ByteRange]:
    """The ranges of ``range_set`` that overlap the file; raises :class:`_Invalid`."""
    found: list[ByteRange] = []
    seen_any = False
    for element in range_set.split(","):
        spec = element.strip(" \t")
        if not spec:
            continue  # RFC 9110 §5.6.1: empty list elements are allowed and ignored
        seen_any = True
        first, dash, last = spec.partition("-")
        if not dash or not _is_digits(last, allow_empty=True):
            raise _Invalid
        if not first:
            if not last:
                raise _Invalid  # a lone "-"
            found += _suffix(_significant(last), size)
        elif not _is_digits(first, allow_empty=False):
            raise _Invalid
        else:
            found += _span(_significant(first), _significant(last) if last else None, size)
    if not seen_any:
        raise _Invalid
    return found


def _suffix(digits: str, size: int) -> list[ByteRange]:
    if digits == "0" or size == 0:
        return []  # "-0" asks for nothing; an empty file has no last bytes
    if len(digits) > _MAX_DIGITS:
        return [ByteRange(0, size - 1)]
    return [ByteRange(max(0, size - int(digits)), size - 1)]


def _span(first: str, last: str | None, size: int) -> list[ByteRange]:
    if last is not None and _less(last, first):
        raise _Invalid  # RFC 9110 §14.1.1: last-pos < first-pos makes the header invalid
    if len(first) > _MAX_DIGITS:
        return []  # starts past any file
    start = int(first)
    if start >= size:
        return []
    end = size - 1 if last is None or len(last) > _MAX_DIGITS else min(int(last), size - 1)
    return [ByteRange(start, end)]


def _is_digits(text: str, *, allow_empty: bool) -> bool:
    return (allow_empty or bool(text)) and all(c in _DIGITS for c in text)


def _significant(digits: str) -> str:
    """``digits`` without leading zeros ("0" stays "0"), so its length is its magnitude."""
    return digits.lstrip("0") or "0"


def _less(a: str, b: str) -> bool:
    """``int(a) < int(b)`` for canonical digit strings of any length, without converting."""
    return (len(a), a) < (len(b), b)


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Sorted, with overlapping, adjacent and nearly adjacent ranges merged."""
    ranges.sort(key=lambda r: r.start)
    merged = [ranges[0]]
    for current in ranges[1:]:
        previous = merged[-1]
        if current.start - previous.end - 1 < COALESCE_GAP:
            if current.end > previous.end:
                merged[-1] = ByteRange(previous.start, current.end)
        else:
            merged.append(current)
    return merged
