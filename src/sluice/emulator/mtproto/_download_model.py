"""The per-account download model of ``upload.getFile``, and its statistics.

Telegram shapes a download by account, not by connection: more connections (or
more requests in flight) do not buy more bandwidth past a point, and too many
requests earn ``FLOOD_WAIT_X``. The model, from ``MtprotoConfig``:

- every request waits ``download_latency_ms`` (the round trip to the file store);
- an account's answers share one pipe of ``download_bytes_per_s``: each answer is
  scheduled after the account's previous one finished (a virtual finish time), so
  eight requests in flight get eight times less bandwidth each, not eight times more;
- past ``download_requests`` (count per window) the request is refused with
  ``FLOOD_WAIT_X``, X the whole seconds until the oldest request leaves the window.

``Limits.speed`` multiplies the rates and divides the latency, as for the Bot API's
limits. Times come from the emulator's clock, so a test drives the schedule; the
handler then waits the computed delay on the event loop.

The model also keeps each account's counters (``GET /_sim/stats``, ``mtproto``), and
the connection drops and flood waits ``POST /_sim/mtproto/drop`` and ``/flood`` scheduled.
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.emulator._config import MtprotoConfig
from sluice.emulator.mtproto._rpc import flood_wait

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator._world import World

__all__ = ["AccountDownloads", "DownloadModel", "downloads"]


@dataclass(slots=True)
class AccountDownloads:
    """One account's download counters and schedule."""

    requests: int = 0  # upload.getFile answered with bytes
    bytes: int = 0
    flood_waits: int = 0
    drops: int = 0  # connections dropped by POST /_sim/mtproto/drop
    admitted: deque[float] = field(default_factory=deque)  # clock times, in the window
    busy_until: float = 0.0  # when the account's pipe finishes its last scheduled answer
    # Drop the account's connections after this many more getFile requests (None: no drop).
    drop_after: int | None = None
    # Answer FLOOD_WAIT_<flood_seconds> after this many more getFile requests (None: no flood).
    flood_after: int | None = None
    flood_seconds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "flood_waits": self.flood_waits,
            "drops": self.drops,
        }


class DownloadModel:
    """Latency, bandwidth and request rate of ``upload.getFile``, per account.

    ``admit(account, nbytes)`` counts one request and returns the seconds its answer
    waits, or raises ``FLOOD_WAIT_X``; it never waits itself.
    """

    def __init__(self, config: MtprotoConfig, speed: float, clock: Callable[[], float]) -> None:
        self.enabled = config.download_model
        self.latency = config.download_latency_ms / 1000 / speed
        self.bytes_per_s = config.download_bytes_per_s * speed  # 0: unlimited
        self.max_requests = config.download_requests.count
        self.window = config.download_requests.per / speed
        self.clock = clock
        self.accounts: dict[int, AccountDownloads] = {}

    def account(self, account_id: int) -> AccountDownloads:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = AccountDownloads()
        return found

    def admit(self, account_id: int, nbytes: int) -> float:
        """Count a request answering ``nbytes``; the seconds until its answer leaves."""
        state = self.account(account_id)
        if not self.enabled:
            state.requests += 1
            state.bytes += nbytes
            return 0.0
        now = self.clock()
        admitted = state.admitted
        while admitted and admitted[0] <= now - self.window:
            admitted.popleft()
        if len(admitted) >= self.max_requests:
            state.flood_waits += 1
            raise flood_wait(max(1, math.ceil(admitted[0] + self.window - now)))
        admitted.append(now)
        state.requests += 1
        state.bytes += nbytes
        ready = now + self.latency
        if self.bytes_per_s <= 0:
            return ready - now
        start = max(ready, state.busy_until)
        state.busy_until = start + nbytes / self.bytes_per_s
        return state.busy_until - now

    def to_json(self) -> dict[str, Any]:
        return {str(account): s.to_json() for account, s in sorted(self.accounts.items())}


# Beside the world rather than in it: a reset makes a new World, and so a new model.
_MODELS: weakref.WeakKeyDictionary[World, DownloadModel] = weakref.WeakKeyDictionary()


def downloads(emu: Emulator) -> DownloadModel:
    """The download model of the emulator's current world."""
    found = _MODELS.get(emu.world)
    if found is None:
        config = emu.config
        found = _MODELS[emu.world] = DownloadModel(config.mtproto, config.limits.speed, emu.clock)
    return found
