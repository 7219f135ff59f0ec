"""A Python client of the emulator's ``/_sim/`` API: play the users of a local Telegram.

Tests, benchmarks, the demo and users' own tests drive the emulator with it::

    async with EmulatorServer() as server, Sim.connect(server.url) as sim:
        user = await sim.started_user(bot_id=123456, first_name="Ana")
        await sim.send(user["id"], "hello", bot_id=123456)
        print(await sim.texts(user["id"]))
"""

from __future__ import annotations

import base64
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

    async def start(
        self, bot_id: int, user_id: int, *, payload: str | None = None
    ) -> dict[str, Any]:
        """The user sends ``/start``; with ``payload``, as a deep link (``t.me/<bot>?start=``)."""
        extra = {} if payload is None else {"payload": payload}
        result: dict[str, Any] = await self.post("start", bot_id=bot_id, user_id=user_id, **extra)
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
        ``file``, ``bot_id`` for a private chat with several bots...

        Where it sits: ``reply_to_message_id``; ``message_thread_id`` (a forum topic, see
        :meth:`topic`); a forward's origin: ``forward_from_user_id``, or
        ``forward_from_chat_id`` (+ ``forward_message_id`` for a channel post), or
        ``forward_sender_name`` (a user who hides their account); ``forward_date``."""
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

    async def send_content(
        self,
        chat_id: int,
        kind: str,
        content: dict[str, Any] | None = None,
        *,
        from_user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user's message carrying ``kind`` (``location``, ``venue``, ``contact``, ``dice``,
        ``sticker``, ``animation``) described by ``content``; ``bot_id``, ``caption``..."""
        body = {kind: content or {}, **extra}
        return await self.send(chat_id, from_user_id=from_user_id, **body)

    async def send_location(
        self, chat_id: int, latitude: float, longitude: float, **extra: Any
    ) -> dict[str, Any]:
        """``horizontal_accuracy``, ``live_period``, ``heading``... may be given too."""
        place = {"latitude": latitude, "longitude": longitude}
        place |= _pop(extra, "horizontal_accuracy", "live_period", "heading")
        place |= _pop(extra, "proximity_alert_radius")
        return await self.send_content(chat_id, "location", place, **extra)

    async def send_venue(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        title: str,
        address: str,
        **extra: Any,
    ) -> dict[str, Any]:
        venue = {"latitude": latitude, "longitude": longitude, "title": title, "address": address}
        venue |= _pop(extra, "foursquare_id", "foursquare_type", "google_place_id")
        venue |= _pop(extra, "google_place_type")
        return await self.send_content(chat_id, "venue", venue, **extra)

    async def send_contact(
        self, chat_id: int, phone_number: str, first_name: str, **extra: Any
    ) -> dict[str, Any]:
        """``last_name``, ``vcard`` and ``user_id`` (a Telegram account) may be given too."""
        contact = {"phone_number": phone_number, "first_name": first_name}
        contact |= _pop(extra, "last_name", "vcard", "user_id")
        return await self.send_content(chat_id, "contact", contact, **extra)

    async def send_dice(
        self, chat_id: int, emoji: str = "\N{GAME DIE}", value: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A throw; its value is drawn (seeded by the emulator's seed) unless given."""
        dice: dict[str, Any] = {"emoji": emoji}
        if value is not None:
            dice["value"] = value
        return await self.send_content(chat_id, "dice", dice, **extra)

    async def send_poll(
        self, chat_id: int, question: str, options: Iterable[str], **extra: Any
    ) -> dict[str, Any]:
        """A poll the user made; ``type``, ``is_anonymous``, ``allows_multiple_answers``,
        ``correct_option_ids`` as sendPoll takes them."""
        poll: dict[str, Any] = {"question": question, "options": list(options)}
        poll |= _pop(extra, "type", "is_anonymous", "allows_multiple_answers", "correct_option_ids")
        return await self.send_content(chat_id, "poll", poll, **extra)

    async def send_sticker(
        self,
        chat_id: int,
        emoji: str | None = "\N{THUMBS UP SIGN}",
        format: str = "static",
        *,
        file_unique_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A sticker: a new tiny file of ``format`` (static, animated, video), or the one
        ``file_unique_id`` names."""
        sticker: dict[str, Any] = {"format": format}
        if emoji is not None:
            sticker["emoji"] = emoji
        if file_unique_id is not None:
            sticker = {"file_unique_id": file_unique_id}
        return await self.send_content(chat_id, "sticker", sticker, **extra)

    async def send_animation(
        self, chat_id: int, *, file_unique_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An animation (a tiny MP4, or the one ``file_unique_id`` names); ``duration``,
        ``width``, ``height``, ``file_name`` describe a new one, ``caption`` goes with it."""
        animation = _pop(extra, "duration", "width", "height", "file_name")
        if file_unique_id is not None:
            animation = {"file_unique_id": file_unique_id}
        return await self.send_content(chat_id, "animation", animation, **extra)

    async def answer_poll(
        self,
        option_ids: Iterable[int],
        *,
        from_user_id: int,
        poll_id: str | None = None,
        chat_id: int | None = None,
        message_id: int | None = None,
        bot_id: int | None = None,
    ) -> dict[str, Any]:
        """A user votes in a poll named by ``poll_id`` or by its message; ``[]`` retracts the
        vote. Answers ``{"poll": ..., "option_ids": [...]}``."""
        body: dict[str, Any] = {"from_user_id": from_user_id, "option_ids": list(option_ids)}
        named = {
            "poll_id": poll_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "bot_id": bot_id,
        }
        body |= {k: v for k, v in named.items() if v is not None}
        result: dict[str, Any] = await self.post("poll/answer", **body)
        return result

    # -- messages in context: edits, replies, forwards, topics, reactions (_sim_chatops) --

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str | None = None,
        *,
        caption: str | None = None,
        from_user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user edits their message's ``text`` (or a file's ``caption``); bots get
        ``edited_message``."""
        body = {"chat_id": chat_id, "from_user_id": from_user_id or chat_id, **extra}
        body["message_id"] = message_id
        if text is not None:
            body["text"] = text
        if caption is not None:
            body["caption"] = caption
        result: dict[str, Any] = await self.post("edit", **body)
        return result

    async def react(
        self,
        chat_id: int,
        message_id: int,
        reaction: Iterable[str] = (),
        *,
        from_user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user sets their reactions (emoji) on a message; none clears them. The
        ``message_reaction`` update it makes, as bots may receive it."""
        body = {"chat_id": chat_id, "from_user_id": from_user_id or chat_id, **extra}
        result: dict[str, Any] = await self.post(
            "react", **body, message_id=message_id, reaction=list(reaction)
        )
        return result

    async def topic(
        self, chat_id: int, name: str, *, from_user_id: int, **extra: Any
    ) -> dict[str, Any]:
        """A member opens a topic in a forum supergroup; its service message, whose
        ``message_thread_id`` the topic's messages carry (``icon_color`` may be given)."""
        result: dict[str, Any] = await self.post(
            "topics", chat_id=chat_id, name=name, from_user_id=from_user_id, **extra
        )
        return result

    # -- membership: bots added and promoted, users joining and leaving (_sim_admin) ----

    async def member(
        self,
        chat_id: int,
        status: str,
        *,
        user_id: int | None = None,
        bot_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Set a user's or bot's status in a chat (``member``, ``administrator``,
        ``restricted``, ``left``, ``kicked``) with ``by_user_id``, ``rights``,
        ``permissions``, ``until_date``...; the ChatMember object after."""
        body = {"chat_id": chat_id, "status": status, "user_id": user_id, "bot_id": bot_id}
        body |= extra
        result: dict[str, Any] = await self.post(
            "chats/members", **{k: v for k, v in body.items() if v is not None}
        )
        return result

    async def add_member(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        bot_id: int | None = None,
        by_user_id: int | None = None,
    ) -> dict[str, Any]:
        """A user adds a user or a bot to the chat (the owner by default)."""
        return await self.member(
            chat_id, "member", user_id=user_id, bot_id=bot_id, by_user_id=by_user_id
        )

    async def join(
        self, chat_id: int, user_id: int, *, invite_link: str | None = None
    ) -> dict[str, Any]:
        """A user joins the chat, by an invite link if given."""
        return await self.member(chat_id, "member", user_id=user_id, invite_link=invite_link)

    async def leave(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """A user leaves the chat."""
        return await self.member(chat_id, "left", user_id=user_id)

    async def promote(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        bot_id: int | None = None,
        rights: dict[str, bool] | None = None,
        by_user_id: int | None = None,
    ) -> dict[str, Any]:
        """A user (the owner by default) makes a user or bot an administrator; every
        right unless ``rights`` (ChatAdministratorRights fields) says otherwise."""
        return await self.member(
            chat_id,
            "administrator",
            user_id=user_id,
            bot_id=bot_id,
            rights=rights,
            by_user_id=by_user_id,
        )

    async def restrict(
        self,
        chat_id: int,
        user_id: int,
        permissions: dict[str, bool],
        *,
        until_date: int | None = None,
        by_user_id: int | None = None,
    ) -> dict[str, Any]:
        """A user (the owner by default) restricts a supergroup member to ``permissions``."""
        return await self.member(
            chat_id,
            "restricted",
            user_id=user_id,
            permissions=permissions,
            until_date=until_date,
            by_user_id=by_user_id,
        )

    async def remove_member(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        bot_id: int | None = None,
        by_user_id: int | None = None,
        ban: bool = False,
    ) -> dict[str, Any]:
        """A user (the owner by default) removes a user or bot: ``left``, or ``kicked``
        (banned) with ``ban``."""
        status = "kicked" if ban else "left"
        return await self.member(
            chat_id, status, user_id=user_id, bot_id=bot_id, by_user_id=by_user_id
        )

    async def profile_photo(self, user_id: int, photo: bytes) -> dict[str, Any]:
        """A new profile photo of the user, first in getUserProfilePhotos."""
        encoded = base64.b64encode(photo).decode()
        result: dict[str, Any] = await self.post(
            "users/photos", user_id=user_id, file={"kind": "photo", "base64": encoded}
        )
        return result

    # -- inline mode and payments (_sim_profile) -----------------------------------------

    async def configure_bot(
        self, bot_id: int, *, inline: bool | None = None, inline_feedback: bool | None = None
    ) -> dict[str, Any]:
        """Switch a bot's inline mode and inline feedback on or off, as BotFather does."""
        body: dict[str, Any] = {"bot_id": bot_id}
        if inline is not None:
            body["inline"] = inline
        if inline_feedback is not None:
            body["inline_feedback"] = inline_feedback
        result: dict[str, Any] = await self.post("bots", **body)
        return result

    async def inline_query(
        self, user_id: int, bot_id: int, query: str = "", **extra: Any
    ) -> dict[str, Any]:
        """The user types ``@bot query`` (``offset``, ``chat_type``): the update's payload."""
        body = {"from_user_id": user_id, "bot_id": bot_id, "query": query, **extra}
        result: dict[str, Any] = await self.post("inline", **body)
        return result

    async def inline_answer(self, query_id: str) -> dict[str, Any]:
        """What the bot answered to an inline query (``answered`` is false until it does)."""
        result: dict[str, Any] = await self.post("inline/answer", query_id=query_id)
        return result

    async def choose_inline(
        self, query_id: str, result_id: str, chat_id: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The user picks a result, sending it into ``chat_id`` if given."""
        body: dict[str, Any] = {"query_id": query_id, "result_id": result_id, **extra}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result: dict[str, Any] = await self.post("inline/choose", **body)
        return result

    async def web_app_data(
        self, user_id: int, bot_id: int, data: str, button_text: str = "Open"
    ) -> dict[str, Any]:
        """A keyboard button's Web App sends ``data``: the ``web_app_data`` message."""
        body = {"from_user_id": user_id, "bot_id": bot_id, "data": data}
        result: dict[str, Any] = await self.post("webapp", **body, button_text=button_text)
        return result

    async def web_app_query(self, user_id: int, bot_id: int) -> str:
        """A Web App opened in the user's chat with the bot: its ``web_app_query_id``."""
        result = await self.post("webapp/query", from_user_id=user_id, bot_id=bot_id)
        return str(result["web_app_query_id"])

    async def pay(
        self,
        chat_id: int | None = None,
        message_id: int | None = None,
        *,
        from_user_id: int | None = None,
        wait: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """The user pays an invoice message (or ``invoice_link=...``) in Stars; with ``wait``,
        the outcome once the bot answered or its 10 s window (emulator clock) closed."""
        body: dict[str, Any] = {"from_user_id": from_user_id or chat_id, "wait": wait, **extra}
        if chat_id is not None:
            body["chat_id"] = chat_id
        if message_id is not None:
            body["message_id"] = message_id
        # The window is 10 s of the emulator's clock: leave a real clock room to run out.
        response = await self.http.post("/_sim/pay", json=body, timeout=30.0)
        result: dict[str, Any] = _answer(response)
        return result

    async def payment(self, pre_checkout_query_id: str, *, wait: bool = False) -> dict[str, Any]:
        """What became of a payment started with ``pay(..., wait=False)``."""
        body = {"pre_checkout_query_id": pre_checkout_query_id, "wait": wait}
        response = await self.http.post("/_sim/pay/status", json=body, timeout=30.0)
        result: dict[str, Any] = _answer(response)
        return result

    # -- MTProto accounts ----------------------------------------------------------------

    async def account(self, phone: str, first_name: str = "Ana", **extra: Any) -> dict[str, Any]:
        """A new user with a phone, who can sign in over MTProto (see :meth:`login_code`)."""
        return await self.user(first_name, phone=phone, **extra)

    async def login_code(self, phone: str) -> str:
        """The code auth.sendCode last issued for ``phone``."""
        result = await self.post("mtproto/code", phone=phone)
        return str(result["code"])

    async def register_app(
        self,
        api_id: int | None = None,
        api_hash: str | None = None,
        *,
        restricted: bool | None = None,
    ) -> dict[str, Any]:
        """Register an API app; ``restricted=True`` accepts registered apps only."""
        body: dict[str, Any] = {}
        if api_id is not None:
            body |= {"api_id": api_id, "api_hash": api_hash}
        if restricted is not None:
            body["restricted"] = restricted
        result: dict[str, Any] = await self.post("apps", **body)
        return result

    async def slow_mode(self, chat_id: int, seconds: int) -> dict[str, Any]:
        """A supergroup's slow mode for user accounts (0, 10, 30, 60, 300, 900 or 3600 s)."""
        result: dict[str, Any] = await self.post(
            "mtproto/slow_mode", chat_id=chat_id, seconds=seconds
        )
        return result

    async def synthetic(
        self,
        chat_id: int,
        size: int,
        *,
        seed: int | None = None,
        from_user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A message with a synthetic file of ``size`` bytes (up to 4 GiB) whose bytes are
        ``synthetic_bytes(seed, ...)``: from ``from_user_id``, or a channel's own post.
        ``kind`` (document, video, audio, voice, animation), ``file_name``, ``mime_type``,
        ``duration``, ``dc`` (1 or 2), ``caption``, ``bot_id``... Answers ``message`` and
        ``file`` (``file_unique_id``, ``seed``, ``dc``...)."""
        body: dict[str, Any] = {"chat_id": chat_id, "size": size, **extra}
        if seed is not None:
            body["seed"] = seed
        if from_user_id is not None:
            body["from_user_id"] = from_user_id
        result: dict[str, Any] = await self.post("mtproto/synthetic", **body)
        return result

    async def file_dc(self, file_unique_id: str, dc: int) -> dict[str, Any]:
        """Move a file to MTProto data centre ``dc``: downloads elsewhere get FILE_MIGRATE."""
        result: dict[str, Any] = await self.post(
            "mtproto/file_dc", file_unique_id=file_unique_id, dc=dc
        )
        return result

    async def drop_mtproto(
        self, account_id: int, *, after_requests: int | None = None
    ) -> dict[str, Any]:
        """Drop an account's MTProto connections now, or when it asks for a file part
        after its next ``after_requests`` upload.getFile requests."""
        body: dict[str, Any] = {"account_id": account_id}
        if after_requests is not None:
            body["after_requests"] = after_requests
        result: dict[str, Any] = await self.post("mtproto/drop", **body)
        return result

    async def flood_mtproto(
        self, account_id: int, seconds: int, *, after_requests: int = 0
    ) -> dict[str, Any]:
        """Answer an account's upload.getFile once with ``FLOOD_WAIT_<seconds>``, after
        its next ``after_requests`` requests."""
        result: dict[str, Any] = await self.post(
            "mtproto/flood", account_id=account_id, seconds=seconds, after_requests=after_requests
        )
        return result

    async def mtproto_calls(self) -> dict[int, dict[str, int]]:
        """Each MTProto account's requests by method (``channels.getMessages``,
        ``auth.importBotAuthorization``...); 0 for keys not signed in."""
        found = (await self.stats()).get("mtproto", {}).get("calls", {})
        return {int(account): methods for account, methods in found.items()}

    async def downloads(self) -> dict[int, dict[str, int]]:
        """Each MTProto account's downloads: ``requests``, ``bytes``, ``flood_waits``,
        ``drops``."""
        found = (await self.stats()).get("mtproto", {}).get("downloads", {})
        return {int(account): counters for account, counters in found.items()}

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
        """The texts (or captions) bots sent to a chat and did not delete, in order
        (service messages — a pin, a new title — are not texts)."""
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
        if m["sender"]["type"] == "bot" and not m.get("deleted") and not m.get("service")
    ]


def _pop(extra: dict[str, Any], *names: str) -> dict[str, Any]:
    """Take the named keys out of ``extra``: they describe the content, not the message."""
    return {name: extra.pop(name) for name in names if name in extra}
