"""Simulated inline queries, chosen inline results and payments in Telegram Stars."""

from __future__ import annotations

__all__: list[str] = []
