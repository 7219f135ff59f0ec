"""The file-to-link bot's handlers end to end: simulated users, the emulator's
Telegram, a real aiogram bot with its gate, store, queue and durable broadcasts.
A link "works" when the resolver the web server uses serves it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from sluice.apps.filelink import (
    Intake,
    LinkRefused,
    LinkResolver,
    Links,
    LinkSigner,
    Media,
    Records,
    StoredFile,
)
from sluice.apps.filelink._bot import FilelinkBot
from sluice.broadcasts import DurableBroadcasts
from sluice.broadcasts.aiogram import aiogram_sender
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import Gate
from sluice.integrations.aiogram import GateMiddleware, InteractiveMiddleware, classify_aiogram
from sluice.jobs import JobQueue, open_backend
from sluice.limits import TelegramLimits
from sluice.store import Store, Users
from support import BOT_A, TOKEN_A, Sim
from transcribe_support import eventually
from vclock import ManualClock

MB = 1024 * 1024
SECRET = "bot-test-link-secret-0123456789abcdef"
PUBLIC_URL = "https://files.example.com"
TOKEN = re.compile(r"/dl/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Ten times Telegram's pace: a storage channel takes a copy every 0.3 s, not 3 s.
    return EmulatorConfig(seed=1, limits=Limits(speed=10))


@pytest.fixture
async def user(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A, language_code="en"))["id"])


class HeldIntake(Intake):
    """The real intake, whose first ``keep`` waits until the test releases it: a
    request that is stuck for as long as the test wants."""

    def __init__(self, bot: Bot, records: Records, storage_channel: int) -> None:
        super().__init__(bot, records, storage_channel)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.held = False

    async def keep(self, message: Message, media: Media) -> tuple[StoredFile, bool]:
        if not self.held:
            self.held = True
            self.entered.set()
            await self.release.wait()
        return await super().keep(message, media)


@dataclass
class Running:
    bot: Bot
    handlers: FilelinkBot
    records: Records
    users: Users
    resolver: LinkResolver
    queue: JobQueue
    intake: Intake


@contextlib.asynccontextmanager
async def running_bot(
    server: EmulatorServer,
    storage: int,
    data: Path,
    *,
    intake: Callable[[Bot, Records, int], Intake] = Intake,
    **options: Any,
) -> AsyncIterator[Running]:
    """The bot polling the emulator; ``options`` go to :class:`FilelinkBot`."""
    url = f"sqlite:///{data / 'filelink.db'}"
    store = Store.open(url)
    await store.setup()
    jobs = open_backend(url)
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    session.middleware(GateMiddleware(Gate(limits=TelegramLimits(speed=10))))
    bot = Bot(TOKEN_A, session=session)
    records, users = Records(store), Users(store)
    signer = LinkSigner(SECRET)
    queue = JobQueue(jobs, lease=2.0, check_interval=0.05, poll_interval=0.05)
    broadcasts = DurableBroadcasts(
        store, queue, aiogram_sender({BOT_A: bot}), classify=classify_aiogram, flush_every=0.05
    )
    kept = intake(bot, records, storage)
    settings: dict[str, Any] = {"max_size": 20 * MB, "report_every": 0.1} | options
    handlers = FilelinkBot(
        bot, records=records, links=Links(signer, users, PUBLIC_URL), intake=kept, users=users,
        broadcasts=broadcasts, **settings,
    )  # fmt: skip
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(InteractiveMiddleware())
    dispatcher.include_router(handlers.router)
    try:
        async with queue.running(concurrency=4):
            polling = asyncio.create_task(
                dispatcher.start_polling(
                    bot,
                    handle_signals=False,
                    polling_timeout=1,
                    allowed_updates=dispatcher.resolve_used_update_types(),
                )
            )
            try:
                yield Running(
                    bot, handlers, records, users, LinkResolver(signer, records, users), queue, kept
                )
            finally:
                with contextlib.suppress(RuntimeError):  # polling had not started yet
                    await dispatcher.stop_polling()
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
                await handlers.close()
    finally:
        await session.close()
        await jobs.close()
        await store.close()


async def send_file(
    sim: Sim,
    user: int,
    name: str = "notes.txt",
    data: bytes = b"some notes\n",
    *,
    kind: str = "document",
    mime: str = "text/plain",
) -> dict[str, Any]:
    file = {"kind": kind, "base64": base64.b64encode(data).decode(), "mime_type": mime,
            "file_name": name, "duration": 3}  # fmt: skip
    sent: dict[str, Any] = await sim.send(user, from_user_id=user, bot_id=BOT_A, file=file)
    return sent


async def command(sim: Sim, user: int, text: str, **extra: Any) -> dict[str, Any]:
    sent: dict[str, Any] = await sim.send(user, text, from_user_id=user, bot_id=BOT_A, **extra)
    return sent


async def bot_messages(sim: Sim, chat: int) -> list[dict[str, Any]]:
    return [
        m for m in await sim.messages(chat) if m["sender"]["type"] == "bot" and not m.get("deleted")
    ]


async def answer(sim: Sim, chat: int, start: str, *, count: int = 1) -> dict[str, Any]:
    """The ``count``-th message of the bot in ``chat`` whose text starts with ``start``,
    once it is there."""

    async def find() -> dict[str, Any] | None:
        found = [m for m in await bot_messages(sim, chat) if _text(m).startswith(start)]
        return found[count - 1] if len(found) >= count else None

    found: dict[str, Any] = await eventually(find, within=20)
    return found


async def shows(sim: Sim, chat: int, message_id: int, start: str) -> dict[str, Any]:
    """The bot's message ``message_id`` once its (edited) text starts with ``start``."""

    async def find() -> dict[str, Any] | None:
        for m in await bot_messages(sim, chat):
            if m["message_id"] == message_id and _text(m).startswith(start):
                return m
        return None

    found: dict[str, Any] = await eventually(find, within=20)
    return found


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def token_of(message: dict[str, Any]) -> str:
    found = TOKEN.search(_text(message))
    assert found is not None, message
    return found.group(1)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


async def pressed(server: EmulatorServer, sim: Sim, user: int, message_id: int, data: str) -> None:
    """The user presses a button (any data) of the bot's message; returns once the bot
    answered the press."""
    query = await sim.callback(user, message_id, data, bot_id=BOT_A)
    callbacks = server.emulator.world.callbacks

    async def answered() -> bool:
        return bool(callbacks[query["id"]][1])

    await eventually(answered, within=20)


async def _refusal(running: Running, token: str) -> int:
    with pytest.raises(LinkRefused) as refused:
        await running.resolver.resolve(token)
    return refused.value.status


async def _link(sim: Sim, user: int, name: str, count: int = 1) -> tuple[dict[str, Any], str]:
    message = await answer(sim, user, f"{name} (", count=count)
    return message, token_of(message)


async def test_a_document_is_kept_once_in_storage_and_answered_with_a_working_link(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path) as running:
        sent = await send_file(sim, user, "notes.txt", b"x" * 1500)
        message, token = await _link(sim, user, "notes.txt")
        file = await running.resolver.resolve(token)
        await send_file(sim, user, "clip.mp4", b"\0" * 2048, kind="video", mime="video/mp4")
        clip, clip_token = await _link(sim, user, "clip.mp4")
    assert message["text"] == f"notes.txt (1.5 KB)\n\nDownload: {PUBLIC_URL}/dl/{token}/notes.txt"
    assert message["reply_to_message_id"] == sent["message_id"]
    assert [b["text"] for b in buttons(message)] == ["Download"]  # a text file plays nowhere
    assert buttons(message)[0]["url"] == f"{PUBLIC_URL}/dl/{token}/notes.txt"
    assert (file.name, file.size, file.chat_id) == ("notes.txt", 1500, storage)
    stored = [m for m in await sim.messages(storage) if m.get("media")]
    assert [m["message_id"] for m in stored][:1] == [file.message_id]
    assert stored[0]["media"]["file_unique_id"] == sent["document"]["file_unique_id"]
    assert [b["text"] for b in buttons(clip)] == ["Download", "Watch"]
    assert f"Watch: {PUBLIC_URL}/watch/{clip_token}/clip.mp4" in str(clip["text"])


async def test_the_same_file_from_two_users_is_one_stored_copy_and_two_links(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    other = int((await sim.started_user(BOT_A))["id"])
    async with running_bot(server, storage, tmp_path) as running:
        sent = await send_file(sim, user, "song.mp3", b"ID3" * 500, kind="audio", mime="audio/mpeg")
        _, first = await _link(sim, user, "song.mp3")
        again = {"file_unique_id": sent["audio"]["file_unique_id"]}
        await sim.send(other, from_user_id=other, bot_id=BOT_A, file=again)
        _, second = await _link(sim, other, "song.mp3")
        one, two = [await running.resolver.resolve(token) for token in (first, second)]
        mine, _ = await running.records.links_of(user)
        theirs, _ = await running.records.links_of(other)
    assert first != second
    assert one == two
    assert len([m for m in await sim.messages(storage) if m.get("media")]) == 1
    assert (mine[0].file, mine[0].owner_id, theirs[0].owner_id) == (one, user, other)


async def test_one_request_at_a_time_and_revoke_cancels_it(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path, intake=HeldIntake) as running:
        intake = running.intake
        assert isinstance(intake, HeldIntake)
        await send_file(sim, user, "first.txt")
        await eventually(intake.entered.wait)
        await send_file(sim, user, "second.txt")
        await answer(sim, user, "I am still working on first.txt. Wait for its link")
        await command(sim, user, "/status")
        await answer(sim, user, "Your links: 0\nWorking on: first.txt")
        await command(sim, user, "/revoke")
        await answer(sim, user, "Cancelled: first.txt. You can send another file now.")
        await command(sim, user, "/revoke")
        await answer(sim, user, "I am not working on any file of yours.")
        intake.release.set()
        await send_file(sim, user, "second.txt")
        _, token = await _link(sim, user, "second.txt")
        assert (await running.resolver.resolve(token)).name == "second.txt"
        _, total = await running.records.links_of(user)
    texts = [str(m.get("text")) for m in await bot_messages(sim, user)]
    assert not any(text.startswith("first.txt (") for text in texts)
    assert total == 1


async def test_a_request_stuck_past_the_timeout_is_dropped_for_the_next_file(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with running_bot(server, storage, tmp_path, intake=HeldIntake, clock=clock) as running:
        intake = running.intake
        assert isinstance(intake, HeldIntake)
        stuck = await send_file(sim, user, "stuck.txt")
        await eventually(intake.entered.wait)
        clock.now += 299
        await send_file(sim, user, "next.txt")
        await answer(sim, user, "I am still working on stuck.txt")
        clock.now += 1  # five minutes since stuck.txt came
        await send_file(sim, user, "next.txt")
        dropped = await answer(
            sim, user, "stuck.txt took longer than 5 min and was dropped. Send it again to retry."
        )
        _, token = await _link(sim, user, "next.txt")
        assert (await running.resolver.resolve(token)).name == "next.txt"
    assert dropped["reply_to_message_id"] == stuck["message_id"]


async def test_a_stuck_request_times_out_on_its_own(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path, intake=HeldIntake, request_timeout=0.5):
        await send_file(sim, user, "slow.txt")
        await answer(sim, user, "slow.txt took longer than 0.5 s and was dropped.")
        await command(sim, user, "/status")
        await answer(sim, user, "Your links: 0\nNo file in progress.")


async def test_a_file_past_the_limit_is_refused_naming_the_limit(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path, max_size=20 * MB):
        await sim.synthetic(
            user, 25 * MB, from_user_id=user, bot_id=BOT_A, kind="document", file_name="big.iso"
        )
        await answer(sim, user, "big.iso is 25 MB; the largest file I can take is 20 MB.")
        await command(sim, user, "/help")
        await answer(sim, user, "Send a file (up to 20 MB)")
    assert not [m for m in await sim.messages(storage) if m.get("media")]


async def test_files_pages_and_its_delete_button_stops_a_link(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path, page_size=2) as running:
        tokens = {}
        for name in ("a.txt", "b.txt", "c.txt"):
            await send_file(sim, user, name, name.encode())
            tokens[name] = (await _link(sim, user, name))[1]
        await command(sim, user, "/files")
        page = await answer(sim, user, "Your links (3), page 1 of 2:")
        assert page["text"].splitlines()[1:] == ["1. c.txt (5 bytes)", "2. b.txt (5 bytes)"]
        assert [b["text"] for b in buttons(page)] == [
            "1. link", "1. delete", "2. link", "2. delete", "Next"
        ]  # fmt: skip
        data = [b["callback_data"] for b in buttons(page)]
        assert all(len(d.encode()) < 64 for d in data)
        await sim.callback(user, page["message_id"], data[-1], bot_id=BOT_A)
        second = await shows(sim, user, page["message_id"], "Your links (3), page 2 of 2:")
        assert second["text"].splitlines()[1:] == ["3. a.txt (5 bytes)"]
        assert [b["text"] for b in buttons(second)] == ["3. link", "3. delete", "Previous"]
        await sim.callback(user, page["message_id"], buttons(second)[1]["callback_data"])
        after = await shows(sim, user, page["message_id"], "Your links (2), page 1 of 1:")
        assert after["text"].splitlines()[1:] == ["1. c.txt (5 bytes)", "2. b.txt (5 bytes)"]
        assert await _refusal(running, tokens["a.txt"]) == 410
        await sim.callback(user, page["message_id"], buttons(after)[0]["callback_data"])
        _, fresh = await _link(sim, user, "c.txt", count=2)
        assert (await running.resolver.resolve(fresh)).name == "c.txt"
        await command(sim, user, "/del 2")
        await answer(sim, user, "Deleted: b.txt. Its link no longer works.")
        link_message = await answer(sim, user, "c.txt (")
        await command(sim, user, "/del", reply_to_message_id=link_message["message_id"])
        await answer(sim, user, "Deleted: c.txt. Its link no longer works.")
        await command(sim, user, "/del 1")
        await answer(sim, user, "I found no link of yours there.")
        assert [await _refusal(running, tokens[n]) for n in ("b.txt", "c.txt")] == [410, 410]
        assert await running.records.links_of(user) == ([], 0)


async def test_a_user_cannot_act_on_another_users_link(
    server: EmulatorServer,
    sim: Sim,
    storage: int,
    user: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mallory = int((await sim.started_user(BOT_A, first_name="Mallory"))["id"])
    async with running_bot(server, storage, tmp_path) as running:
        await send_file(sim, user, "secret.txt")
        _, token = await _link(sim, user, "secret.txt")
        (link,), _ = await running.records.links_of(user)
        await send_file(sim, mallory, "mine.txt")
        await _link(sim, mallory, "mine.txt")
        await command(sim, mallory, "/files")
        menu = await answer(sim, mallory, "Your links (1)")
        # Mallory forges the buttons' data with the other user's link id.
        forgeries = (
            f"fl:d:{link.id}:0", f"fl:l:{link.id}", f"fl:d:{link.id}9:0", "fl:x:1",
            f"fl:d:{'9' * 40}:0", "fl:p:999999", f"fl:p:{'9' * 40}",
        )  # fmt: skip
        for forged in forgeries:
            await pressed(server, sim, mallory, menu["message_id"], forged)
        assert (await running.resolver.resolve(token)).name == "secret.txt"
        assert (await running.records.links_of(user))[1] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # answered, not crashed
    texts = [str(m.get("text")) for m in await bot_messages(sim, mallory)]
    assert not any(token in text or "secret.txt" in text for text in texts)


async def test_revokeall_stops_every_link_the_user_was_given(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    async with running_bot(server, storage, tmp_path) as running:
        tokens = []
        for name in ("one.txt", "two.txt"):
            await send_file(sim, user, name, name.encode())
            tokens.append((await _link(sim, user, name))[1])
        await command(sim, user, "/revokeall")
        confirm = await answer(sim, user, "Every link you were given so far will stop working")
        no, yes = buttons(confirm)[1], buttons(confirm)[0]
        await sim.callback(user, confirm["message_id"], no["callback_data"], bot_id=BOT_A)
        await shows(sim, user, confirm["message_id"], "Nothing changed")
        assert (await running.resolver.resolve(tokens[0])).name == "one.txt"
        await command(sim, user, "/revokeall")
        confirm = await answer(sim, user, "Every link you were given")  # the first was edited
        await sim.callback(user, confirm["message_id"], yes["callback_data"], bot_id=BOT_A)
        await shows(sim, user, confirm["message_id"], "Done: every link you were given")
        assert [await _refusal(running, token) for token in tokens] == [410, 410]
        await send_file(sim, user, "one.txt", b"one.txt")  # the same file again: a new link
        _, fresh = await _link(sim, user, "one.txt", count=2)
        assert (await running.resolver.resolve(fresh)).name == "one.txt"


async def test_ban_stops_a_users_links_and_unban_restores_them(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    owner = int((await sim.started_user(BOT_A, first_name="Owner"))["id"])
    async with running_bot(server, storage, tmp_path, owner_ids=(owner,)) as running:
        await send_file(sim, user, "shared.txt")
        _, token = await _link(sim, user, "shared.txt")
        await command(sim, owner, f"/ban {user}")
        await answer(sim, owner, f"User {user} is banned: their links no longer serve.")
        assert await _refusal(running, token) == 403
        await send_file(sim, user, "more.txt")
        await answer(sim, user, "You can no longer use this bot.")
        await command(sim, owner, f"/unban {user}")
        await answer(sim, owner, f"User {user} is no longer banned")
        assert (await running.resolver.resolve(token)).name == "shared.txt"
        await command(sim, owner, "/ban someone")
        await answer(sim, owner, "Send /ban <user id>.")


async def test_owner_commands_refuse_everyone_else(
    server: EmulatorServer, sim: Sim, storage: int, user: int, tmp_path: Path
) -> None:
    owner = int((await sim.started_user(BOT_A, first_name="Owner"))["id"])
    pool: list[dict[str, object]] = [
        {"account_id": BOT_A, "in_flight": 2, "bytes": 3 * MB, "floods": 1, "failures": 0,
         "blocked_for": 0.0, "paused": False, "can_read_storage": True, "reason": ""},
        {"account_id": 1000002, "in_flight": 0, "bytes": 0, "floods": 4, "failures": 1,
         "blocked_for": 12.0, "paused": False, "can_read_storage": True, "reason": ""},
    ]  # fmt: skip
    async with running_bot(
        server, storage, tmp_path, owner_ids=(owner,), stats=lambda: pool
    ) as running:
        await send_file(sim, user, "mine.txt")
        _, token = await _link(sim, user, "mine.txt")
        for text in ("/botstats", f"/ban {user}", "/unban 5", "/broadcast"):
            await command(sim, user, text)
        await answer(sim, user, "Only the bot's owner can use this.", count=4)
        await command(sim, user, "/help")
        user_help = await answer(sim, user, "Send a file")
        assert (await running.resolver.resolve(token)).name == "mine.txt"
        await command(sim, owner, "/botstats")
        stats = await answer(sim, owner, "Files kept: 1 (11 bytes)")
        await command(sim, owner, "/help")
        help_text = await answer(sim, owner, "Send a file")
    assert stats["text"].splitlines()[1:] == [
        "Live links: 1 of 1 owners",
        "Users: 2",
        "Files in progress: 0",
        f"bot {BOT_A}: 2 streams now, 3 MB served, 1 flood waits, 0 failures; healthy",
        "bot 1000002: 0 streams now, 0 bytes served, 4 flood waits, 1 failures; "
        "waiting out a flood wait (12 s)",
    ]
    assert "/broadcast" in help_text["text"]
    assert "/broadcast" not in user_help["text"]


async def test_broadcast_reaches_every_user_and_ends_with_a_report(
    server: EmulatorServer, sim: Sim, storage: int, tmp_path: Path
) -> None:
    owner = int((await sim.started_user(BOT_A, first_name="Owner"))["id"])
    users = await sim.users(6, start_bot_id=BOT_A)
    async with running_bot(server, storage, tmp_path, owner_ids=(owner,)) as running:
        for one in users:  # each /start answered: the bot knows them all
            await answer(sim, one, "Hi!")
        await running.users.set_banned(users[0])
        await sim.block(BOT_A, users[1])
        await command(sim, owner, "/broadcast")
        await answer(sim, owner, "Reply /broadcast to the message")
        news = await command(sim, owner, "Maintenance tonight at 22:00")
        await command(sim, owner, "/broadcast", reply_to_message_id=news["message_id"])
        started = await answer(sim, owner, "Broadcast to 6 users: starting.")
        report = await shows(sim, owner, started["message_id"], "Broadcast finished")
    assert report["text"] == (
        "Broadcast finished: 6 users, 5 delivered, 1 blocked the bot, 0 failed."
    )
    assert report.get("edit_history"), "the status message was edited along the way"
    texts = await sim.texts_of(users)
    for one in users[2:]:
        assert texts[one].count("Maintenance tonight at 22:00") == 1
    assert not any("Maintenance" in text for text in texts[users[0]] + texts[users[1]])


async def test_an_indonesian_user_is_answered_in_indonesian(
    server: EmulatorServer, sim: Sim, storage: int, tmp_path: Path
) -> None:
    user = int((await sim.started_user(BOT_A, language_code="id"))["id"])
    async with running_bot(server, storage, tmp_path, intake=HeldIntake) as running:
        intake = running.intake
        assert isinstance(intake, HeldIntake)
        await answer(sim, user, "Halo! Kirimkan file apa pun")
        await send_file(sim, user, "video.mp4", b"\0" * 100, kind="video", mime="video/mp4")
        await eventually(intake.entered.wait)
        await send_file(sim, user, "lagi.txt")
        await answer(sim, user, "Saya masih memproses video.mp4.")
        intake.release.set()
        message, token = await _link(sim, user, "video.mp4")
        await command(sim, user, "/files")
        await answer(sim, user, "Tautan Anda (1), halaman 1 dari 1:")
        await command(sim, user, "/botstats")
        await answer(sim, user, "Hanya pemilik bot yang bisa menggunakan ini.")
    assert f"Unduh: {PUBLIC_URL}/dl/{token}/video.mp4" in message["text"]
    assert [b["text"] for b in buttons(message)] == ["Unduh", "Tonton"]


async def test_an_auth_channel_post_gets_link_buttons(
    server: EmulatorServer, sim: Sim, storage: int, tmp_path: Path
) -> None:
    admin = await sim.user("Admin")
    made = await sim.chat("channel", title="News", admin_bot_ids=[BOT_A], owner_user_id=admin["id"])
    channel = int(made["id"])
    video = {"kind": "video", "base64": "AAAA", "mime_type": "video/mp4", "file_name": "ep1.mp4"}
    async with running_bot(server, storage, tmp_path, auth_channel=channel) as running:
        post = await sim.send(channel, from_user_id=admin["id"], file=video)

        async def linked() -> list[dict[str, Any]] | None:
            # On the admin's post itself: an admin bot with the right edits others' posts.
            for message in await sim.messages(channel):
                if message["message_id"] == post["message_id"] and buttons(message):
                    return buttons(message)
            return None

        found = await eventually(linked, within=20)
        token = str(found[0]["url"]).split("/")[4]
        file = await running.resolver.resolve(token)
        (link,), _ = await running.records.links_of(channel)
    assert [b["text"] for b in found] == ["Download", "Watch"]
    assert file.unique_id == post["video"]["file_unique_id"]
    assert (link.owner_id, link.file) == (channel, file)
    assert len([m for m in await sim.messages(storage) if m.get("media")]) == 1
    assert len(await sim.messages(channel)) == 1  # no reply was needed under the post
