"""The distributed gate: two "processes" (two gates, two Redis connections, two
aiogram sessions) share one bot's limits against the emulator at 10x speed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator

import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice import (
    AccountRestricted,
    DeadlineExceeded,
    FloodRetriesExhausted,
    NoAccountAvailable,
)
from sluice.accounts import Account
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import (
    DistributedGate,
    Flood,
    Priority,
    Restricted,
    RetryPolicy,
    Unauthorized,
    Verdict,
)
from sluice.integrations.aiogram import GateMiddleware
from sluice.jobs import shard_of
from sluice.limits import (
    LimiterUnavailable,
    MemoryLimiter,
    Outcome,
    RedisLimiter,
    TelegramLimits,
    Ticket,
)
from support import BOT_A, TOKEN_A, Sim


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1, limits=Limits(speed=10))


@pytest.fixture
async def gates(redis_url: str) -> AsyncIterator[list[DistributedGate]]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    limiters = [
        RedisLimiter(
            aioredis.Redis.from_url(redis_url), TelegramLimits(speed=10), namespace=namespace
        )
        for _ in range(2)
    ]
    yield [DistributedGate(limiter) for limiter in limiters]
    await limiters[0].drop()
    for limiter in limiters:
        await limiter.aclose()


async def test_two_processes_share_one_bot_without_a_429_and_keep_each_chats_order(
    server: EmulatorServer, sim: Sim, gates: list[DistributedGate]
) -> None:
    users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(120)]
    sessions = []
    for gate in gates:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        session.middleware(GateMiddleware(gate))
        sessions.append(session)
    bots = [Bot(TOKEN_A, session=session) for session in sessions]

    async def chat(user: int) -> None:
        # Each chat's work is routed to one process, as the job layer does.
        bot = bots[shard_of(user, 2)]
        for n in (1, 2, 3):
            await bot.send_message(user, f"m{n}")

    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.gather(*(chat(u) for u in users))
    finally:
        for session in sessions:
            await session.close()
    elapsed = loop.time() - started
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["r429"]["total"] == 0
    assert stats["sends_accepted"] == 360
    for user in users[:40]:
        assert [m["text"] for m in await sim.messages(user)][1:] == ["m1", "m2", "m3"]
    # 360 sends at 300/s need at least 1.1 s: shared, not doubled.
    assert elapsed > (360 - 30) / 300
    assert {shard_of(u, 2) for u in users} == {0, 1}  # both processes took part
    rounds = sum(g.limiter.round_trips for g in gates)
    assert rounds < 2 * 360  # grouped: fewer than two round trips a message


def test_a_chats_shard_is_the_same_in_every_process() -> None:
    # blake2b, not hash(): Python salts str hashes per process.
    assert [shard_of(c, 16) for c in (1, -1001234567890, 424242)] == [
        shard_of(c, 16) for c in (1, -1001234567890, 424242)
    ]
    assert all(0 <= shard_of(c, 7) < 7 for c in range(-500, 500))
    counts = [sum(1 for c in range(10_000) if shard_of(c, 4) == s) for s in range(4)]
    assert min(counts) > 2_200  # spread evenly


# -- the gate's own rules, on the in-memory limiter (the same contract as Redis) ------------


class Refusal(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(type(verdict).__name__)
        self.verdict = verdict


def _classify(exc: BaseException) -> Verdict:
    assert isinstance(exc, Refusal)
    return exc.verdict


def _answers(*outcomes: Verdict | str) -> Callable[[Account], Awaitable[str]]:
    """A factory that fails with each verdict in turn, then answers with the account."""
    queue = list(outcomes)

    async def factory(account: Account) -> str:
        outcome = queue.pop(0) if queue else "ok"
        if not isinstance(outcome, str):
            raise Refusal(outcome)
        return f"{outcome} as {account.id}"

    return factory


async def test_a_restricted_account_is_paused_for_every_process_and_the_call_fails() -> None:
    limiter = MemoryLimiter(TelegramLimits(speed=100))
    gate = DistributedGate(limiter)
    with pytest.raises(AccountRestricted, match="PEER_FLOOD"):
        await gate.call(
            _answers(Restricted()), account=7, chat_id=5, classifier=_classify, method="sendMessage"
        )
    assert "PEER_FLOOD" in str((await limiter.health(7)).quarantined)
    # Another gate on the same limiter (another process) does not send as it.
    other = DistributedGate(limiter)
    with pytest.raises(NoAccountAvailable):
        await other.call(_answers(), account=7, chat_id=5, classifier=_classify)
    await other.resume(7)
    assert await other.call(_answers(), account=7, chat_id=5, classifier=_classify) == "ok as 7"


async def test_a_refused_token_moves_the_call_to_the_next_account() -> None:
    limiter = MemoryLimiter(TelegramLimits(speed=100))
    gate = DistributedGate(limiter)
    result = await gate.call(
        _answers(Unauthorized()), account=[7, 8], chat_id=5, classifier=_classify
    )
    assert result == "ok as 8"
    await gate.drain()
    assert (await limiter.health(7)).quarantined == "unauthorized: the token was refused"
    health = await gate.shared_health()
    assert health["bot:7"]["failures"] == 1
    assert health["bot:8"]["successes"] == 1


async def test_floods_are_waited_out_then_given_up_after_the_retries() -> None:
    limiter = MemoryLimiter(TelegramLimits(speed=100))
    gate = DistributedGate(limiter, retry=RetryPolicy(flood_retries=2))
    flood = Flood(retry_after=0.001)
    assert await gate.call(_answers(flood, flood), account=7, chat_id=5, classifier=_classify)
    await gate.drain()
    shared = await limiter.health(7)
    assert (shared.floods, shared.successes) == (2, 1)
    assert await limiter.rate(7, 5) < 1.0  # the chat's rate was cut
    with pytest.raises(FloodRetriesExhausted):
        await gate.call(_answers(flood, flood, flood), account=7, chat_id=6, classifier=_classify)
    assert gate.floods == 5


async def test_broadcast_calls_ask_the_limiter_as_bulk_and_replies_do_not() -> None:
    limiter = MemoryLimiter(TelegramLimits(bot_count=4, speed=100), headroom=2)
    gate = DistributedGate(limiter)
    # A reply, then a broadcast: the broadcast leaves two of the four slots free...
    await gate.call(_answers(), account=7, chat_id=1, priority=Priority.INTERACTIVE)
    await gate.call(_answers(), account=7, chat_id=-1, priority=Priority.BULK)
    assert not isinstance(await limiter.acquire(7, -2, bulk=True), Ticket)
    # ...which a call at the default priority takes.
    await gate.call(_answers(), account=7, chat_id=2)
    await gate.drain()
    assert (await limiter.health(7)).requests == 3


class Flaky(MemoryLimiter):
    """The shared limits unreachable for the first ``down`` acquires and confirms."""

    def __init__(self, down: int, confirms_down: int = 0) -> None:
        super().__init__(TelegramLimits(speed=100))
        self.down, self.confirms_down = down, confirms_down

    async def acquire(
        self, bot_id: int, chat_id: Hashable | None, *, paid: bool = False, bulk: bool = False
    ) -> Ticket | float:
        if self.down:
            self.down -= 1
            raise LimiterUnavailable("the shared limits are unreachable: ConnectionError")
        return await super().acquire(bot_id, chat_id, paid=paid, bulk=bulk)

    async def confirm(self, ticket: Ticket, outcome: Outcome = "ok") -> None:
        if self.confirms_down:
            self.confirms_down -= 1
            raise LimiterUnavailable("the shared limits are unreachable: TimeoutError")
        await super().confirm(ticket, outcome)


async def test_while_the_shared_limits_are_down_nothing_is_sent_and_then_all_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = Flaky(down=3, confirms_down=2)
    gate = DistributedGate(limiter)
    sent: list[int] = []

    async def send(account: Account) -> str:
        sent.append(account.id)
        return "ok"

    with caplog.at_level("WARNING", logger="sluice.gate"):
        assert await gate.call(send, account=7, chat_id=5) == "ok"
        await gate.drain()
    assert sent == [7]  # once, after the limits came back
    assert (limiter.down, limiter.confirms_down) == (0, 0)
    assert (await limiter.health(7)).successes == 1  # the answer reached them in the end
    messages = [r.getMessage() for r in caplog.records]
    assert any("nothing is sent until they are back" in m for m in messages)
    assert any("reachable again" in m for m in messages)


async def test_a_call_waiting_for_the_shared_limits_stops_at_its_deadline() -> None:
    gate = DistributedGate(Flaky(down=10**6))
    sent: list[int] = []

    async def send(account: Account) -> str:
        sent.append(account.id)
        return "ok"

    with pytest.raises(DeadlineExceeded):
        await gate.call(send, account=7, chat_id=5, timeout=0.2)
    assert sent == []


async def test_an_unreachable_redis_is_reported_as_the_limits_being_unavailable() -> None:
    limiter = RedisLimiter.from_url("redis://127.0.0.1:1/0", heartbeat=0.3)  # nothing listens
    try:
        with pytest.raises(LimiterUnavailable, match="unreachable"):
            await limiter.acquire(7, 5)
        with pytest.raises(LimiterUnavailable):
            await limiter.pause(7, "restricted")
    finally:
        await limiter.aclose()


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway redis-server on ``port`` (nothing saved), stopped on the way out."""
    proc = subprocess.Popen(
        [REDIS_SERVER or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


async def _up(port: int) -> None:
    client = aioredis.Redis(port=port)
    try:
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.02)  # the server is starting: poll until it answers
    finally:
        await client.aclose()


REDIS_SERVER = shutil.which("redis-server")


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary to restart a Redis")
async def test_a_redis_restart_holds_sends_back_and_loses_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sent: list[str] = []

    async def send(account: Account) -> str:
        sent.append("m")
        return "ok"

    limiter = RedisLimiter.from_url(f"redis://127.0.0.1:{port}/0", heartbeat=0.3)
    gate = DistributedGate(limiter)
    outage = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "nothing is sent" in record.getMessage():
                outage.set()

    watch = Watch()
    logging.getLogger("sluice.gate").addHandler(watch)
    try:
        with private_redis(port):
            await _up(port)
            await gate.call(send, account=7, chat_id=5)
        # Redis is down: the next send waits for it.
        with caplog.at_level("WARNING", logger="sluice.gate"):
            waiting = asyncio.create_task(gate.call(send, account=7, chat_id=6))

            await asyncio.wait_for(outage.wait(), 10)
            assert sent == ["m"]
            assert not waiting.done()
            with private_redis(port):  # back, empty: its scripts and keys are gone
                await asyncio.wait_for(waiting, 15)
                assert sent == ["m", "m"]
                await gate.drain()
                health = await limiter.health(7)
                # Counted since the restart: the second admission, and both answers (the
                # first one's kept trying through the outage).
                assert (health.requests, health.successes) == (1, 2)
        assert any("reachable again" in r.getMessage() for r in caplog.records)
    finally:
        logging.getLogger("sluice.gate").removeHandler(watch)
        await limiter.aclose()


async def test_a_cancelled_send_gives_its_slot_back_and_no_chat_is_remembered() -> None:
    limiter = MemoryLimiter(TelegramLimits(bot_count=1, speed=100))
    gate = DistributedGate(limiter)
    started = asyncio.Event()

    async def hang(account: Account) -> str:
        started.set()
        await asyncio.Event().wait()  # never answered: the caller gives up
        return "never"

    stuck = asyncio.create_task(gate.call(hang, account=7, chat_id=5))
    await started.wait()
    stuck.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stuck
    await gate.drain()
    # The one slot is counted (the send may have reached Telegram), not held forever.
    assert await gate.call(_answers(), account=7, chat_id=6, timeout=1.0) == "ok as 7"
    assert (await limiter.health(7)).failures == 1
    await asyncio.gather(*(gate.call(_answers(), account=7, chat_id=c) for c in range(8, 12)))
    assert gate._lanes == {}  # a lane lives while calls use it
