"""Faults for the emulated speech-to-text providers: drawn, or scripted in advance.

Each provider draws from its own ``random.Random`` seeded from the emulator's
seed and the provider's name, so the faults one provider injects do not depend
on how much traffic another one had. A scripted answer ("the next N requests
get status S") is used before any draw, so a test can say exactly what happens.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from sluice.emulator._config import SttFaults

__all__ = ["FAULT_STATUSES", "ScriptedFault", "SttFault", "SttFaultInjector"]

FAULT_STATUSES = frozenset({413, 429, 500, 502, 503})
_5XX = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class SttFault:
    """The answer a fault imposes: ``status``, and for a 429 the ``retry_after`` seconds."""

    status: int
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class ScriptedFault:
    """Answer the next ``count`` requests with ``status`` (``retry_after`` for a 429)."""

    status: int
    count: int = 1
    retry_after: int = 1


class SttFaultInjector:
    __slots__ = ("faults", "rng", "script")

    def __init__(self, faults: SttFaults, seed: int | None, provider: str) -> None:
        self.faults = faults
        # A string seed is hashed deterministically (not with PYTHONHASHSEED).
        self.rng = random.Random(None if seed is None else f"{seed}:{provider}")
        # Each entry with the number of answers it still owes: a count of a
        # million costs one entry, not a million.
        self.script: deque[tuple[SttFault, int]] = deque()

    def set_script(self, items: list[ScriptedFault]) -> None:
        self.script = deque(
            (SttFault(item.status, item.retry_after if item.status == 429 else 0), item.count)
            for item in items
            if item.count > 0
        )

    def latency(self) -> float:
        f = self.faults
        if not (f.latency_ms or f.latency_jitter_ms):
            return 0.0
        jitter = self.rng.uniform(0.0, f.latency_jitter_ms) if f.latency_jitter_ms else 0.0
        return (f.latency_ms + jitter) / 1000.0

    def draw(self) -> SttFault | None:
        """The fault for this request, if any: the script first, then one draw."""
        if self.script:
            fault, left = self.script[0]
            if left > 1:
                self.script[0] = (fault, left - 1)
            else:
                self.script.popleft()
            return fault
        f = self.faults
        if not (f.p429 or f.p5xx or f.p413):
            return None
        # One draw decides between the three, so the draws a run makes do not
        # depend on which probabilities happen to be zero.
        roll = self.rng.random()
        if roll < f.p429:
            return SttFault(429, self.rng.randint(f.retry_after_min, f.retry_after_max))
        if roll < f.p429 + f.p5xx:
            return SttFault(self.rng.choice(_5XX))
        if roll < f.p429 + f.p5xx + f.p413:
            return SttFault(413)
        return None
