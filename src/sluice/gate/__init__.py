"""The gate: Telegram calls at full permitted speed, in order, without FloodWait storms."""

from __future__ import annotations

from sluice.gate._broadcast import BroadcastProgress, BroadcastReport, Outcome, broadcast
from sluice.gate._context import sending_as
from sluice.gate._distributed import DistributedGate
from sluice.gate._gate import Gate
from sluice.gate._keys import chat_key
from sluice.gate._lanes import Priority
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
from sluice.gate._status import StatusMessage

__all__ = [
    "BroadcastProgress",
    "BroadcastReport",
    "Classifier",
    "DistributedGate",
    "Fatal",
    "Flood",
    "Gate",
    "Kind",
    "Outcome",
    "Priority",
    "Restricted",
    "RetryPolicy",
    "StatusMessage",
    "Transient",
    "Unauthorized",
    "Verdict",
    "broadcast",
    "chat_key",
    "is_send_like",
    "sending_as",
]
