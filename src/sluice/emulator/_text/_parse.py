"""Parse modes: the plain text and entities a message's ``parse_mode`` makes of its text."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from sluice.emulator._text._html import parse_html
from sluice.emulator._text._markdown import parse_markdown, parse_markdown_v2
from sluice.emulator._text._model import Entity, EntityParseError, Extra, as_dicts
from sluice.emulator._text._scan import LOWER

__all__ = ["parse_text"]

_PARSERS: dict[str, Callable[[str], tuple[str, list[Entity]]]] = {
    "html": parse_html,
    "markdown": parse_markdown,
    "markdownv2": parse_markdown_v2,
}


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, object]]]:
    """The plain text ``parse_mode`` makes of ``text``, and its entities in Telegram's order.

    ``None``, ``""`` and ``"none"`` leave the text alone; ``HTML``, ``Markdown`` and
    ``MarkdownV2`` are matched without regard to case.
    """
    mode = (parse_mode or "").translate(LOWER)
    if mode in ("", "none"):
        return text, []
    parser = _PARSERS.get(mode)
    if parser is None:
        raise EntityParseError("Bad Request: unsupported parse_mode")
    plain, entities = parser(text)
    # Nothing can be formatted inside code: Telegram drops what is nested in it.
    return plain, as_dicts(_outside_code(entities))


def _outside_code(entities: list[Entity]) -> list[Entity]:
    """``entities`` less those within a code or pre entity other than themselves.

    Sorted by start, codes answer "does one cover this?" by the farthest end among those
    starting earlier, and by those sharing the start: n log n, where testing every pair
    would take a hostile text full of code tags quadratic time.
    """
    codes = sorted((e for e in entities if e.type in ("code", "pre")), key=lambda e: e.offset)
    if not codes:
        return entities
    starts: list[int] = []
    farthest: list[int] = []  # farthest[i]: the farthest end among codes[: i + 1]
    end_at_start: dict[int, int] = {}
    kinds_at: dict[tuple[int, int], list[tuple[str, Extra]]] = {}
    best = -1
    for c in codes:
        end = c.offset + c.length
        best = max(best, end)
        starts.append(c.offset)
        farthest.append(best)
        end_at_start[c.offset] = max(end_at_start.get(c.offset, -1), end)
        kinds_at.setdefault((c.offset, c.length), []).append((c.type, c.extra))
    kept = []
    for e in entities:
        end, earlier = e.offset + e.length, bisect_left(starts, e.offset)
        if earlier and farthest[earlier - 1] >= end:
            continue
        same_start_end = end_at_start.get(e.offset, -1)
        if same_start_end > end:
            continue
        own = (e.type, e.extra)  # e.extra may hold a dict: compared, never hashed
        if same_start_end == end and any(kind != own for kind in kinds_at[e.offset, e.length]):
            continue
        kept.append(e)
    return kept
