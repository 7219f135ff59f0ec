"""The flood ledger: which scope is blocked until when.

A 429 ``retry_after`` (or FLOOD_WAIT_X, FLOOD_PREMIUM_WAIT_X, SLOWMODE_WAIT_X)
blocks its chat. Telegram does not say whether a 429 came from the chat's
limit or the whole bot's, so the ledger infers it: when ``escalate_after``
floods in a row on one account hit at least two different chats with no
success in between, within ``escalate_window`` seconds, the whole account is
blocked until the latest of them. A stray 429 (Telegram's limits are fuzzy)
therefore costs one chat a pause, never the whole bot.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

__all__ = ["FloodLedger"]


@dataclass(slots=True)
class _Streak:
    chats: set[Hashable] = field(default_factory=set)
    count: int = 0
    started: float = 0.0
    until: float = 0.0


class FloodLedger:
    """Blocked-until times per account and per (account, chat)."""

    __slots__ = ("_accounts", "_chats", "_streaks", "escalate_after", "escalate_window")

    def __init__(self, escalate_after: int = 3, escalate_window: float = 2.0) -> None:
        self.escalate_after = escalate_after
        self.escalate_window = escalate_window
        self._accounts: dict[Hashable, float] = {}
        self._chats: dict[tuple[Hashable, Hashable], float] = {}
        self._streaks: dict[Hashable, _Streak] = {}

    def block_chat(self, account: Hashable, chat: Hashable, until: float) -> None:
        key = (account, chat)
        self._chats[key] = max(until, self._chats.get(key, until))

    def block_account(self, account: Hashable, until: float) -> None:
        self._accounts[account] = max(until, self._accounts.get(account, until))

    def record_flood(
        self, account: Hashable, chat: Hashable | None, until: float, now: float
    ) -> bool:
        """Block the chat (or the account when no chat); True if the account was escalated."""
        if chat is None:
            self.block_account(account, until)
            return True
        self.block_chat(account, chat, until)
        streak = self._streaks.get(account)
        if streak is None or now - streak.started > self.escalate_window:
            streak = self._streaks[account] = _Streak(started=now)
        streak.chats.add(chat)
        streak.count += 1
        streak.until = max(streak.until, until)
        if streak.count >= self.escalate_after and len(streak.chats) >= 2:
            self.block_account(account, streak.until)
            del self._streaks[account]
            return True
        return False

    def record_success(self, account: Hashable) -> None:
        self._streaks.pop(account, None)

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
