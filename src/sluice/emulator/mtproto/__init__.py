"""The emulator's MTProto side: a local Telegram that Telethon clients connect to.

Served by :class:`~sluice.emulator.EmulatorServer` beside the Bot API, on two
loopback ports (DC 1 and DC 2), sharing one world with it. ``GET /_sim/mtproto``
tells a client where to connect and which RSA key to trust; see
docs/emulator.md, "MTProto".
"""

from __future__ import annotations

from sluice.emulator.mtproto._download_model import downloads
from sluice.emulator.mtproto._m_files import drop_connections
from sluice.emulator.mtproto._m_send import set_slow_mode
from sluice.emulator.mtproto._m_signin import normal_phone
from sluice.emulator.mtproto._rpc import RpcError
from sluice.emulator.mtproto._server import MtprotoServer, default_key_dir, mtproto_world
from sluice.emulator.mtproto._state import MtprotoWorld

__all__ = [
    "MtprotoServer",
    "MtprotoWorld",
    "RpcError",
    "default_key_dir",
    "downloads",
    "drop_connections",
    "mtproto_world",
    "normal_phone",
    "set_slow_mode",
]
