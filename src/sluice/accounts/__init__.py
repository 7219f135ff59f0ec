"""Accounts, their health, and loading them from the environment."""

from __future__ import annotations

from sluice.accounts._account import Account, Health

__all__ = ["Account", "Health"]
