"""Simulated chat membership: bots added, promoted and removed, users joining, leaving, restricted (chat_member, my_chat_member)."""

from __future__ import annotations

__all__: list[str] = []
