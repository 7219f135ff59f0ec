"""The entity as the parsers build it, the error Telegram answers with, and the API's form.

Offsets and lengths are UTF-16 code units; entities sharing a range are put in TDLib's order.
"""

from __future__ import annotations

from typing import NamedTuple

from sluice.emulator._text._scan import table

__all__ = [
    "Entity",
    "EntityParseError",
    "Extra",
    "as_dicts",
    "bad",
    "language_extra",
    "sort_key",
    "utf16_len",
    "utf16_units",
]

Extra = tuple[tuple[str, object], ...]
# TDLib orders entities sharing a range by these priorities; the rest rank 50.
_PRIORITY = table(
    "blockquote:0 expandable_blockquote:0 pre:11 code:20 text_link:49 text_mention:49 "
    "bold:90 italic:91 underline:92 strikethrough:93 spoiler:94 custom_emoji:99"
)


class EntityParseError(Exception):
    """Formatting Telegram refuses; ``description`` is the Bot API's error text."""

    description: str

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def bad(message: str) -> EntityParseError:
    return EntityParseError(f"Bad Request: can't parse entities: {message}")


class Entity(NamedTuple):
    offset: int
    length: int
    type: str
    extra: Extra = ()


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: characters beyond the BMP count twice."""
    return len(text) + sum(1 for ch in text if ch > "\uffff")


def utf16_units(ch: str) -> int:
    return 2 if ch > "\uffff" else 1


def sort_key(e: Entity) -> tuple[int, int, int]:
    priority = 10 if e.type == "pre" and e.extra else int(_PRIORITY.get(e.type, 50))
    return e.offset, -e.length, priority


def as_dicts(entities: list[Entity]) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for e in sorted(entities, key=sort_key):
        item: dict[str, object] = {"type": e.type, "offset": e.offset, "length": e.length}
        item.update((k, dict(v) if isinstance(v, dict) else v) for k, v in e.extra)
        result.append(item)
    return result


def language_extra(language: str) -> Extra:
    return (("language", language),) if language else ()
