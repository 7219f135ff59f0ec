"""The flood ledger: which scope is blocked until when.

A 429 ``retry_after`` (or FLOOD_WAIT_X, FLOOD_PREMIUM_WAIT_X, SLOWMODE_WAIT_X)
blocks its chat, or the whole account. Which of the two a chat's 429 means
is the limiter's call (see :class:`~sluice.limits.MemoryLimiter`); the ledger
keeps the blocks, and the recent 429s that no chat's own limit explains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

__all__ = ["FloodLedger"]


class FloodLedger:
    """Blocked-until times per account and per (account, chat)."""

    __slots__ = ("_accounts", "_chats", "_unexplained")

    def __init__(self) -> None:
        self._accounts: dict[Hashable, float] = {}
        self._chats: dict[tuple[Hashable, Hashable], float] = {}
        self._unexplained: dict[Hashable, deque[tuple[float, Hashable, float, int]]] = {}

    def block_chat(self, account: Hashable, chat: Hashable, until: float) -> None:
        key = (account, chat)
        self._chats[key] = max(until, self._chats.get(key, until))

    def block_account(self, account: Hashable, until: float) -> None:
        self._accounts[account] = max(until, self._accounts.get(account, until))

    def unexplained(
        self,
        account: Hashable,
        chat: Hashable,
        until: float,
        now: float,
        within: float,
        answered: int = 0,
    ) -> list[tuple[float, Hashable, float, int]]:
        """Note a 429 no chat's own limit explains; those of the last ``within`` seconds,
        as (when, chat, until, how many answers the account had had then)."""
        recent = self._unexplained.setdefault(account, deque())
        recent.append((now, chat, until, answered))
        while recent and recent[0][0] < now - within:
            recent.popleft()
        return list(recent)

    def forget_unexplained(self, account: Hashable) -> None:
        self._unexplained.pop(account, None)

    def account_until(self, account: Hashable, now: float) -> float:
        until = self._accounts.get(account)
        if until is None:
            return now
        if until <= now:
            del self._accounts[account]
            return now
        return until

    def chat_until(self, account: Hashable, chat: Hashable, now: float) -> float:
        until = self._chats.get((account, chat))
        if until is None:
            return now
        if until <= now:
            del self._chats[(account, chat)]
            return now
        return until

    def open_at(self, account: Hashable, chat: Hashable | None, now: float) -> float:
        """The moment both the account and the chat are open again (``now`` if they are)."""
        until = self.account_until(account, now)
        if chat is not None:
            until = max(until, self.chat_until(account, chat, now))
        return until
