"""Reading source text as TDLib does: NUL past the end, byte offsets, ASCII-only case.

The parsers and the finder share these, and the compact tables their rules are written in.
"""

from __future__ import annotations

import string
from typing import NamedTuple

__all__ = ["LOWER", "Open", "at", "byte", "is_space", "table", "words"]

LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class Open(NamedTuple):
    """An entity begun but not yet ended."""

    type: str
    argument: str
    offset: int  # in the output, UTF-16
    start: int  # in the source, characters
    out_start: int  # in the output, characters


def table(pairs: str) -> dict[str, str]:
    return {key: value for key, _, value in (pair.partition(":") for pair in pairs.split())}


def words(names: str) -> frozenset[str]:
    return frozenset(names.split())


def at(s: str, i: int) -> str:
    # TDLib scans NUL-terminated strings; a "\0" past the end keeps its checks as they are.
    return s[i] if 0 <= i < len(s) else "\0"


def is_space(ch: str) -> bool:
    return ch in " \t\r\n\v\f\0"


def byte(s: str, index: int) -> int:
    return len(s[:index].encode("utf-8", "surrogatepass"))
