"""The HTML parse mode: tags, attributes and character references as TDLib reads them."""

from __future__ import annotations

import re

from sluice.emulator._text._links import TextLinks, emoji_id, link_entity
from sluice.emulator._text._model import Entity, bad, language_extra, utf16_units
from sluice.emulator._text._scan import LOWER, Open, at, byte, is_space, table

__all__ = ["parse_html"]

_HTML_TAGS = table(
    "b:bold strong:bold i:italic em:italic u:underline ins:underline s:strikethrough "
    "strike:strikethrough del:strikethrough tg-spoiler:spoiler span:spoiler a:a "
    "tg-emoji:tg-emoji pre:pre code:code blockquote:blockquote"
)
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = re.compile(r"[ \t\r\n\v\f]*")
_TAG_NAME = re.compile(r"[^ \t\r\n\v\f\0>]*")
_ATTRIBUTE = re.compile(r"[ \t\r\n\v\f]*(?P<name>[^ \t\r\n\v\f\0=>/\"']*)[ \t\r\n\v\f]*(?P<eq>=?)")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")
_REFERENCE = re.compile(r"&(?:#x([0-9a-fA-F]*)|#([0-9]*)|([A-Za-z]*))")


class _Where:
    """``at byte offset N`` for an error message, counted only if one is raised."""

    __slots__ = ("index", "s")

    def __init__(self, s: str, index: int) -> None:
        self.s, self.index = s, index

    def __str__(self) -> str:
        return f"at byte offset {byte(self.s, self.index)}"


def _end(pattern: re.Pattern[str], s: str, i: int) -> int:
    match = pattern.match(s, i)
    return match.end() if match else i


def _reference(s: str, i: int) -> tuple[str, int] | None:
    """The character the ``&...;`` at ``s[i]`` stands for and the index after it, if any."""
    match = _REFERENCE.match(s, i)
    if match is None:
        return None
    hexa, decimal, name = match.groups()
    if name is not None:
        char = _HTML_NAMED.get(name)
    else:
        # The length first: int() of a long run of digits is slow, and refused past 4300.
        digits, base = (hexa, 16) if hexa is not None else (decimal, 10)
        code = int(digits or "0", base) if match.end() - i < 10 else 0
        char = chr(code) if 0 < code < 0x10FFFF else None
    return None if char is None else (char, match.end() + (at(s, match.end()) == ";"))


def _html_value(s: str, i: int) -> tuple[str, int]:
    """An attribute value at ``s[i]``: quoted, with references decoded, or a name token."""
    if s[i] not in "'\"":
        end = _end(_NAME_TOKEN, s, i)
        if not is_space(at(s, end)) and at(s, end) != ">":
            raise bad(f"Unexpected end of name token at byte offset {byte(s, i)}")
        return s[i:end].translate(LOWER), end
    quote, i, chars = s[i], i + 1, []
    while at(s, i) not in (quote, "\0"):
        char, i = (_reference(s, i) if s[i] == "&" else None) or (s[i], i + 1)
        chars.append(char)
    return "".join(chars), i + (at(s, i) == quote)


def parse_html(s: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    entities: list[Entity] = []
    stack: list[Open] = []
    pos = i = 0
    surrogate = False
    links = TextLinks()
    while i < len(s):
        decoded = _reference(s, i) if s[i] == "&" else None
        if decoded is not None or s[i] != "<":
            char, i = decoded or (s[i], i + 1)
            surrogate |= "\ud800" <= char <= "\udfff"
            out.append(char)
            pos += utf16_units(char)
            continue
        begin, i = i, _end(_TAG_NAME, s, i + 1)
        # Only an error says where: counting bytes up to every tag would be quadratic.
        where = _Where(s, begin)
        if s[begin + 1 : begin + 2] == "/":
            end_tag = s[begin + 2 : i].translate(LOWER)
            i = _end(_SPACES, s, i)
            if not stack:
                raise bad(f"Unexpected end tag {where}")
            if at(s, i) != ">":
                raise bad(f"Unclosed end tag {where}")
            top, i = stack.pop(), i + 1
            if end_tag and end_tag != top.type:
                raise bad(
                    f'Unmatched end tag {where}, expected "</{top.type}>", found "</{end_tag}>"'
                )
            if pos > top.offset:
                _close_html(top, pos - top.offset, entities, out, links)
            continue
        if at(s, i) == "\0":
            raise bad(f"Unclosed start tag {where}")
        tag, argument = s[begin + 1 : i].translate(LOWER), ""
        if tag not in _HTML_TAGS:
            raise bad(f'Unsupported start tag "{tag}" {where}')
        while (attribute := _ATTRIBUTE.match(s, i)) and at(s, attribute.start("name")) != ">":
            name, has_value, i = attribute["name"], attribute["eq"], attribute.end()
            i = _end(_SPACES, s, i) if has_value else i
            if not name:
                raise bad(f'Empty attribute name in the tag "{tag}" {where}')
            if at(s, i) == "\0":
                raise bad(f'Unclosed start tag "{tag}" {where}')
            value, i = _html_value(s, i) if has_value else ("", i)
            if has_value and at(s, i) == "\0":
                raise bad(f"Unclosed start tag {where}")
            prefix = {("code", "class"): "language-", ("span", "class"): "tg-"}.get((tag, name))
            if has_value and (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
                argument = value
            elif prefix is not None and value.startswith(prefix):
                argument = value[len(prefix) :]
            elif (tag, name) == ("blockquote", "expandable"):
                argument = "1"
        i = attribute.start("name") + 1 if attribute else i + 1
        if tag == "span" and argument != "spoiler":
            raise bad(f'Tag "span" must have class "tg-spoiler" {where}')
        stack.append(Open(tag, argument, pos, begin, len(out)))
    if stack:
        raise bad(f'Can\'t find end tag corresponding to start tag "{stack[-1].type}"')
    if surrogate:
        raise bad(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    # A code tag keeps its language only to hand it to a pre around it.
    return "".join(out), [e._replace(extra=()) if e.type == "code" else e for e in entities]


def _close_html(
    top: Open, length: int, entities: list[Entity], out: list[str], links: TextLinks
) -> None:
    last = entities[-1] if entities else Entity(-1, 0, "")
    same = (last.offset, last.length) == (top.offset, length)
    if top.type == "a":
        link = link_entity(top.argument) if top.argument else links.entity(out, top.out_start)
        entities.extend([Entity(top.offset, length, *link)] if link else [])
    elif top.type == "tg-emoji":
        entities.append(Entity(top.offset, length, "custom_emoji", emoji_id(top.argument)))
    elif same and top.type == "pre" and last.type == "code" and last.extra:
        entities[-1] = last._replace(type="pre")
    elif same and top.type == "code" and last.type == "pre" and not last.extra and top.argument:
        entities[-1] = last._replace(extra=language_extra(top.argument))
    elif top.type == "blockquote" and top.argument:
        entities.append(Entity(top.offset, length, "expandable_blockquote"))
    else:
        extra = language_extra(top.argument) if top.type == "code" else ()
        entities.append(Entity(top.offset, length, _HTML_TAGS[top.type], extra))
