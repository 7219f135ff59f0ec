"""The file-to-link bot's web server: downloads (ranges, conditions, a per-address
cap) and the watch page, over a :class:`Resolver` and a :class:`ByteSource`.

See docs/filelink.md (HTTP) for what each answer means to browsers, download
managers and players, and for running it behind a reverse proxy.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sluice._exceptions import ConfigError
from sluice.apps.filelink._http_body import (
    Body,
    StreamedResponse,
    StreamSlots,
    client_key,
    multipart_body,
    plain_answer,
    single_body,
)
from sluice.apps.filelink._http_headers import (
    content_disposition,
    http_date,
    if_match,
    if_none_match,
    if_range_allows,
    parse_http_date,
    plays_inline,
    safe_content_type,
    strong_etag,
)
from sluice.apps.filelink._http_watch import watch_page
from sluice.apps.filelink._model import ByteSource, LinkRefused, Resolver, StoredFile
from sluice.apps.filelink._ranges import ByteRange, RangeAnswer, parse_range

__all__ = ["create_http_app"]

# Browsers may keep a file an hour; shared caches (a CDN, a proxy) may not keep it
# at all, so a revoked link stops serving everywhere but in its viewer's own cache.
_CACHE_CONTROL = "private, max-age=3600"
_EMPTY = Body((), (), b"", 0)


def create_http_app(
    resolver: Resolver,
    source: ByteSource,
    *,
    max_streams_per_ip: int = 4,
    retry_after: int = 5,
    app_name: str = "sluice filelink",
) -> Starlette:
    """The ASGI app serving ``/dl/{token}[/{name}]``, ``/watch/{token}[/{name}]``,
    ``/healthz``, ``/favicon.ico`` (204) and ``/``.

    Parameters:
        resolver: turns a link token into its stored file, or refuses it.
        source: streams a stored file's bytes.
        max_streams_per_ip: downloads one client address may stream at once;
            one more is answered 429.
        retry_after: the ``Retry-After`` (seconds) of that 429.
        app_name: what ``/`` answers.
    """
    if max_streams_per_ip < 1:
        raise ConfigError(
            f"max_streams_per_ip={max_streams_per_ip} would refuse every download: give 1 or more"
        )
    if retry_after < 0:
        raise ConfigError(f"retry_after={retry_after} is negative: give seconds, 0 or more")
    slots = StreamSlots(max_streams_per_ip)

    async def download(request: Request) -> Response:
        try:
            file = await resolver.resolve(request.path_params["token"])
        except LinkRefused as refused:
            return _refusal(refused)
        client = client_key(request.client.host if request.client is not None else None)
        answer = _download(request, file)
        if isinstance(answer, Response):
            return answer
        status, headers, body = answer
        if request.method == "HEAD" or body.length == 0:
            return Response(None, status, {**headers, "Content-Length": str(body.length)})
        return StreamedResponse(
            source,
            file,
            body,
            status_code=status,
            headers=headers,
            slots=slots,
            client=client,
            retry_after=retry_after,
        )

    async def watch(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            file = await resolver.resolve(token)
        except LinkRefused as refused:
            return _refusal(refused)
        return watch_page(request, token, file)

    async def index(request: Request) -> Response:
        return plain_answer(200, app_name)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})

    async def favicon(request: Request) -> Response:
        # Browsers ask for it on every page: "none", and for a day, not a 404 each time.
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/favicon.ico", favicon, methods=["GET"]),
            Route("/dl/{token}", download, methods=["GET", "HEAD"]),
            Route("/dl/{token}/{name:path}", download, methods=["GET", "HEAD"]),
            Route("/watch/{token}", watch, methods=["GET"]),
            Route("/watch/{token}/{name:path}", watch, methods=["GET"]),
        ]
    )


def _download(request: Request, file: StoredFile) -> Response | tuple[int, dict[str, str], Body]:
    """A finished answer (304, 412, 416), or the status, headers and body to stream."""
    etag = strong_etag(file.unique_id, file.size)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(file.created_at),
        "Cache-Control": _CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        # Defence in depth: were a browser ever to render the file as a page,
        # it would run in a sandbox without script or same-origin access.
        "Content-Security-Policy": "sandbox",
        "Referrer-Policy": "no-referrer",
        # nginx would otherwise read the whole file ahead into its buffers, and
        # keep the fetch from Telegram going after the client has left.
        "X-Accel-Buffering": "no",
    }
    precondition = _preconditions(request, etag, file.created_at)
    if precondition is not None:
        return Response(None, precondition, headers)
    answer = RangeAnswer("full")
    range_header = request.headers.get("range")
    # RFC 9110 §14.2: GET is the only method with range handling; HEAD answers as
    # a GET without Range would.
    if (
        request.method == "GET"
        and range_header is not None
        and if_range_allows(request.headers.get("if-range"), etag, file.created_at)
    ):
        answer = parse_range(range_header, file.size)
    if answer.status == "unsatisfiable":
        return PlainTextResponse(
            "The requested range is not in the file.\n",
            status_code=416,
            headers={**headers, "Content-Range": f"bytes */{file.size}"},
        )
    content_type = safe_content_type(file.mime)
    headers["Content-Type"] = content_type
    headers["Content-Disposition"] = content_disposition(file.name, inline=plays_inline(file.mime))
    if answer.status == "full":
        whole = single_body(ByteRange(0, file.size - 1)) if file.size else _EMPTY
        return 200, headers, whole
    if len(answer.ranges) == 1:
        (part,) = answer.ranges
        headers["Content-Range"] = f"bytes {part.start}-{part.end}/{file.size}"
        return 206, headers, single_body(part)
    body, boundary = multipart_body(answer.ranges, file.size, content_type)
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    return 206, headers, body


def _preconditions(request: Request, etag: str, last_modified: float) -> int | None:
    """412 or 304 if a precondition says so, in RFC 9110 §13.2.2's order; else None."""
    match = request.headers.get("if-match")
    if match is not None:
        if not if_match(match, etag):
            return 412
    else:
        since = _date(request.headers.get("if-unmodified-since"))
        if since is not None and int(last_modified) > since:
            return 412
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        return 304 if if_none_match(none_match, etag) else None
    since = _date(request.headers.get("if-modified-since"))
    if since is not None and int(last_modified) <= since:
        return 304
    return None


def _date(header: str | None) -> float | None:
    return None if header is None else parse_http_date(header)


def _refusal(refused: LinkRefused) -> Response:
    status = refused.status if 400 <= refused.status < 500 else 404
    return plain_answer(status, refused.reason)
