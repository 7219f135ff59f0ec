"""Whether a provider may be asked now: its circuit breaker, its 429 cooldown, its health.

A circuit is **closed** while the provider works. Server errors, network
errors and timeouts in a row (``failure_threshold``, 3 by default) **open**
it for ``open_for`` seconds; after that it is **half-open**: one request, the
probe, goes through while the others pass it by, and its outcome decides. A
probe that fails opens the circuit again for twice as long (up to
``max_open_for``); any proper answer closes it. A rejected key opens it at
once for ``auth_open_for``. A 429 leaves the circuit closed but **cooling**
until the provider's ``retry-after``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sluice._exceptions import ConfigError
from sluice._redact import redact

__all__ = ["Circuit", "CircuitState", "FailoverConfig", "ProviderHealth"]

CircuitState = Literal["closed", "open", "half-open", "cooling"]


@dataclass(frozen=True, slots=True)
class FailoverConfig:
    """How the failover chain treats failing providers.

    Parameters:
        failure_threshold: consecutive server/network failures that open a circuit.
        open_for: seconds a circuit first stays open; doubled after each failed probe.
        max_open_for: the longest a circuit stays open after failed probes.
        auth_open_for: seconds a provider that rejected its key is left alone.
        rate_limit_cooldown: seconds a 429 without ``retry-after`` cools a provider.
        max_wait: the longest the chain waits in place for a provider's rate
            window; past it the request goes elsewhere or fails with a retry time.
        min_retry_after: the shortest retry time :class:`AllProvidersFailed` gives.
        refused_tries_next: whether a request one provider refused (400) is
            offered to the next one (why it is by default: :mod:`._failover`).
    """

    failure_threshold: int = 3
    open_for: float = 60.0
    max_open_for: float = 900.0
    auth_open_for: float = 3600.0
    rate_limit_cooldown: float = 10.0
    max_wait: float = 5.0
    min_retry_after: float = 1.0
    refused_tries_next: bool = True

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError(f"failure_threshold must be at least 1, got {self.failure_threshold}")
        for name in ("open_for", "max_open_for", "auth_open_for", "rate_limit_cooldown"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
        if self.max_open_for < self.open_for:
            raise ConfigError(
                f"max_open_for ({self.max_open_for}) must be at least open_for ({self.open_for})"
            )
        for name in ("max_wait", "min_retry_after"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be zero or more seconds, got {value}")


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's health, for ``/status`` and ``/botstats``.

    ``usable_in``: seconds until it may be asked again (0: now; None: when a
    request in flight answers). ``requests_in_window``: requests answered in
    its current rate window plus those in flight, out of ``rate_limit``.
    """

    name: str
    model: str
    state: CircuitState
    successes: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    requests_in_window: int
    rate_limit: str
    usable_in: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "state": self.state,
            "successes": self.successes,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "requests_in_window": self.requests_in_window,
            "rate_limit": self.rate_limit,
            "usable_in": None if self.usable_in is None else round(self.usable_in, 3),
        }


class Circuit:
    """One provider's circuit breaker and 429 cooldown; times are the chain's clock."""

    __slots__ = (
        "_cooling_until",
        "_open_for",
        "_open_until",
        "_probing",
        "config",
        "consecutive_failures",
        "failures",
        "last_error",
        "successes",
    )

    def __init__(self, config: FailoverConfig) -> None:
        self.config = config
        self.successes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self._open_until: float | None = None  # None: closed
        self._open_for = config.open_for
        self._probing = False
        self._cooling_until = -math.inf

    def state(self, now: float) -> CircuitState:
        if self._open_until is not None:
            return "open" if now < self._open_until else "half-open"
        return "cooling" if now < self._cooling_until else "closed"

    def usable_in(self, now: float) -> float:
        """Seconds until a request may go (0: now; ``inf``: when the probe in flight answers)."""
        if self._open_until is not None:
            if now < self._open_until:
                return self._open_until - now
            return math.inf if self._probing else 0.0
        return max(0.0, self._cooling_until - now)

    def begin(self, now: float) -> None:
        """A request starts; in the half-open state it is the probe."""
        if self._open_until is not None and now >= self._open_until:
            self._probing = True

    def abandon(self) -> None:
        """The request ended without a verdict (cancelled): let the next one probe."""
        self._probing = False

    def succeeded(self) -> None:
        self.successes += 1
        self._close()

    def answered(self, error: str) -> None:
        """The provider answered properly but refused this request (400, 413): it works."""
        self._failed(error)
        if self._probing:
            self._close()

    def rate_limited(self, now: float, retry_after: float | None, error: str) -> None:
        self._failed(error)
        cooldown = self.config.rate_limit_cooldown if retry_after is None else retry_after
        self._cooling_until = max(self._cooling_until, now + cooldown)
        if self._probing:  # a 429 is a working server's answer
            self._close()

    def unavailable(self, now: float, error: str) -> None:
        """A server error, a network error or a timeout."""
        self._failed(error)
        self.consecutive_failures += 1
        if self._probing:
            self._open_for = min(self._open_for * 2, self.config.max_open_for)
            self._open(now, self._open_for)
        elif self._open_until is None and (
            self.consecutive_failures >= self.config.failure_threshold
        ):
            self._open_for = self.config.open_for
            self._open(now, self._open_for)
        # else: a request sent before the circuit opened; the open one stands.

    def unauthorized(self, now: float, error: str) -> None:
        self._failed(error)
        self.consecutive_failures += 1
        self._open(now, self.config.auth_open_for)

    def _failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = redact(error)

    def _open(self, now: float, seconds: float) -> None:
        self._open_until = now + seconds
        self._probing = False

    def _close(self) -> None:
        self.consecutive_failures = 0
        self._open_until = None
        self._open_for = self.config.open_for
        self._probing = False
