"""The file-to-link bot's aiogram 3 handlers: files in, links out, the owner's commands.

A file sent in a private chat is one request: kept once in the storage channel,
linked for its sender, answered with its URLs. A user has one request at a time,
dropped on /revoke or after ``request_timeout`` seconds (requests live in this
process: a restart drops them, and the user sends the file again). A /broadcast
is a durable job, and so is the job that keeps its status message up to date:
both resume after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from sluice._exceptions import ConfigError
from sluice._redact import redact
from sluice.apps.filelink._http_headers import plays_inline
from sluice.apps.filelink._intake import Intake, Media, media_of
from sluice.apps.filelink._links import Links
from sluice.apps.filelink._model import Link, LinkRefused
from sluice.apps.filelink._records import Records
from sluice.apps.filelink._reports import BroadcastReports, bot_line
from sluice.apps.filelink._texts import human_size, t, ui_language
from sluice.broadcasts import DurableBroadcasts
from sluice.store import Users, users_table

__all__ = ["FilelinkBot"]

log = logging.getLogger("sluice.apps.filelink")

_MEDIA = F.document | F.video | F.audio | F.voice | F.photo | F.animation | F.video_note
# Callback data (at most 31 bytes of Telegram's 64): a page of /files, a link's URLs,
# deleting a link (and the page to show after), revoking every link or not.
_BUTTON = re.compile(r"fl:(?:p:(\d{1,6})|([ld]):(\d{1,18})(?::(\d{1,6}))?|(ra|rn))")
_TOKEN = re.compile(r"/(?:dl|watch)/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/")


@dataclass(slots=True)
class _Request:
    """A file being kept and linked for a user."""

    user_id: int
    chat_id: int
    message_id: int
    name: str
    started: float  # by the bot's clock
    ui: str
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class _Visitor:
    user_id: int
    ui: str
    owner: bool


class FilelinkBot:
    """The bot's handlers (:attr:`router`) and the job reporting on broadcasts.

    Parameters:
        bot: the aiogram bot (its session should carry sluice's gate middleware).
        records, links, intake, users: the files, their links, the storage channel
            and the users table.
        broadcasts: runs /broadcast; None leaves it off. Its queue also runs the
            job that edits the status message (:class:`._reports.BroadcastReports`).
        owner_ids: who may use /botstats, /ban, /unban and /broadcast.
        auth_channel: a channel whose admins' posts get link buttons.
        max_size: the largest file taken, in bytes (what the byte source can fetch).
        stats: per bot of the pool, what it served (``MtprotoSource.describe``).
        request_timeout: seconds a request may take before it is dropped.
        page_size: links per page of /files.
        report_every: seconds between the status message's progress edits.
        clock: seconds, for request ages (tests inject one).
    """

    def __init__(
        self,
        bot: Bot,
        *,
        records: Records,
        links: Links,
        intake: Intake,
        users: Users,
        broadcasts: DurableBroadcasts | None = None,
        owner_ids: tuple[int, ...] = (),
        auth_channel: int | None = None,
        max_size: int,
        stats: Callable[[], list[dict[str, object]]] | None = None,
        request_timeout: float = 300.0,
        page_size: int = 8,
        report_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if page_size < 1 or not request_timeout > 0:
            raise ConfigError(
                f"page_size must be at least 1 and request_timeout positive, got {page_size} "
                f"and {request_timeout}"
            )
        self.bot = bot
        self.records = records
        self.links = links
        self.intake = intake
        self.users = users
        self.broadcasts = broadcasts
        self.owner_ids = owner_ids
        self.auth_channel = auth_channel
        self.max_size = max_size
        self.stats = stats
        self.request_timeout = request_timeout
        self.page_size = page_size
        self.clock = clock
        self._requests: dict[int, _Request] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.reports = (
            None if broadcasts is None else BroadcastReports(bot, broadcasts, every=report_every)
        )
        self.router = self._build_router()

    def _build_router(self) -> Router:
        router = Router(name="filelink")
        router.message.filter(F.chat.type == "private")
        router.message(CommandStart())(self.on_start)
        router.message(Command("help"))(self.on_help)
        router.message(Command("files"))(self.on_files)
        router.message(Command("del"))(self.on_delete)
        router.message(Command("status"))(self.on_status)
        router.message(Command("revoke"))(self.on_revoke)
        router.message(Command("revokeall"))(self.on_revoke_all)
        router.message(Command("botstats"))(self.on_botstats)
        router.message(Command("ban", "unban"))(self.on_ban)
        router.message(Command("broadcast"))(self.on_broadcast)
        router.message(_MEDIA)(self.on_file)
        router.callback_query(F.data.startswith("fl:"))(self.on_button)
        if self.auth_channel is not None:
            router.channel_post(F.chat.id == self.auth_channel, _MEDIA)(self.on_channel_post)
        return router

    async def close(self) -> None:
        """Drop the requests in progress (their users send the files again)."""
        self._requests.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- who writes ------------------------------------------------------------

    async def _visit(self, event: Message | CallbackQuery) -> _Visitor | None:
        """Record the user (so that /broadcast reaches them); None for a banned one,
        who is told so."""
        user = event.from_user
        if user is None:
            return None
        stored = await self.users.seen(user.id, user.language_code)
        visitor = _Visitor(user.id, ui_language(stored.language), user.id in self.owner_ids)
        if stored.banned and not visitor.owner:
            if isinstance(event, Message):
                await event.answer(t(visitor.ui, "banned"))
            else:
                await event.answer(t(visitor.ui, "banned"), show_alert=True)
            return None
        return visitor

    async def _owner(self, message: Message) -> _Visitor | None:
        visitor = await self._visit(message)
        if visitor is not None and not visitor.owner:
            await message.answer(t(visitor.ui, "owner_only"))
            return None
        return visitor

    async def on_start(self, message: Message) -> None:
        if (visitor := await self._visit(message)) is not None:
            await message.answer(t(visitor.ui, "start"))

    async def on_help(self, message: Message) -> None:
        if (visitor := await self._visit(message)) is None:
            return
        text = t(visitor.ui, "help", limit=human_size(self.max_size))
        if visitor.owner:
            text += t(visitor.ui, "help_owner")
        await message.answer(text)

    # -- files in, links out ------------------------------------------------------

    async def on_file(self, message: Message) -> None:
        visitor = await self._visit(message)
        media = media_of(message)
        if visitor is None or media is None:
            return
        ui = visitor.ui
        reply = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
        if media.size > self.max_size:
            limit = human_size(self.max_size)
            text = t(ui, "too_large", name=media.name, size=human_size(media.size), limit=limit)
            await message.answer(text, reply_parameters=reply)
            return
        current = self._requests.get(visitor.user_id)
        if current is not None and self.clock() - current.started < self.request_timeout:
            await message.answer(t(ui, "busy", name=current.name), reply_parameters=reply)
            return
        if current is not None:  # its own timeout has not fired yet (the clock ran ahead)
            self._drop(current)
        # Taken before any await: a file sent meanwhile finds this one in progress.
        request = _Request(
            visitor.user_id, message.chat.id, message.message_id, media.name, self.clock(), ui
        )
        self._requests[visitor.user_id] = request
        request.task = asyncio.create_task(self._serve(request, message, media))
        self._tasks.add(request.task)
        request.task.add_done_callback(self._tasks.discard)
        if current is not None:
            await self._tell(current, self._timed_out(current))

    async def _serve(self, request: _Request, message: Message, media: Media) -> None:
        ui = request.ui
        try:
            async with asyncio.timeout(self.request_timeout):
                file, _ = await self.intake.keep(message, media)
                link = await self.records.link(file, request.user_id, media.name)
        except TimeoutError:
            answer = self._timed_out(request)
        except TelegramAPIError as exc:
            answer = t(ui, "failed", name=request.name, reason=redact(exc.message))
        except Exception:
            log.exception("could not keep a file")
            answer = t(ui, "failed", name=request.name, reason=t(ui, "unexpected"))
        else:
            if self._finish(request):
                await self._guard(self._send_links(request.chat_id, link, ui, request.message_id))
            return
        if self._finish(request):  # else revoked or dropped meanwhile: the user was told
            await self._tell(request, answer)

    def _finish(self, request: _Request) -> bool:
        """Whether ``request`` was still the user's current one; it is no longer."""
        if self._requests.get(request.user_id) is not request:
            return False
        del self._requests[request.user_id]
        return True

    def _drop(self, request: _Request) -> None:
        self._finish(request)
        if request.task is not None:
            request.task.cancel()

    def _timed_out(self, request: _Request) -> str:
        seconds = self.request_timeout
        limit = (
            t(request.ui, "minutes", n=f"{seconds / 60:g}")
            if seconds >= 60
            else t(request.ui, "seconds", n=f"{seconds:g}")
        )
        return t(request.ui, "timed_out", name=request.name, limit=limit)

    async def _tell(self, request: _Request, text: str) -> None:
        reply = ReplyParameters(message_id=request.message_id, allow_sending_without_reply=True)
        await self._guard(self.bot.send_message(request.chat_id, text, reply_parameters=reply))

    async def _guard(self, call: Any) -> None:
        # In a request's own task nobody awaits the outcome: a user who blocked the bot
        # meanwhile is logged, not left as a "never retrieved" exception.
        try:
            await call
        except TelegramAPIError as exc:
            log.warning("could not answer a user: %s", redact(exc.message))
        except Exception:
            log.exception("could not answer a user")

    async def _urls(self, link: Link, ui: str) -> tuple[str, InlineKeyboardMarkup]:
        """The text naming ``link``'s file and URLs, and its URL buttons. The watch link
        only for audio and video a browser plays."""
        download, watch = await self.links.urls(link)
        mime = link.file.mime
        playable = mime.startswith(("video/", "audio/")) and plays_inline(mime)
        size = human_size(link.file.size)
        text = t(ui, "ready", name=link.name, size=size, download=download)
        buttons = [InlineKeyboardButton(text=t(ui, "download_button"), url=download)]
        if playable:
            text += t(ui, "ready_watch", watch=watch)
            buttons.append(InlineKeyboardButton(text=t(ui, "watch_button"), url=watch))
        return text, InlineKeyboardMarkup(inline_keyboard=[buttons])

    async def _send_links(
        self, chat_id: int, link: Link, ui: str, reply_to: int | None = None
    ) -> None:
        text, markup = await self._urls(link, ui)
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        try:
            await self.bot.send_message(chat_id, text, reply_parameters=reply, reply_markup=markup)
        except TelegramBadRequest as exc:
            # Telegram refuses URL buttons to some addresses (a bare IP, localhost): the
            # URLs are in the text all the same.
            if "BUTTON_URL_INVALID" not in exc.message:
                raise
            await self.bot.send_message(chat_id, text, reply_parameters=reply)

    async def on_channel_post(self, post: Message) -> None:
        """A file an admin posted in the auth channel: linked for the channel, and the
        post gets the link buttons."""
        media = media_of(post)
        if media is None:
            return
        if media.size > self.max_size:
            log.warning(
                "a post in the auth channel carries %s (%s), past the %s limit: not linked",
                media.name, human_size(media.size), human_size(self.max_size),
            )  # fmt: skip
            return
        file, _ = await self.intake.keep(post, media)
        link = await self.records.link(file, post.chat.id, media.name)
        text, markup = await self._urls(link, "en")
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=post.chat.id, message_id=post.message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:
            # The bot may not edit others' posts (no "edit messages" right): the links
            # go under the post instead.
            log.info("could not add link buttons to a post: %s", redact(exc.message))
            reply = ReplyParameters(message_id=post.message_id, allow_sending_without_reply=True)
            await self.bot.send_message(
                post.chat.id, text, reply_parameters=reply, reply_markup=markup
            )

    async def on_revoke(self, message: Message, command: CommandObject) -> None:
        if (visitor := await self._visit(message)) is None:
            return
        if (command.args or "").strip().lower() == "all":
            await self._confirm_revoke_all(message, visitor)
            return
        request = self._requests.get(visitor.user_id)
        if request is None:
            await message.answer(t(visitor.ui, "nothing_pending"))
            return
        self._drop(request)
        await message.answer(t(visitor.ui, "revoked_request", name=request.name))

    async def on_status(self, message: Message) -> None:
        if (visitor := await self._visit(message)) is None:
            return
        _, total = await self.records.links_of(visitor.user_id, limit=1)
        request = self._requests.get(visitor.user_id)
        if request is None:
            pending = t(visitor.ui, "status_idle")
        else:
            seconds = f"{max(0.0, self.clock() - request.started):.0f}"
            pending = t(visitor.ui, "status_pending", name=request.name, seconds=seconds)
        await message.answer(t(visitor.ui, "status", links=total, pending=pending))

    # -- /files, /del, /revokeall -----------------------------------------------------

    async def on_files(self, message: Message) -> None:
        if (visitor := await self._visit(message)) is None:
            return
        text, markup = await self._files_page(visitor, 0)
        await message.answer(text, reply_markup=markup)

    async def _files_page(
        self, visitor: _Visitor, page: int
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        ui, size = visitor.ui, self.page_size
        links, total = await self.records.links_of(visitor.user_id, offset=page * size, limit=size)
        if total and not links:  # past the end (links deleted meanwhile): the last page
            page = (total - 1) // size
            links, total = await self.records.links_of(
                visitor.user_id, offset=page * size, limit=size
            )
        if not total:
            return t(ui, "files_empty"), None
        pages = (total + size - 1) // size
        lines = [t(ui, "files_head", total=total, page=page + 1, pages=pages)]
        rows = []
        for n, link in enumerate(links, start=page * size + 1):
            lines.append(f"{n}. {link.name} ({human_size(link.file.size)})")
            rows.append([
                _button(t(ui, "link_button", n=n), f"fl:l:{link.id}"),
                _button(t(ui, "delete_button", n=n), f"fl:d:{link.id}:{page}"),
            ])  # fmt: skip
        nav = []
        if page > 0:
            nav.append(_button(t(ui, "previous_button"), f"fl:p:{page - 1}"))
        if (page + 1) * size < total:
            nav.append(_button(t(ui, "next_button"), f"fl:p:{page + 1}"))
        if nav:
            rows.append(nav)
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)

    async def on_button(self, query: CallbackQuery) -> None:
        if (visitor := await self._visit(query)) is None:
            return
        match = _BUTTON.fullmatch(query.data or "")
        if match is None:
            await query.answer()
            return
        to_page, action, number, page, revoke = match.groups()
        shown = query.message if isinstance(query.message, Message) else None
        if revoke == "ra":
            await self.links.revoke_all(visitor.user_id)
        if revoke is not None:
            await query.answer()
            await _show(
                shown, t(visitor.ui, "revokeall_done" if revoke == "ra" else "revokeall_kept")
            )
            return
        if to_page is not None:
            await query.answer()
            await _show(shown, *await self._files_page(visitor, int(to_page)))
            return
        link = await self._own_link(query, visitor, int(number))
        if link is None:
            return
        if action == "l":
            await query.answer()
            await self._send_links(shown.chat.id if shown else visitor.user_id, link, visitor.ui)
            return
        await self.records.revoke(link.id, owner_id=visitor.user_id)
        await query.answer(t(visitor.ui, "deleted", name=_short(link.name)))
        await _show(shown, *await self._files_page(visitor, int(page or 0)))

    async def _own_link(self, query: CallbackQuery, visitor: _Visitor, link_id: int) -> Link | None:
        """The visitor's live link ``link_id``; else None, and they are told why."""
        link = await self.records.get_link(link_id)
        if link is None or link.owner_id != visitor.user_id:
            await query.answer(t(visitor.ui, "not_yours"), show_alert=True)
            return None
        if link.revoked:
            await query.answer(t(visitor.ui, "gone"), show_alert=True)
            return None
        return link

    async def on_delete(self, message: Message, command: CommandObject) -> None:
        """``/del <n>`` (the n-th link of /files), or ``/del`` replying to a link message."""
        if (visitor := await self._visit(message)) is None:
            return
        argument = (command.args or "").strip()
        link: Link | None = None
        if re.fullmatch(r"\d{1,9}", argument) and int(argument) >= 1:
            found, _ = await self.records.links_of(
                visitor.user_id, offset=int(argument) - 1, limit=1
            )
            link = found[0] if found else None
        elif not argument and message.reply_to_message is not None:
            link = await self._link_in(message.reply_to_message)
        else:
            await message.answer(t(visitor.ui, "del_usage"))
            return
        if link is None or link.owner_id != visitor.user_id or link.revoked:
            await message.answer(t(visitor.ui, "del_not_found"))
            return
        await self.records.revoke(link.id, owner_id=visitor.user_id)
        await message.answer(t(visitor.ui, "deleted", name=link.name))

    async def _link_in(self, message: Message) -> Link | None:
        """The link whose URL a message of the bot carries."""
        found = _TOKEN.search(message.text or message.caption or "")
        if found is None:
            return None
        try:
            claims = self.links.signer.verify(found.group(1))
        except LinkRefused:
            return None
        return await self.records.get_link(claims.link_id)

    async def on_revoke_all(self, message: Message) -> None:
        if (visitor := await self._visit(message)) is not None:
            await self._confirm_revoke_all(message, visitor)

    async def _confirm_revoke_all(self, message: Message, visitor: _Visitor) -> None:
        ui = visitor.ui
        buttons = [
            _button(t(ui, "revokeall_yes"), "fl:ra"),
            _button(t(ui, "revokeall_no"), "fl:rn"),
        ]
        markup = InlineKeyboardMarkup(inline_keyboard=[buttons])
        await message.answer(t(ui, "revokeall_confirm"), reply_markup=markup)

    # -- the owner's commands ---------------------------------------------------------

    async def on_botstats(self, message: Message) -> None:
        if (visitor := await self._owner(message)) is None:
            return
        ui = visitor.ui
        totals = await self.records.totals()
        async with self.users.store.read() as conn:
            users = (
                await conn.execute(sa.select(sa.func.count()).select_from(users_table))
            ).scalar_one()
        lines = [
            t(
                ui, "botstats", files=totals["files"], size=human_size(totals["bytes"]),
                links=totals["links"], owners=totals["owners"], users=users,
                pending=len(self._requests),
            )
        ]  # fmt: skip
        if self.stats is None:
            lines.append(t(ui, "botstats_botapi"))
        else:
            lines.extend(bot_line(ui, entry) for entry in self.stats())
        await message.answer("\n".join(lines))

    async def on_ban(self, message: Message, command: CommandObject) -> None:
        if (visitor := await self._owner(message)) is None:
            return
        argument = (command.args or "").strip()
        if not re.fullmatch(r"-?\d{1,16}", argument):
            await message.answer(t(visitor.ui, "ban_usage", command=command.command))
            return
        user_id, banning = int(argument), command.command == "ban"
        await self.users.set_banned(user_id, banning)
        request = self._requests.get(user_id)
        if banning and request is not None:
            self._drop(request)
        key = "banned_user" if banning else "unbanned_user"
        await message.answer(t(visitor.ui, key, user=user_id))

    async def on_broadcast(self, message: Message) -> None:
        if (visitor := await self._owner(message)) is None:
            return
        ui = visitor.ui
        if self.broadcasts is None:
            await message.answer(t(ui, "broadcast_unavailable"))
            return
        source = message.reply_to_message
        if source is None:
            await message.answer(t(ui, "broadcast_usage"))
            return
        recipients = await self._recipients()
        status = await message.answer(t(ui, "broadcast_started", total=len(recipients)))
        copy = {
            "method": "copyMessage",
            "from_chat_id": source.chat.id,
            "message_id": source.message_id,
        }
        created = await self.broadcasts.create(self.bot.id, recipients, copy)
        assert self.reports is not None
        await self.reports.follow(created.id, status, ui)

    async def _recipients(self) -> list[int]:
        """Every user who wrote to the bot and is not banned (channels are not users)."""
        c = users_table.c
        async with self.users.store.read() as conn:
            rows = await conn.execute(
                sa.select(c.id).where(c.banned.is_(False), c.id > 0).order_by(c.id)
            )
            return [int(user_id) for user_id in rows.scalars()]


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _short(name: str, limit: int = 64) -> str:
    """A file name cut to fit a callback answer (200 characters at most)."""
    return name if len(name) <= limit else name[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


async def _show(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit the message whose button was pressed (one that reads so already is left)."""
    if message is None:  # too old for the bot to see: nothing to edit
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise
