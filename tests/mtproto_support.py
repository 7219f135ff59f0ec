"""Real Telethon clients against the emulator's MTProto side."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.network import connection as transports
from telethon.sessions import MemorySession

from sluice.emulator import EmulatorServer, Sim
from support import BOT_A

__all__ = [
    "API_HASH",
    "API_ID",
    "admin_channel",
    "connected",
    "emulator_dc",
    "mtproto_info",
    "new_client",
    "signed_in_bot",
]

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"  # an obviously fake app


async def mtproto_info(server: EmulatorServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
        response = await http.get("/_sim/mtproto")
        response.raise_for_status()
        info: dict[str, Any] = response.json()
    return info


async def emulator_dc(server: EmulatorServer, dc: int = 1) -> tuple[int, str, int]:
    """The emulator's DC ``dc`` as ``(id, host, port)`` (what ``session.set_dc`` and
    ``TelethonPool.from_credentials(dc=...)`` take), its RSA key trusted."""
    info = await mtproto_info(server)
    rsa.add_key(info["rsa_public_key_pem"], old=False)
    # Telethon caches help.getConfig (the DC list) for every client of the process, as a
    # class attribute: each test's emulator has its own ports, so a new client must ask.
    TelegramClient._config = None
    address = next(d for d in info["dcs"] if d["id"] == dc)
    return int(address["id"]), str(address["host"]), int(address["port"])


async def admin_channel(
    sim: Sim, *, title: str = "News", username: str | None = "news", **extra: object
) -> tuple[int, int]:
    """A channel bot A administers, owned by a new user: its id and its owner's."""
    owner = await sim.user("Owner")
    chat = await sim.chat(
        "channel",
        title=title,
        username=username,
        admin_bot_ids=[BOT_A],
        owner_user_id=owner["id"],
        **extra,
    )
    return int(chat["id"]), int(owner["id"])


async def new_client(
    server: EmulatorServer,
    session: Any = None,
    *,
    dc: int = 1,
    api_id: int = API_ID,
    api_hash: str = API_HASH,
    connection: type = transports.ConnectionTcpFull,
    **options: Any,
) -> TelegramClient:
    """A client pointed at the emulator, as docs/emulator.md shows: its RSA key
    trusted, its session's DC set to the emulator's; not connected yet."""
    dc_id, host, port = await emulator_dc(server, dc)
    session = MemorySession() if session is None else session
    client = TelegramClient(
        session, api_id, api_hash, connection=connection, receive_updates=True, **options
    )
    if client.session.server_address is None or client.session.port != port:
        client.session.set_dc(dc_id, host, port)
    return client


@contextlib.asynccontextmanager
async def connected(
    server: EmulatorServer, session: Any = None, **kw: Any
) -> AsyncIterator[TelegramClient]:
    client = await new_client(server, session, **kw)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


@contextlib.asynccontextmanager
async def signed_in_bot(
    server: EmulatorServer, token: str, session: Any = None, **kw: Any
) -> AsyncIterator[TelegramClient]:
    async with connected(server, session, **kw) as client:
        if not await client.is_user_authorized():
            await client.sign_in(bot_token=token)
        yield client
