"""Every error sluice raises, under one base: ``except SluiceError`` catches them all.

::

    SluiceError
     ├── ConfigError               a setting, argument, flag or environment variable is invalid
     ├── MissingExtra              a feature's optional dependencies are not installed
     ├── ServiceUnavailable        a service sluice needs cannot be reached
     │    ├── LimiterUnavailable   the shared limits (Redis): the gate waits for them
     │    └── StoreUnavailable     the database
     ├── GateError                 a call the gate could not complete (``method``, ``chat_id``)
     │    ├── DeadlineExceeded     the caller's deadline passed first
     │    ├── RetriesExhausted     transient failures (5xx, network) outlasted the retries
     │    ├── FloodRetriesExhausted    Telegram kept answering 429 past the flood retries
     │    └── NoAccountAvailable   every account the call may use is paused (``reasons``)
     │         └── AccountRestricted   Telegram restricted the account: paused, not worked around
     ├── JobError                  durable jobs
     │    ├── JobNotFound          no job has this id
     │    ├── QueueFull            the user has as many jobs waiting as the policy allows
     │    └── Retryable            raised by a handler: run the job again later
     ├── MediaError                ffmpeg could not decode a file, or there is no ffmpeg
     ├── EmulatorError             the emulator refused a /_sim/ request (sluice.emulator.Sim)
     ├── WeightsError              a local speech model's files are missing or not the official ones
     └── ProviderError             a speech-to-text provider failed (sluice.apps.transcribe)
          ├── RateLimited, Unavailable, TooLarge, Unauthorized, Refused
          └── AllProvidersFailed

Errors Telegram answers for the request itself (400 Bad Request, 403 Forbidden)
are raised as the caller's own library raised them (aiogram's
``TelegramForbiddenError``, python-telegram-bot's ``Forbidden``), so existing
``except`` clauses keep working. Messages say what happened and what to do
about it, and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

__all__ = [
    "AccountRestricted",
    "ConfigError",
    "DeadlineExceeded",
    "EmulatorError",
    "FloodRetriesExhausted",
    "GateError",
    "JobError",
    "JobNotFound",
    "LimiterUnavailable",
    "MediaError",
    "MissingExtra",
    "NoAccountAvailable",
    "QueueFull",
    "RetriesExhausted",
    "Retryable",
    "ServiceUnavailable",
    "SluiceError",
    "StoreUnavailable",
    "WeightsError",
]


class SluiceError(Exception):
    """Base class of every error sluice raises."""


class ConfigError(SluiceError, ValueError):
    """A setting, argument, flag or environment variable is invalid."""


class MissingExtra(SluiceError, ImportError):
    """A module needs an extra that is not installed; the message names it.

    An :class:`ImportError` too, so code that probes for optional features
    with ``except ImportError`` keeps working.
    """

    def __init__(self, feature: str, extra: str, missing: list[str]) -> None:
        super().__init__(
            f"{feature} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'sluice-telegram[{extra}]'",
            name=missing[0] if missing else None,
        )
        self.feature = feature
        self.extra = extra
        self.missing = missing


class ServiceUnavailable(SluiceError):
    """A service sluice needs (Redis, the database) cannot be reached."""


class LimiterUnavailable(ServiceUnavailable):
    """The shared limits cannot be reached (Redis down, restarting, unreachable).

    Nothing may be sent without them: the gate waits and asks again.
    """


class StoreUnavailable(ServiceUnavailable):
    """The database could not be reached or opened (down, refused, unwritable)."""


class GateError(SluiceError):
    """A call the gate could not complete; ``method`` and ``chat_id`` say which."""

    def __init__(self, message: str, *, method: str = "", chat_id: Hashable | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.chat_id = chat_id


class DeadlineExceeded(GateError):
    """The caller's deadline passed before the call could be sent successfully."""


class RetriesExhausted(GateError):
    """Transient failures outlasted the retries; ``__cause__`` is the last one."""


class FloodRetriesExhausted(GateError):
    """Telegram kept answering 429 to this call past the flood retry limit."""


class NoAccountAvailable(GateError):
    """Every account this call may use is paused; ``reasons`` says why, by account label."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        chat_id: Hashable | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, method=method, chat_id=chat_id)
        self.reasons = dict(reasons or {})


class AccountRestricted(NoAccountAvailable):
    """Telegram restricted the account (PEER_FLOOD, banned, frozen): sluice paused it and
    will not work around it; its owner should check @SpamBot."""


class JobError(SluiceError):
    """Something about a durable job."""


class JobNotFound(JobError):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class QueueFull(JobError):
    """The user already has as many jobs of this kind waiting as its policy allows."""

    def __init__(self, kind: str, user_id: int | None, cap: int) -> None:
        super().__init__(
            f"user {user_id} already has {cap} {kind} job(s) waiting; "
            "wait for one to finish or cancel one"
        )
        self.kind = kind
        self.user_id = user_id
        self.cap = cap


class Retryable(JobError):
    """Raise from a handler to run the job again later (with backoff), if attempts remain.

    ``delay``: seconds to wait instead of the policy's backoff.
    """

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class MediaError(SluiceError):
    """ffmpeg could not decode a file: it is corrupt, truncated or not audio or video.

    ``path`` is the file; ``detail`` is ffmpeg's own explanation. Also raised,
    with its own message, when there is no ffmpeg to run at all.
    """

    def __init__(self, path: Path | str, detail: str, *, message: str | None = None) -> None:
        super().__init__(
            message
            or f"corrupt or unsupported media: {Path(path).name}: {detail}; "
            "check that the file is a complete audio or video recording"
        )
        self.path = Path(path)
        self.detail = detail


class EmulatorError(SluiceError):
    """The emulator refused a ``/_sim/`` request; the message carries its description."""


class WeightsError(SluiceError):
    """A local speech model's files are missing, truncated, corrupt or not the ones
    they claim to be: they are never loaded. The message says what to reinstall."""
