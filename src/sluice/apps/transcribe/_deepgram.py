"""Deepgram's pre-recorded ``POST /v1/listen``, through httpx.

The audio is the request body, streamed from the file in pieces read off the
event loop, with its length given up front so that Deepgram can refuse an
oversized upload before it is sent. Segments are Deepgram's utterances.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from sluice._redact import redact, redact_exception, register_secret
from sluice.apps.transcribe._model import Segment, Transcript
from sluice.apps.transcribe._provider_errors import (
    ProviderError,
    Unavailable,
)
from sluice.apps.transcribe._providers import (
    Clock,
    Provider,
    RateLimit,
    Sleep,
    audio_content_type,
)

__all__ = ["DEEPGRAM_BASE_URL", "DEEPGRAM_MODELS", "DeepgramProvider"]

DEEPGRAM_BASE_URL = "https://api.deepgram.com/v1"
DEEPGRAM_MODELS = (
    "nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general", "nova-2-meeting",
    "nova-2-phonecall", "nova-2-medical", "nova", "enhanced", "base",
)  # fmt: skip
# Deepgram limits concurrent requests (100), not their rate. A window of 100 per
# second holds at most 100 in flight, which is that limit, and paces nothing else.
DEEPGRAM_RATE = RateLimit(100, 1.0)
_MAX_BYTES = 2 * 1024 * 1024 * 1024
_CHUNK = 256 * 1024


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file in pieces, each read off the event loop: never the whole of it in memory."""
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, _CHUNK):
            yield chunk
    finally:
        file.close()


class DeepgramProvider(Provider):
    """Deepgram (``nova-3`` by default), with smart formatting and utterances as segments.

    Parameters:
        api_key: sent as ``Authorization: Token <key>`` (and registered with
            :func:`sluice.register_secret`).
        name: what to call it (``deepgram``).
        base_url: ``https://api.deepgram.com/v1`` unless overridden.
        model: a Deepgram model; see ``DEEPGRAM_MODELS``.
        rate_limit: at most 100 in flight by default (Deepgram's concurrency limit).
        max_bytes: 2 GB by default.
        timeout: seconds for each step of the request (connect, each write, each read).
        clock, sleep, max_wait: see :class:`Provider`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        name: str = "deepgram",
        base_url: str | None = None,
        model: str | None = None,
        rate_limit: RateLimit | None = None,
        max_bytes: int | None = None,
        timeout: float = 300.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 5.0,
    ) -> None:
        super().__init__(
            name=name,
            model=model or "nova-3",
            models=DEEPGRAM_MODELS,
            max_bytes=max_bytes or _MAX_BYTES,
            formats=frozenset({"json"}),
            rate_limit=rate_limit or DEEPGRAM_RATE,
            clock=clock,
            sleep=sleep,
            max_wait=max_wait,
        )
        self.base_url = (base_url or DEEPGRAM_BASE_URL).rstrip("/")
        self.timeout = timeout
        register_secret(api_key)
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Token {api_key}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
        )

    async def _request(
        self, path: Path, size: int, language: str | None, timestamps: bool
    ) -> Transcript:
        params = {"model": self.model, "smart_format": "true"}
        if timestamps:
            params["utterances"] = "true"
        if language:
            params["language"] = language
        else:
            params["detect_language"] = "true"
        headers = {"Content-Type": audio_content_type(path.name), "Content-Length": str(size)}
        try:
            response = await self._client.post(
                "listen", params=params, headers=headers, content=_file_chunks(path)
            )
        except httpx.TimeoutException as error:
            raise Unavailable(
                f"{self.name} did not answer within {self.timeout:g} s: try another provider",
                provider=self.name,
            ) from redact_exception(error)
        except httpx.TransportError as error:
            raise Unavailable(
                f"{self.name} could not be reached ({type(error).__name__}: {error})",
                provider=self.name,
            ) from redact_exception(error)
        if response.status_code != 200:
            raise self._mapped(response)
        try:
            return self._transcript(response.json(), language, timestamps)
        except (ValueError, KeyError, IndexError, TypeError):
            raise Unavailable(
                f"{self.name} answered 200 with something that is not a transcript",
                provider=self.name,
            ) from None

    def _transcript(self, body: Any, language: str | None, timestamps: bool) -> Transcript:
        results = body["results"]
        channel = results["channels"][0]
        text = str(channel["alternatives"][0]["transcript"])
        segments = tuple(
            Segment(float(u["start"]), float(u["end"]), str(u["transcript"]).strip())
            for u in results.get("utterances") or ()
        )
        detected = channel.get("detected_language")
        return Transcript(
            text=text.strip(),
            segments=segments if timestamps else (),
            language=language or (str(detected) if detected else None),
            duration=float(body.get("metadata", {}).get("duration") or 0.0),
            provider=self.name,
            model=self.model,
        )

    def _mapped(self, response: httpx.Response) -> ProviderError:
        name, status = self.name, response.status_code
        said = f"{status} {_said(response)}"
        # Deepgram documents no retry-after: without one the chain's default cooldown
        # applies. A 400 is undecodable audio, or a model/language combination it lacks.
        return self.status_error(
            status, said, response.headers,
            key_hint="check its API key and balance",
            not_found=f"{name} has no /listen under {self.base_url} ({said}): check its base URL",
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        return (
            f"DeepgramProvider(name={self.name!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )


def _said(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("err_code", "err_msg") if body.get(key)]
        if parts:
            return redact(": ".join(parts)[:500])
    return response.reason_phrase or "(no message)"
