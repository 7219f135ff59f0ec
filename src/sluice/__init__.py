"""sluice: run Telegram bots at the full speed Telegram permits."""

from __future__ import annotations

from sluice._exceptions import (
    AccountRestricted,
    ConfigError,
    DeadlineExceeded,
    FloodRetriesExhausted,
    GateError,
    MissingExtra,
    NoAccountAvailable,
    RetriesExhausted,
    SluiceError,
)
from sluice._ffmpeg import MediaError
from sluice._redact import install_log_redaction, redact, redact_exception, register_secret

__version__ = "0.1.0"

__all__ = [
    "AccountRestricted",
    "ConfigError",
    "DeadlineExceeded",
    "FloodRetriesExhausted",
    "GateError",
    "MediaError",
    "MissingExtra",
    "NoAccountAvailable",
    "RetriesExhausted",
    "SluiceError",
    "__version__",
    "install_log_redaction",
    "redact",
    "redact_exception",
    "register_secret",
]
