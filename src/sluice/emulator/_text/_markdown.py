"""The MarkdownV2 and legacy Markdown parse modes, with TDLib's scanning rules and errors."""

from __future__ import annotations

from sluice.emulator._text._links import TextLinks, emoji_id, link_entity, tg_link_id
from sluice.emulator._text._model import (
    Entity,
    EntityParseError,
    bad,
    language_extra,
    utf16_units,
)
from sluice.emulator._text._scan import Open, at, byte, is_space, table

__all__ = ["parse_markdown", "parse_markdown_v2"]

_V2_NAMES = table(
    "bold:Bold italic:Italic underline:Underline strikethrough:Strikethrough spoiler:Spoiler "
    "text_link:TextUrl code:Code custom_emoji:CustomEmoji blockquote:BlockQuote"
)
_V2_CLOSERS = table(
    "bold:* code:` pre:``` text_link:] custom_emoji:] underline:__ spoiler:|| strikethrough:~"
)
_V2_RESERVED = "_*[]()~`>#+-=|{}.!\n"


def _v2_error(top: Open, s: str) -> EntityParseError:
    name = ("PreCode" if top.argument else "Pre") if top.type == "pre" else _V2_NAMES[top.type]
    return bad(f"Can't find end of {name} entity at byte offset {byte(s, top.start)}")


def _read_url(s: str, i: int, what: str) -> tuple[str, int]:
    """The URL of a MarkdownV2 link, from ``s[i]`` to its ``)``; escapes count."""
    start, chars = i, []
    while i < len(s) and s[i] != ")":
        i += s[i] == "\\" and "\0" < at(s, i + 1) <= "~"
        chars.append(s[i])
        i += 1
    if i == len(s):
        raise bad(f"Can't find end of {what} at byte offset {byte(s, start)}")
    return "".join(chars), i


def _pre_start(s: str, i: int) -> tuple[str, int]:
    """The language after an opening ``` that ends before ``s[i]``, and where the code begins."""
    language, end = "", i
    while not is_space(at(s, end)) and at(s, end) != "`":
        end += 1
    if i != end and end < len(s) and s[end] != "`":
        language, i = s[i:end], end
    if at(s, i) in "\n\r":  # one line break after the language is no part of the code
        i += 2 if at(s, i + 1) in "\n\r" and s[i] != s[i + 1] else 1
    return language, i


def parse_markdown_v2(s: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    entities: list[Entity] = []
    stack: list[Open] = []
    pos, i, n = 0, -1, len(s)
    have_quote, can_start_quote = False, True
    links = TextLinks()
    while (i := i + 1) < n:
        c, nxt = s[i], at(s, i + 1)
        if c == "\\" and "\0" < nxt <= "~":
            i += 1
            out.append(nxt)
            pos += 1
            can_start_quote = can_start_quote if nxt == "\r" else nxt == "\n"
            continue
        if c not in ("`" if stack and stack[-1].type in ("code", "pre") else _V2_RESERVED):
            out.append(c)
            pos += utf16_units(c)
            can_start_quote = can_start_quote and c == "\r"
            continue
        top = stack[-1] if stack else None
        if top is None or (have_quote and c == "\n" and nxt != ">") or top.type == "blockquote":
            is_end = top is not None and have_quote and c == "\n" and nxt != ">"
        elif top.type == "italic":
            is_end = c == "_" and nxt != "_"
        else:
            is_end = s.startswith(_V2_CLOSERS[top.type], i)
        if top is None or not is_end:
            start, argument = i, ""
            if c in "*~[" or (c == "_" and nxt != "_"):
                kind = {"*": "bold", "~": "strikethrough", "[": "text_link", "_": "italic"}[c]
            elif c + nxt in ("__", "||", "!["):
                kind, i = {"__": "underline", "||": "spoiler", "![": "custom_emoji"}[c + nxt], i + 1
            elif s.startswith("```", i):
                argument, i = _pre_start(s, i + 3)
                kind, i = "pre", i - 1
            elif c == "`":
                kind = "code"
            elif c == "\n":
                out.append(c)
                pos += 1
                can_start_quote = True
                continue
            elif c == ">" and can_start_quote:
                if have_quote:
                    continue
                kind, have_quote = "blockquote", True
            else:
                raise bad(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append(Open(kind, argument, pos, start, len(out)))
            continue
        kind = top.type
        if c == "\n" and kind != "blockquote":
            # "||" ending the last line of a quote makes the quote expandable.
            after_spoiler = top.start == i - 2 or (top.start == i - 3 and out[-1:] == ["\r"])
            if kind != "spoiler" or not after_spoiler:
                raise _v2_error(top, s)
            stack.pop()
            if stack[-1].type != "blockquote":
                raise _v2_error(stack[-1], s)
            top, kind = stack[-1], "expandable_blockquote"
        skip, extra = pos == top.offset, language_extra(top.argument)
        if kind in ("underline", "spoiler", "pre"):
            i += 2 if kind == "pre" else 1
        elif kind == "text_link":
            if nxt == "(":
                url, i = _read_url(s, i + 2, "a URL")
                link = link_entity(url)
            else:
                link = links.entity(out, top.out_start)
            skip = skip or link is None
            kind, extra = link or (kind, ())
        elif kind == "custom_emoji":
            if nxt != "(":
                raise bad("Custom emoji entity must contain a tg://emoji URL")
            url, i = _read_url(s, i + 2, "a custom emoji URL")
            extra = emoji_id(tg_link_id(url, "emoji"))
        elif kind in ("blockquote", "expandable_blockquote"):
            have_quote, can_start_quote, skip = False, True, False
            out.append(c)
            pos += 1
        if not skip:
            entities.append(Entity(top.offset, pos - top.offset, kind, extra))
        stack.pop()
    if have_quote:
        kind = "blockquote"
        if stack[-1].type == "spoiler" and stack[-1].start == n - 2:
            kind = "expandable_blockquote"
            stack.pop()
        if stack[-1].type == "blockquote" and pos > (quote := stack.pop()).offset:
            entities.append(Entity(quote.offset, pos - quote.offset, kind))
    if stack:
        raise _v2_error(stack[-1], s)
    return "".join(out), entities


def parse_markdown(s: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    entities: list[Entity] = []
    pos, i, n = 0, -1, len(s)
    while (i := i + 1) < n:
        c = s[i]
        escaped = c == "\\" and at(s, i + 1) in "_*`["
        if escaped or c not in "_*`[":
            i += escaped
            out.append(s[i])
            pos += utf16_units(s[i])
            continue
        begin, end_char, i = i, "]" if c == "[" else c, i + 1
        is_pre, language = s.startswith("``", i) and c == "`", ""
        if is_pre:
            language, i = _pre_start(s, i + 2)
        start, out_start = pos, len(out)
        while i < n and (s[i] != end_char or (is_pre and not s.startswith("``", i + 1))):
            out.append(s[i])
            pos += utf16_units(s[i])
            i += 1
        if i == n:
            raise bad(f"Can't find end of the entity starting at byte offset {byte(s, begin)}")
        if pos > start and c == "[":
            url = "".join(out[out_start:])
            if at(s, i + 1) == "(":
                close = s.find(")", i + 2) % (n + 1)  # without a ")" the URL runs to the end
                url, i = s[i + 2 : close], close
            entities.extend(
                [Entity(start, pos - start, *link)] if (link := link_entity(url)) else []
            )
        elif pos > start:
            kind = {"_": "italic", "*": "bold", "`": "pre" if is_pre else "code"}[c]
            entities.append(Entity(start, pos - start, kind, language_extra(language)))
        i += 2 * is_pre
    return "".join(out), entities
