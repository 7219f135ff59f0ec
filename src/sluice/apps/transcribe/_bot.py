"""The transcription bot: an aiogram 3 router in front, a durable job behind.

A media message is answered at once from the cache when its
``file_unique_id`` is known; otherwise one status message is sent and a job
is enqueued (per user: 3 waiting and 1 running by default; one more is told
so). The job downloads, converts, transcribes and delivers, editing the
status message as it goes (through the gate's coalescing helper, so the
edits never exceed the chat's limit). The job survives restarts: a worker
killed mid-job leaves it to the next one, which starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    User,
)

from sluice._ffmpeg import MediaError
from sluice._redact import redact
from sluice.apps.transcribe._audio import workspace
from sluice.apps.transcribe._download import (
    CLOUD_LIMIT,
    MtprotoDownloader,
    download,
    download_limit,
)
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._pipeline import Transcriber
from sluice.apps.transcribe._provider_errors import AllProvidersFailed, ProviderError
from sluice.apps.transcribe._render import split_message, to_srt, to_txt, to_vtt, utf16_length
from sluice.apps.transcribe._texts import FORMATS, t, ui_language
from sluice.broadcasts.aiogram import status_message
from sluice.gate import Gate
from sluice.jobs import JobContext, JobPolicy, JobQueue, JobState, QueueFull, Retryable
from sluice.store import Store, Users, users_table

__all__ = ["JOB_KIND", "Media", "TranscribeBot", "media_of"]

log = logging.getLogger("sluice.apps.transcribe")

JOB_KIND = "transcribe"
SPOKEN_LANGUAGES = ("auto", "en", "id", "es", "pt", "ru", "ar", "hi", "de", "fr")
_MESSAGE_LIMIT = 4096
_MB = 1024 * 1024


def _spoken(chosen: str | None, user: User | None) -> str | None:
    """The language to transcribe in: the user's /language choice (None for "auto":
    detected), else their Telegram app's language where it is one we offer (detection
    is unreliable on short notes), else None."""
    if chosen is not None:
        return None if chosen == "auto" else chosen
    code = (user.language_code or "").split("-")[0].lower() if user is not None else ""
    return code if code in SPOKEN_LANGUAGES and code != "auto" else None


class _Seen(NamedTuple):
    """Who wrote, in which language to answer, their settings, and whether banned."""

    user_id: int
    ui: str
    settings: dict[str, Any]
    banned: bool


@dataclass(frozen=True, slots=True)
class Media:
    kind: str
    file_id: str
    file_unique_id: str
    file_size: int | None
    file_name: str


def media_of(message: Message) -> Media | None:
    """The transcribable media in ``message``: voice, audio, video, video note, or a
    document whose MIME type is audio/* or video/*."""
    for kind in ("voice", "audio", "video", "video_note"):
        item = getattr(message, kind)
        if item is not None:
            name = getattr(item, "file_name", None) or f"{kind}.bin"
            return Media(kind, item.file_id, item.file_unique_id, item.file_size, name)
    document = message.document
    if document is not None and (document.mime_type or "").startswith(("audio/", "video/")):
        name = document.file_name or "document.bin"
        return Media(
            "document", document.file_id, document.file_unique_id, document.file_size, name
        )
    return None


class TranscribeBot:
    """The bot's handlers (:attr:`router`) and its job (registered on ``queue``).

    Parameters:
        bot: the aiogram bot (its session should carry sluice's gate middleware).
        store: users and their settings.
        queue: where transcription jobs live.
        transcriber: the cache and the providers.
        data_dir: temporary files go in ``data_dir/tmp`` and are always removed.
        owner_ids: who may use /botstats.
        gate: the gate the bot sends through, for /status and /botstats.
        queued_cap, running_cap: per user.
        max_attempts: runs of a job while every provider is down.
        mtproto: downloads files over 20 MB without a local Bot API server.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        store: Store,
        queue: JobQueue,
        transcriber: Transcriber,
        data_dir: Path,
        owner_ids: tuple[int, ...] = (),
        gate: Gate | None = None,
        queued_cap: int = 3,
        running_cap: int = 1,
        max_attempts: int = 5,
        mtproto: MtprotoDownloader | None = None,
    ) -> None:
        self.bot = bot
        self.mtproto = mtproto
        self.store = store
        self.users = Users(store)
        self.queue = queue
        self.transcriber = transcriber
        self.tmp = Path(data_dir) / "tmp"
        self.owner_ids = owner_ids
        self.gate = gate
        self.queued_cap = queued_cap
        queue.register(
            JOB_KIND,
            self._job,
            JobPolicy(queued_cap=queued_cap, running_cap=running_cap, max_attempts=max_attempts),
        )
        self.router = self._build_router()

    # -- the user's side ------------------------------------------------------

    async def _seen(self, message: Message | CallbackQuery) -> _Seen:
        user = message.from_user
        assert user is not None
        stored = await self.users.seen(user.id, user.language_code)
        return _Seen(user.id, ui_language(stored.language), dict(stored.settings), stored.banned)

    def _build_router(self) -> Router:
        router = Router(name="transcribe")
        router.message(CommandStart())(self.on_start)
        router.message(Command("help"))(self.on_help)
        router.message(Command("status"))(self.on_status)
        router.message(Command("provider"))(self.on_provider)
        router.message(Command("language"))(self.on_language)
        router.message(Command("format"))(self.on_format)
        router.message(Command("revoke"))(self.on_revoke)
        router.message(Command("botstats"))(self.on_botstats)
        router.callback_query(F.data.startswith("set:"))(self.on_choice)
        router.message(F.voice | F.audio | F.video | F.video_note | F.document)(self.on_media)
        return router

    async def on_start(self, message: Message) -> None:
        ui = (await self._seen(message)).ui
        await message.answer(t(ui, "start"))

    async def on_help(self, message: Message) -> None:
        ui = (await self._seen(message)).ui
        await message.answer(t(ui, "help"))

    async def on_media(self, message: Message) -> None:
        user_id, ui, settings, banned = await self._seen(message)
        if banned:
            return
        reply = ReplyParameters(message_id=message.message_id)
        media = media_of(message)
        if media is None:
            await message.answer(t(ui, "unsupported"), reply_parameters=reply)
            return
        limit = download_limit(self.bot, self.mtproto)
        if media.file_size is not None and media.file_size > limit:
            size = f"{media.file_size / _MB:.0f}"
            await message.answer(
                t(ui, "too_large", size=size, limit=limit // _MB), reply_parameters=reply
            )
            return
        cached = await self.transcriber.cached(media.file_unique_id)
        if cached is not None:
            await self.deliver(
                message.chat.id, cached, settings.get("format"), ui, message.message_id
            )
            return
        status = await message.answer(t(ui, "queued", position=0), reply_parameters=reply)
        payload = {
            "chat_id": message.chat.id,
            "message_id": message.message_id,
            "status_id": status.message_id,
            "ui": ui,
            "kind": media.kind,
            "file_id": media.file_id,
            "file_unique_id": media.file_unique_id,
            "file_size": media.file_size,
            "file_name": media.file_name,
            "language": _spoken(settings.get("language"), message.from_user),
            "provider": settings.get("provider"),
            "format": settings.get("format"),
        }
        try:
            job_id = await self.queue.enqueue(
                JOB_KIND, payload, user_id=user_id,
                dedupe_key=f"{message.chat.id}:{media.file_unique_id}",
            )  # fmt: skip
        except QueueFull:
            await self.bot.edit_message_text(
                t(ui, "too_many", cap=self.queued_cap),
                chat_id=message.chat.id,
                message_id=status.message_id,
            )
            return
        position = await self.queue.position(job_id)
        if position:
            with contextlib.suppress(Exception):  # the job may have started meanwhile
                await self.bot.edit_message_text(
                    t(ui, "queued", position=position),
                    chat_id=message.chat.id,
                    message_id=status.message_id,
                )

    async def on_status(self, message: Message) -> None:
        user_id, ui, _, _ = await self._seen(message)
        lines = []
        for job in await self.queue.list_jobs(user_id=user_id, limit=5):
            line = f"#{job.id} {job.state.value}"
            if job.state is JobState.RUNNING:
                line += f" {job.progress * 100:.0f} % {job.progress_text}"
            elif job.state is JobState.QUEUED:
                line += f" ({await self.queue.position(job.id) or 0} ahead)"
            lines.append(line)
        await message.answer(
            t(
                ui,
                "status",
                jobs="\n".join(lines) or t(ui, "no_jobs"),
                providers=self._providers_text(),
                hit_rate=f"{self.transcriber.cache.stats.hit_rate * 100:.0f}",
            )
            + await self._accounts_text()
        )

    def _providers_text(self) -> str:
        lines = []
        for health in self.transcriber.providers.health():
            lines.append(
                f"{health.name} ({health.model}): {health.state}, "
                f"{health.successes} ok / {health.failures} failed"
            )
        return "\n".join(lines)

    async def _accounts_text(self) -> str:
        if self.gate is None:
            return ""
        accounts = await self.gate.shared_health()  # on Redis: every process's sends
        lines = [
            f"{label}: {health['requests']} requests, {health['r429']} x 429, "
            f"{float(str(health['success_rate'])) * 100:.0f} % ok"
            + (f", {health['paused']}" if health["paused"] else "")
            for label, health in accounts.items()
        ]
        return "\n\nTelegram:\n" + "\n".join(lines) if lines else ""

    async def on_provider(self, message: Message) -> None:
        ui = (await self._seen(message)).ui
        names = ["auto", *self.transcriber.providers.names]
        await message.answer(t(ui, "choose_provider"), reply_markup=_keyboard("provider", names))

    async def on_language(self, message: Message) -> None:
        ui = (await self._seen(message)).ui
        keyboard = _keyboard("language", list(SPOKEN_LANGUAGES))
        await message.answer(t(ui, "choose_language"), reply_markup=keyboard)

    async def on_format(self, message: Message) -> None:
        ui = (await self._seen(message)).ui
        await message.answer(t(ui, "choose_format"), reply_markup=_keyboard("format", FORMATS))

    async def on_choice(self, query: CallbackQuery) -> None:
        user_id, ui, _, _ = await self._seen(query)
        _, setting, value = (query.data or "").split(":", 2)
        allowed = {
            "provider": ("auto", *self.transcriber.providers.names),
            "language": SPOKEN_LANGUAGES,
            "format": FORMATS,
        }
        if value not in allowed.get(setting, ()):
            await query.answer()
            return
        # "auto" language is kept as chosen: unset falls back to the Telegram language.
        stored = None if value == "auto" and setting != "language" else value
        await self.users.update_settings(user_id, {setting: stored})
        name = t(ui, "auto") if value == "auto" else value
        await query.answer(t(ui, f"{setting}_set", name=name))
        if isinstance(query.message, Message):
            await query.message.edit_text(t(ui, f"{setting}_set", name=name))

    async def on_revoke(self, message: Message) -> None:
        user_id, ui, _, _ = await self._seen(message)
        ids = await self.queue.cancel_user(user_id)
        key = "revoked" if ids else "nothing_to_revoke"
        await message.answer(t(ui, key, count=len(ids)))

    async def on_botstats(self, message: Message) -> None:
        user_id, ui, _, _ = await self._seen(message)
        if user_id not in self.owner_ids:
            await message.answer(t(ui, "owner_only"))
            return
        async with self.store.read() as conn:
            users = (
                await conn.execute(sa.select(sa.func.count()).select_from(users_table))
            ).scalar()
        counts = []
        for state in JobState:
            n = len(await self.queue.list_jobs(state=state, kind=JOB_KIND, limit=100_000))
            counts.append(f"{state.value} {n}")
        entries, size = await self.transcriber.cache.size()
        await message.answer(
            t(
                ui,
                "botstats",
                users=users,
                jobs=", ".join(counts),
                entries=entries,
                megabytes=f"{size / _MB:.1f}",
                hit_rate=f"{self.transcriber.cache.stats.hit_rate * 100:.0f}",
                providers=self._providers_text(),
            )
            + await self._accounts_text()
        )

    # -- the job ----------------------------------------------------------------

    async def _job(self, ctx: JobContext) -> dict[str, Any]:
        p = ctx.payload
        ui, chat_id = str(p["ui"]), int(p["chat_id"])
        status = status_message(self.bot, chat_id, int(p["status_id"]))
        stage_share = {
            "downloading": (0.0, 0.2),
            "converting": (0.2, 0.2),
            "waiting": (0.4, 0.0),
            "transcribing": (0.4, 0.6),
        }

        async def report(stage: str, fraction: float, values: dict[str, int]) -> None:
            if stage == "transcribing" and "seconds" in values:
                text = t(ui, "transcribing_seconds", **values)
            elif stage == "transcribing":
                text = t(ui, "transcribing", **values)
            elif stage == "waiting":
                text = t(ui, "waiting_model", **values)
            else:
                text = t(ui, stage, percent=f"{fraction * 100:.0f}")
            status.update(text)
            start, share = stage_share[stage]
            await ctx.progress(start + share * fraction, text)

        try:
            with workspace(self.tmp) as work:

                async def downloading(fraction: float) -> None:
                    await report("downloading", fraction, {})

                path, digest = await self._fetch(p, work / "media", downloading)
                result = await self.transcriber.transcribe(
                    path, work, sha256=digest, file_unique_id=str(p["file_unique_id"]),
                    language=p.get("language"), first=p.get("provider"), progress=report,
                )  # fmt: skip
            transcript = result.transcript
            if transcript.empty:
                status.update(t(ui, "silent"))
                await status.close()
                return {"silent": True, "from_cache": result.from_cache}
            await self.deliver(chat_id, transcript, p.get("format"), ui, int(p["message_id"]))
            status.update(t(ui, "from_cache" if result.from_cache else "done"))
            await status.close()
            return {
                "characters": len(transcript.text),
                "segments": len(transcript.segments),
                "chunks": result.chunks,
                "from_cache": result.from_cache,
                "provider": transcript.provider,
            }
        except MediaError:
            await self._final(status, t(ui, "corrupt"))
            raise
        except AllProvidersFailed as error:
            delay = error.retry_after or 60.0
            if ctx.attempt < ctx.job.max_attempts:
                await self._final(status, t(ui, "providers_down", seconds=f"{delay:.0f}"))
                raise Retryable(str(error), delay=delay) from None
            await self._final(status, t(ui, "failed", reason=t(ui, "providers_down", seconds="-")))
            raise
        except ProviderError as error:
            await self._final(status, t(ui, "failed", reason=redact(str(error))[:300]))
            raise
        except asyncio.CancelledError:
            # /revoke (or a shutdown handing the job back): the user sees where it stands.
            await asyncio.shield(self._final(status, t(ui, "cancelled")))
            raise

    async def _fetch(
        self, p: dict[str, Any], dest: Path, progress: Callable[[float], Awaitable[None]]
    ) -> tuple[Path, str]:
        size = p.get("file_size") or 0
        if size > CLOUD_LIMIT and not self.bot.session.api.is_local and self.mtproto is not None:
            return await self.mtproto.download(
                int(p["chat_id"]), int(p["message_id"]), dest, progress=progress
            )
        return await download(self.bot, str(p["file_id"]), dest, size=size, progress=progress)

    async def _final(self, status: Any, text: str) -> None:
        status.update(text)
        try:
            await status.close()
        except Exception:  # the status message is a courtesy: never mask the real outcome
            log.warning("could not update a status message", exc_info=True)

    async def deliver(
        self,
        chat_id: int,
        transcript: Transcript,
        fmt: str | None,
        ui: str,
        reply_to: int | None = None,
    ) -> None:
        """Send ``transcript`` as messages (split at sentence or word boundaries) when it
        fits in one and the user wants messages; otherwise as a .txt file, with .srt and
        .vtt files when it has timestamps (or just the format asked for)."""
        fmt = fmt or "message"
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )
        text = transcript.text.strip()
        if fmt == "message" and utf16_length(text) <= _MESSAGE_LIMIT:
            for number, part in enumerate(split_message(text)):
                await self.bot.send_message(
                    chat_id, part, reply_parameters=reply if number == 0 else None
                )
            return
        files: list[tuple[str, str]] = []
        if fmt in ("message", "txt") or not transcript.timed:
            files.append(("transcript.txt", to_txt(transcript, timestamps=transcript.timed)))
        if transcript.timed and fmt in ("message", "srt"):
            files.append(("transcript.srt", to_srt(transcript)))
        if transcript.timed and fmt in ("message", "vtt"):
            files.append(("transcript.vtt", to_vtt(transcript)))
        for number, (name, body) in enumerate(files):
            await self.bot.send_document(
                chat_id,
                BufferedInputFile(body.encode(), filename=name),
                reply_parameters=reply if number == 0 else None,
            )


def _keyboard(setting: str, values: list[str] | tuple[str, ...]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=v, callback_data=f"set:{setting}:{v}") for v in values]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    return InlineKeyboardMarkup(inline_keyboard=rows)
