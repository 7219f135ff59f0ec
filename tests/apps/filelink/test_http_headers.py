"""The download's header values: validators, conditions, type and disposition."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from sluice.apps.filelink._http_headers import (
    MAX_NAME,
    content_disposition,
    http_date,
    if_match,
    if_none_match,
    if_range_allows,
    parse_http_date,
    plays_inline,
    safe_content_type,
    safe_file_name,
    strong_etag,
)

ETAG = strong_etag("AgADxyz", 1234)
MODIFIED = 784111777.6  # Sun, 06 Nov 1994 08:49:37.6 GMT
MODIFIED_HTTP = "Sun, 06 Nov 1994 08:49:37 GMT"
VISIBLE = re.compile(r'"[\x21\x23-\x7e]+"')  # RFC 9110 §8.8.3: entity-tag = DQUOTE *etagc DQUOTE


# -- ETag --


def test_etag_is_strong_quoted_and_names_the_size_in_hex() -> None:
    assert ETAG == '"AgADxyz-4d2"'
    assert VISIBLE.fullmatch(ETAG)


@pytest.mark.parametrize(
    "unique_id", ['a"b', "a\\b", "a b", "a,b", "ünïcode", "a\r\nX-Evil: 1", "", "\ud800", "x" * 500]
)
def test_etag_holds_only_visible_ascii(unique_id: str) -> None:
    tag = strong_etag(unique_id, 10)
    assert VISIBLE.fullmatch(tag)
    assert "," not in tag
    assert "\\" not in tag
    assert len(tag) < 200


def test_etags_of_different_files_differ() -> None:
    tags = {strong_etag(u, s) for u in ("a,b", "a_b", "a%2Cb", "a b") for s in (1, 2)}
    assert len(tags) == 8


# -- dates --


def test_http_date_is_an_imf_fixdate() -> None:
    assert http_date(MODIFIED) == MODIFIED_HTTP


@pytest.mark.parametrize(
    "value",
    [MODIFIED_HTTP, "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
    ids=["imf-fixdate", "rfc850", "asctime"],
)
def test_the_three_date_formats_parse(value: str) -> None:
    assert parse_http_date(value) == 784111777


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "Sun, 99 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 99999999999 08:49:37 GMT",
        MODIFIED_HTTP + " " * 100,
        "1994-11-06T08:49:37Z",
    ],
)
def test_invalid_dates_are_none(value: str) -> None:
    assert parse_http_date(value) is None


# -- If-None-Match (weak comparison) --


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"AgADxyz-4d2"', True),
        ('W/"AgADxyz-4d2"', True),  # weak comparison ignores W/
        ('"other", "AgADxyz-4d2"', True),
        ('"other",W/"AgADxyz-4d2" , "x"', True),
        ('"other"', False),
        ("*", True),
        (" * ", True),
        ('"AgADxyz-4d3"', False),
        ("AgADxyz-4d2", False),  # not quoted: not an entity-tag
        ('"AgADxyz-4d2', False),
        ('"a" "AgADxyz-4d2"', False),  # no comma
        ('*, "AgADxyz-4d2"', False),
        ('w/"AgADxyz-4d2"', False),  # W/ is case-sensitive
        ('"a",,, "AgADxyz-4d2",', True),  # empty list elements
        ('"x",' * 3000 + '"AgADxyz-4d2"', False),  # past the length bound: ignored
        ('"x",' * 1000 + '"AgADxyz-4d2"', True),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert if_none_match(header, ETAG) is matches


def test_if_none_match_of_many_unterminated_quotes_is_linear() -> None:
    assert if_none_match('"' + 'a"' * 4000, ETAG) is False
    assert if_none_match('W/"' * 2000, ETAG) is False


# -- If-Match (strong comparison) --


@pytest.mark.parametrize(
    ("header", "proceeds"),
    [
        ('"AgADxyz-4d2"', True),
        ("*", True),
        ('"a", "AgADxyz-4d2"', True),
        ('W/"AgADxyz-4d2"', False),
        ('"a"', False),
        ("junk", False),
    ],
)
def test_if_match(header: str, proceeds: bool) -> None:
    assert if_match(header, ETAG) is proceeds


# -- If-Range (RFC 9110 §13.1.5) --


@pytest.mark.parametrize(
    ("header", "allows"),
    [
        (None, True),
        ('"AgADxyz-4d2"', True),
        ('W/"AgADxyz-4d2"', False),  # a weak tag never matches
        ('"AgADxyz-4d3"', False),
        (MODIFIED_HTTP, True),
        ("Sunday, 06-Nov-94 08:49:37 GMT", True),
        ("Sun, 06 Nov 1994 08:49:38 GMT", False),  # a second later
        ("Sun, 06 Nov 1994 08:49:36 GMT", False),  # earlier: not the same
        ("", False),
        ("garbage", False),
        ("*", False),
        ('"AgADxyz-4d2", "b"', False),  # a list is not one validator
        ("x" * 5000, False),
    ],
)
def test_if_range(header: str | None, allows: bool) -> None:
    assert if_range_allows(header, ETAG, MODIFIED) is allows


# -- inline or attachment --


@pytest.mark.parametrize(
    "mime",
    [
        "video/mp4",
        "VIDEO/MP4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg; codecs=opus",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/flac",
        "audio/wav",
    ],
)
def test_media_plays_inline(mime: str) -> None:
    assert plays_inline(mime)


@pytest.mark.parametrize(
    "mime",
    [
        "text/html",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/pdf",
        "text/plain",
        "application/octet-stream",
        "video/x-matroska",
        "",
        "video/mp4x",
        "multipart/x-mixed-replace",
    ],
)
def test_anything_else_is_an_attachment(mime: str) -> None:
    assert not plays_inline(mime)


# -- Content-Disposition (RFC 6266, RFC 8187) --


def _fallback(value: str) -> str:
    match = re.search(r'filename="([^"]*)"', value)
    assert match is not None
    return match[1]


def _extended(value: str) -> str:
    match = re.search(r"filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)$", value)
    assert match is not None, value
    return unquote(match[1])


def _assert_header_safe(value: str) -> None:
    assert all(" " <= c <= "~" for c in value), value  # ASCII, no CR/LF or controls
    assert value.count('"') == 2
    assert value.count(";") == 2


def test_disposition_of_a_plain_name() -> None:
    value = content_disposition("clip.mp4", inline=True)
    assert value == "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    assert content_disposition("clip.mp4", inline=False).startswith("attachment; ")


def test_disposition_of_a_unicode_name() -> None:
    value = content_disposition("Видео 📹 été.mp4", inline=False)
    _assert_header_safe(value)
    assert _fallback(value) == "_____ _ _t_.mp4"
    assert _extended(value) == "Видео 📹 été.mp4"


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ('say "hi".txt', "say hi.txt"),
        ("back\\slash.txt", "backslash.txt"),
        ("../../etc/passwd", "etcpasswd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("a;b.txt", "ab.txt"),
        ("evil\r\nSet-Cookie: x=1.txt", "evilSet-Cookie: x=1.txt"),
        ("nul\x00byte\x7f.bin", "nulbyte.bin"),
        ("gpj\u202eexe.jpg", "gpjexe.jpg"),  # no right-to-left override
        ("line\u2028sep.txt", "linesep.txt"),
        ("", "file"),
        ("...", "file"),
        ('";\\/', "file"),
        (" .hidden ", "hidden"),
    ],
)
def test_disposition_drops_what_could_break_out(name: str, kept: str) -> None:
    value = content_disposition(name, inline=False)
    _assert_header_safe(value)
    assert _extended(value) == kept
    assert safe_file_name(name) == kept


def test_percent_signs_do_not_reach_the_fallback() -> None:
    value = content_disposition("100%20sure.txt", inline=False)
    assert _fallback(value) == "100_20sure.txt"  # some browsers would decode %20
    assert _extended(value) == "100%20sure.txt"


def test_long_names_are_cut_keeping_the_extension() -> None:
    value = content_disposition("a" * 10_000 + ".mp4", inline=True)
    name = _extended(value)
    assert len(name) == MAX_NAME
    assert name.endswith("aaa.mp4")
    assert len(_extended(content_disposition("é" * 1000, inline=True))) == MAX_NAME


# -- Content-Type --


@pytest.mark.parametrize(
    ("mime", "sent"),
    [
        ("video/mp4", "video/mp4"),
        ("Video/MP4", "video/mp4"),
        ("application/vnd.ms-excel", "application/vnd.ms-excel"),
        ("image/svg+xml", "image/svg+xml"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("text/plain; charset=koi8-r", "text/plain; charset=koi8-r"),
        ("text/html", "text/html; charset=utf-8"),
        ('audio/ogg; codecs="opus"', 'audio/ogg; codecs="opus"'),
        ("audio/ogg; bad param", "audio/ogg"),
        ("", "application/octet-stream"),
        ("video", "application/octet-stream"),
        ("video/", "application/octet-stream"),
        ("video/mp4/x", "application/octet-stream"),
        ("vid eo/mp4", "application/octet-stream"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
        ("vidéo/mp4", "application/octet-stream"),
        ("video/mp4; x=" + "a" * 300, "application/octet-stream"),
    ],
)
def test_content_type(mime: str, sent: str) -> None:
    assert safe_content_type(mime) == sent
