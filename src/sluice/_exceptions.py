"""The exceptions sluice raises.

Every error sluice raises derives from one base, so ``except SluiceError``
catches all of them::

    SluiceError
     ├── ConfigError              a setting, flag or environment variable is invalid
     ├── MissingExtra             a feature's optional dependencies are not installed
     └── GateError                a call the gate could not complete
          ├── DeadlineExceeded    the caller's deadline passed before the call succeeded
          ├── RetriesExhausted    transient failures (5xx, network) outlasted the retries
          ├── FloodRetriesExhausted   Telegram kept answering 429 past the flood retries
          ├── AccountRestricted   the account is spam-restricted (PEER_FLOOD): paused
          └── NoAccountAvailable  every account the call may use is quarantined

Errors Telegram answers for the request itself (400 Bad Request, 403 Forbidden)
are raised as the caller's own library raised them (aiogram's
``TelegramForbiddenError``, python-telegram-bot's ``Forbidden``), so existing
``except`` clauses keep working. Messages say what happened and what to do
about it, and never contain a secret.
"""

from __future__ import annotations

__all__ = [
    "AccountRestricted",
    "ConfigError",
    "DeadlineExceeded",
    "FloodRetriesExhausted",
    "GateError",
    "MissingExtra",
    "NoAccountAvailable",
    "RetriesExhausted",
    "SluiceError",
]


class SluiceError(Exception):
    """Base class of every error sluice raises."""


class ConfigError(SluiceError, ValueError):
    """A setting, flag or environment variable is invalid."""


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


class GateError(SluiceError):
    """A call the gate could not complete; ``method`` and ``chat_id`` say which."""

    def __init__(self, message: str, *, method: str = "", chat_id: object = None) -> None:
        super().__init__(message)
        self.method = method
        self.chat_id = chat_id


class DeadlineExceeded(GateError):
    """The caller's deadline passed before the call could be sent successfully."""


class RetriesExhausted(GateError):
    """Transient failures outlasted the retries; ``__cause__`` is the last one."""


class FloodRetriesExhausted(GateError):
    """Telegram kept answering 429 to this call past the flood retry limit."""


class AccountRestricted(GateError):
    """The account is spam-restricted (PEER_FLOOD); sluice paused it and will not work around it."""


class NoAccountAvailable(GateError):
    """Every account this call may use is quarantined (for example its token was revoked)."""
