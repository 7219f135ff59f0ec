"""What Telegram finds in plain text by itself: mentions, commands, hashtags, URLs, emails."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sluice.emulator._text._model import Entity, as_dicts, utf16_units
from sluice.emulator._text._scan import LOWER, at, words

__all__ = ["detect_entities"]

# TDLib links a bare domain only under a TLD it knows (about 1500); these are the common ones.
_TLDS = words(
    "com net org edu gov info biz name pro io co me dev app ai xyz online site store tech blog "
    "shop cloud page link live news top club space website world fun tv cc ws gg im to fm ly su "
    "eu us uk ru id my sg de fr it es nl be ch at se no fi dk pl cz ua by kz jp cn kr in br ar "
    "mx ca au nz za tr ir il gr pt ro hu bg rs hr sk lt lv ee is ie md am ge az uz vn th ph hk "
    "tw ae sa eg ng ke рф рус укр"
)
# Each finder matches at most once per start and never scans back: linear in the text.
_FINDERS = (
    ("mention", re.compile(r"@([A-Za-z0-9_]*)")),
    ("bot_command", re.compile(r"/([A-Za-z0-9_]*)(@[A-Za-z0-9_]*)?")),
    ("hashtag", re.compile(r"#([\w\u200c\xb7\u0d80-\u0dff]*)")),
    ("cashtag", re.compile(r"\$(1INCH|[A-Z]*)")),
)
# An email is the run of local-part characters before an "@", then this (bounded) tail.
_EMAIL_LOCAL = re.compile(r"[\w.+-]+", re.A)
_EMAIL_TAIL = re.compile(
    r"(?:[a-z0-9](?:[\w-]{0,28}[a-z0-9])?\.){1,6}[a-z]{2,8}(?![\w@/?#:-])", re.A | re.I
)
# Matched only where _urls knows a URL begins, so the scheme and domain runs are
# read once: searched from every position, the pattern is quadratic on a long word.
_URL = re.compile(
    r"(?:([a-z][a-z0-9+-]*+)://)?([\w~-]++(?:\.[\w~-]++)+)(:[0-9]++)?([/?#][^\s<>\"«»]*+)?", re.I
)
_DOMAIN_RUN = re.compile(r"[\w~-]+")
_DOMAIN_CHAR = re.compile(r"[\w~-]")
_SCHEME_CHAR = re.compile(r"[a-z0-9+-]", re.I)
_SCHEME_LETTER = re.compile(r"[a-z]", re.I)


def detect_entities(text: str) -> list[dict[str, object]]:
    """Mentions, bot commands, hashtags, cashtags, URLs and emails Telegram finds in ``text``."""
    units = [0]
    for ch in text:
        units.append(units[-1] + utf16_units(ch))
    kept: list[Entity] = []
    for begin, end, kind in sorted(_find(text), key=lambda f: (f[0], -f[1])):
        if not kept or units[begin] >= kept[-1].offset + kept[-1].length:
            kept.append(Entity(units[begin], units[end] - units[begin], kind))
    return as_dicts(kept)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_hashtag_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_\u200c\xb7" or "\u0d80" <= ch <= "\u0dff"


def _find(t: str) -> Iterator[tuple[int, int, str]]:
    """What TDLib's find_entities finds, as (start, end, type) in characters."""
    for kind, pattern in _FINDERS:
        for m in pattern.finditer(t):
            start, end, body = m.start(), m.end(), m[1] or ""
            before, after = at(t, start - 1), at(t, end)
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
            else:
                ok = 1 <= len(body) <= 8
                ok = ok and not any(ch == "$" or _is_hashtag_char(ch) for ch in before + after)
            if ok:
                yield start, end, kind
    for start, end, local in _emails(t):
        parts = re.split("[.+]", local)
        ok = len(parts) <= 11 and all(len(part) <= 26 for part in parts[:-1])
        if ok and len(parts[-1]) <= 35:
            yield start, end, "email"
    for m in _urls(t):
        before = at(t, m.start() - 1)
        ok = m[1] is not None or not (_is_word(before) or before in "/#@")
        if ok and _url_domain_ok(m[2], m[1]):
            yield m.start(), _url_end(m), "url"


def _emails(t: str) -> Iterator[tuple[int, int, str]]:
    """Emails as (start, end, local part), as a left-to-right regex search would find them.

    The local part is a whole run of its characters that an "@" ends and nothing of it
    precedes, so each run is looked at once.
    """
    resume = 0
    for run in _EMAIL_LOCAL.finditer(t):
        start, at_sign = run.span()
        if start < resume or at(t, at_sign) != "@" or at(t, start - 1) == "@":
            continue
        tail = _EMAIL_TAIL.match(t, at_sign + 1)
        if tail is not None:
            resume = tail.end()
            yield start, resume, run[0]


def _urls(t: str) -> Iterator[re.Match[str]]:
    """The matches of ``_URL`` a left-to-right search finds, each looked for only where it is.

    A URL without a scheme starts in a run of domain characters that ends at a dot followed
    by another domain character; one with a scheme at a letter of the scheme run before a
    "://" followed by such a domain. Both candidates are found by one pass each.
    """
    n = len(t)
    good_runs: list[tuple[int, int]] = []  # domain runs followed by "." and a domain character
    run_end = {}  # start of every domain run -> its end
    for run in _DOMAIN_RUN.finditer(t):
        start, end = run.span()
        run_end[start] = end
        if at(t, end) == "." and _DOMAIN_CHAR.match(at(t, end + 1)):
            good_runs.append((start, end))
    schemes: list[tuple[int, int]] = []  # (scheme run start, "://" position), domain after ok
    k = t.find("://")
    while k != -1:
        domain_end = run_end.get(k + 3)
        if (
            domain_end is not None
            and at(t, domain_end) == "."
            and _DOMAIN_CHAR.match(at(t, domain_end + 1))
        ):
            begin = k
            while begin > 0 and _SCHEME_CHAR.match(t[begin - 1]):
                begin -= 1
            schemes.append((begin, k))
        k = t.find("://", k + 3)
    resume = run_index = scheme_index = 0
    scheme_cursor = -1
    while resume < n:
        while run_index < len(good_runs) and good_runs[run_index][1] <= resume:
            run_index += 1
        domain_at = max(good_runs[run_index][0], resume) if run_index < len(good_runs) else n
        scheme_at = n
        while scheme_index < len(schemes):
            begin, k = schemes[scheme_index]
            scheme_cursor = max(scheme_cursor, begin, resume)
            while scheme_cursor < k and not _SCHEME_LETTER.match(t[scheme_cursor]):
                scheme_cursor += 1
            if scheme_cursor < k:
                scheme_at = scheme_cursor
                break
            scheme_index += 1
        start = min(domain_at, scheme_at)
        if start >= n:
            return
        m = _URL.match(t, start)
        if m is None:  # cannot happen: a candidate is where the pattern matches
            resume = start + 1
            continue
        yield m
        resume = m.end()


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
    if scheme is not None and scheme.translate(LOWER) not in ("http", "https", "ftp"):
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
