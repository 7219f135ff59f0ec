"""Chat administration: members, admins, bans, restrictions, promotions, titles, invite links, permissions, profile photos."""

from __future__ import annotations

__all__: list[str] = []
