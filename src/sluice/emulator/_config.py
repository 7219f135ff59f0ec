"""The emulator's settings: limits, faults and server options.

Frozen dataclasses that validate themselves, so a bad flag fails at start with
a message that names it rather than as odd behaviour later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sluice._exceptions import ConfigError

__all__ = ["EmulatorConfig", "Faults", "Limits", "Rate"]

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` events per ``per`` seconds."""

    count: int
    per: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"a rate needs a count of at least 1, got {self.count}")
        if not (self.per > 0 and math.isfinite(self.per)):
            raise ConfigError(f"a rate needs a positive window in seconds, got {self.per}")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``"30/1"`` (30 per second) or ``"20/60"`` (20 per minute)."""
        count, sep, per = text.partition("/")
        try:
            return cls(int(count), float(per) if sep else 1.0)
        except ValueError:
            raise ConfigError(
                f"{text!r} is not a rate: expected '<count>/<seconds>', e.g. '20/60'"
            ) from None

    def __str__(self) -> str:
        return f"{self.count}/{self.per:g}"


@dataclass(frozen=True, slots=True)
class Limits:
    """Flood limits, per bot. Defaults are Telegram's published figures.

    ``speed`` compresses time: every window is divided by it, so every rate is
    multiplied by it, while ``retry_after`` answers stay in real whole seconds.
    """

    bot: Rate = field(default_factory=lambda: Rate(30, 1.0))
    private: Rate = field(default_factory=lambda: Rate(1, 1.0))
    private_burst: int = 3
    group: Rate = field(default_factory=lambda: Rate(20, 60.0))
    # Calls with allow_paid_broadcast use this bot-wide limit instead of ``bot``.
    paid: Rate = field(default_factory=lambda: Rate(1000, 1.0))
    speed: float = 1.0
    # After a 429 the scope stays closed until retry_after has passed, as on
    # Telegram: ignoring retry_after earns another 429, never a success.
    enforce_retry_after: bool = True

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ConfigError(f"speed must be a positive number, got {self.speed}")
        if self.private_burst < 1:
            raise ConfigError(f"private_burst must be at least 1, got {self.private_burst}")


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults injected into Bot API calls (never into ``getUpdates`` or ``/_sim``).

    ``p429`` applies to send-like calls only; the others to every method.
    Latency is ``latency_ms`` plus a uniform draw in ``[0, latency_jitter_ms]``.
    """

    p429: float = 0.0
    retry_after_min: int = 1
    retry_after_max: int = 3
    p5xx: float = 0.0
    pdrop: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p429", "p5xx", "pdrop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault probability {name} must be within [0, 1], got {value}")
        if not 1 <= self.retry_after_min <= self.retry_after_max:
            raise ConfigError(
                "retry_after range must satisfy 1 <= retry_after_min <= retry_after_max, "
                f"got {self.retry_after_min}..{self.retry_after_max}"
            )
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ConfigError("latency_ms and latency_jitter_ms must not be negative")

    @property
    def active(self) -> bool:
        return bool(
            self.p429 or self.p5xx or self.pdrop or self.latency_ms or self.latency_jitter_ms
        )


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything an emulator instance is started with.

    ``bots``: if given, only these tokens are valid; otherwise any token shaped
    ``<digits>:<35 characters of [A-Za-z0-9_-]>`` is a bot whose id is the digits.
    ``local``: behave like ``telegram-bot-api --local`` (no 20 MB getFile cap,
    2000 MB uploads, ``getFile`` returns an absolute path on disk).
    """

    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    local: bool = False
    seed: int | None = None
    bots: tuple[str, ...] | None = None
    data_dir: str | None = None
    max_download_cloud: int = 20 * MB
    max_upload_cloud: int = 50 * MB
    max_upload_local: int = 2000 * MB

    @property
    def max_upload(self) -> int:
        return self.max_upload_local if self.local else self.max_upload_cloud
