"""Message formatting as the Telegram Bot API does it: parse modes, given and found entities.

The parsers follow TDLib (td/telegram/MessageEntity.cpp), which the Bot API server runs:
the same scanning rules and the same error texts, byte offsets included. Entity offsets and
lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import NamedTuple

__all__ = ["EntityParseError", "detect_entities", "parse_text", "utf16_len", "validate_entities"]

Extra = tuple[tuple[str, object], ...]


class EntityParseError(Exception):
    """Formatting Telegram refuses; ``description`` is the Bot API's error text."""

    description: str

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class _Entity(NamedTuple):
    offset: int
    length: int
    type: str
    extra: Extra = ()


class _Open(NamedTuple):
    """An entity begun but not yet ended."""

    type: str
    argument: str
    offset: int  # in the output, UTF-16
    start: int  # in the source, characters
    out_start: int  # in the output, characters


def _table(pairs: str) -> dict[str, str]:
    return {key: value for key, _, value in (pair.partition(":") for pair in pairs.split())}


def _words(words: str) -> frozenset[str]:
    return frozenset(words.split())


_HTML_TAGS = _table(
    "b:bold strong:bold i:italic em:italic u:underline ins:underline s:strikethrough "
    "strike:strikethrough del:strikethrough tg-spoiler:spoiler span:spoiler a:a "
    "tg-emoji:tg-emoji pre:pre code:code blockquote:blockquote"
)
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# TDLib orders entities sharing a range by these priorities; the rest rank 50.
_PRIORITY = _table(
    "blockquote:0 expandable_blockquote:0 pre:11 code:20 text_link:49 text_mention:49 "
    "bold:90 italic:91 underline:92 strikethrough:93 spoiler:94 custom_emoji:99"
)
_V2_NAMES = _table(
    "bold:Bold italic:Italic underline:Underline strikethrough:Strikethrough spoiler:Spoiler "
    "text_link:TextUrl code:Code custom_emoji:CustomEmoji blockquote:BlockQuote"
)
_V2_CLOSERS = _table(
    "bold:* code:` pre:``` text_link:] custom_emoji:] underline:__ spoiler:|| strikethrough:~"
)
_V2_RESERVED = "_*[]()~`>#+-=|{}.!\n"
_FOUND = _words("mention hashtag cashtag bot_command url email phone_number bank_card_number")
_GIVEN = _words(
    "bold italic underline strikethrough spoiler blockquote expandable_blockquote code pre "
    "text_link text_mention custom_emoji date_time"
)
# TDLib links a bare domain only under a TLD it knows (about 1500); these are the common ones.
_TLDS = _words(
    "com net org edu gov info biz name pro io co me dev app ai xyz online site store tech blog "
    "shop cloud page link live news top club space website world fun tv cc ws gg im to fm ly su "
    "eu us uk ru id my sg de fr it es nl be ch at se no fi dk pl cz ua by kz jp cn kr in br ar "
    "mx ca au nz za tr ir il gr pt ro hu bg rs hr sk lt lv ee is ie md am ge az uz vn th ph hk "
    "tw ae sa eg ng ke рф рус укр"
)
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SPACES = re.compile(r"[ \t\r\n\v\f]*")
_TAG_NAME = re.compile(r"[^ \t\r\n\v\f\0>]*")
_ATTRIBUTE = re.compile(r"[ \t\r\n\v\f]*(?P<name>[^ \t\r\n\v\f\0=>/\"']*)[ \t\r\n\v\f]*(?P<eq>=?)")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")
_REFERENCE = re.compile(r"&(?:#x([0-9a-fA-F]*)|#([0-9]*)|([A-Za-z]*))")
_LINK = re.compile(r"(?:(tg|ton):(?://)?)?(?:([^:/?#@\[\]]*)://)?([^/?#]*)(.*)", re.S | re.I)
_FINDERS = (
    ("mention", re.compile(r"@([A-Za-z0-9_]*)")),
    ("bot_command", re.compile(r"/([A-Za-z0-9_]*)(@[A-Za-z0-9_]*)?")),
    ("hashtag", re.compile(r"#([\w\u200c\xb7\u0d80-\u0dff]*)")),
    ("cashtag", re.compile(r"\$(1INCH|[A-Z]*)")),
    (
        "email",
        re.compile(
            r"(?<![\w.+@-])([\w.+-]+)@(?:[a-z0-9](?:[\w-]{0,28}[a-z0-9])?\.){1,6}[a-z]{2,8}"
            r"(?![\w@/?#:-])",
            re.A | re.I,
        ),
    ),
    (
        "url",
        re.compile(
            r"(?:([a-z][a-z0-9+-]*)://)?([\w~-]+(?:\.[\w~-]+)+)(:[0-9]+)?([/?#][^\s<>\"«»]*)?", re.I
        ),
    ),
)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: characters beyond the BMP count twice."""
    return len(text) + sum(1 for ch in text if ch > "\uffff")


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, object]]]:
    """The plain text ``parse_mode`` makes of ``text``, and its entities in Telegram's order.

    ``None``, ``""`` and ``"none"`` leave the text alone; ``HTML``, ``Markdown`` and
    ``MarkdownV2`` are matched without regard to case.
    """
    mode = (parse_mode or "").translate(_LOWER)
    if mode in ("", "none"):
        return text, []
    parser = _PARSERS.get(mode)
    if parser is None:
        raise EntityParseError("Bad Request: unsupported parse_mode")
    plain, entities = parser(text)
    # Nothing can be formatted inside code: Telegram drops what is nested in it.
    codes = [e for e in entities if e.type in ("code", "pre")]
    return plain, _dicts([e for e in entities if not any(_within(e, c) for c in codes)])


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
    given = sorted((e for e in given if e.length), key=_key)
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
    return _dicts(given)


def detect_entities(text: str) -> list[dict[str, object]]:
    """Mentions, bot commands, hashtags, cashtags, URLs and emails Telegram finds in ``text``."""
    units = [0]
    for ch in text:
        units.append(units[-1] + _units(ch))
    kept: list[_Entity] = []
    for begin, end, kind in sorted(_find(text), key=lambda f: (f[0], -f[1])):
        if not kept or units[begin] >= kept[-1].offset + kept[-1].length:
            kept.append(_Entity(units[begin], units[end] - units[begin], kind))
    return _dicts(kept)


def _within(inner: _Entity, outer: _Entity) -> bool:
    starts_inside = outer.offset <= inner.offset and inner != outer
    return starts_inside and inner.offset + inner.length <= outer.offset + outer.length


def _bad(message: str) -> EntityParseError:
    return EntityParseError(f"Bad Request: can't parse entities: {message}")


def _at(s: str, i: int) -> str:
    # TDLib scans NUL-terminated strings; a "\0" past the end keeps its checks as they are.
    return s[i] if 0 <= i < len(s) else "\0"


def _end(pattern: re.Pattern[str], s: str, i: int) -> int:
    match = pattern.match(s, i)
    return match.end() if match else i


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\v\f\0"


def _byte(s: str, index: int) -> int:
    return len(s[:index].encode("utf-8", "surrogatepass"))


def _units(ch: str) -> int:
    return 2 if ch > "\uffff" else 1


def _key(e: _Entity) -> tuple[int, int, int]:
    priority = 10 if e.type == "pre" and e.extra else int(_PRIORITY.get(e.type, 50))
    return e.offset, -e.length, priority


def _dicts(entities: list[_Entity]) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for e in sorted(entities, key=_key):
        item: dict[str, object] = {"type": e.type, "offset": e.offset, "length": e.length}
        item.update((k, dict(v) if isinstance(v, dict) else v) for k, v in e.extra)
        result.append(item)
    return result


def _language(language: str) -> Extra:
    return (("language", language),) if language else ()


def _reference(s: str, i: int) -> tuple[str, int] | None:
    """The character the ``&...;`` at ``s[i]`` stands for and the index after it, if any."""
    match = _REFERENCE.match(s, i)
    if match is None:
        return None
    hexa, decimal, name = match.groups()
    if name is not None:
        char = _HTML_NAMED.get(name)
    else:
        code = int(hexa or decimal or "0", 16 if hexa is not None else 10)
        char = chr(code) if 0 < code < 0x10FFFF and match.end() - i < 10 else None
    return None if char is None else (char, match.end() + (_at(s, match.end()) == ";"))


def _html_value(s: str, i: int) -> tuple[str, int]:
    """An attribute value at ``s[i]``: quoted, with references decoded, or a name token."""
    if s[i] not in "'\"":
        end = _end(_NAME_TOKEN, s, i)
        if not _is_space(_at(s, end)) and _at(s, end) != ">":
            raise _bad(f"Unexpected end of name token at byte offset {_byte(s, i)}")
        return s[i:end].translate(_LOWER), end
    quote, i, chars = s[i], i + 1, []
    while _at(s, i) not in (quote, "\0"):
        char, i = (_reference(s, i) if s[i] == "&" else None) or (s[i], i + 1)
        chars.append(char)
    return "".join(chars), i + (_at(s, i) == quote)


def _parse_html(s: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    stack: list[_Open] = []
    pos = i = 0
    surrogate = False
    while i < len(s):
        decoded = _reference(s, i) if s[i] == "&" else None
        if decoded is not None or s[i] != "<":
            char, i = decoded or (s[i], i + 1)
            surrogate |= "\ud800" <= char <= "\udfff"
            out.append(char)
            pos += _units(char)
            continue
        begin, i = i, _end(_TAG_NAME, s, i + 1)
        where = f"at byte offset {_byte(s, begin)}"
        if s[begin + 1 : begin + 2] == "/":
            end_tag = s[begin + 2 : i].translate(_LOWER)
            i = _end(_SPACES, s, i)
            if not stack:
                raise _bad(f"Unexpected end tag {where}")
            if _at(s, i) != ">":
                raise _bad(f"Unclosed end tag {where}")
            top, i = stack.pop(), i + 1
            if end_tag and end_tag != top.type:
                raise _bad(
                    f'Unmatched end tag {where}, expected "</{top.type}>", found "</{end_tag}>"'
                )
            if pos > top.offset:
                _close_html(top, pos - top.offset, entities, "".join(out[top.out_start :]))
            continue
        if _at(s, i) == "\0":
            raise _bad(f"Unclosed start tag {where}")
        tag, argument = s[begin + 1 : i].translate(_LOWER), ""
        if tag not in _HTML_TAGS:
            raise _bad(f'Unsupported start tag "{tag}" {where}')
        while (attribute := _ATTRIBUTE.match(s, i)) and _at(s, attribute.start("name")) != ">":
            name, has_value, i = attribute["name"], attribute["eq"], attribute.end()
            i = _end(_SPACES, s, i) if has_value else i
            if not name:
                raise _bad(f'Empty attribute name in the tag "{tag}" {where}')
            if _at(s, i) == "\0":
                raise _bad(f'Unclosed start tag "{tag}" {where}')
            value, i = _html_value(s, i) if has_value else ("", i)
            if has_value and _at(s, i) == "\0":
                raise _bad(f"Unclosed start tag {where}")
            prefix = {("code", "class"): "language-", ("span", "class"): "tg-"}.get((tag, name))
            if has_value and (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
                argument = value
            elif prefix is not None and value.startswith(prefix):
                argument = value[len(prefix) :]
            elif (tag, name) == ("blockquote", "expandable"):
                argument = "1"
        i = attribute.start("name") + 1 if attribute else i + 1
        if tag == "span" and argument != "spoiler":
            raise _bad(f'Tag "span" must have class "tg-spoiler" {where}')
        stack.append(_Open(tag, argument, pos, begin, len(out)))
    if stack:
        raise _bad(f'Can\'t find end tag corresponding to start tag "{stack[-1].type}"')
    if surrogate:
        raise _bad(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    # A code tag keeps its language only to hand it to a pre around it.
    return "".join(out), [e._replace(extra=()) if e.type == "code" else e for e in entities]


def _close_html(top: _Open, length: int, entities: list[_Entity], inner: str) -> None:
    last = entities[-1] if entities else _Entity(-1, 0, "")
    same = (last.offset, last.length) == (top.offset, length)
    if top.type == "a":
        link = _link(top.argument or inner)
        entities.extend([_Entity(top.offset, length, *link)] if link else [])
    elif top.type == "tg-emoji":
        entities.append(_Entity(top.offset, length, "custom_emoji", _emoji_id(top.argument)))
    elif same and top.type == "pre" and last.type == "code" and last.extra:
        entities[-1] = last._replace(type="pre")
    elif same and top.type == "code" and last.type == "pre" and not last.extra and top.argument:
        entities[-1] = last._replace(extra=_language(top.argument))
    elif top.type == "blockquote" and top.argument:
        entities.append(_Entity(top.offset, length, "expandable_blockquote"))
    else:
        extra = _language(top.argument) if top.type == "code" else ()
        entities.append(_Entity(top.offset, length, _HTML_TAGS[top.type], extra))


def _v2_error(top: _Open, s: str) -> EntityParseError:
    name = ("PreCode" if top.argument else "Pre") if top.type == "pre" else _V2_NAMES[top.type]
    return _bad(f"Can't find end of {name} entity at byte offset {_byte(s, top.start)}")


def _read_url(s: str, i: int, what: str) -> tuple[str, int]:
    """The URL of a MarkdownV2 link, from ``s[i]`` to its ``)``; escapes count."""
    start, chars = i, []
    while i < len(s) and s[i] != ")":
        i += s[i] == "\\" and "\0" < _at(s, i + 1) <= "~"
        chars.append(s[i])
        i += 1
    if i == len(s):
        raise _bad(f"Can't find end of {what} at byte offset {_byte(s, start)}")
    return "".join(chars), i


def _pre_start(s: str, i: int) -> tuple[str, int]:
    """The language after an opening ``` that ends before ``s[i]``, and where the code begins."""
    language, end = "", i
    while not _is_space(_at(s, end)) and _at(s, end) != "`":
        end += 1
    if i != end and end < len(s) and s[end] != "`":
        language, i = s[i:end], end
    if _at(s, i) in "\n\r":  # one line break after the language is no part of the code
        i += 2 if _at(s, i + 1) in "\n\r" and s[i] != s[i + 1] else 1
    return language, i


def _parse_markdown_v2(s: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    stack: list[_Open] = []
    pos, i, n = 0, -1, len(s)
    have_quote, can_start_quote = False, True
    while (i := i + 1) < n:
        c, nxt = s[i], _at(s, i + 1)
        if c == "\\" and "\0" < nxt <= "~":
            i += 1
            out.append(nxt)
            pos += 1
            can_start_quote = can_start_quote if nxt == "\r" else nxt == "\n"
            continue
        if c not in ("`" if stack and stack[-1].type in ("code", "pre") else _V2_RESERVED):
            out.append(c)
            pos += _units(c)
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
                raise _bad(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append(_Open(kind, argument, pos, start, len(out)))
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
        skip, extra = pos == top.offset, _language(top.argument)
        if kind in ("underline", "spoiler", "pre"):
            i += 2 if kind == "pre" else 1
        elif kind == "text_link":
            url = "".join(out[top.out_start :])
            if nxt == "(":
                url, i = _read_url(s, i + 2, "a URL")
            link = _link(url)
            skip = skip or link is None
            kind, extra = link or (kind, ())
        elif kind == "custom_emoji":
            if nxt != "(":
                raise _bad("Custom emoji entity must contain a tg://emoji URL")
            url, i = _read_url(s, i + 2, "a custom emoji URL")
            extra = _emoji_id(_tg_link_id(url, "emoji"))
        elif kind in ("blockquote", "expandable_blockquote"):
            have_quote, can_start_quote, skip = False, True, False
            out.append(c)
            pos += 1
        if not skip:
            entities.append(_Entity(top.offset, pos - top.offset, kind, extra))
        stack.pop()
    if have_quote:
        kind = "blockquote"
        if stack[-1].type == "spoiler" and stack[-1].start == n - 2:
            kind = "expandable_blockquote"
            stack.pop()
        if stack[-1].type == "blockquote" and pos > (quote := stack.pop()).offset:
            entities.append(_Entity(quote.offset, pos - quote.offset, kind))
    if stack:
        raise _v2_error(stack[-1], s)
    return "".join(out), entities


def _parse_markdown(s: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    pos, i, n = 0, -1, len(s)
    while (i := i + 1) < n:
        c = s[i]
        escaped = c == "\\" and _at(s, i + 1) in "_*`["
        if escaped or c not in "_*`[":
            i += escaped
            out.append(s[i])
            pos += _units(s[i])
            continue
        begin, end_char, i = i, "]" if c == "[" else c, i + 1
        is_pre, language = s.startswith("``", i) and c == "`", ""
        if is_pre:
            language, i = _pre_start(s, i + 2)
        start, out_start = pos, len(out)
        while i < n and (s[i] != end_char or (is_pre and not s.startswith("``", i + 1))):
            out.append(s[i])
            pos += _units(s[i])
            i += 1
        if i == n:
            raise _bad(f"Can't find end of the entity starting at byte offset {_byte(s, begin)}")
        if pos > start and c == "[":
            url = "".join(out[out_start:])
            if _at(s, i + 1) == "(":
                close = s.find(")", i + 2) % (n + 1)  # without a ")" the URL runs to the end
                url, i = s[i + 2 : close], close
            entities.extend([_Entity(start, pos - start, *link)] if (link := _link(url)) else [])
        elif pos > start:
            kind = {"_": "italic", "*": "bold", "`": "pre" if is_pre else "code"}[c]
            entities.append(_Entity(start, pos - start, kind, _language(language)))
        i += 2 * is_pre
    return "".join(out), entities


_PARSERS: dict[str, Callable[[str], tuple[str, list[_Entity]]]] = {
    "html": _parse_html,
    "markdown": _parse_markdown,
    "markdownv2": _parse_markdown_v2,
}


def _tg_link_id(url: str, host: str) -> str:
    """The ``id`` parameter of a ``tg://<host>?...`` link, as TDLib's LinkManager reads it."""
    match = re.fullmatch(rf"tg:(?://)?{host}/?\?([^#]*)(?:#.*)?", url.translate(_LOWER), re.S)
    params = (part.partition("=") for part in match.group(1).split("&")) if match else ()
    return next((value for key, _, value in params if key == "id"), "")


def _emoji_id(value: str) -> Extra:
    if not re.fullmatch(r"-?[0-9]{1,19}", value) or not 0 < abs(int(value)) < 2**63:
        raise _bad("Invalid custom emoji identifier specified")
    return (("custom_emoji_id", str(int(value))),)


def _link(url: str) -> tuple[str, Extra] | None:
    """The entity a link to ``url`` makes: text_mention for ``tg://user?id=``, None if bad."""
    user_id = _tg_link_id(url, "user")
    if re.fullmatch(r"[0-9]{1,19}", user_id) and 0 < int(user_id) < 2**63:
        # Telegram shows the whole User; the caller knows users, this module does not.
        return "text_mention", (("user", {"id": int(user_id)}),)
    try:
        return "text_link", (("url", _check_link(url)),)
    except ValueError:
        return None


def _check_link(link: str) -> str:
    """``link`` as TDLib's LinkManager::check_link returns it, or ValueError(reason)."""
    match = _LINK.fullmatch(link)
    assert match is not None
    tg, scheme, authority, query = match.groups()
    scheme = (scheme or "http").translate(_LOWER)
    userinfo, _, host = authority.rpartition("@")
    host, _, port = host.translate(_LOWER).partition(":")
    query = query.rstrip(" \t\r\n\v\f")
    query = re.sub(r"[\x00-\x20]", lambda m: f"%{ord(m.group()):02X}", query).removeprefix("/")
    if scheme not in ("http", "https"):
        raise ValueError("Unsupported URL protocol")
    if port and not (re.fullmatch("0*[0-9]{1,5}", port) and 0 < int(port) <= 65535):
        raise ValueError("Wrong port number specified in the URL")
    if not host or re.search(r"[\x00-\x20\"<>\[\\\]^`{|}\x7f]", host):
        raise ValueError("Wrong URL host" if host else "URL host is empty")
    if tg and (match[2] is not None or userinfo or port):
        raise ValueError(f"Wrong {tg.lower()} URL")
    if tg:
        return f"{tg.lower()}://{host}{query if query.startswith('?') else '/' + query}"
    if "." not in host:
        raise ValueError("Wrong HTTP URL")
    port = f":{int(port)}" if port else ""
    return f"{scheme}://{userinfo}{'@' * bool(userinfo)}{host}{port}/{query}"


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


def _given(kind: str, offset: int, length: int, fields: dict[str, object]) -> _Entity:
    if kind == "text_link":
        url = str(fields["url"])
        link = _link(url)
        if link is not None and link[0] == "text_mention":
            return _Entity(offset, length, *link)
        try:
            return _Entity(offset, length, kind, (("url", _check_link(url)),))
        except ValueError as exc:
            raise EntityParseError(f"Bad Request: entity URL '{url}' is invalid: {exc}") from None
    if kind == "custom_emoji":
        if fields["custom_emoji_id"] == 0:
            raise EntityParseError("Bad Request: invalid custom emoji identifier specified")
        fields = {"custom_emoji_id": str(fields["custom_emoji_id"])}
    return _Entity(offset, length, kind, tuple(fields.items()))


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_hashtag_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_\u200c\xb7" or "\u0d80" <= ch <= "\u0dff"


def _find(t: str) -> Iterator[tuple[int, int, str]]:
    """What TDLib's find_entities finds, as (start, end, type) in characters."""
    for kind, pattern in _FINDERS:
        for m in pattern.finditer(t):
            start, end, body = m.start(), m.end(), m[1] or ""
            before, after = _at(t, start - 1), _at(t, end)
            if kind == "mention":
                short_ok = len(body) >= 4 or body.lower() in ("gif", "vid", "pic")
                ok = 2 <= len(body) <= 32 and short_ok and not (_is_word(before) or _is_word(after))
            elif kind == "bot_command":
                ok = 1 <= len(body) <= 64 and 3 <= len(m[2] or "@bot") - 1 <= 32
                ok = ok and not any(_is_word(ch) or ch in "/<>" for ch in before + after)
            elif kind == "hashtag":
                end = start + 1 + len(body[:256])  # at most 256 characters are part of it
                ok = any(ch.isalpha() for ch in body[:256]) and not _is_hashtag_char(before)
                ok = ok and after != "#"
            elif kind == "cashtag":
                ok = 1 <= len(body) <= 8
                ok = ok and not any(ch == "$" or _is_hashtag_char(ch) for ch in before + after)
            elif kind == "email":
                parts = re.split("[.+]", body)
                ok = len(parts) <= 11 and all(len(part) <= 26 for part in parts[:-1])
                ok = ok and len(parts[-1]) <= 35
            else:
                ok = m[1] is not None or not (_is_word(before) or before in "/#@")
                end, ok = _url_end(m), ok and _url_domain_ok(m[2], m[1])
            if ok:
                yield start, end, kind


def _url_end(m: re.Match[str]) -> int:
    """Where TDLib ends a URL: before closing punctuation and an unbalanced bracket."""
    if m[3] and not (len(m[3].lstrip(":0")) <= 5 and 0 < int(m[3][1:]) <= 65535):
        return m.end(2)
    path, depth = m[4] or "", dict.fromkeys("([{", 0)
    for k, ch in enumerate(path):
        opener = {")": "(", "]": "[", "}": "{"}.get(ch, ch)
        if opener in depth:
            depth[opener] += 1 if ch == opener else -1
            if depth[opener] < 0:
                path = path[:k]
                break
    path = path[:1] + path[1:].rstrip(".:;,('?!`")
    return max(m.end(3), m.end(2)) + (len(path) if path[:1] == "/" or len(path) > 1 else 0)


def _url_domain_ok(host: str, scheme: str | None) -> bool:
    """TDLib's fix_url check of a domain it found."""
    labels, tld = host.split("."), host.rsplit(".", 1)[-1]
    if scheme is not None and scheme.translate(_LOWER) not in ("http", "https", "ftp"):
        return False
    if any(len(label) >= 64 or label.endswith("-") for label in labels):
        return False
    if all(label.isascii() and label.isdigit() for label in labels):
        return len(labels) == 4 and all(int(x) < 256 and (x == "0" or x[0] != "0") for x in labels)
    if len(tld) < 2 or "_" in labels[-2]:
        return False
    if tld.startswith("xn--"):
        return len(tld) > 5 and tld[4:].isascii() and tld[4:].isalnum()
    # TDLib takes "COM" and "com" for a TLD, but not "Com".
    lower = tld.lower()
    known = lower in _TLDS and (lower == tld or lower[1:] != tld[1:])
    return "_" not in tld and "-" not in tld and (scheme is not None or known)
