"""What every speech-to-text provider has: a model, an upload cap, a request rate.

A provider paces itself with sluice's own :class:`~sluice.limits.SlidingWindow`:
each request holds a slot while in flight (``reserve``) and is logged when its
answer arrives (``confirm``), so the next request past the window starts a
full window after the answer, however long the upload took. A short wait for
the window is taken in place; a long one is raised as :class:`RateLimited`, so
that a failover chain (which asks :meth:`Provider.ready_in` first) can send the
request to a provider that is free now instead.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import email.utils
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sluice._exceptions import ConfigError
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._provider_errors import (
    ProviderError,
    RateLimited,
    Refused,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from sluice.limits import SlidingWindow

__all__ = [
    "PROVIDER_PROGRESS",
    "Clock",
    "Provider",
    "RateLimit",
    "Sleep",
    "audio_content_type",
    "parse_retry_after",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
ProviderProgress = Callable[[str, dict[str, int]], Awaitable[None]]

# Who hears a provider's progress within one request, where a provider has any to
# tell (the local model: seconds done, and its place in line): set by the pipeline
# around each chunk, so that the failover chain between them needs to know nothing.
PROVIDER_PROGRESS: contextvars.ContextVar[ProviderProgress | None] = contextvars.ContextVar(
    "sluice_provider_progress", default=None
)

_PERIODS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+(?:\.[0-9]+)?)?\s*([a-z]*)\s*")
_RATE_SHAPE = "expected <requests>/<period>, e.g. 20/min, 5/s or 100/60s"

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# What each container is called on the wire; ``mimetypes`` lacks oga, opus and m4a
# on some systems, and names mp4 as video even for a voice-only file.
_CONTENT_TYPES = {
    "aac": "audio/aac",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg",
    "oga": "audio/ogg",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}


def audio_content_type(name: str) -> str:
    """The ``Content-Type`` for an audio or video file named ``name``."""
    suffix = name.rpartition(".")[2].lower() if "." in name else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


def _duration(text: str) -> float | None:
    """``7``, ``2.5s``, ``1m30s``, ``250ms``: the rate-limit reset headers' shapes."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return None
    return sum(float(value) * _DURATION_SECONDS[unit] for value, unit in parts)


def parse_retry_after(headers: Mapping[str, str], *, wall_clock: Clock = time.time) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date),
    or the providers' ``x-ratelimit-reset-requests``/``x-ratelimit-reset``; None if none says."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if (ms := _duration(lowered.get("retry-after-ms", "-"))) is not None:
        return max(0.0, ms / 1000)
    if (value := lowered.get("retry-after")) is not None:
        if (seconds := _duration(value)) is not None:
            return max(0.0, seconds)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (ValueError, TypeError):
            pass  # malformed: the reset headers may still say
        else:
            return max(0.0, when.timestamp() - wall_clock())
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset"):
        if (seconds := _duration(lowered.get(name, "-"))) is not None:
            return max(0.0, seconds)
    return None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` requests in any ``per`` seconds (also at most that many in flight)."""

    requests: int
    per: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ConfigError(f"a rate limit allows at least 1 request, got {self.requests}")
        if not (self.per > 0 and math.isfinite(self.per)):
            raise ConfigError(f"a rate limit's period must be positive seconds, got {self.per}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``20/min``, ``5/s``, ``100/60s``, ``1000/h`` or ``20/60`` (seconds)."""
        match = _RATE.fullmatch(text.lower())
        if match is None or match.group(3) not in _PERIODS or not any(match.group(2, 3)):
            raise ConfigError(f"is not a rate limit: {_RATE_SHAPE}")
        periods = float(match.group(2)) if match.group(2) else 1.0
        try:
            return cls(int(match.group(1)), periods * _PERIODS[match.group(3)])
        except ConfigError:
            raise ConfigError(f"is not a rate limit: {_RATE_SHAPE}, both above 0") from None

    def __str__(self) -> str:
        if self.per == 60.0:
            return f"{self.requests}/min"
        if self.per == 1.0:
            return f"{self.requests}/s"
        if self.per == 3600.0:
            return f"{self.requests}/h"
        return f"{self.requests}/{self.per:g}s"


class Provider(abc.ABC):
    """A speech-to-text provider: one model behind one endpoint, paced to its rate limit.

    Parameters:
        name: ``groq``, ``together``, ``openai``, ``deepgram``, or any name for a
            custom endpoint; what health reports and errors call it.
        model: the model asked for.
        models: the models this provider is known to offer (informative).
        max_bytes: the largest file it takes; a larger one raises
            :class:`TooLarge` without being sent.
        formats: the answer formats it can return for ``model``.
        rate_limit: requests allowed per window, enforced here.
        clock: monotonic seconds; injected by tests.
        sleep: how to wait for the window; injected by tests.
        max_wait: the longest wait for the window taken in place; a longer
            one raises :class:`RateLimited` at once.
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        models: tuple[str, ...] = (),
        max_bytes: int,
        formats: frozenset[str],
        rate_limit: RateLimit,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 5.0,
    ) -> None:
        if max_bytes < 1:
            raise ConfigError(f"{name}: max_bytes must be at least 1, got {max_bytes}")
        self.name = name
        self.model = model
        self.models = models
        self.max_bytes = max_bytes
        self.formats = formats
        self.rate_limit = rate_limit
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self.window = SlidingWindow(rate_limit.requests, rate_limit.per)

    @property
    def timed(self) -> bool:
        """Whether its transcripts carry segment times (some models answer text only)."""
        return True

    def status_error(
        self,
        status: int,
        said: str,
        headers: Mapping[str, str],
        *,
        key_hint: str,
        not_found: str,
    ) -> ProviderError:
        """The error for an HTTP ``status`` the provider answered (``said`` quotes it):
        what every provider's dialect shares. ``key_hint`` ends the message for a
        rejected key; ``not_found`` is the whole message for a 404."""
        name = self.name
        if status == 429:
            retry_after = parse_retry_after(headers)
            return RateLimited(
                f"{name} is rate limiting ({said})", provider=name, retry_after=retry_after
            )
        if status == 413:
            return TooLarge(
                f"{name} refused the upload as too large ({said}): send smaller chunks",
                provider=name,
                max_bytes=self.max_bytes,
            )
        if status in (401, 402, 403):
            return Unauthorized(f"{name} refused the key ({said}): {key_hint}", provider=name)
        if status == 404:
            return Unauthorized(not_found, provider=name)
        if status >= 500 or status in (408, 409):
            return Unavailable(f"{name} failed ({said})", provider=name)
        return Refused(f"{name} refused the request ({said})", provider=name)

    def ready_in(self, now: float) -> float:
        """Seconds until its rate window lets one more request start (0: now; ``inf``:
        only an answer in flight can free a slot)."""
        return max(0.0, self.window.ready_at(now) - now)

    def requests_in_window(self, now: float) -> int:
        """Requests answered within the last window, plus those in flight."""
        return self.window.sent_since(now - self.rate_limit.per) + self.window.in_flight

    async def transcribe(
        self, path: Path, *, language: str | None = None, timestamps: bool = True
    ) -> Transcript:
        """Transcribe the audio or video file at ``path``.

        ``language``: an ISO 639-1 code, or None to let the provider detect it.
        ``timestamps``: ask for segment times (relative to the file's start).

        Raises a :class:`~sluice.apps.transcribe.ProviderError` subclass.
        """
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > self.max_bytes:
            raise TooLarge(
                f"{path.name} is {size} bytes, over {self.name}'s cap of {self.max_bytes}: "
                "send it in smaller chunks",
                provider=self.name,
                max_bytes=self.max_bytes,
            )
        await self._wait_for_window()
        self.window.reserve(self.clock())
        try:
            return await self._request(path, size, language, timestamps)
        finally:
            # Counted even when it failed: whether the provider counted it is
            # unknowable (a timeout may have arrived), and counting errs on the safe side.
            self.window.confirm(self.clock())

    async def _wait_for_window(self) -> None:
        while (wait := self.ready_in(self.clock())) > 0:
            if wait > self.max_wait:
                retry = None if math.isinf(wait) else wait
                when = "when an answer in flight arrives" if retry is None else f"in {wait:.1f} s"
                raise RateLimited(
                    f"{self.name} allows {self.rate_limit} requests and has used them: "
                    f"the next may start {when}",
                    provider=self.name,
                    retry_after=retry,
                )
            await self.sleep(wait)

    @abc.abstractmethod
    async def _request(
        self, path: Path, size: int, language: str | None, timestamps: bool
    ) -> Transcript:
        """Send one request (the window slot is held) and map every failure."""

    async def aclose(self) -> None:  # noqa: B027 (a hook: not every provider holds a client)
        """Close the connections it holds."""

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        # Never the key: only what identifies the provider.
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"
