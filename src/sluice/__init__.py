"""sluice: run Telegram bots at the full speed Telegram permits."""

from __future__ import annotations

from sluice._exceptions import (
    AccountRestricted,
    ConfigError,
    DeadlineExceeded,
    EmulatorError,
    FloodRetriesExhausted,
    GateError,
    JobError,
    JobNotFound,
    LimiterUnavailable,
    MediaError,
    MissingExtra,
    NoAccountAvailable,
    QueueFull,
    RetriesExhausted,
    Retryable,
    ServiceUnavailable,
    SluiceError,
    StoreUnavailable,
    WeightsError,
)
from sluice._redact import install_log_redaction, redact, redact_exception, register_secret

__version__ = "0.1.0"

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
    "__version__",
    "install_log_redaction",
    "redact",
    "redact_exception",
    "register_secret",
]
