"""Simulated users' messages in context and what they do to messages: edits, replies, forwards, forum topics, deep links, reactions."""

from __future__ import annotations

__all__: list[str] = []
