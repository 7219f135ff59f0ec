"""Caller-given entities read, checked and normalised as the Bot API does."""

from __future__ import annotations

import re

from sluice.emulator._text._links import check_link, link_entity
from sluice.emulator._text._model import (
    Entity,
    EntityParseError,
    as_dicts,
    sort_key,
    utf16_len,
)
from sluice.emulator._text._scan import words

__all__ = ["validate_entities"]

_FOUND = words("mention hashtag cashtag bot_command url email phone_number bank_card_number")
_GIVEN = words(
    "bold italic underline strikethrough spoiler blockquote expandable_blockquote code pre "
    "text_link text_mention custom_emoji date_time"
)


def validate_entities(text: str, entities: object) -> list[dict[str, object]]:
    """Caller-given ``entities`` (decoded JSON) checked and normalised as Telegram does.

    Types Telegram finds by itself (mention, url, ...) are accepted and dropped, as the Bot
    API drops them; ``detect_entities`` finds the real ones.
    """
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise EntityParseError("Bad Request: expected an Array of MessageEntity")
    read = [_read_given(raw) for raw in entities]
    given = [_given(*item) for item in read if item is not None]
    for e in given:
        for name, value in (("offset", e.offset), ("length", e.length)):
            if not 0 <= value <= 1_000_000:
                raise EntityParseError(
                    f"Bad Request: receive an entity with incorrect {name} {value}"
                )
    given = sorted((e for e in given if e.length), key=sort_key)
    size = utf16_len(text)
    for e in given:
        if e.offset > size:
            raise EntityParseError(
                f"Bad Request: entity begins after the end of the text at UTF-16 offset {e.offset}"
            )
    for e in given[::-1]:
        if e.offset + e.length > size:
            raise EntityParseError(
                f"Bad Request: entity beginning at UTF-16 offset {e.offset} ends after the end "
                f"of the text at UTF-16 offset {e.offset + e.length}"
            )
    return as_dicts(given)


def _field(obj: dict[str, object], name: str, kind: str, required: bool = True) -> object:
    """``obj[name]`` read as the Bot API's JSON getters read it; ValueError(reason) if wrong."""
    if name not in obj:
        if required:
            raise ValueError(f'Can\'t find field "{name}"')
        return None
    value = obj[name]
    if kind == "Object" and not isinstance(value, dict):
        raise ValueError(f'Field "{name}" must be of type Object')
    if kind == "Object" or (kind == "String" and isinstance(value, str)):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        expected = "of type String" if kind == "String" else "a Number"
        raise ValueError(f'Field "{name}" must be {expected}')
    if kind == "String":
        return str(value)
    limit = 2**31 if kind == "Int" else 2**63
    if not re.fullmatch(r"-?[0-9]{1,20}", str(value)) or not -limit <= int(value) < limit:
        raise ValueError(f'Field "{name}" must be a valid Number')
    return int(value)


def _read_given(raw: object) -> tuple[str, int, int, dict[str, object]] | None:
    """A caller-given entity read as the Bot API reads it; None for a type Telegram finds."""
    try:
        if not isinstance(raw, dict):
            raise ValueError("expected an Object")
        offset, length = _field(raw, "offset", "Int"), _field(raw, "length", "Int")
        kind = str(_field(raw, "type", "String"))
        assert isinstance(offset, int)
        assert isinstance(length, int)
        if kind in _FOUND:
            return None
        if kind not in _GIVEN:
            raise ValueError("Unsupported type specified" if kind else "Type is not specified")
        fields: dict[str, object] = {}
        if kind == "text_link":
            fields["url"] = _field(raw, "url", "String")
        elif kind == "text_mention":
            user = _field(raw, "user", "Object")
            assert isinstance(user, dict)
            fields["user"] = {"id": _field(user, "id", "Long")}
        elif kind == "pre":
            fields["language"] = _field(raw, "language", "String", required=False)
        elif kind == "custom_emoji":
            fields["custom_emoji_id"] = _field(raw, "custom_emoji_id", "Long")
        elif kind == "date_time":
            fields["unix_time"] = _field(raw, "unix_time", "Int")
            fields["date_time_format"] = _field(raw, "date_time_format", "String", required=False)
    except ValueError as exc:
        raise EntityParseError(f"Bad Request: can't parse MessageEntity: {exc}") from None
    return kind, offset, length, {k: v for k, v in fields.items() if v not in (None, "")}


def _given(kind: str, offset: int, length: int, fields: dict[str, object]) -> Entity:
    if kind == "text_link":
        url = str(fields["url"])
        link = link_entity(url)
        if link is not None and link[0] == "text_mention":
            return Entity(offset, length, *link)
        try:
            return Entity(offset, length, kind, (("url", check_link(url)),))
        except ValueError as exc:
            raise EntityParseError(f"Bad Request: entity URL '{url}' is invalid: {exc}") from None
    if kind == "custom_emoji":
        if fields["custom_emoji_id"] == 0:
            raise EntityParseError("Bad Request: invalid custom emoji identifier specified")
        fields = {"custom_emoji_id": str(fields["custom_emoji_id"])}
    return Entity(offset, length, kind, tuple(fields.items()))
