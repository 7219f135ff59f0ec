"""python-telegram-bot 22 with sluice's rate limiter, against the emulator and its limits."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ExtBot
from telegram.warnings import PTBDeprecationWarning

from sluice import ConfigError
from sluice._exceptions import DeadlineExceeded
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import (
    Fatal,
    Flood,
    Gate,
    Kind,
    Priority,
    Transient,
    Unauthorized,
    Verdict,
    sending_as,
)
from sluice.integrations.ptb import GateRateLimiter, RateLimitArgs, classify_ptb
from sluice.limits import TelegramLimits
from support import BOT_A, TOKEN_A, Sim

SPEED = 10.0

PtbApp = Application[ExtBot[RateLimitArgs], Any, Any, Any, Any, Any]


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on reading durations as int; opt in to timedelta, its future default.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(limits=Limits(speed=SPEED), seed=1)


@pytest.fixture
def gate() -> Gate:
    return Gate(limits=TelegramLimits(speed=SPEED))


def build(server: EmulatorServer, gate: Gate) -> PtbApp:
    return (
        ApplicationBuilder()
        .token(TOKEN_A)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .rate_limiter(GateRateLimiter.for_token(gate, TOKEN_A))
        .build()
    )


@pytest.fixture
async def app(server: EmulatorServer, gate: Gate) -> AsyncIterator[PtbApp]:
    async with build(server, gate) as application:
        yield application


async def started(sim: Sim, count: int) -> list[int]:
    return [int((await sim.started_user(BOT_A, first_name=f"u{n}"))["id"]) for n in range(count)]


async def bot_texts(sim: Sim, chat: int) -> list[str]:
    return [m["text"] for m in await sim.messages(chat) if m["sender"]["type"] == "bot"]


async def test_a_burst_into_many_chats_earns_no_429_and_keeps_order(app: PtbApp, sim: Sim) -> None:
    users = await started(sim, 20)
    # Eight messages into each of twenty chats at once: bursts, per-chat and bot limits.
    await asyncio.gather(*(app.bot.send_message(u, f"m{n}") for n in range(8) for u in users))
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["r429"]["total"] == 0
    assert stats["sends_accepted"] == 160
    for user in users:
        assert await bot_texts(sim, user) == [f"m{n}" for n in range(8)]


async def test_refusals_arrive_as_ptb_raised_them(app: PtbApp, sim: Sim, gate: Gate) -> None:
    (user,) = await started(sim, 1)
    await sim.post("block", bot_id=BOT_A, user_id=user)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await app.bot.send_message(user, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await app.bot.send_message(987654321, "hi")
    assert gate.health()[f"bot:{BOT_A}"]["failures"] == 2  # both went through the gate
    assert not gate.account(BOT_A).paused


async def test_polling_and_other_methods_are_not_gated(app: PtbApp, sim: Sim, gate: Gate) -> None:
    await started(sim, 1)
    assert gate.has_account(BOT_A)  # registered by initialize(), which also called getMe
    for _ in range(50):
        await app.bot.get_updates(timeout=0)
    await app.bot.get_me()
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["calls"]["getUpdates"] == 50
    assert gate.health()[f"bot:{BOT_A}"]["requests"] == 0


async def test_a_spurious_429_storm_loses_nothing_and_keeps_order(app: PtbApp, sim: Sim) -> None:
    users = await started(sim, 30)
    await sim.post("faults", p429=0.2, retry_after_min=1, retry_after_max=1)
    await asyncio.gather(*(app.bot.send_message(u, f"m{n}") for n in range(3) for u in users))
    await sim.post("faults", p429=0.0)
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["r429"]["injected"] > 0
    assert stats["r429"]["limit"] == 0  # only the injected ones, never one the model earned
    assert stats["sends_accepted"] == 90
    for user in users:
        assert await bot_texts(sim, user) == ["m0", "m1", "m2"]


async def test_rate_limit_args_put_a_reply_before_a_broadcast(app: PtbApp, sim: Sim) -> None:
    users = await started(sim, 150)
    (asker,) = await started(sim, 1)
    loop = asyncio.get_running_loop()
    bulk = [asyncio.create_task(app.bot.send_message(u, "bulk")) for u in users]
    await asyncio.wait(bulk, return_when=asyncio.FIRST_COMPLETED)  # the broadcast is going
    interactive: RateLimitArgs = {"priority": Priority.INTERACTIVE}
    with sending_as(Priority.BULK):  # rate_limit_args win over the task's context
        start = loop.time()
        await app.bot.send_message(asker, "pong", rate_limit_args=interactive)
        waited = loop.time() - start
    remaining = sum(not task.done() for task in bulk)
    await asyncio.gather(*bulk)
    assert remaining  # the broadcast was still going
    assert waited < 0.1 + 0.1  # one chat interval at speed 10, plus the round trip


async def test_paid_broadcasts_use_the_paid_limit(server: EmulatorServer, sim: Sim) -> None:
    # An account limit of 2 sends/s would hold 20 unpaid sends for 8.5 s or more.
    gate = Gate(limits=TelegramLimits(speed=2.0, bot_count=1, bot_burst=1))
    users = await started(sim, 20)
    loop = asyncio.get_running_loop()
    async with build(server, gate) as application:
        start = loop.time()
        await asyncio.gather(
            *(application.bot.send_message(u, "paid", allow_paid_broadcast=True) for u in users)
        )
        took = loop.time() - start
    assert took < 3.0
    assert (await sim.stats())["bots"][str(BOT_A)]["sends_accepted"] == 20


async def test_a_deadline_in_rate_limit_args_bounds_the_wait(app: PtbApp, sim: Sim) -> None:
    (user,) = await started(sim, 1)
    await sim.post("faults", p429=1.0, retry_after_min=5, retry_after_max=5)
    quick: RateLimitArgs = {"timeout": 1.0}
    with pytest.raises(DeadlineExceeded):
        await app.bot.send_message(user, "late", rate_limit_args=quick)
    assert await bot_texts(sim, user) == []


def test_for_token_keeps_the_bot_id_and_never_the_token() -> None:
    limiter = GateRateLimiter.for_token(Gate(), TOKEN_A)
    assert limiter.bot_id == BOT_A
    assert TOKEN_A.split(":")[1] not in repr(limiter)
    assert not any(TOKEN_A in str(getattr(limiter, name)) for name in GateRateLimiter.__slots__)
    with pytest.raises(ConfigError) as error:
        GateRateLimiter.for_token(Gate(), "1000001:short-secret")
    assert "short-secret" not in str(error.value)


async def test_initialize_twice_and_shutdown_leave_the_gate_usable(
    server: EmulatorServer, sim: Sim, gate: Gate
) -> None:
    (user,) = await started(sim, 1)
    limiter = GateRateLimiter(gate, BOT_A)
    await limiter.initialize()
    await limiter.initialize()  # an Application restarted in the same process
    await limiter.shutdown()
    async with build(server, gate) as application:
        await application.bot.send_message(user, "still here")
    assert [a.id for a in gate.accounts] == [BOT_A]
    assert gate.health()[f"bot:{BOT_A}"]["successes"] == 1


# Factories, not instances: PTB warns when a RetryAfter is built without PTB_TIMEDELTA,
# and parameters are built at collection, before the fixture above sets it.
CLASSIFIED: list[tuple[str, Callable[[], BaseException], Verdict]] = [
    ("retry-after-int", lambda: RetryAfter(5), Flood(5.0)),
    ("retry-after-timedelta", lambda: RetryAfter(dtm.timedelta(seconds=2.5)), Flood(2.5)),
    ("timed-out", TimedOut, Transient()),
    ("bad-gateway", lambda: NetworkError("Bad Gateway"), Transient()),
    ("server-error", lambda: NetworkError("Internal Server Error"), Transient()),
    ("too-large", lambda: NetworkError("Request Entity Too Large"), Fatal(Kind.BAD_REQUEST)),
    ("invalid-token", InvalidToken, Unauthorized()),
    ("unauthorized", lambda: InvalidToken("Unauthorized"), Unauthorized()),
    ("blocked", lambda: Forbidden("Forbidden: bot was blocked by the user"), Fatal(Kind.BLOCKED)),
    (
        "cannot-initiate",
        lambda: Forbidden("Forbidden: bot can't initiate conversation with a user"),
        Fatal(Kind.FORBIDDEN),
    ),
    (
        "chat-not-found",
        lambda: BadRequest("Bad Request: chat not found"),
        Fatal(Kind.CHAT_NOT_FOUND),
    ),
    ("too-long", lambda: BadRequest("Bad Request: message is too long"), Fatal(Kind.BAD_REQUEST)),
    ("migrated", lambda: ChatMigrated(-1001234567890), Fatal(Kind.BAD_REQUEST)),
    ("conflict", lambda: Conflict("Conflict: terminated by other getUpdates"), Fatal(Kind.OTHER)),
    ("telegram-error", lambda: TelegramError("Invalid server response"), Fatal(Kind.OTHER)),
    ("not-telegram", lambda: ValueError("not a Telegram error"), Fatal(Kind.OTHER)),
]


@pytest.mark.parametrize(
    ("make", "verdict"),
    [(make, verdict) for _, make, verdict in CLASSIFIED],
    ids=[name for name, _, _ in CLASSIFIED],
)
def test_classify_ptb(make: Callable[[], BaseException], verdict: Verdict) -> None:
    assert classify_ptb(make()) == verdict


def test_classifying_a_retry_after_does_not_trip_ptbs_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA")
    with pytest.warns(PTBDeprecationWarning):
        error = RetryAfter(7)  # PTB itself warns here, reading its own retry_after
    assert classify_ptb(error) == Flood(7.0)  # warnings are errors in this suite
