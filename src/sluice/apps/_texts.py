"""What every bot's user-facing texts share: the language to answer in, and a lookup
that falls back to English."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["pick", "ui_language"]


def ui_language(code: str | None) -> str:
    """``id`` for Indonesian (``id``, ``id-ID``, the old ``in``), else ``en``."""
    base = (code or "").lower().replace("_", "-").split("-")[0]
    return "id" if base in ("id", "in") else "en"


def pick(table: Mapping[str, Mapping[str, str]], language: str, key: str, **values: object) -> str:
    """The text ``key`` of ``table`` in ``language`` (English when missing), filled in."""
    texts = table[key]
    return texts.get(language, texts["en"]).format(**values)
