"""Updates for each bot: long polling, and webhook delivery to loopback URLs.

As on Telegram: ``getUpdates`` confirms everything below ``offset``; a second
concurrent ``getUpdates`` ends the first with 409; ``getUpdates`` while a
webhook is set is a 409; a webhook receives updates in order, one at a time,
with the ``X-Telegram-Bot-Api-Secret-Token`` header, is retried with backoff
until it answers 2xx, and may answer with a method call in its response body.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from sluice.emulator._errors import ApiError, bad_request

__all__ = ["UpdateHub"]

# Telegram's default when allowed_updates is not given or empty.
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
WebhookReply = Callable[[int, dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(slots=True)
class _BotUpdates:
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    next_id: int = 1
    allowed: frozenset[str] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    poll_generation: int = 0
    webhook: _Webhook | None = None
    delivery: asyncio.Task[None] | None = None


def _is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in {"http", "https"} or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _reply_call(response: httpx.Response) -> tuple[Any, FormData | None]:
    """The method call in a webhook's answer, sent as JSON, a form or multipart, as Telegram takes.

    A form's file parts come back as ``UploadFile`` values; close the form once handled.
    """
    if not response.content.strip():
        return None, None
    ctype = response.headers.get("content-type", "")
    if not ctype.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            return response.json(), None
        except ValueError:
            return None, None
    body = response.content

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", ctype.encode())]}
    try:
        form = await Request(scope, receive).form()
    except (MultiPartException, ValueError):
        return None, None
    return dict(form.multi_items()), form


class UpdateHub:
    """Queues updates per bot and hands them out by polling or webhook."""

    def __init__(self, on_webhook_reply: WebhookReply, retry_delay: float = 0.5) -> None:
        self._bots: dict[int, _BotUpdates] = {}
        self._on_webhook_reply = on_webhook_reply
        self._retry_delay = retry_delay
        self._client: httpx.AsyncClient | None = None
        self._stopping = False

    def _state(self, bot_id: int) -> _BotUpdates:
        state = self._bots.get(bot_id)
        if state is None:
            state = self._bots[bot_id] = _BotUpdates()
        return state

    def push(self, bot_id: int, kind: str, payload: dict[str, Any]) -> None:
        state = self._state(bot_id)
        allowed = state.allowed
        if (allowed is None and kind in _NOT_BY_DEFAULT) or (
            allowed is not None and kind not in allowed
        ):
            return
        state.queue.append({"update_id": state.next_id, kind: payload})
        state.next_id += 1
        self._notify(state)

    @staticmethod
    def _notify(state: _BotUpdates) -> None:
        # Replace, then set: every current waiter wakes, later waiters wait anew.
        event, state.changed = state.changed, asyncio.Event()
        event.set()

    def pending(self, bot_id: int) -> int:
        return len(self._state(bot_id).queue)

    def set_allowed(self, bot_id: int, allowed: object) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise bad_request("can't parse allowed updates JSON object")
        self._state(bot_id).allowed = frozenset(allowed) if allowed else None

    async def get_updates(
        self, bot_id: int, offset: int | None, limit: int, wait_s: float
    ) -> list[dict[str, Any]]:
        state = self._state(bot_id)
        if state.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        state.poll_generation += 1
        generation = state.poll_generation
        self._notify(state)  # an earlier poll wakes and sees it was superseded
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            if state.poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._confirm(state, offset)
            remaining = deadline - time.monotonic()
            if state.queue or remaining <= 0 or self._stopping:
                return list(state.queue)[: max(1, min(limit, 100))]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), remaining)

    @staticmethod
    def _confirm(state: _BotUpdates, offset: int | None) -> None:
        if offset is None or not state.queue:
            return
        if offset < 0:
            keep = -offset
            while len(state.queue) > keep:
                state.queue.popleft()
            return
        while state.queue and state.queue[0]["update_id"] < offset:
            state.queue.popleft()

    def set_webhook(
        self,
        bot_id: int,
        url: str,
        secret_token: str | None,
        max_connections: int,
        drop_pending: bool,
    ) -> None:
        state = self._state(bot_id)
        if drop_pending:
            state.queue.clear()
        if not url:
            self.delete_webhook(bot_id, drop_pending)
            return
        if not _is_loopback_url(url):
            raise bad_request(
                "bad webhook: the emulator delivers only to loopback addresses "
                "(127.0.0.0/8, ::1, localhost)"
            )
        state.webhook = _Webhook(url, secret_token, max_connections)
        state.poll_generation += 1
        self._notify(state)
        if state.delivery is None or state.delivery.done():
            state.delivery = asyncio.create_task(self._deliver(bot_id, state))

    def delete_webhook(self, bot_id: int, drop_pending: bool) -> None:
        state = self._state(bot_id)
        if drop_pending:
            state.queue.clear()
        state.webhook = None
        self._notify(state)
        if state.delivery is not None:
            state.delivery.cancel()
            state.delivery = None

    def webhook_info(self, bot_id: int, allowed_default: list[str]) -> dict[str, Any]:
        state = self._state(bot_id)
        hook = state.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(state.queue),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            info["allowed_updates"] = sorted(state.allowed) if state.allowed else allowed_default
        return info

    async def _deliver(self, bot_id: int, state: _BotUpdates) -> None:
        if self._client is None:
            # Webhooks are loopback only: no CA bundle to load (it blocks the loop).
            self._client = httpx.AsyncClient(
                timeout=10.0,
                trust_env=False,
                verify=False,  # noqa: S501 - loopback only
            )
        failures = 0
        while state.webhook is not None:
            if not state.queue:
                await state.changed.wait()
                continue
            hook = state.webhook
            update = state.queue[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            error: str | None = None
            reply: Any = None
            form: FormData | None = None
            try:
                response = await self._client.post(
                    hook.url, content=json.dumps(update), headers=headers
                )
                if 200 <= response.status_code < 300:
                    reply, form = await _reply_call(response)
                else:
                    status = f"{response.status_code} {response.reason_phrase}"
                    error = f"Wrong response from the webhook: {status}"
            except httpx.HTTPError as exc:
                error = f"Connection failed: {type(exc).__name__}"
            if error is None:
                if state.queue and state.queue[0] is update:
                    state.queue.popleft()
                failures = 0
                try:
                    if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                        await self._on_webhook_reply(bot_id, reply)
                finally:
                    if form is not None:
                        await form.close()
                continue
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
            failures += 1
            await asyncio.sleep(min(self._retry_delay * 2 ** (failures - 1), 5.0))

    def stop_waiting(self) -> None:
        """Answer every long poll now: the server is stopping and would wait for them."""
        self._stopping = True
        for state in self._bots.values():
            self._notify(state)

    async def close(self) -> None:
        for state in self._bots.values():
            if state.delivery is not None:
                state.delivery.cancel()
        tasks = [s.delivery for s in self._bots.values() if s.delivery is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
