"""Fault injection: spurious 429s, 5xx answers, dropped connections, latency.

One seeded ``random.Random`` draws every fault, so a run with ``--seed`` and
the same order of calls injects the same faults.
"""

from __future__ import annotations

import random
from typing import Literal

from sluice.emulator._config import Faults

__all__ = ["FaultInjector"]

Fault = Literal["drop", "500", "502"]


class FaultInjector:
    __slots__ = ("faults", "rng")

    def __init__(self, faults: Faults, seed: int | None) -> None:
        self.faults = faults
        self.rng = random.Random(seed)

    def latency(self) -> float:
        f = self.faults
        if not (f.latency_ms or f.latency_jitter_ms):
            return 0.0
        return (f.latency_ms + self.rng.uniform(0.0, f.latency_jitter_ms)) / 1000.0

    def transport_fault(self) -> Fault | None:
        f = self.faults
        if f.pdrop and self.rng.random() < f.pdrop:
            return "drop"
        if f.p5xx and self.rng.random() < f.p5xx:
            return "500" if self.rng.random() < 0.5 else "502"
        return None

    def spurious_retry_after(self) -> int | None:
        f = self.faults
        if f.p429 and self.rng.random() < f.p429:
            return self.rng.randint(f.retry_after_min, f.retry_after_max)
        return None
