"""Accounts (what Telegram limits), their health, and the secrets they are reached with."""

from __future__ import annotations

from sluice.accounts._account import Account, Health
from sluice.accounts._credentials import (
    API_HASH_SHAPE,
    API_ID_SHAPE,
    BOT_TOKEN_SHAPE,
    SESSION_SHAPE,
    BotToken,
    MTProtoCredential,
    is_api_hash,
    is_bot_token,
    is_telethon_session,
    parse_api_id,
)

__all__ = [
    "API_HASH_SHAPE",
    "API_ID_SHAPE",
    "BOT_TOKEN_SHAPE",
    "SESSION_SHAPE",
    "Account",
    "BotToken",
    "Health",
    "MTProtoCredential",
    "is_api_hash",
    "is_bot_token",
    "is_telethon_session",
    "parse_api_id",
]
