"""The gate: Telegram calls at full permitted speed, in order, without FloodWait storms."""

from __future__ import annotations

from sluice.gate._call import Priority
from sluice.gate._context import current_flow, current_priority, sending_as
from sluice.gate._gate import Gate
from sluice.gate._keys import chat_key
from sluice.gate._methods import is_send_like
from sluice.gate._outcome import (
    Classifier,
    Fatal,
    Flood,
    Kind,
    Restricted,
    RetryPolicy,
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
    "chat_key",
    "current_flow",
    "current_priority",
    "is_send_like",
    "sending_as",
]
