"""The header values of a download: validators, conditions, type and disposition.

Pure functions over strings. Every value a client sends is length-bounded and
read in one pass; every value built from a stored file (its name, its type) is
sanitised, because a Telegram file name is whatever its uploader typed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

__all__ = [
    "MAX_NAME",
    "content_disposition",
    "http_date",
    "if_match",
    "if_none_match",
    "if_range_allows",
    "parse_http_date",
    "plays_inline",
    "safe_content_type",
    "safe_file_name",
    "strong_etag",
]

MAX_NAME = 255  # characters of a file name kept in Content-Disposition
_MAX_DATE = 64  # an IMF-fixdate is 29 characters; the obsolete forms are shorter than 64
_MAX_VALIDATORS = 8192  # an If-None-Match longer than this is ignored (the file is sent)
_MAX_ETAG_ID = 128
_MAX_CONTENT_TYPE = 255

# Only types a browser plays or shows as media; anything that can run script
# (HTML, SVG, XML, JavaScript, PDF) or is unknown is always an attachment.
_INLINE = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/webm",
        "audio/wav",
        "audio/flac",
        # Aliases that uploaders' devices write for the same formats.
        "audio/mp3",
        "audio/wave",
        "audio/x-flac",
        "audio/x-m4a",
        "audio/x-wav",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
    }
)
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 §5.6.2
_MEDIA_TYPE = re.compile(rf"({_TCHARS})/({_TCHARS})")
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'
_PARAMETER = re.compile(rf"({_TCHARS})=({_TCHARS}|{_QUOTED})")
# Dropped from names: what ends a quoted string or a parameter, and path separators.
_NAME_DROPPED = frozenset('"\\;/')
# Controls, format characters (the right-to-left override that turns "gpj.exe"
# into "exe.jpg"), lone surrogates and line/paragraph separators.
_NAME_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_RFC8187_SAFE = "!#$&+-.^_`|~"  # attr-char beyond ALPHA/DIGIT (RFC 8187 §3.2.1)


def strong_etag(unique_id: str, size: int) -> str:
    """A strong entity-tag for a stored file's bytes: ``"<unique_id>-<size in hex>"``.

    Telegram's ``file_unique_id`` names the content itself, so the tag is strong.
    The id is percent-encoded (injective, visible ASCII only); an unusually long
    one is replaced by its SHA-256.
    """
    opaque = quote(unique_id, safe="-_.~", errors="surrogatepass")
    if len(opaque) > _MAX_ETAG_ID:
        opaque = hashlib.sha256(unique_id.encode(errors="surrogatepass")).hexdigest()
    return f'"{opaque}-{size:x}"'


def http_date(ts: float) -> str:
    """``ts`` (epoch seconds) as an IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return formatdate(ts, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, RFC 850 or asctime), else ``None``."""
    if len(value) > _MAX_DATE:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "GMT" and the obsolete forms are UTC
    try:
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def if_match(header: str, etag: str) -> bool:
    """Whether ``If-Match`` lets the request proceed (strong comparison, RFC 9110 §13.1.1);
    ``False`` means 412."""
    if len(header) > _MAX_VALIDATORS:
        return False
    if header.strip(" \t") == "*":
        return True
    tags = _entity_tags(header)
    return tags is not None and not etag.startswith("W/") and etag in tags


def if_none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison): answer 304.

    A list too long or not made of entity-tags matches nothing, so the file is sent.
    """
    if header is None or len(header) > _MAX_VALIDATORS:
        return False
    if header.strip(" \t") == "*":
        return True
    wanted = _opaque(etag)
    tags = _entity_tags(header)
    return tags is not None and any(_opaque(tag) == wanted for tag in tags)


def if_range_allows(header: str | None, etag: str, last_modified: float) -> bool:
    """Whether a ``Range`` may be honoured under ``If-Range`` (RFC 9110 §13.1.5).

    An entity-tag must equal ``etag`` by strong comparison (a weak tag never
    does); an HTTP-date must be exactly ``last_modified`` to the second. No
    header allows the range; anything else means "send the whole file".
    """
    if header is None:
        return True
    value = header.strip(" \t")
    if len(value) > max(_MAX_DATE, len(etag)):
        return False
    if value.startswith(('"', "W/")):
        return not etag.startswith("W/") and value == etag
    date = parse_http_date(value)
    return date is not None and int(date) == int(last_modified)


def plays_inline(mime: str) -> bool:
    """Whether a browser may show ``mime`` in place: audio, video and plain images only."""
    return mime.partition(";")[0].strip(" \t").lower() in _INLINE


def content_disposition(name: str, *, inline: bool) -> str:
    """``inline`` or ``attachment`` with the file name (RFC 6266, RFC 8187).

    ``filename`` is an ASCII fallback (other characters become ``_``) for old
    clients; ``filename*`` carries the name in UTF-8. Quotes, backslashes,
    semicolons, path separators and control characters are removed from both,
    and the name is cut to :data:`MAX_NAME` characters, keeping its extension.
    """
    clean = safe_file_name(name)
    fallback = "".join(c if " " <= c <= "~" and c != "%" else "_" for c in clean)
    encoded = quote(clean, safe=_RFC8187_SAFE)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def safe_content_type(mime: str) -> str:
    """``mime`` if it is a valid media type, else ``application/octet-stream``.

    Invalid parameters are dropped; ``text/*`` gets ``charset=utf-8`` unless it
    names a charset.
    """
    if len(mime) > _MAX_CONTENT_TYPE:
        return "application/octet-stream"
    essence, _, rest = mime.partition(";")
    match = _MEDIA_TYPE.fullmatch(essence.strip(" \t"))
    if match is None:
        return "application/octet-stream"
    kind = match[1].lower()
    parameters = []
    for raw in rest.split(";") if rest else ():
        parameter = _PARAMETER.fullmatch(raw.strip(" \t"))
        if parameter is not None:
            parameters.append((parameter[1].lower(), parameter[2]))
    if kind == "text" and all(key != "charset" for key, _ in parameters):
        parameters.append(("charset", "utf-8"))
    return "; ".join([f"{kind}/{match[2].lower()}"] + [f"{k}={v}" for k, v in parameters])


def safe_file_name(name: str) -> str:
    """``name`` fit for a header or a URL: see :func:`content_disposition`; never empty."""
    if len(name) > 4 * MAX_NAME:  # bound the work below; keep both ends (the extension)
        name = name[: 2 * MAX_NAME] + name[-2 * MAX_NAME :]
    name = unicodedata.normalize("NFC", name)
    kept = "".join(
        c
        for c in name
        if c not in _NAME_DROPPED and unicodedata.category(c) not in _NAME_DROPPED_CATEGORIES
    )
    kept = kept.strip(" .\t")  # no hidden ("..x") or trailing-dot names
    if len(kept) > MAX_NAME:
        stem, dot, extension = kept.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            kept = stem[: MAX_NAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            kept = kept[:MAX_NAME]
    return kept or "file"


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _entity_tags(header: str) -> list[str] | None:
    """The entity-tags of a comma-separated list, or ``None`` if it is not one."""
    tags = []
    i, n = 0, len(header)
    while i < n:
        if header[i] in " \t,":
            i += 1
            continue
        start = i
        if header.startswith("W/", i):
            i += 2
        if i >= n or header[i] != '"':
            return None
        close = header.find('"', i + 1)
        if close == -1:
            return None
        tags.append(header[start : close + 1])
        i = close + 1
        while i < n and header[i] in " \t":
            i += 1
        if i < n and header[i] != ",":
            return None
    return tags
