"""The emulator's MTProto side: a local Telegram that Telethon clients connect to.

Served by :class:`~sluice.emulator.EmulatorServer` beside the Bot API, on two
loopback ports (DC 1 and DC 2), sharing one world with it. ``GET /_sim/mtproto``
tells a client where to connect and which RSA key to trust; see
docs/emulator.md, "MTProto".
"""

from __future__ import annotations

from sluice.emulator.mtproto._server import MtprotoServer, default_key_dir, mtproto_world
from sluice.emulator.mtproto._state import MtprotoWorld

__all__ = ["MtprotoServer", "MtprotoWorld", "default_key_dir", "mtproto_world"]
