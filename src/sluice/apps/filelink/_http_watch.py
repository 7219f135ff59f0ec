"""The watch page: the file in the browser's own player, and ways to open it elsewhere.

The player's source is a path-relative URL, computed from the path the browser
actually requested, so the page works under any public URL and path prefix a
reverse proxy puts in front. The page loads nothing but that file.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse

from sluice.apps.filelink._http_headers import plays_inline, safe_content_type, safe_file_name
from sluice.apps.filelink._model import StoredFile

__all__ = ["download_path", "watch_page"]

_MAX_SEGMENTS = 64  # of a watch URL: more are not walked (the name's own "/" count)

# Rewrites the external-player links from the address the browser really used
# (the server may only know its own, behind a proxy), and copies the link.
_SCRIPT = """
const href = document.getElementById("download").getAttribute("href");
const link = new URL(href, document.baseURI).href;
for (const a of document.querySelectorAll("a[data-scheme]")) {
  a.href = a.dataset.scheme + link + (a.dataset.suffix || "");
}
const field = document.getElementById("link");
field.value = link;
document.getElementById("copy").addEventListener("click", async (event) => {
  try {
    await navigator.clipboard.writeText(link);
  } catch {
    field.select();
    document.execCommand("copy");
  }
  event.target.textContent = "Copied";
});
"""

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 1rem;
       background: #111; color: #eee; }
h1 { font-size: 1.1rem; overflow-wrap: anywhere; }
video, audio, img { width: 100%; max-height: 80vh; background: #000; }
nav { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; }
nav a, nav button { padding: .5rem 1rem; border-radius: .4rem; border: 0; background: #2a6df4;
                    color: #fff; text-decoration: none; font: inherit; cursor: pointer; }
input { width: 100%; box-sizing: border-box; padding: .4rem; font: inherit; }
"""


def download_path(token: str, file: StoredFile) -> str:
    """The download URL's path below the service root: ``dl/<token>/<file name>``."""
    return f"dl/{quote(token, safe='')}/{quote(safe_file_name(file.name), safe='')}"


def watch_page(request: Request, token: str, file: StoredFile) -> HTMLResponse:
    """The page for ``GET /watch/{token}[/{name}]``."""
    relative = _up_to_root(request) + download_path(token, file)
    absolute = str(request.base_url) + download_path(token, file)
    mime = safe_content_type(file.mime).partition(";")[0]
    name = html.escape(safe_file_name(file.name))
    src = html.escape(relative)
    major = mime.partition("/")[0]
    if not plays_inline(mime):
        player = ""
    elif major == "video":
        player = f'<video controls preload="metadata" src="{src}"></video>'
    elif major == "audio":
        player = f'<audio controls preload="metadata" src="{src}"></audio>'
    else:
        player = f'<img alt="{name}" src="{src}">'
    links = [f'<a id="download" href="{src}" download>Download</a>']
    if major in {"video", "audio"}:
        # Players for what the browser cannot play (MKV, AVI, HEVC) as much as for what it can.
        links.append(_scheme_link("vlc", "Open in VLC", "vlc://", absolute, ""))
        intent = f"#Intent;package=com.mxtech.videoplayer.ad;type={mime};end"
        links.append(_scheme_link("mx", "Open in MX Player", "intent:", absolute, intent))
    links.append('<button id="copy" type="button">Copy link</button>')
    nonce = secrets.token_urlsafe(16)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{name}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{name}</h1>
<p>{html.escape(mime)}, {_human_size(file.size)}</p>
{player}
<nav>{"".join(links)}</nav>
<input id="link" readonly value="{html.escape(absolute)}" aria-label="Link">
<script nonce="{nonce}">{_SCRIPT}</script>
</body>
</html>
"""
    policy = (
        "default-src 'none'; media-src 'self'; img-src 'self'; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-cache",  # a fresh nonce each time
        },
    )


def _scheme_link(ident: str, label: str, scheme: str, url: str, suffix: str) -> str:
    href = html.escape(scheme + url + suffix)
    return (
        f'<a id="{ident}" href="{href}" data-scheme="{html.escape(scheme)}" '
        f'data-suffix="{html.escape(suffix)}">{label}</a>'
    )


def _up_to_root(request: Request) -> str:
    """``../`` as many times as the browser's URL has segments after ``watch/``.

    Counted on the raw path: a name carrying ``%2F`` is one segment to the
    browser but two in the decoded path.
    """
    tail = str(request.path_params["token"])
    if "name" in request.path_params:
        tail += "/" + str(request.path_params["name"])
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    segments = raw.split(b"?", 1)[0].split(b"/")[-_MAX_SEGMENTS:]
    joined = ""
    for count, segment in enumerate(reversed(segments), 1):
        piece = unquote(segment.decode("utf-8", "replace"))
        joined = piece if count == 1 else piece + "/" + joined
        if joined == tail:
            return "../" * count
        if len(joined) > len(tail):
            break
    return "../" * (tail.count("/") + 1)


def _human_size(size: int) -> str:
    value, unit = float(size), "bytes"
    for larger in ("KB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
