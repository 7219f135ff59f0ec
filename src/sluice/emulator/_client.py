"""A Python client of the emulator's ``/_sim/`` API: play the users of a local Telegram.

Tests, benchmarks, the demo and users' own tests drive the emulator with it::

    async with EmulatorServer() as server, Sim.connect(server.url) as sim:
        user = await sim.started_user(bot_id=123456, first_name="Ana")
        await sim.send(user["id"], "hello", bot_id=123456)
        print(await sim.texts(user["id"]))
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx

from sluice._exceptions import EmulatorError

__all__ = ["Sim"]


class Sim:
    """Calls of the ``/_sim/`` API (docs/emulator.md) over an ``httpx.AsyncClient``
    whose ``base_url`` is the emulator's."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, *, connections: int = 32) -> AsyncIterator[Sim]:
        """A client of the emulator at ``url`` (never a proxy: loopback)."""
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=url, trust_env=False, limits=limits) as http:
            yield cls(http)

    async def post(self, path: str, **body: Any) -> Any:
        """``POST /_sim/<path>`` with a JSON body; the answer, or :class:`EmulatorError`."""
        return _answer(await self.http.post(f"/_sim/{path}", json=body))

    async def get(self, path: str, **params: Any) -> Any:
        return _answer(await self.http.get(f"/_sim/{path}", params=params))

    # -- users and chats ---------------------------------------------------------

    async def user(self, first_name: str = "Ana", **extra: Any) -> dict[str, Any]:
        """A new user: ``language_code``, ``username``, ``last_name`` may be given."""
        result: dict[str, Any] = await self.post("users", first_name=first_name, **extra)
        return result

    async def started_user(self, bot_id: int, **extra: Any) -> dict[str, Any]:
        """A new user who sent ``/start`` to the bot."""
        user = await self.user(**extra)
        await self.start(bot_id, user["id"])
        return user

    async def users(
        self,
        count: int,
        *,
        start_bot_id: int | None = None,
        first_name: str = "user",
        language_code: str | None = None,
    ) -> list[int]:
        """``count`` new users in one call (each starts ``start_bot_id`` if given); their ids."""
        if count == 0:
            return []
        body: dict[str, Any] = {"count": count, "first_name": first_name}
        if start_bot_id is not None:
            body["start_bot_id"] = start_bot_id
        if language_code is not None:
            body["language_code"] = language_code
        made = await self.post("users/batch", **body)
        return [int(user_id) for user_id in made["ids"]]

    async def start(self, bot_id: int, user_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("start", bot_id=bot_id, user_id=user_id)
        return result

    async def block(self, bot_id: int, user_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("block", bot_id=bot_id, user_id=user_id)
        return result

    async def chat(self, type: str, **extra: Any) -> dict[str, Any]:
        """A new group, supergroup or channel: ``title``, ``bot_ids``, ``admin_bot_ids``,
        ``member_user_ids``..."""
        result: dict[str, Any] = await self.post("chats", type=type, **extra)
        return result

    async def group(self, bot_ids: Iterable[int], title: str = "group") -> int:
        """A supergroup the bots are in; its id."""
        return int((await self.chat("supergroup", title=title, bot_ids=list(bot_ids)))["id"])

    # -- what users do -------------------------------------------------------------

    async def send(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        from_user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user's message in a chat (a private chat's user by default): ``text``, or a
        ``file``, ``bot_id`` for a private chat with several bots..."""
        body = {"chat_id": chat_id, "from_user_id": from_user_id or chat_id, **extra}
        if text is not None:
            body["text"] = text
        result: dict[str, Any] = await self.post("send", **body)
        return result

    async def callback(self, chat_id: int, message_id: int, data: str, **extra: Any) -> Any:
        """A user presses an inline button of a bot's message."""
        body = {"chat_id": chat_id, "from_user_id": chat_id, "message_id": message_id}
        return await self.post("callback", **(body | {"data": data} | extra))

    # -- content: polls, locations, contacts, stickers, animations (see _sim_content) --

    # -- messages in context: edits, replies, forwards, topics, reactions (_sim_chatops) --

    # -- membership: bots added and promoted, users joining and leaving (_sim_admin) ----

    # -- inline mode and payments (_sim_profile) -----------------------------------------

    # -- what the chats hold ---------------------------------------------------------

    async def messages(self, chat_id: int, bot_id: int | None = None) -> list[dict[str, Any]]:
        """Every message of a chat, in the order Telegram accepted them."""
        params = {} if bot_id is None else {"bot_id": bot_id}
        result: list[dict[str, Any]] = await self.get(f"chats/{chat_id}/messages", **params)
        return result

    async def messages_of(
        self, chat_ids: Iterable[int], bot_id: int | None = None
    ) -> dict[int, list[dict[str, Any]]]:
        """:meth:`messages` of many chats, in one call."""
        body: dict[str, Any] = {"chat_ids": list(chat_ids)}
        if bot_id is not None:
            body["bot_id"] = bot_id
        found = await self.post("chats/messages", **body)
        return {int(chat): messages for chat, messages in found.items()}

    async def texts(self, chat_id: int) -> list[str]:
        """The texts (or captions) bots sent to a chat and did not delete, in order."""
        return _bot_texts(await self.messages(chat_id))

    async def texts_of(self, chat_ids: Iterable[int]) -> dict[int, list[str]]:
        """:meth:`texts` of many chats, in one call."""
        found = await self.messages_of(chat_ids)
        return {chat: _bot_texts(messages) for chat, messages in found.items()}

    # -- the emulator itself -----------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("stats")
        return result

    async def r429(self, bot_ids: Iterable[int]) -> int:
        """429s the bots received, whatever their cause."""
        bots = (await self.stats())["bots"]
        return sum(int(bots.get(str(b), {}).get("r429", {}).get("total", 0)) for b in bot_ids)

    async def faults(self, **mix: Any) -> dict[str, Any]:
        """Change the injected faults (``p429``, ``retry_after_min``, ``p5xx``...)."""
        result: dict[str, Any] = await self.post("faults", **mix)
        return result

    async def config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("config")
        return result

    async def reset(self) -> None:
        await self.post("reset")

    async def stt_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("stt/stats")
        return result

    async def stt_faults(self, **mix: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("stt/faults", **mix)
        return result


def _answer(response: httpx.Response) -> Any:
    if response.status_code != 200:
        try:
            description = response.json().get("description", response.text)
        except ValueError:
            description = response.text
        raise EmulatorError(f"the emulator refused {response.request.url.path}: {description}")
    return response.json()


def _bot_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [
        str(m.get("text") or m.get("caption") or "")
        for m in messages
        if m["sender"]["type"] == "bot" and not m.get("deleted")
    ]
