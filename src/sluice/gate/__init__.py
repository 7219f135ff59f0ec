"""The gate: Telegram calls at full permitted speed, in order, without FloodWait storms."""

from __future__ import annotations

from sluice.gate._gate import Gate, RetryPolicy
from sluice.gate._lanes import Priority
from sluice.gate._outcome import (
    Classifier,
    Fatal,
    Flood,
    Kind,
    Restricted,
    Transient,
    Unauthorized,
    Verdict,
)

__all__ = [
    "Classifier",
    "Fatal",
    "Flood",
    "Gate",
    "Kind",
    "Priority",
    "Restricted",
    "RetryPolicy",
    "Transient",
    "Unauthorized",
    "Verdict",
]
