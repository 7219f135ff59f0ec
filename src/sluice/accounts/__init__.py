"""Accounts, their health, and loading them from the environment."""

from __future__ import annotations

from sluice.accounts._account import Account, Health
from sluice.accounts._config import Settings, load_settings
from sluice.accounts._credentials import BotToken, MTProtoCredential

__all__ = ["Account", "BotToken", "Health", "MTProtoCredential", "Settings", "load_settings"]
