"""The emulator's settings: limits, faults and server options.

Frozen dataclasses that validate themselves, so a bad flag fails at start with
a message that names it rather than as odd behaviour later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sluice._exceptions import ConfigError

__all__ = [
    "MAX_LATENCY_MS",
    "MAX_RETRY_AFTER",
    "STT_PROVIDERS",
    "EmulatorConfig",
    "Faults",
    "Limits",
    "MtprotoConfig",
    "Rate",
    "SttConfig",
    "SttFaults",
    "SttProvider",
]

MB = 1024 * 1024
# Injected faults stay within what a test could wait for: a call is held at most a
# minute, a retry_after asks for at most an hour (Telegram's own reach hours, but a
# simulation that long only hangs a test run).
MAX_LATENCY_MS = 60_000.0
MAX_RETRY_AFTER = 3600
STT_PROVIDERS = ("openai", "groq", "together", "generic", "deepgram")


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
    # A user's message in a private chat gives the bot this many tokens back (never
    # beyond the burst): room for its answer and an edit of it, whatever the user's pace.
    private_reply: int = 2
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
        if self.private_reply < 0:
            raise ConfigError(f"private_reply must not be negative, got {self.private_reply}")


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
        _check_probabilities(self, ("p429", "p5xx", "pdrop"))
        _check_fault_ranges(self, lowest_retry_after=1)

    @property
    def active(self) -> bool:
        return bool(
            self.p429 or self.p5xx or self.pdrop or self.latency_ms or self.latency_jitter_ms
        )


@dataclass(frozen=True, slots=True)
class SttFaults:
    """Faults injected into one emulated speech-to-text provider's answers.

    Each authenticated request first waits ``latency_ms`` plus a uniform draw in
    ``[0, latency_jitter_ms]``, then is answered 429 with probability ``p429``
    (``retry-after`` drawn from ``retry_after_min..retry_after_max`` whole
    seconds), 500, 502 or 503 (a third each) with probability ``p5xx``, or 413
    with probability ``p413`` whatever its size. The three together are at most 1.
    """

    p429: float = 0.0
    retry_after_min: int = 1
    retry_after_max: int = 3
    p5xx: float = 0.0
    p413: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        _check_probabilities(self, ("p429", "p5xx", "p413"))
        if self.p429 + self.p5xx + self.p413 > 1.0 + 1e-9:
            raise ConfigError(
                "p429 + p5xx + p413 is the chance that a request fails, so at most 1; "
                f"got {self.p429} + {self.p5xx} + {self.p413}"
            )
        _check_fault_ranges(self, lowest_retry_after=0)


def _check_probabilities(faults: Faults | SttFaults, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(faults, name)
        # "not within" rather than "outside": NaN is within nothing.
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"fault probability {name} must be within [0, 1], got {value}")


def _check_fault_ranges(faults: Faults | SttFaults, *, lowest_retry_after: int) -> None:
    low, high = faults.retry_after_min, faults.retry_after_max
    if not lowest_retry_after <= low <= high <= MAX_RETRY_AFTER:
        raise ConfigError(
            f"retry_after range must satisfy {lowest_retry_after} <= retry_after_min <= "
            f"retry_after_max <= {MAX_RETRY_AFTER} seconds, got {low}..{high}"
        )
    # NaN, an infinite or an absurd latency would hold every call for ever.
    latency, jitter = faults.latency_ms, faults.latency_jitter_ms
    if not (latency >= 0 and jitter >= 0 and latency + jitter <= MAX_LATENCY_MS):
        raise ConfigError(
            "latency_ms and latency_jitter_ms must not be negative and together at most "
            f"{MAX_LATENCY_MS:.0f} ms (a call is held at most a minute), got {latency} and {jitter}"
        )


@dataclass(frozen=True, slots=True)
class SttProvider:
    """One emulated speech-to-text provider.

    ``max_upload``: the largest request body in bytes; a larger one is answered
    413 while it streams in. ``api_keys``: if given, only these keys are
    accepted; otherwise any non-empty key is. ``faults``: see :class:`SttFaults`.
    """

    max_upload: int
    api_keys: tuple[str, ...] | None = None
    faults: SttFaults = field(default_factory=SttFaults)

    def __post_init__(self) -> None:
        if self.max_upload < 1:
            raise ConfigError(f"max_upload must be at least 1 byte, got {self.max_upload}")
        if self.api_keys is not None and not all(k.strip() for k in self.api_keys):
            raise ConfigError("api_keys must not contain an empty key")


@dataclass(frozen=True, slots=True)
class SttConfig:
    """The emulated speech-to-text providers (see ``docs/emulator.md``).

    Upload caps are the providers' published ones: OpenAI 25 MB (26214400
    bytes, as its 413 message says), Groq 25 MB (free tier; 100 MB on the dev
    tier), Together 500 MB (direct uploads), Deepgram 2 GB.
    """

    openai: SttProvider = field(default_factory=lambda: SttProvider(25 * MB))
    groq: SttProvider = field(default_factory=lambda: SttProvider(25 * MB))
    together: SttProvider = field(default_factory=lambda: SttProvider(500 * MB))
    generic: SttProvider = field(default_factory=lambda: SttProvider(25 * MB))
    deepgram: SttProvider = field(default_factory=lambda: SttProvider(2048 * MB))

    def provider(self, name: str) -> SttProvider:
        if name not in STT_PROVIDERS:
            expected = ", ".join(STT_PROVIDERS)
            raise ConfigError(f"{name!r} is not a provider: expected one of {expected}")
        provider: SttProvider = getattr(self, name)
        return provider


@dataclass(frozen=True, slots=True)
class MtprotoConfig:
    """The MTProto side: on by default (it needs Telethon, for its TL schema).

    The per-account download model (``upload.getFile``): each request waits
    ``download_latency_ms``; an account's answers leave at most
    ``download_bytes_per_s`` (0: unlimited) whatever its parallelism; past
    ``download_requests`` an account is answered ``FLOOD_WAIT_X``. ``Limits.speed``
    scales them like the Bot API's limits. ``file_reference_ttl``: seconds a
    message's ``file_reference`` stays valid (then ``FILE_REFERENCE_EXPIRED``).
    ``bot_logins``: ``auth.importBotAuthorization`` per bot before ``FLOOD_WAIT_X``.
    ``peer_flood``: users who never wrote to it a user account may write to
    before ``PEER_FLOOD``.
    """

    enabled: bool = True
    file_reference_ttl: float = 7200.0
    download_latency_ms: float = 50.0
    download_bytes_per_s: float = 20.0 * MB
    download_requests: Rate = field(default_factory=lambda: Rate(30, 1.0))
    download_model: bool = True
    bot_logins: Rate = field(default_factory=lambda: Rate(5, 3600.0))
    peer_flood: int = 20

    def __post_init__(self) -> None:
        if not (math.isfinite(self.file_reference_ttl) and self.file_reference_ttl > 0):
            raise ConfigError("file_reference_ttl must be a positive number of seconds")
        if not (0 <= self.download_latency_ms <= MAX_LATENCY_MS):
            raise ConfigError(f"download_latency_ms must be within 0..{MAX_LATENCY_MS:g}")
        if not (math.isfinite(self.download_bytes_per_s) and self.download_bytes_per_s >= 0):
            raise ConfigError("download_bytes_per_s must be 0 (unlimited) or more")
        if self.peer_flood < 0:
            raise ConfigError("peer_flood must be 0 or more")


# Any token of this shape is a bot whose id is the digits (unless ``bots`` names them).
TOKEN_RE = re.compile(r"^(\d{1,20}):([A-Za-z0-9_-]{35})$")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything an emulator instance is started with.

    ``bots``: if given, only these tokens are valid; otherwise any token shaped
    ``<digits>:<35 characters of [A-Za-z0-9_-]>`` is a bot whose id is the digits.
    ``local``: behave like ``telegram-bot-api --local`` (no 20 MB getFile cap,
    2000 MB uploads, ``getFile`` returns an absolute path on disk).
    ``stt``: the emulated speech-to-text providers served on the same port.
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
    stt: SttConfig = field(default_factory=SttConfig)
    mtproto: MtprotoConfig = field(default_factory=MtprotoConfig)

    def __post_init__(self) -> None:
        for index, token in enumerate(self.bots or (), start=1):
            if not TOKEN_RE.match(token):
                # Never echo the value: it may be a real token typed by mistake.
                raise ConfigError(
                    f"bots entry {index} is not a bot token: expected "
                    "'<digits>:<35 characters of A-Z, a-z, 0-9, _ or ->'"
                )

    @property
    def max_upload(self) -> int:
        return self.max_upload_local if self.local else self.max_upload_cloud
