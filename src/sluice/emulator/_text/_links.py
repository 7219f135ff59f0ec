"""Links as TDLib's LinkManager checks them: text links, user mentions, custom emoji ids."""

from __future__ import annotations

import re

from sluice.emulator._text._model import Extra, bad
from sluice.emulator._text._scan import LOWER

__all__ = ["TextLinks", "check_link", "emoji_id", "link_entity", "tg_link_id"]

# A link given no URL links to its own text. Nested such links each read all the text
# inside them, quadratic in a hostile message, so one message reads at most this much;
# text longer than the longest message is never read (the message is refused as too long).
_TEXT_LINK_BUDGET = 65536
_LONGEST_MESSAGE = 4096
_LINK = re.compile(r"(?:(tg|ton):(?://)?)?(?:([^:/?#@\[\]]*)://)?([^/?#]*)(.*)", re.S | re.I)


def tg_link_id(url: str, host: str) -> str:
    """The ``id`` parameter of a ``tg://<host>?...`` link, as TDLib's LinkManager reads it."""
    match = re.fullmatch(rf"tg:(?://)?{host}/?\?([^#]*)(?:#.*)?", url.translate(LOWER), re.S)
    params = (part.partition("=") for part in match.group(1).split("&")) if match else ()
    return next((value for key, _, value in params if key == "id"), "")


def emoji_id(value: str) -> Extra:
    if not re.fullmatch(r"-?[0-9]{1,19}", value) or not 0 < abs(int(value)) < 2**63:
        raise bad("Invalid custom emoji identifier specified")
    return (("custom_emoji_id", str(int(value))),)


def link_entity(url: str) -> tuple[str, Extra] | None:
    """The entity a link to ``url`` makes: text_mention for ``tg://user?id=``, None if bad."""
    user_id = tg_link_id(url, "user")
    if re.fullmatch(r"[0-9]{1,19}", user_id) and 0 < int(user_id) < 2**63:
        # Telegram shows the whole User; the caller knows users, this module does not.
        return "text_mention", (("user", {"id": int(user_id)}),)
    try:
        return "text_link", (("url", check_link(url)),)
    except ValueError:
        return None


def check_link(link: str) -> str:
    """``link`` as TDLib's LinkManager::check_link returns it, or ValueError(reason)."""
    match = _LINK.fullmatch(link)
    assert match is not None
    tg, scheme, authority, query = match.groups()
    scheme = (scheme or "http").translate(LOWER)
    userinfo, _, host = authority.rpartition("@")
    host, _, port = host.translate(LOWER).partition(":")
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


class TextLinks:
    """The entities of one message's links that have no URL but their text."""

    __slots__ = ("_budget", "_found")

    def __init__(self) -> None:
        self._budget = _TEXT_LINK_BUDGET
        self._found: dict[tuple[int, int], tuple[str, Extra] | None] = {}

    def entity(self, out: list[str], start: int) -> tuple[str, Extra] | None:
        """What ``link_entity`` makes of ``out[start:]``; None past the budget."""
        span = (start, len(out))
        if span not in self._found:  # links nested with nothing between share their text
            size = span[1] - start
            if size > _LONGEST_MESSAGE or size > self._budget:
                return None
            self._budget -= size
            self._found[span] = link_entity("".join(out[start:]))
        return self._found[span]
