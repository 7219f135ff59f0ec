"""User accounts and bots over MTProto for the sign-in, send and updates tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from telethon import TelegramClient

from mtproto_support import connected
from sluice.emulator import EmulatorServer, Sim

__all__ = ["signed_in_user", "wait_for"]


@contextlib.asynccontextmanager
async def signed_in_user(
    server: EmulatorServer, sim: Sim, phone: str, session: Any = None, **kw: Any
) -> AsyncIterator[TelegramClient]:
    """A client signed in as the user account with this phone (the code read from /_sim/)."""
    kw.setdefault("flood_sleep_threshold", 0)
    async with connected(server, session, **kw) as client:
        if not await client.is_user_authorized():
            await client.send_code_request(phone)
            await client.sign_in(phone, await sim.login_code(phone))
        yield client


async def wait_for(
    client: TelegramClient, event: Any, *, where: Callable[[Any], bool] = lambda e: True
) -> asyncio.Future[Any]:
    """A future the client's next matching event completes (bounded by the caller)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(e: Any) -> None:
        if where(e) and not future.done():
            future.set_result(e)

    client.add_event_handler(handler, event)
    future.add_done_callback(lambda _: client.remove_event_handler(handler, event))
    return future
