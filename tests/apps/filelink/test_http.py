"""The download server end to end: an in-memory resolver and byte source behind it."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import httpx
import pytest
from starlette.applications import Starlette

from http_support import serving
from sluice._exceptions import ConfigError, ServiceUnavailable
from sluice.apps.filelink._http import create_http_app
from sluice.apps.filelink._model import LinkRefused, StoredFile

SIZE = 300_000
DATA = os.urandom(SIZE)
MODIFIED = 1_700_000_000.25
VIDEO = StoredFile(
    id=1,
    unique_id="AgADvid",
    file_id="BAACAgIAAxk",
    kind="video",
    name="clip.mp4",
    mime="video/mp4",
    size=SIZE,
    chat_id=-100123,
    message_id=7,
    created_at=MODIFIED,
)
ETAG = '"AgADvid-493e0"'


@dataclass
class FakeResolver:
    links: dict[str, StoredFile | LinkRefused]

    async def resolve(self, token: str) -> StoredFile:
        found = self.links.get(token, LinkRefused(404, "This link does not exist."))
        if isinstance(found, LinkRefused):
            raise found
        return found


@dataclass
class FakeSource:
    """Bytes of in-memory files; records what it was asked for and whether it was closed.

    With ``hold``, every stream waits before its first chunk until its own gate
    (``gates[n]``) is opened.
    """

    files: dict[str, bytes]
    chunk: int = 16_384
    hold: bool = False
    calls: list[tuple[int, int]] = field(default_factory=list)
    delivered: int = 0
    closed: int = 0
    gates: list[asyncio.Event] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        data = self.files[file.unique_id]
        self.calls.append((start, end))
        gate = asyncio.Event()
        self.gates.append(gate)
        async with self.changed:
            self.changed.notify_all()
        try:
            if self.hold:
                await gate.wait()
            for offset in range(start, end, self.chunk):
                piece = data[offset : min(end, offset + self.chunk)]
                self.delivered += len(piece)
                yield piece
        finally:
            self.closed += 1
            async with self.changed:
                self.changed.notify_all()

    async def wait_for(self, *, calls: int = 0, closed: int = 0) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.calls) >= calls and self.closed >= closed)


def make_app(source: FakeSource, **options: int) -> Starlette:
    resolver = FakeResolver(
        {
            "vid": VIDEO,
            "page": replace(VIDEO, unique_id="AgADpage", name="index.html", mime="text/html"),
            "svg": replace(VIDEO, unique_id="AgADsvg", name="logo.svg", mime="image/svg+xml"),
            "empty": replace(VIDEO, unique_id="AgADempty", size=0, mime="application/pdf"),
            "song": replace(VIDEO, unique_id="AgADsong", name="a.ogg", mime="audio/ogg"),
            "zip": replace(VIDEO, unique_id="AgADzip", name="<b>x</b>.zip", mime="application/zip"),
            "banned": LinkRefused(403, "The owner of this link is banned."),
            "gone": LinkRefused(410, "This link was revoked."),
        }
    )
    return create_http_app(resolver, source, **options)  # type: ignore[arg-type]


@pytest.fixture
def source() -> FakeSource:
    files = dict.fromkeys(
        ("AgADvid", "AgADpage", "AgADsvg", "AgADempty", "AgADsong", "AgADzip"), DATA
    )
    return FakeSource(files)


@pytest.fixture
async def client(source: FakeSource) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(make_app(source))
    async with httpx.AsyncClient(transport=transport, base_url="http://files.test") as c:
        yield c


# -- whole files --


async def test_a_full_download_is_the_file_byte_for_byte(
    client: httpx.AsyncClient, source: FakeSource
) -> None:
    response = await client.get("/dl/vid/clip.mp4")
    assert response.status_code == 200
    assert response.content == DATA
    h = response.headers
    assert h["content-length"] == str(SIZE)
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert h["etag"] == ETAG
    assert h["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-disposition"] == "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    assert h["cache-control"] == "private, max-age=3600"
    assert h["content-security-policy"] == "sandbox"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-accel-buffering"] == "no"
    assert "content-range" not in h
    assert source.calls == [(0, SIZE)]
    assert source.closed == 1


async def test_the_name_in_the_path_is_cosmetic(client: httpx.AsyncClient) -> None:
    for path in ("/dl/vid", "/dl/vid/other-name.bin", "/dl/vid/a/b/c.mp4"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.content == DATA
        assert 'filename="clip.mp4"' in response.headers["content-disposition"]


async def test_head_has_the_same_headers_and_never_touches_the_source(
    client: httpx.AsyncClient, source: FakeSource
) -> None:
    get = await client.get("/dl/vid/clip.mp4")
    source.calls.clear()
    head = await client.head("/dl/vid/clip.mp4")
    assert head.status_code == 200
    assert head.content == b""
    assert dict(head.headers) == dict(get.headers)
    # RFC 9110 §14.2: range handling is defined for GET only.
    ranged = await client.head("/dl/vid/clip.mp4", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 200
    assert ranged.headers["content-length"] == str(SIZE)
    assert source.calls == []


async def test_an_empty_file(client: httpx.AsyncClient, source: FakeSource) -> None:
    response = await client.get("/dl/empty/x.pdf")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "0"
    assert response.headers["content-disposition"].startswith("attachment;")
    ranged = await client.get("/dl/empty/x.pdf", headers={"Range": "bytes=0-"})
    assert ranged.status_code == 416
    assert ranged.headers["content-range"] == "bytes */0"
    assert source.calls == []


# -- ranges --


async def test_a_single_range(client: httpx.AsyncClient) -> None:
    response = await client.get("/dl/vid/clip.mp4", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == DATA[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{SIZE}"
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["etag"] == ETAG


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-", 0, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
        ("bytes=100-99999999999999999999999", 100, SIZE - 1),
        ("bytes=0-0", 0, 0),
    ],
)
async def test_open_suffix_and_clamped_ranges(
    client: httpx.AsyncClient, source: FakeSource, header: str, start: int, end: int
) -> None:
    response = await client.get("/dl/vid/clip.mp4", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.content == DATA[start : end + 1]
    assert source.calls == [(start, end + 1)]


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    match = re.fullmatch(
        r"multipart/byteranges; boundary=([A-Za-z0-9'()+_,./:=?-]{1,70})", content_type
    )
    assert match is not None, content_type
    delimiter = b"--" + match[1].encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = body[len(delimiter) + 2 : -(len(delimiter) + 6)]
    parts = []
    for raw in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = raw.partition(b"\r\n\r\n")
        assert separator
        headers = {}
        for line in head.decode("ascii").split("\r\n"):
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        parts.append((headers, data))
    return parts


async def test_several_ranges_come_as_multipart_byteranges(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/dl/vid/clip.mp4", headers={"Range": "bytes=5000-5999, 0-99, -100"}
    )
    assert response.status_code == 206
    assert "content-range" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))
    parts = parse_multipart(response.content, response.headers["content-type"])
    assert [(h["content-range"], data) for h, data in parts] == [
        (f"bytes 0-99/{SIZE}", DATA[:100]),
        (f"bytes 5000-5999/{SIZE}", DATA[5000:6000]),
        (f"bytes {SIZE - 100}-{SIZE - 1}/{SIZE}", DATA[-100:]),
    ]
    assert all(h["content-type"] == "video/mp4" for h, _ in parts)


async def test_close_ranges_are_sent_as_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/dl/vid/clip.mp4", headers={"Range": "bytes=0-9,50-59"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-59/{SIZE}"
    assert response.content == DATA[:60]


async def test_an_unsatisfiable_range_is_416(client: httpx.AsyncClient, source: FakeSource) -> None:
    response = await client.get("/dl/vid/clip.mp4", headers={"Range": f"bytes={SIZE}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["accept-ranges"] == "bytes"
    assert source.calls == []


@pytest.mark.parametrize(
    "header",
    [
        ",".join(f"bytes={i * 1000}-{i * 1000}" for i in range(1000)),
        "bytes=" + ",".join(f"{i * 1000}-{i * 1000}" for i in range(1000)),
        "bytes=" + ",".join(f"{i * 1000}-{i * 1000}" for i in range(17)),
        "bytes=garbage",
        "bytes=5-2",
        "items=0-1",
        "bytes=0-1" + " " * 5000,
    ],
    ids=["1000 units", "1000 ranges", "17 ranges", "garbage", "backwards", "unit", "5000 chars"],
)
async def test_hostile_ranges_get_the_whole_file(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/dl/vid/clip.mp4", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


# -- conditional requests --


async def test_if_none_match_is_304_without_a_body(
    client: httpx.AsyncClient, source: FakeSource
) -> None:
    for header in (ETAG, f'"x", W/{ETAG}', "*"):
        response = await client.get("/dl/vid/clip.mp4", headers={"If-None-Match": header})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == ETAG
        assert "content-length" not in response.headers
    stale = await client.get("/dl/vid/clip.mp4", headers={"If-None-Match": '"AgADvid-1"'})
    assert stale.status_code == 200
    assert source.calls == [(0, SIZE)]


async def test_if_modified_since(client: httpx.AsyncClient) -> None:
    same = await client.get(
        "/dl/vid/clip.mp4", headers={"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}
    )
    assert same.status_code == 304
    older = await client.get(
        "/dl/vid/clip.mp4", headers={"If-Modified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}
    )
    assert older.status_code == 200
    # If-None-Match decides when both are present (RFC 9110 §13.1.3).
    both = await client.get(
        "/dl/vid/clip.mp4",
        headers={"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT", "If-None-Match": '"x"'},
    )
    assert both.status_code == 200


async def test_if_match_and_if_unmodified_since_can_fail_with_412(
    client: httpx.AsyncClient, source: FakeSource
) -> None:
    assert (await client.get("/dl/vid", headers={"If-Match": '"x"'})).status_code == 412
    assert (await client.get("/dl/vid", headers={"If-Match": f"W/{ETAG}"})).status_code == 412
    early = {"If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}
    assert (await client.get("/dl/vid", headers=early)).status_code == 412
    assert source.calls == []
    assert (await client.get("/dl/vid", headers={"If-Match": ETAG})).status_code == 200


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        (ETAG, 206),
        ('"AgADvid-1"', 200),  # stale: the whole (new) file
        (f"W/{ETAG}", 200),  # weak never matches
        ("Tue, 14 Nov 2023 22:13:20 GMT", 206),
        ("Tue, 14 Nov 2023 22:13:21 GMT", 200),
        ("nonsense", 200),
    ],
)
async def test_if_range(client: httpx.AsyncClient, if_range: str, status: int) -> None:
    response = await client.get(
        "/dl/vid/clip.mp4", headers={"Range": "bytes=10-19", "If-Range": if_range}
    )
    assert response.status_code == status
    assert response.content == (DATA[10:20] if status == 206 else DATA)


# -- refusals and the other routes --


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/dl/banned/x", 403, "The owner of this link is banned."),
        ("/dl/nope", 404, "This link does not exist."),
        ("/dl/gone/x.mp4", 410, "This link was revoked."),
        ("/watch/gone", 410, "This link was revoked."),
        ("/watch/nope/a.mp4", 404, "This link does not exist."),
    ],
)
async def test_refused_links(
    client: httpx.AsyncClient, source: FakeSource, path: str, status: int, reason: str
) -> None:
    for method in ("GET", "HEAD"):
        response = await client.request(method, path)
        assert response.status_code == status
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        if method == "GET":
            assert response.text == reason + "\n"
    assert source.calls == []


@pytest.mark.parametrize(
    ("token", "disposition"),
    [("vid", "inline"), ("song", "inline"), ("page", "attachment"), ("svg", "attachment")],
)
async def test_only_playable_media_is_inline(
    client: httpx.AsyncClient, token: str, disposition: str
) -> None:
    response = await client.head(f"/dl/{token}")
    assert response.headers["content-disposition"].split(";")[0] == disposition
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


async def test_index_and_health(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert (index.status_code, index.text) == (200, "sluice filelink\n")
    health = await client.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    assert (await client.post("/dl/vid")).status_code == 405


def test_nonsense_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_streams_per_ip=0"):
        make_app(FakeSource({}), max_streams_per_ip=0)
    with pytest.raises(ConfigError, match="retry_after=-1"):
        make_app(FakeSource({}), retry_after=-1)


# -- what the source gives --


async def test_the_body_is_exactly_as_long_as_announced(source: FakeSource) -> None:
    source.chunk = 7_777  # chunks that cross the range's end
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app(source))) as c:
        response = await c.get("http://x/dl/vid", headers={"Range": "bytes=100-20099"})
    assert response.content == DATA[100:20100]
    assert source.delivered < 20_000 + 7_777  # stopped asking once it had enough


async def test_a_source_that_ends_early_cuts_the_connection(source: FakeSource) -> None:
    source.files["AgADvid"] = DATA[: SIZE // 2]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app(source))) as c:
        with pytest.raises(ServiceUnavailable, match="ended 150000 bytes early"):
            await c.get("http://x/dl/vid")
    assert source.closed == 1


class FailingSource:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        try:
            raise self.error
            yield b""  # an async generator, like every real source
        finally:
            self.closed = True


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (ServiceUnavailable("every bot is flooded"), 503, "The file cannot be fetched right now"),
        (LinkRefused(410, "The stored copy was deleted."), 410, "The stored copy was deleted."),
    ],
)
async def test_a_source_that_cannot_start_is_a_proper_error(
    error: Exception, status: int, text: str
) -> None:
    failing = FailingSource(error)
    app = create_http_app(FakeResolver({"vid": VIDEO}), failing, retry_after=9)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as c:
        for headers in ({}, {"Range": "bytes=0-9,500-599"}):
            response = await c.get("http://x/dl/vid", headers=headers)
            assert response.status_code == status
            assert response.text.startswith(text)
            assert response.headers["cache-control"] == "no-store"
            assert "content-range" not in response.headers
            assert "etag" not in response.headers
            if status == 503:
                assert response.headers["retry-after"] == "9"
    assert failing.closed


# -- the per-address cap --


async def test_a_client_gets_at_most_max_streams_and_then_429(source: FakeSource) -> None:
    source.hold = True
    app = make_app(source, max_streams_per_ip=2, retry_after=7)
    near = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("10.0.0.1", 1)))
    far = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("10.0.0.2", 1)))
    async with near, far:
        first = asyncio.create_task(near.get("http://x/dl/vid"))
        second = asyncio.create_task(near.get("http://x/dl/vid"))
        await source.wait_for(calls=2)

        refused = await near.get("http://x/dl/vid")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "7"
        assert "retry in 7 seconds" in refused.text
        # HEAD, 304 and 416 take no slot; another address has its own.
        assert (await near.head("http://x/dl/vid")).status_code == 200
        not_modified = await near.get("http://x/dl/vid", headers={"If-None-Match": ETAG})
        assert not_modified.status_code == 304
        unsatisfiable = await near.get("http://x/dl/vid", headers={"Range": "bytes=-0"})
        assert unsatisfiable.status_code == 416
        other = asyncio.create_task(far.get("http://x/dl/vid"))
        await source.wait_for(calls=3)
        assert len(source.calls) == 3

        source.gates[0].set()
        assert (await first).content == DATA
        third = asyncio.create_task(near.get("http://x/dl/vid"))
        await source.wait_for(calls=4)
        for gate in source.gates:
            gate.set()
        for task in (second, other, third):
            response = await task
            assert (response.status_code, response.content) == (200, DATA)
        source.hold = False
        assert (await near.get("http://x/dl/vid")).status_code == 200
    assert source.closed == len(source.calls) == 5


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one subscriber
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:10.0.0.1", "10.0.0.1", True),  # IPv4-mapped is the IPv4 address
        ("10.0.0.1", "10.0.0.2", False),
    ],
)
async def test_the_cap_counts_ipv4_addresses_and_ipv6_prefixes(
    source: FakeSource, first: str, second: str, shared: bool
) -> None:
    source.hold = True
    app = make_app(source, max_streams_per_ip=1)
    one = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(first, 1)))
    two = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(second, 1)))
    async with one, two:
        held = asyncio.create_task(one.get("http://x/dl/vid"))
        await source.wait_for(calls=1)
        if shared:
            assert (await two.get("http://x/dl/vid")).status_code == 429
        else:
            other = asyncio.create_task(two.get("http://x/dl/vid"))
            await source.wait_for(calls=2)
        for gate in source.gates:
            gate.set()
        assert (await held).status_code == 200
        if not shared:
            assert (await other).status_code == 200


# -- a real server: clients that leave --


async def _read_then_leave(port: int, path: str, at_least: int) -> bytes:
    """Send a GET, read ``at_least`` bytes of the answer, and close the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: files.test\r\n\r\n".encode())
    received = b""
    while len(received) < at_least:
        chunk = await reader.read(65536)
        assert chunk, received[:200]
        received += chunk
    writer.close()
    await writer.wait_closed()
    return received


async def test_a_client_leaving_while_the_source_waits_closes_the_source() -> None:
    source = FakeSource({"AgADvid": DATA}, hold=True)
    async with serving(make_app(source, max_streams_per_ip=1)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /dl/vid/clip.mp4 HTTP/1.1\r\nHost: files.test\r\n\r\n")
        await source.wait_for(calls=1)  # the server waits on the source's first bytes
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(source.wait_for(closed=1), timeout=10)
        assert source.delivered == 0
        assert await reader.read() == b""  # nothing was sent: not even headers
        # The slot came back with it: the address may download again.
        source.hold = False
        async with httpx.AsyncClient(trust_env=False) as c:
            response = await c.get(f"http://127.0.0.1:{port}/dl/vid/clip.mp4")
        assert (response.status_code, response.content) == (200, DATA)


async def test_a_client_leaving_mid_body_stops_the_fetching() -> None:
    big = os.urandom(32 * 1024 * 1024)
    source = FakeSource({"AgADvid": big}, chunk=65536)
    file = replace(VIDEO, size=len(big))
    app = create_http_app(FakeResolver({"vid": file}), source)
    async with serving(app) as port:
        received = await _read_then_leave(port, "/dl/vid", 100_000)
        await asyncio.wait_for(source.wait_for(closed=1), timeout=10)
    assert received.split(b"\r\n\r\n", 1)[1][:1000] == big[:1000]
    # What the kernel's socket buffers held, and a few chunks: not the file.
    assert source.delivered < len(big) // 2


# -- the watch page --


@pytest.mark.parametrize(
    ("path", "src"),
    [
        ("/watch/vid", "../dl/vid/clip.mp4"),
        ("/watch/vid/", "../../dl/vid/clip.mp4"),
        ("/watch/vid/clip.mp4", "../../dl/vid/clip.mp4"),
        ("/watch/vid/a/b.mp4", "../../../dl/vid/clip.mp4"),
        ("/watch/vid/a%2Fb.mp4", "../../dl/vid/clip.mp4"),  # one segment to the browser
    ],
)
async def test_the_player_source_is_relative_to_the_page(
    client: httpx.AsyncClient, path: str, src: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert f'<video controls preload="metadata" src="{src}"></video>' in response.text
    assert f'<a id="download" href="{src}" download>' in response.text
    # Resolved against the page's own URL, the source is the download.
    assert str(httpx.URL("http://files.test" + path).join(src)) == (
        "http://files.test/dl/vid/clip.mp4"
    )


async def test_the_page_is_locked_down_and_loads_nothing_else(client: httpx.AsyncClient) -> None:
    response = await client.get("/watch/vid/clip.mp4")
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; media-src 'self'; img-src 'self';")
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    page = response.text
    assert page.count("<script") == 1
    assert f'<script nonce="{nonce[1]}">' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no CDN, no other site
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    again = await client.get("/watch/vid/clip.mp4")
    assert again.headers["content-security-policy"] != policy  # a fresh nonce


async def test_the_page_offers_external_players(client: httpx.AsyncClient) -> None:
    page = (await client.get("/watch/vid/clip.mp4")).text
    link = "http://files.test/dl/vid/clip.mp4"
    assert f'href="vlc://{link}"' in page
    assert (
        f'href="intent:{link}#Intent;package=com.mxtech.videoplayer.ad;type=video/mp4;end"' in page
    )
    assert 'id="copy"' in page
    assert f'value="{link}"' in page


async def test_audio_gets_an_audio_element(client: httpx.AsyncClient) -> None:
    page = (await client.get("/watch/song")).text
    assert '<audio controls preload="metadata" src="../dl/song/a.ogg"></audio>' in page
    assert "<video" not in page
    assert 'id="vlc"' in page


async def test_a_file_no_browser_plays_gets_name_size_and_a_download(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/watch/zip/x.zip")).text
    assert "<video" not in page
    assert "<audio" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert "<h1>&lt;b&gt;x&lt;b&gt;.zip</h1>" in page  # the "/" is dropped from names
    assert "300.0 KB" in page
    assert 'href="../../dl/zip/%3Cb%3Ex%3Cb%3E.zip" download>Download</a>' in page
    assert 'id="vlc"' not in page


async def test_a_hostile_name_is_escaped_everywhere(source: FakeSource) -> None:
    name = '"><script>alert(1)</script><img src=x onerror=alert(2)>.mp4'
    evil = replace(VIDEO, name=name)
    app = create_http_app(FakeResolver({"t": evil}), source)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as c:
        page = (await c.get("http://x/watch/t")).text
        download = await c.head("http://x/dl/t")
    assert page.count("<script") == 1
    assert "<img" not in page
    assert "onerror=alert(2)>" not in page
    assert "&lt;script&gt;alert(1)&lt;" in page
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('inline; filename="><script>alert(1)<script><img src=x')
    assert disposition.count('"') == 2  # the name's own quote is gone: no breaking out


async def test_favicon_is_empty_not_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")
    assert (response.status_code, response.content) == (204, b"")
