"""Message formatting as the Telegram Bot API does it: parse modes, given and found entities.

The parsers follow TDLib (td/telegram/MessageEntity.cpp), which the Bot API server runs: the
same scanning rules and the same error texts, byte offsets included. Entity offsets and lengths
are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

from sluice.emulator._text._detect import detect_entities
from sluice.emulator._text._model import EntityParseError, utf16_len
from sluice.emulator._text._parse import parse_text
from sluice.emulator._text._validate import validate_entities

__all__ = ["EntityParseError", "detect_entities", "parse_text", "utf16_len", "validate_entities"]
