"""Adaptive rates: cut a scope's rate when Telegram refuses what the model allowed.

Multiplicative decrease, additive increase. On a flood the rate factor drops
to the lower of ``factor * decrease`` and what Telegram was seen to accept in
the last window (for a sliding-window limit, the sends that went through just
before the refusal are Telegram's real count). It then holds for ``hold``
windows and climbs back by ``step`` every ``hold`` windows without a flood.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdaptiveRate"]


@dataclass(slots=True)
class AdaptiveRate:
    """The rate factor of one scope, in ``(floor, 1]``."""

    factor: float = 1.0
    decrease: float = 0.7
    step: float = 0.05
    floor: float = 0.1
    hold: float = 30.0  # seconds (already speed-scaled by the caller)
    _changed_at: float = float("-inf")

    def on_flood(self, now: float, observed: float | None = None) -> float:
        cut = self.factor * self.decrease
        if observed is not None and observed > 0:
            cut = min(cut, observed) if observed < self.factor else cut
        self.factor = max(self.floor, cut)
        self._changed_at = now
        return self.factor

    def on_success(self, now: float) -> bool:
        """Recover a step if the scope has been quiet for ``hold``; True if it changed."""
        if self.factor >= 1.0 or now - self._changed_at < self.hold:
            return False
        self.factor = min(1.0, self.factor + self.step)
        self._changed_at = now
        return True
