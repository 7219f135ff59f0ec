"""Message formatting as the Telegram Bot API does it: parse modes, given and found entities.

The parsers follow TDLib (td/telegram/MessageEntity.cpp), which the Bot API server runs:
the same scanning rules and the same error texts, byte offsets included. Entity offsets and
lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
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


_HTML_TAGS = _table(
    "b:bold strong:bold i:italic em:italic u:underline ins:underline s:strikethrough "
    "strike:strikethrough del:strikethrough tg-spoiler:spoiler span:spoiler a:a "
    "tg-emoji:tg-emoji pre:pre code:code blockquote:blockquote"
)
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# TDLib orders entities sharing a range by these priorities; the rest rank 50.
_PRIORITY = {
    key: int(value)
    for key, value in _table(
        "blockquote:0 expandable_blockquote:0 pre:11 code:20 text_link:49 text_mention:49 "
        "bold:90 italic:91 underline:92 strikethrough:93 spoiler:94 custom_emoji:99"
    ).items()
}
_V2_NAMES = _table(
    "bold:Bold italic:Italic underline:Underline strikethrough:Strikethrough spoiler:Spoiler "
    "text_link:TextUrl code:Code custom_emoji:CustomEmoji blockquote:BlockQuote"
)
_V2_CLOSERS = _table("bold:* code:` pre:``` text_link:] custom_emoji:] underline:__ spoiler:||")
_V2_CLOSERS["strikethrough"] = "~"
_V2_RESERVED = "_*[]()~`>#+-=|{}.!\n"
_FOUND = frozenset(
    "mention hashtag cashtag bot_command url email phone_number bank_card_number".split()  # noqa: SIM905
)
_GIVEN = frozenset(
    "bold italic underline strikethrough spoiler blockquote expandable_blockquote code pre "  # noqa: SIM905
    "text_link text_mention custom_emoji date_time".split()
)
# TDLib links a bare domain only under a TLD it knows (about 1500); these are the common ones.
_TLDS = frozenset(
    "com net org edu gov info biz name pro io co me dev app ai xyz online site store tech blog "  # noqa: SIM905
    "shop cloud page link live news top club space website world fun tv cc ws gg im to fm ly su "
    "eu us uk ru id my sg de fr it es nl be ch at se no fi dk pl cz ua by kz jp cn kr in br ar "
    "mx ca au nz za tr ir il gr pt ro hu bg rs hr sk lt lv ee is ie md am ge az uz vn th ph hk "
    "tw ae sa eg ng ke рф рус укр".split()
)
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_WORD_ASCII = frozenset(string.ascii_letters + string.digits + "_")
_SPACES = re.compile(r"[ \t\r\n\v\f]*")
_TAG_NAME = re.compile(r"[^ \t\r\n\v\f\0>]*")
_ATTRIBUTE = re.compile(r"[^ \t\r\n\v\f\0=>/\"']*")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?![\w@/?#:-]|\.\w)", re.ASCII)
_URL = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+-]*)://)?(?P<host>[\w~-]+(?:\.[\w~-]+)+)"
    r"(?::(?P<port>[0-9]+))?(?P<path>[/?#][^\s<>\"«»]*)?",
    re.IGNORECASE,
)
_BAD_PATH_END = ".:;,('?!`"


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
    entities = [
        e
        for e in entities
        if not any(
            c != e and c.offset <= e.offset and e.offset + e.length <= c.offset + c.length
            for c in codes
        )
    ]
    return plain, _dicts(entities)


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
    given = sorted((_given(*item) for item in read if item is not None), key=_key)
    for e in given:
        for name, value in (("offset", e.offset), ("length", e.length)):
            if not 0 <= value <= 1_000_000:
                raise EntityParseError(
                    f"Bad Request: receive an entity with incorrect {name} {value}"
                )
    given = [e for e in given if e.length]
    _check_bounds(text, given)
    return _dicts(given)


def detect_entities(text: str) -> list[dict[str, object]]:
    """Mentions, bot commands, hashtags, cashtags, URLs and emails Telegram finds in ``text``."""
    found = [_mentions, _bot_commands, _hashtags, _cashtags, _emails, _urls]
    spans = sorted(
        (_Entity(b, e - b, kind) for find in found for b, e, kind in find(text)), key=_key
    )
    units = [0]
    for ch in text:
        units.append(units[-1] + _units(ch))
    kept: list[_Entity] = []
    for e in spans:  # a later match overlapping an earlier one is no entity
        if not kept or e.offset >= kept[-1].offset + kept[-1].length:
            kept.append(e)
    return _dicts([_Entity(units[e.offset], units[e.offset + e.length] - units[e.offset], e.type)
                   for e in kept])  # fmt: skip


def _bad(message: str) -> EntityParseError:
    return EntityParseError(f"Bad Request: can't parse entities: {message}")


def _at(s: str, i: int) -> str:
    # TDLib scans NUL-terminated strings; a "\0" past the end keeps its checks as they are.
    return s[i] if i < len(s) else "\0"


def _skip(pattern: re.Pattern[str], s: str, i: int) -> int:
    match = pattern.match(s, i)
    return match.end() if match else i


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\v\f\0"


def _byte(s: str, index: int) -> int:
    return len(s[:index].encode("utf-8", "surrogatepass"))


def _units(ch: str) -> int:
    return 2 if ch > "\uffff" else 1


def _key(e: _Entity) -> tuple[int, int, int]:
    return e.offset, -e.length, 10 if e.type == "pre" and e.extra else _PRIORITY.get(e.type, 50)


def _dicts(entities: list[_Entity]) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for e in sorted(entities, key=_key):
        item: dict[str, object] = {"type": e.type, "offset": e.offset, "length": e.length}
        item.update((k, dict(v) if isinstance(v, dict) else v) for k, v in e.extra)
        result.append(item)
    return result


def _html_entity(s: str, i: int) -> tuple[str, int] | None:
    """The character of the ``&...;`` reference at ``s[i]`` and the index after it, if valid."""
    match = re.compile(r"&(?:#x([0-9a-fA-F]*)|#([0-9]*)|([A-Za-z]*))").match(s, i)
    assert match is not None
    hexa, decimal, name = match.groups()
    if name is not None:
        char = _HTML_NAMED.get(name)
    else:
        code = int(hexa or decimal or "0", 16 if hexa is not None else 10)
        char = chr(code) if 0 < code < 0x10FFFF and match.end() - i < 10 else None
    return None if char is None else (char, match.end() + (_at(s, match.end()) == ";"))


def _html_quoted(s: str, i: int) -> tuple[str, int]:
    quote, i, chars = s[i], i + 1, []
    while _at(s, i) not in (quote, "\0"):
        char, i = (_html_entity(s, i) if s[i] == "&" else None) or (s[i], i + 1)
        chars.append(char)
    return "".join(chars), i + (_at(s, i) == quote)


def _parse_html(s: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    stack: list[_Open] = []
    pos = i = 0
    surrogate = False
    while i < len(s):
        decoded = _html_entity(s, i) if s[i] == "&" else None
        if decoded is not None or s[i] != "<":
            char, i = decoded or (s[i], i + 1)
            surrogate |= "\ud800" <= char <= "\udfff"
            out.append(char)
            pos += _units(char)
            continue
        begin, i = i, i + 1
        where = f"at byte offset {_byte(s, begin)}"
        if _at(s, i) != "/":
            i = _skip(_TAG_NAME, s, i)
            if _at(s, i) == "\0":
                raise _bad(f"Unclosed start tag {where}")
            tag = s[begin + 1 : i].translate(_LOWER)
            if tag not in _HTML_TAGS:
                raise _bad(f'Unsupported start tag "{tag}" {where}')
            argument = ""
            while _at(s, i) != ">":
                i = _skip(_SPACES, s, i)
                if _at(s, i) == ">":
                    break
                name_start, i = i, _skip(_ATTRIBUTE, s, i)
                name = s[name_start:i]
                if not name:
                    raise _bad(f'Empty attribute name in the tag "{tag}" {where}')
                i = _skip(_SPACES, s, i)
                if _at(s, i) == "=":
                    i = _skip(_SPACES, s, i + 1)
                if _at(s, i) == "\0":
                    raise _bad(f'Unclosed start tag "{tag}" {where}')
                if s[i - 1] != "=" or s[i] == "=":
                    argument = "1" if (tag, name) == ("blockquote", "expandable") else argument
                    continue
                if s[i] in "'\"":
                    value, i = _html_quoted(s, i)
                else:
                    token_start, i = i, _skip(_NAME_TOKEN, s, i)
                    value = s[token_start:i].translate(_LOWER)
                    if not _is_space(_at(s, i)) and _at(s, i) != ">":
                        raise _bad(
                            f"Unexpected end of name token at byte offset {_byte(s, token_start)}"
                        )
                if _at(s, i) == "\0":
                    raise _bad(f"Unclosed start tag {where}")
                prefix = {("code", "class"): "language-", ("span", "class"): "tg-"}.get((tag, name))
                if (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
                    argument = value
                elif prefix is not None and value.startswith(prefix):
                    argument = value[len(prefix) :]
                elif (tag, name) == ("blockquote", "expandable"):
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise _bad(f'Tag "span" must have class "tg-spoiler" {where}')
            stack.append(_Open(tag, argument, pos, begin, len(out)))
            i += 1
            continue
        if not stack:
            raise _bad(f"Unexpected end tag {where}")
        i = _skip(_TAG_NAME, s, i)
        end_tag = s[begin + 2 : i].translate(_LOWER)
        i = _skip(_SPACES, s, i)
        if _at(s, i) != ">":
            raise _bad(f"Unclosed end tag {where}")
        i += 1
        top = stack.pop()
        if end_tag and end_tag != top.type:
            raise _bad(f'Unmatched end tag {where}, expected "</{top.type}>", found "</{end_tag}>"')
        if pos > top.offset:
            _close_html(top, pos - top.offset, entities, "".join(out[top.out_start :]))
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
    last = entities[-1] if entities else None
    same = last is not None and (last.offset, last.length) == (top.offset, length)
    if top.type == "a":
        link = _link(top.argument or inner)
        entities.extend([_Entity(top.offset, length, *link)] if link else [])
    elif top.type == "tg-emoji":
        entities.append(_Entity(top.offset, length, "custom_emoji", _emoji_id(top.argument)))
    elif same and last and last.type == "code" and last.extra and top.type == "pre":
        entities[-1] = last._replace(type="pre")
    elif same and last and last.type == "pre" and top.argument and top.type == "code":
        entities[-1] = last._replace(extra=(("language", top.argument),))
    elif top.type == "code":
        entities.append(_Entity(top.offset, length, "code", _language(top.argument)))
    elif top.type == "blockquote" and top.argument:
        entities.append(_Entity(top.offset, length, "expandable_blockquote"))
    else:
        entities.append(_Entity(top.offset, length, _HTML_TAGS[top.type]))


def _language(language: str) -> Extra:
    return (("language", language),) if language else ()


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
    """The language after an opening ``` ending before ``s[i]``, and where the code begins."""
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
        if top is None or top.type == "blockquote":
            is_end = top is not None and have_quote and c == "\n" and nxt != ">"
        elif have_quote and c == "\n" and nxt != ">":
            is_end = True
        elif top.type == "italic":
            is_end = c == "_" and nxt != "_"
        else:
            is_end = s.startswith(_V2_CLOSERS[top.type], i)
        if not is_end:
            start, argument = i, ""
            if c in "*~[" or (c == "_" and nxt != "_"):
                kind = {"*": "bold", "~": "strikethrough", "[": "text_link", "_": "italic"}[c]
            elif c + nxt in ("__", "||", "!["):
                kind, i = {"__": "underline", "||": "spoiler", "![": "custom_emoji"}[c + nxt], i + 1
            elif s.startswith("```", i):
                kind = "pre"
                argument, i = _pre_start(s, i + 3)
                i -= 1
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
        assert top is not None
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
            extra = _emoji_id(_tg_link_id(url, "emoji") or "")
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
            stack.pop()
            kind = "expandable_blockquote"
        if stack[-1].type == "blockquote":
            top = stack.pop()
            entities.extend(
                [_Entity(top.offset, pos - top.offset, kind)] if pos > top.offset else []
            )
    if stack:
        raise _v2_error(stack[-1], s)
    return "".join(out), entities


def _parse_markdown(s: str) -> tuple[str, list[_Entity]]:
    out: list[str] = []
    entities: list[_Entity] = []
    pos, i, n = 0, -1, len(s)
    while (i := i + 1) < n:
        c = s[i]
        if c not in "_*`[" or (c == "\\" and _at(s, i + 1) in "_*`["):
            i += c == "\\"
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
                close = s.find(")", i + 2) % (n + 1)  # no ")": the URL runs to the end
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


def _tg_link_id(url: str, host: str) -> str | None:
    """The ``id`` parameter of a ``tg://<host>?...`` link, as TDLib's LinkManager reads it."""
    match = re.fullmatch(rf"tg:(?://)?{host}/?\?([^#]*)(?:#.*)?", url.translate(_LOWER), re.S)
    params = (part.partition("=") for part in match.group(1).split("&")) if match else ()
    return next((value for key, _, value in params if key == "id"), None)


def _emoji_id(value: str) -> Extra:
    if not re.fullmatch(r"-?[0-9]{1,19}", value) or not 0 < abs(int(value)) < 2**63:
        raise _bad("Invalid custom emoji identifier specified")
    return (("custom_emoji_id", str(int(value))),)


def _link(url: str) -> tuple[str, Extra] | None:
    """The entity a link to ``url`` makes: text_mention for ``tg://user?id=``, None if bad."""
    user_id = _tg_link_id(url, "user") or ""
    if re.fullmatch(r"[0-9]{1,19}", user_id) and 0 < int(user_id) < 2**63:
        # Telegram fills in the whole User; the caller knows the users, this module does not.
        return "text_mention", (("user", {"id": int(user_id)}),)
    try:
        return "text_link", (("url", _check_link(url)),)
    except ValueError:
        return None


def _check_link(link: str) -> str:
    """``link`` as TDLib's LinkManager::check_link returns it, or ValueError(reason)."""
    match = re.fullmatch(
        r"(?:(tg|ton):(?://)?)?(?:([^:/?#@\[\]]*)://)?([^/?#]*)(.*)", link, re.S | re.I
    )
    assert match is not None
    tg, scheme, authority, query = match.groups()
    scheme = (scheme or "http").translate(_LOWER)
    if scheme not in ("http", "https"):
        raise ValueError("Unsupported URL protocol")
    userinfo, _, host = authority.rpartition("@")
    host, _, port = host.translate(_LOWER).partition(":")
    if not host or re.search(r"[\x00-\x20\"<>\[\\\]^`{|}\x7f]", host):
        raise ValueError("URL host is empty" if not host else "Wrong URL host")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        raise ValueError("Wrong port number specified in the URL")
    port = port and f":{int(port)}"
    query = re.sub(r"[\x00-\x20]", lambda m: f"%{ord(m.group()):02X}", query.rstrip(" \t\r\n\v\f"))
    query = query if query.startswith("/") else "/" + query
    if tg:
        if (
            scheme == "https"
            or link.lower().startswith(("tg:http://", "tg://http://"))
            or userinfo
            or port
        ):
            raise ValueError(f"Wrong {tg.lower()} URL")
        return f"{tg.lower()}://{host}{query[1:] if query.startswith('/?') else query}"
    if "." not in host:
        raise ValueError("Wrong HTTP URL")
    return f"{scheme}://{userinfo}{'@' * bool(userinfo)}{host}{port}{query}"


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
        raise ValueError(
            f'Field "{name}" must be {"of type String" if kind == "String" else "a Number"}'
        )
    if kind == "String":
        return str(value)
    limit = 2**31 if kind == "Int" else 2**63
    if not re.fullmatch(r"-?[0-9]+", str(value)) or not -limit <= int(value) < limit:
        raise ValueError(f'Field "{name}" must be a valid Number')
    return int(value)


def _read_given(raw: object) -> tuple[str, int, int, dict[str, object]] | None:
    """A caller-given entity read as the Bot API reads it; None for a type Telegram finds."""
    try:
        if not isinstance(raw, dict):
            raise ValueError("expected an Object")
        offset, length = _field(raw, "offset", "Int"), _field(raw, "length", "Int")
        kind = _field(raw, "type", "String")
        assert isinstance(offset, int)
        assert isinstance(length, int)
        if kind == "":
            raise ValueError("Type is not specified")
        if kind in _FOUND:
            return None
        if not isinstance(kind, str) or kind not in _GIVEN:
            raise ValueError("Unsupported type specified")
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


def _check_bounds(text: str, entities: list[_Entity]) -> None:
    """The range errors TDLib's clean_input_string_with_entities gives."""
    inside: dict[int, int] = {}  # UTF-16 offset within a surrogate pair -> next byte offset
    units = size = 0
    for ch in text:
        units, size = units + _units(ch), size + len(ch.encode("utf-8", "surrogatepass"))
        if ch > "\uffff":
            inside[units - 1] = size
    reason = ""
    for e in entities:
        end = e.offset + e.length
        if e.offset in inside:
            reason = (
                f"entity begins in a middle of a UTF-16 symbol at byte offset {inside[e.offset]}"
            )
        elif end in inside:
            reason = (f"entity beginning at UTF-16 offset {e.offset} ends in a middle of a UTF-16 "
                      f"symbol at byte offset {inside[end]}")  # fmt: skip
        elif e.offset > units:
            reason = f"entity begins after the end of the text at UTF-16 offset {e.offset}"
        elif end > units:
            reason = (f"entity beginning at UTF-16 offset {e.offset} ends after the end of the "
                      f"text at UTF-16 offset {end}")  # fmt: skip
        if reason:
            raise EntityParseError(f"Bad Request: {reason}")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_hashtag_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_\u200c\xb7" or "\u0d80" <= ch <= "\u0dff"


def _run(t: str, i: int, allowed: frozenset[str] | str) -> int:
    while i < len(t) and t[i] in allowed:
        i += 1
    return i


def _mentions(t: str) -> list[tuple[int, int, str]]:
    found = []
    for i in (m.start() for m in re.finditer("@", t)):
        end = _run(t, i + 1, _WORD_ASCII)
        name = t[i + 1 : end].translate(_LOWER)
        if (i and _is_word(t[i - 1])) or not 2 <= len(name) <= 32 or _is_word(_at(t, end)):
            continue
        if len(name) >= 4 or name in ("gif", "vid", "pic"):
            found.append((i, end, "mention"))
    return found


def _bot_commands(t: str) -> list[tuple[int, int, str]]:
    found = []
    for i in (m.start() for m in re.finditer("/", t)):
        end = _run(t, i + 1, _WORD_ASCII)
        if (i and (_is_word(t[i - 1]) or t[i - 1] in "/<>")) or not 1 <= end - i - 1 <= 64:
            continue
        if _at(t, end) == "@":
            end, at = _run(t, end + 1, _WORD_ASCII), end
            if not 3 <= end - at - 1 <= 32:
                continue
        if end == len(t) or not (_is_word(t[end]) or t[end] in "/<>"):
            found.append((i, end, "bot_command"))
    return found


def _hashtags(t: str) -> list[tuple[int, int, str]]:
    found = []
    for i in (m.start() for m in re.finditer("#", t)):
        j = i + 1
        while j < len(t) and _is_hashtag_char(t[j]):
            j += 1
        body = t[i + 1 : min(j, i + 257)]  # a hashtag takes at most 256 characters
        if (i and _is_hashtag_char(t[i - 1])) or _at(t, j) == "#":
            continue
        if any(ch.isalpha() for ch in body):
            found.append((i, i + 1 + len(body), "hashtag"))
    return found


def _cashtags(t: str) -> list[tuple[int, int, str]]:
    found = []
    for i in (m.start() for m in re.finditer(r"\$", t)):
        end = i + 6 if t.startswith("1INCH", i + 1) else _run(t, i + 1, string.ascii_uppercase)
        before, after = (_at(t, i - 1) if i else " "), (_at(t, end) if end < len(t) else " ")
        if 1 <= end - i - 1 <= 8 and not any(
            ch == "$" or _is_hashtag_char(ch) for ch in before + after
        ):
            found.append((i, end, "cashtag"))
    return found


def _emails(t: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), "email") for m in _EMAIL.finditer(t) if _is_email(m.group())]


def _is_email(s: str) -> bool:
    """TDLib's is_email_address."""
    user, _, domain = s.partition("@")
    parts, labels = re.split(r"[.+]", user), domain.split(".")
    if len(parts) > 11 or any(len(p) > 26 for p in parts[:-1]) or not 0 < len(parts[-1]) < 36:
        return False
    if not 2 <= len(labels) <= 7 or not re.fullmatch(r"[A-Za-z]{2,8}", labels[-1]):
        return False
    return all(
        re.fullmatch(r"[A-Za-z0-9](?:[\w-]{0,28}[A-Za-z0-9])?", x, re.A) for x in labels[:-1]
    )


def _urls(t: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _URL.finditer(t):
        scheme, host, port, path = m.group("scheme", "host", "port", "path")
        start, end = m.start(), m.end("host")
        if scheme is not None and scheme.translate(_LOWER) not in ("http", "https", "ftp"):
            continue
        if scheme is None and start and (_is_word(t[start - 1]) or t[start - 1] in "/#@"):
            continue
        if port is None or (len(port.lstrip("0")) <= 5 and 0 < int(port) <= 65535):
            end = m.end("port") if port else end
            end += len(_trim_path(path or ""))
        if _valid_domain(host, scheme is not None):
            found.append((start, end, "url"))
    return found


def _trim_path(path: str) -> str:
    """A URL path as TDLib keeps it: up to an unbalanced bracket, without closing punctuation."""
    if path[:1] != "/" and not path[1:].rstrip(_BAD_PATH_END):
        return ""
    depth = dict.fromkeys("([{", 0)
    for k, ch in enumerate(path):
        opener = {")": "(", "]": "[", "}": "{"}.get(ch, ch)
        if opener in depth:
            depth[opener] += 1 if ch == opener else -1
            if depth[opener] < 0:
                path = path[:k]
                break
    return path[:1] + path[1:].rstrip(_BAD_PATH_END)


def _valid_domain(host: str, has_scheme: bool) -> bool:
    """TDLib's fix_url check of a domain it found."""
    labels = host.split(".")
    tld, lower = labels[-1], labels[-1].lower()
    if any(len(label) >= 64 or label.endswith("-") for label in labels):
        return False
    if all(label.isascii() and label.isdigit() for label in labels):
        return len(labels) == 4 and all(int(x) < 256 and (x == "0" or x[0] != "0") for x in labels)
    if len(tld) < 2 or "_" in labels[-2]:
        return False
    if lower.startswith("xn--"):
        return len(tld) > 5 and tld[4:].isascii() and tld[4:].isalnum()
    # TDLib takes "COM" and "com" for a TLD, but not "Com".
    known = lower in _TLDS and (lower == tld or lower[1:] != tld[1:])
    return "_" not in tld and "-" not in tld and (has_scheme or known)
