"""Operations on messages already sent: pins, reactions, forwarding, copying and deleting several at once."""

from __future__ import annotations

__all__: list[str] = []
