"""Parse modes: the plain text and entities a message's ``parse_mode`` makes of its text."""

from __future__ import annotations

from collections.abc import Callable

from sluice.emulator._text._html import parse_html
from sluice.emulator._text._markdown import parse_markdown, parse_markdown_v2
from sluice.emulator._text._model import Entity, EntityParseError, as_dicts
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
    codes = [e for e in entities if e.type in ("code", "pre")]
    return plain, as_dicts([e for e in entities if not any(_within(e, c) for c in codes)])


def _within(inner: Entity, outer: Entity) -> bool:
    starts_inside = outer.offset <= inner.offset and inner != outer
    return starts_inside and inner.offset + inner.length <= outer.offset + outer.length
