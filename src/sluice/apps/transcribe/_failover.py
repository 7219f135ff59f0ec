"""The failover chain: the configured providers in order, each behind its circuit.

A request goes to the first provider in the configured order that may be
asked now (circuit closed or half-open, not cooling after a 429, rate window
free); when every such provider's window is full, to the one whose window
opens first, after a wait of at most ``max_wait``. Then, by what went wrong:

- 429: that provider cools down until its ``retry-after``; the next one is tried.
- 5xx, network error, timeout: counted by its circuit; the next one is tried.
- 401/403 (and a missing model, a spent quota): its circuit opens for
  ``auth_open_for``; the next one is tried.
- 413: :class:`TooLarge` at once, to the caller, which cuts smaller chunks:
  every other provider would receive the same oversized upload.
- 400: the next one is tried (``refused_tries_next``), and :class:`Refused` is
  raised only when every provider refused. A 400 is not always about the audio:
  providers differ in the file types, formats, languages and models they take
  (Together takes no ``.mp4``, Deepgram no unknown language code), and their
  decoders differ. The audio pipeline has already decoded the audio with ffmpeg
  before it gets here, so a 400 is more often a provider's own limit than bad
  audio, and trying the next provider costs one upload where giving up costs
  the transcript.

When no provider can serve, :class:`AllProvidersFailed` says when the first
one will be usable again; the job layer keeps the job and retries then.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from sluice.apps.transcribe._circuit import Circuit, FailoverConfig, ProviderHealth
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._provider_errors import (
    AllProvidersFailed,
    ProviderError,
    RateLimited,
    Refused,
    TooLarge,
    Unauthorized,
)
from sluice.apps.transcribe._providers import Clock, Provider, Sleep

__all__ = ["Providers"]

log = logging.getLogger("sluice.transcribe")


class Providers:
    """Speech-to-text providers in failover order; the first is the default.

    Parameters:
        providers: in the order they are tried; names must differ.
        config: circuit breaker, cooldown and waiting settings.
        clock: monotonic seconds, shared with the providers' rate windows.
        sleep: how to wait for a rate window; injected by tests.
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        config: FailoverConfig | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not providers:
            raise ValueError("a failover chain needs at least one provider")
        names = [provider.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must differ, got {names}")
        self.config = config or FailoverConfig()
        self.clock = clock
        self.sleep = sleep
        self._providers = tuple(providers)
        self._circuits = {name: Circuit(self.config) for name in names}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(provider.name for provider in self._providers)

    @property
    def default(self) -> Provider:
        return self._providers[0]

    @property
    def max_bytes(self) -> int:
        """The largest file every provider takes: the size to cut chunks to."""
        return min(provider.max_bytes for provider in self._providers)

    def __getitem__(self, name: str) -> Provider:
        for provider in self._providers:
            if provider.name == name:
                return provider
        raise KeyError(name)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def health(self) -> list[ProviderHealth]:
        """Each provider's state, counts and last error (redacted), in chain order."""
        now = self.clock()
        report = []
        for provider in self._providers:
            circuit = self._circuits[provider.name]
            usable_in = self._usable_in(provider, now)
            report.append(
                ProviderHealth(
                    name=provider.name,
                    model=provider.model,
                    state=circuit.state(now),
                    successes=circuit.successes,
                    failures=circuit.failures,
                    consecutive_failures=circuit.consecutive_failures,
                    last_error=circuit.last_error,
                    requests_in_window=provider.requests_in_window(now),
                    rate_limit=str(provider.rate_limit),
                    usable_in=None if math.isinf(usable_in) else usable_in,
                )
            )
        return report

    async def transcribe(
        self,
        path: Path,
        *,
        language: str | None = None,
        timestamps: bool = True,
        first: str | None = None,
    ) -> Transcript:
        """Transcribe ``path`` with the first provider that can; see the module's docstring.

        ``first`` names a provider to try before the configured order (a user's
        choice); the others follow in order, so the choice never disables failover.

        Raises:
            TooLarge: the file is over a provider's cap: cut smaller chunks.
            Refused: every provider refused this request.
            AllProvidersFailed: none can serve now; ``retry_after`` says when one may.
        """
        size = (await asyncio.to_thread(path.stat)).st_size
        eligible = [p for p in self._providers if size <= p.max_bytes]
        eligible.sort(key=lambda p: p.name != first)  # stable: the rest keep their order
        if not eligible:
            largest = max(p.max_bytes for p in self._providers)
            raise TooLarge(
                f"{path.name} is {size} bytes; the largest any provider takes is {largest}: "
                "send it in smaller chunks",
                max_bytes=largest,
            )
        errors: dict[str, ProviderError] = {}
        while (choice := self._choose(eligible, errors)) is not None:
            provider, wait = choice
            if wait > 0:
                await self.sleep(wait)
                continue  # the picture may have changed while waiting
            try:
                return await self._attempt(provider, path, language, timestamps)
            except TooLarge:
                raise
            except Refused as error:
                if not self.config.refused_tries_next:
                    raise
                errors[provider.name] = error
            except ProviderError as error:
                errors[provider.name] = error
            # The messages are redacted: no key reaches the log.
            log.warning("speech-to-text failed over: %s", errors[provider.name])
        raise self._failure(eligible, errors)

    def _choose(
        self, eligible: Sequence[Provider], tried: dict[str, ProviderError]
    ) -> tuple[Provider, float] | None:
        """The first provider free now, or the one free soonest within ``max_wait``."""
        now = self.clock()
        soonest: tuple[Provider, float] | None = None
        for provider in eligible:
            if provider.name in tried or self._circuits[provider.name].usable_in(now) > 0:
                continue
            wait = provider.ready_in(now)
            if wait == 0:
                return provider, 0.0
            if wait <= self.config.max_wait and (soonest is None or wait < soonest[1]):
                soonest = provider, wait
        return soonest

    async def _attempt(
        self, provider: Provider, path: Path, language: str | None, timestamps: bool
    ) -> Transcript:
        circuit = self._circuits[provider.name]
        circuit.begin(self.clock())
        try:
            transcript = await provider.transcribe(path, language=language, timestamps=timestamps)
        except (TooLarge, Refused) as error:
            circuit.answered(str(error))
            raise
        except RateLimited as error:
            circuit.rate_limited(self.clock(), error.retry_after, str(error))
            raise
        except Unauthorized as error:
            circuit.unauthorized(self.clock(), str(error))
            raise
        except ProviderError as error:  # Unavailable, and any other provider failure
            circuit.unavailable(self.clock(), str(error))
            raise
        except BaseException:
            circuit.abandon()
            raise
        circuit.succeeded()
        return transcript

    def _usable_in(self, provider: Provider, now: float) -> float:
        circuit_wait = self._circuits[provider.name].usable_in(now)
        if math.isinf(circuit_wait):
            return circuit_wait
        return max(circuit_wait, provider.ready_in(now + circuit_wait))

    def _failure(
        self, eligible: Sequence[Provider], errors: dict[str, ProviderError]
    ) -> ProviderError:
        refused = [e for e in errors.values() if isinstance(e, Refused)]
        if refused and len(refused) == len(eligible):
            return refused[0]  # every provider refused: retrying later will not help
        now = self.clock()
        reasons: dict[str, str] = {}
        waits: list[float] = []
        for provider in eligible:
            error = errors.get(provider.name)
            usable_in = self._usable_in(provider, now)
            if not isinstance(error, Refused):
                waits.append(usable_in)
            reasons[provider.name] = (
                str(error) if error is not None else self._skipped(provider, now, usable_in)
            )
        soonest = min(waits, default=math.inf)
        retry_after = None if math.isinf(soonest) else max(soonest, self.config.min_retry_after)
        when = "later" if retry_after is None else f"in {retry_after:.0f} s"
        details = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        return AllProvidersFailed(
            f"no speech-to-text provider can transcribe now, try again {when} ({details})",
            retry_after=retry_after,
            errors=reasons,
        )

    def _skipped(self, provider: Provider, now: float, usable_in: float) -> str:
        circuit = self._circuits[provider.name]
        state = circuit.state(now)
        when = (
            "until a request in flight answers"
            if math.isinf(usable_in)
            else (f"for {usable_in:.0f} s more")
        )
        if state == "closed":
            return f"its rate window ({provider.rate_limit}) is full {when}"
        last = f" after: {circuit.last_error}" if circuit.last_error else ""
        return f"not asked: {state} {when}{last}"

    async def aclose(self) -> None:
        """Close every provider's connections."""
        for provider in self._providers:
            await provider.aclose()

    async def __aenter__(self) -> Providers:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Providers({list(self._providers)!r})"
