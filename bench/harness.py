"""What every benchmark shares: an emulator in its own process, and a client of its /_sim API.

The emulator runs as a separate ``sluice emulator`` process so that it does
not share a core or an event loop with the contender being measured: every
contender faces the same Telegram, on loopback only, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


# Obviously fake tokens: the emulator accepts any well-formed one.
def fake_token(bot_id: int) -> str:
    return f"{bot_id}:" + f"bench-token-not-a-secret-{bot_id}".ljust(35, "x")[:35]


BOT_IDS = (7000001, 7000002, 7000003)
_URL = re.compile(r"listening on (http://\S+)")


@contextlib.asynccontextmanager
async def emulator_process(*flags: str) -> AsyncIterator[str]:
    """Start ``sluice emulator --port 0 <flags>`` and yield its base URL; stop it after."""
    env = {**os.environ, "COLUMNS": "250"}
    # Popen only starts the process; its output is read in an executor below.
    proc = subprocess.Popen(  # noqa: ASYNC220, S603
        [sys.executable, "-m", "sluice.cli", "emulator", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(30):
            while url is None:
                line = await loop.run_in_executor(None, proc.stdout.readline)
                if not line:
                    raise RuntimeError("the emulator exited before it listened")
                if match := _URL.search(line):
                    url = match.group(1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Sim:
    """A client of the emulator's simulation API."""

    http: httpx.AsyncClient

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str) -> AsyncIterator[Sim]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=url, trust_env=False, limits=limits) as http:
            yield cls(http)

    async def post(self, path: str, **body: Any) -> Any:
        response = await self.http.post(f"/_sim/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def reset(self) -> None:
        await self.post("reset")

    async def faults(self, **mix: Any) -> None:
        await self.post("faults", **mix)

    async def started_users(self, bot_id: int, count: int, *, prefix: str = "u") -> list[int]:
        """``count`` users who started ``bot_id``; their private chat ids."""
        sem = asyncio.Semaphore(32)

        async def one(n: int) -> int:
            async with sem:
                user = await self.post("users", first_name=f"{prefix}{n}")
                await self.post("start", bot_id=bot_id, user_id=user["id"])
                return int(user["id"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))

    async def group(self, bot_ids: Sequence[int], title: str) -> int:
        chat = await self.post("chats", type="supergroup", title=title, bot_ids=list(bot_ids))
        return int(chat["id"])

    async def bot_texts(self, chats: Sequence[int]) -> dict[int, list[str]]:
        """Each chat's texts sent by bots, in the order Telegram accepted them."""
        sem = asyncio.Semaphore(32)

        async def one(chat: int) -> tuple[int, list[str]]:
            async with sem:
                response = await self.http.get(f"/_sim/chats/{chat}/messages")
                response.raise_for_status()
                texts = [
                    str(m.get("text") or "")
                    for m in response.json()
                    if m["sender"]["type"] == "bot" and not m.get("deleted")
                ]
                return chat, texts

        return dict(await asyncio.gather(*(one(c) for c in chats)))

    async def r429(self, bot_ids: Sequence[int]) -> int:
        stats = (await self.http.get("/_sim/stats")).json()["bots"]
        return sum(int(stats.get(str(b), {}).get("r429", {}).get("total", 0)) for b in bot_ids)
