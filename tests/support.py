"""Helpers shared by the tests: fake tokens and a client of the emulator's /_sim API."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

# Obviously fake tokens: shaped like Telegram's, never real.
TOKEN_A = "1000001:" + "A" * 35
TOKEN_B = "1000002:" + "B" * 35
BOT_A = 1000001
BOT_B = 1000002

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# Real servers for the tests that need them; override to point elsewhere.
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "SLUICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def service_unavailable(what: str) -> None:
    """Skip a test whose server is missing, except under CI, where it must fail."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not reachable")
    pytest.skip(f"{what} is not reachable on this machine")


class Sim:
    """A thin client of the emulator's /_sim API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, **body: Any) -> Any:
        response = await self.client.post(f"/_sim/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def user(self, first_name: str = "Ana", **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("users", first_name=first_name, **extra)
        return result

    async def started_user(self, bot_id: int, **extra: Any) -> dict[str, Any]:
        user = await self.user(**extra)
        await self.post("start", bot_id=bot_id, user_id=user["id"])
        return user

    async def messages(self, chat_id: int, bot_id: int | None = None) -> list[dict[str, Any]]:
        params = {"bot_id": bot_id} if bot_id is not None else {}
        response = await self.client.get(f"/_sim/chats/{chat_id}/messages", params=params)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.client.get("/_sim/stats")).json()
        return result
