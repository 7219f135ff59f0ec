"""Adaptive rates: cut a scope's rate when Telegram refuses what the model allowed.

Telegram's real limits are unpublished, fuzzy and shared, so the published
figures are ceilings. When a 429 arrives although the model allowed the call,
the scope's rate factor drops (multiplicative decrease): to what Telegram was
seen to accept just before refusing, when that is known and lower (for a
sliding window, the sends that went through in the last window are Telegram's
real count), else to ``decrease`` times what it was. It then holds for ``hold`` seconds and
climbs back by ``step`` at a time, ``hold`` apart (additive increase).

Every 429 costs at least a whole second of the scope, far more than a few
percent of rate, so probing upward is slow and gets slower: a probe that ends
in another flood doubles the hold, up to ``max_hold``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdaptiveRate"]


@dataclass(slots=True)
class AdaptiveRate:
    """The rate factor of one scope, in ``[floor, 1]``; times are in the caller's clock."""

    factor: float = 1.0
    decrease: float = 0.7
    step: float = 0.05
    floor: float = 0.1
    hold: float = 300.0
    max_hold: float = 3600.0
    _hold: float = 0.0
    _changed_at: float = float("-inf")
    _probing: bool = False

    def on_flood(self, now: float, observed: float | None = None) -> float:
        """Cut the rate; ``observed`` is the factor Telegram was seen to accept, if known."""
        if observed is not None and 0 < observed < self.factor:
            # Telegram accepted this much and refused more: that is its limit. A sparse
            # window says little, so never cut below decrease² in one step.
            cut = max(observed, self.factor * self.decrease**2)
        else:
            cut = self.factor * self.decrease
        self.factor = max(self.floor, cut)
        self._hold = min(self.max_hold, 2 * self._hold) if self._probing else self.hold
        self._probing = False
        self._changed_at = now
        return self.factor

    def adopt(self, factor: float, now: float) -> None:
        """Go down to ``factor`` if it is lower: what another scope of the same kind learned."""
        if factor < self.factor:
            self.factor = max(self.floor, factor)
            self._hold = self.hold
            self._probing = False
            self._changed_at = now

    def on_success(self, now: float) -> bool:
        """Recover a step if the scope has been quiet for the hold; True if it changed."""
        if self.factor >= 1.0 or now - self._changed_at < self._hold:
            return False
        self.factor = min(1.0, self.factor + self.step)
        self._probing = True
        self._changed_at = now
        return True
