"""The Telethon pool and classifier, offline: fake clients, virtual time, Telethon's own errors."""

from __future__ import annotations

import asyncio
import errno
import stat
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import pytest
from telethon import TelegramClient, errors
from telethon.crypto import AuthKey
from telethon.sessions import StringSession
from telethon.tl.types import PeerUser, RpcError

from sluice import ConfigError
from sluice._exceptions import AccountRestricted, NoAccountAvailable
from sluice.accounts import MTProtoCredential
from sluice.gate import Fatal, Flood, Gate, Kind, Restricted, Transient, Unauthorized, Verdict
from sluice.integrations.telethon import TelethonPool, classify_telethon
from support import TOKEN_A
from vclock import now, run

A, B = 111, 222  # two Telegram accounts
API_HASH = "0123456789abcdef" * 2  # obviously fake


@dataclass
class Me:
    id: int
    bot: bool = False


@dataclass
class Sent:
    client: str
    chat: Hashable
    text: str
    at: float


class FakeClient:
    """What the pool uses of a TelegramClient, plus a Telegram that answers or refuses."""

    def __init__(self, name: str, account: int, log: list[Sent], *, bot: bool = False) -> None:
        self.name = name
        self.me = Me(account, bot)
        self.log = log
        self.flood_sleep_threshold = 60  # Telethon's default
        self.authorized = True
        self.connected = False
        self.signed_in_with: list[str] = []
        self.refusals: list[BaseException] = []  # raised by the next sends, in turn
        self.refused = asyncio.Event()

    async def get_me(self) -> Me | None:
        return self.me if self.authorized else None

    async def connect(self) -> None:
        self.connected = True

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def sign_in(self, *, bot_token: str) -> None:
        self.signed_in_with.append(bot_token)
        self.authorized = True

    async def disconnect(self) -> None:
        self.connected = False

    async def send_message(self, chat: Hashable, text: str) -> str:
        await asyncio.sleep(0.01)  # the round trip, on virtual time
        if self.refusals:
            self.refused.set()
            raise self.refusals.pop(0)
        self.log.append(Sent(self.name, chat, text, asyncio.get_running_loop().time()))
        return self.name


def send(chat: Hashable, text: str) -> Callable[[FakeClient], Awaitable[str]]:
    return lambda client: client.send_message(chat, text)


async def started_pool(gate: Gate, clients: list[FakeClient]) -> TelethonPool:
    pool = TelethonPool(gate, clients)
    await pool.start()
    return pool


def wire(code: int, message: str) -> BaseException:
    """The exception Telethon raises when Telegram answers ``rpc_error``."""
    error: BaseException = errors.rpc_message_to_error(RpcError(code, message), None)
    return error


FORBIDDEN, NOT_FOUND = Fatal(Kind.FORBIDDEN), Fatal(Kind.CHAT_NOT_FOUND)

CLASSIFIED: list[tuple[int, str, str, Verdict]] = [
    (420, "FLOOD_WAIT_42", "FloodWaitError", Flood(42.0, account_wide=True)),
    (420, "FLOOD_PREMIUM_WAIT_9", "FloodPremiumWaitError", Flood(9.0, account_wide=True)),
    (420, "SLOWMODE_WAIT_7", "SlowModeWaitError", Flood(7.0)),
    (400, "PEER_FLOOD", "PeerFloodError", Restricted()),
    (420, "FROZEN_METHOD_INVALID", "FrozenMethodInvalidError", Restricted()),
    (403, "USER_RESTRICTED", "UserRestrictedError", Restricted()),
    (401, "USER_DEACTIVATED_BAN", "UserDeactivatedBanError", Restricted()),
    (401, "AUTH_KEY_UNREGISTERED", "AuthKeyUnregisteredError", Unauthorized()),
    (401, "AUTH_KEY_INVALID", "AuthKeyInvalidError", Unauthorized()),
    (401, "SESSION_REVOKED", "SessionRevokedError", Unauthorized()),
    (401, "SESSION_EXPIRED", "SessionExpiredError", Unauthorized()),
    (401, "USER_DEACTIVATED", "UserDeactivatedError", Unauthorized()),
    (401, "SOME_FUTURE_401", "UnauthorizedError", Unauthorized()),
    (406, "AUTH_KEY_DUPLICATED", "AuthKeyDuplicatedError", Unauthorized()),
    (400, "ACCESS_TOKEN_INVALID", "AccessTokenInvalidError", Unauthorized()),
    (400, "ACCESS_TOKEN_EXPIRED", "AccessTokenExpiredError", Unauthorized()),
    (500, "INTERNAL_SERVER_ERROR", "ServerError", Transient()),
    (-500, "No workers running", "ServerError", Transient()),
    (500, "RPC_CALL_FAIL", "RpcCallFailError", Transient()),
    (-503, "Timeout", "TimeoutError", Transient()),
    (500, "RANDOM_ID_DUPLICATE", "RandomIdDuplicateError", Fatal(Kind.OTHER)),
    (400, "USER_IS_BLOCKED", "UserIsBlockedError", Fatal(Kind.BLOCKED)),
    (400, "PEER_ID_INVALID", "PeerIdInvalidError", NOT_FOUND),
    (400, "CHAT_ID_INVALID", "ChatIdInvalidError", NOT_FOUND),
    (400, "CHANNEL_INVALID", "ChannelInvalidError", NOT_FOUND),
    (400, "USERNAME_NOT_OCCUPIED", "UsernameNotOccupiedError", NOT_FOUND),
    (400, "USERNAME_INVALID", "UsernameInvalidError", NOT_FOUND),
    (403, "CHAT_WRITE_FORBIDDEN", "ChatWriteForbiddenError", FORBIDDEN),
    (400, "CHANNEL_PRIVATE", "ChannelPrivateError", FORBIDDEN),
    (400, "USER_BANNED_IN_CHANNEL", "UserBannedInChannelError", FORBIDDEN),
    (400, "CHAT_ADMIN_REQUIRED", "ChatAdminRequiredError", FORBIDDEN),
    (403, "USER_PRIVACY_RESTRICTED", "UserPrivacyRestrictedError", FORBIDDEN),
    (400, "FILE_REFERENCE_EXPIRED", "FileReferenceExpiredError", Fatal(Kind.BAD_REQUEST)),
    (400, "MESSAGE_TOO_LONG", "MessageTooLongError", Fatal(Kind.BAD_REQUEST)),
    (400, "SOME_FUTURE_400", "BadRequestError", Fatal(Kind.BAD_REQUEST)),
    (420, "TAKEOUT_INIT_DELAY_5", "TakeoutInitDelayError", Fatal(Kind.OTHER)),
]


@pytest.mark.parametrize(
    ("code", "message", "name", "verdict"), CLASSIFIED, ids=[m for _, m, _, _ in CLASSIFIED]
)
def test_classify_telethon_rpc_errors(code: int, message: str, name: str, verdict: Verdict) -> None:
    error = wire(code, message)
    assert type(error) is getattr(errors, name)  # the class Telethon really raises
    result = classify_telethon(error)
    if isinstance(verdict, Restricted):
        assert isinstance(result, Restricted)
        assert message in result.reason  # the account's health says what Telegram said
    else:
        assert result == verdict


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (errors.FloodWaitError(request=None, capture=42), Flood(42.0, account_wide=True)),
        (TimeoutError(), Transient()),
        (ConnectionResetError(errno.ECONNRESET, "reset by peer"), Transient()),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Transient()),
        (FileNotFoundError(errno.ENOENT, "no such file", "upload.bin"), Fatal(Kind.OTHER)),
        (ValueError("not an RPC error"), Fatal(Kind.OTHER)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_classify_telethon_other_errors(error: BaseException, verdict: Verdict) -> None:
    assert classify_telethon(error) == verdict


def test_clients_of_one_account_share_it_and_take_turns() -> None:
    log: list[Sent] = []
    one, two = FakeClient("one", A, log), FakeClient("two", A, log)
    bot = FakeClient("b", B, log, bot=True)

    async def scenario() -> TelethonPool:
        gate = Gate(clock=now)
        pool = await started_pool(gate, [one, two, bot])
        assert sorted(pool.accounts) == [A, B]
        assert [(a.id, a.kind) for a in gate.accounts] == [(A, "user"), (B, "bot")]
        for chat in range(1, 5):
            await pool.call(send(chat, "hi"), chat_id=chat, accounts=[A])
        return pool

    pool = run(scenario())
    assert [s.client for s in log] == ["one", "two", "one", "two"]
    assert pool.clients_for(A) == [one, two]
    assert all(c.flood_sleep_threshold == 0 for c in (one, two, bot))


def test_a_flood_wait_closes_the_whole_account_until_it_has_passed() -> None:
    log: list[Sent] = []
    client = FakeClient("a", A, log)
    client.refusals.append(errors.FloodWaitError(request=None, capture=30))

    async def scenario() -> None:
        pool = await started_pool(Gate(clock=now), [client])
        first = asyncio.ensure_future(pool.call(send(5, "first"), chat_id=5))
        await client.refused.wait()
        await pool.call(send(6, "other chat"), chat_id=6)
        await first

    run(scenario())
    assert [s.text for s in log] == ["first", "other chat"]
    assert all(s.at >= 30.0 for s in log)  # not a moment before the wait was over


def test_a_call_allowed_elsewhere_moves_off_a_flooded_account_at_once() -> None:
    log: list[Sent] = []
    flooded, spare = FakeClient("a", A, log), FakeClient("b", B, log)
    flooded.refusals.append(errors.FloodWaitError(request=None, capture=30))

    async def scenario() -> None:
        pool = await started_pool(Gate(clock=now), [flooded, spare])
        await pool.call(send(5, "moved"), chat_id=5, accounts=[A, B])
        assert not flooded.refusals  # A was tried first and refused
        await pool.call(send(6, "next"), chat_id=6, accounts=[A, B])

    run(scenario())
    assert [(s.client, s.text) for s in log] == [("b", "moved"), ("b", "next")]
    assert all(s.at < 1.0 for s in log)


def test_peer_flood_pauses_the_account_and_is_not_worked_around() -> None:
    log: list[Sent] = []
    limited, other = FakeClient("a", A, log), FakeClient("b", B, log)
    limited.refusals.append(wire(400, "PEER_FLOOD"))

    async def scenario() -> Gate:
        gate = Gate(clock=now)
        pool = await started_pool(gate, [limited, other])
        with pytest.raises(AccountRestricted) as raised:
            await pool.call(send(5, "spam?"), chat_id=5, accounts=[A, B])
        assert isinstance(raised.value.__cause__, errors.PeerFloodError)
        with pytest.raises(NoAccountAvailable):
            await pool.call(send(6, "later"), chat_id=6, accounts=[A])
        return gate

    gate = run(scenario())
    assert log == []  # B did not step in, and the paused A sent nothing more
    assert gate.account(A).paused


def test_a_ban_in_one_channel_is_raised_and_not_failed_over() -> None:
    log: list[Sent] = []
    banned, other = FakeClient("a", A, log), FakeClient("b", B, log)
    banned.refusals.append(wire(400, "USER_BANNED_IN_CHANNEL"))

    async def scenario() -> Gate:
        gate = Gate(clock=now)
        pool = await started_pool(gate, [banned, other])
        with pytest.raises(errors.UserBannedInChannelError):
            await pool.call(send(-1001, "post"), chat_id=-1001, accounts=[A, B])
        return gate

    gate = run(scenario())
    assert log == []
    assert not gate.account(A).paused  # only that channel refuses A


def test_a_revoked_session_fails_over_like_a_revoked_token() -> None:
    log: list[Sent] = []
    revoked, other = FakeClient("a", A, log), FakeClient("b", B, log)
    revoked.refusals.append(wire(401, "AUTH_KEY_UNREGISTERED"))

    async def scenario() -> Gate:
        gate = Gate(clock=now)
        pool = await started_pool(gate, [revoked, other])
        assert await pool.call(send(-1001, "post"), chat_id=-1001, accounts=[A, B]) == "b"
        with pytest.raises(NoAccountAvailable) as raised:
            await pool.call(send(-1001, "again"), chat_id=-1001, accounts=[A])
        assert "paused" in str(raised.value)
        return gate

    gate = run(scenario())
    assert [(s.client, s.text) for s in log] == [("b", "post")]
    assert gate.account(A).paused


def test_a_dead_session_of_an_account_with_others_costs_only_that_session() -> None:
    log: list[Sent] = []
    dead, alive = FakeClient("dead", A, log), FakeClient("alive", A, log)
    dead.refusals.append(wire(401, "SESSION_REVOKED"))

    async def scenario() -> tuple[Gate, TelethonPool]:
        gate = Gate(clock=now)
        pool = await started_pool(gate, [dead, alive])
        for chat in (1, 2, 3):
            await pool.call(send(chat, f"to {chat}"), chat_id=chat)
        return gate, pool

    gate, pool = run(scenario())
    assert [s.client for s in log] == ["alive", "alive", "alive"]
    assert pool.clients_for(A) == [alive]
    assert not gate.account(A).paused


def test_one_chat_is_one_lane_however_it_is_spelled() -> None:
    log: list[Sent] = []
    client = FakeClient("a", A, log)
    spellings: list[Hashable] = [5, PeerUser(5), " 5", 5, PeerUser(5), "5"]

    async def scenario() -> None:
        pool = await started_pool(Gate(clock=now), [client])
        await asyncio.gather(
            *(pool.call(send(5, f"m{n}"), chat_id=chat) for n, chat in enumerate(spellings))
        )

    run(scenario())
    assert [s.text for s in log] == [f"m{n}" for n in range(6)]
    # One private chat: a burst of three, then one a second. Three lanes would send all at once.
    assert log[-1].at >= 3.0


def test_start_refuses_a_client_that_is_not_logged_in() -> None:
    client = FakeClient("a", A, [])
    client.authorized = False
    with pytest.raises(ConfigError, match="not logged in"):
        run(started_pool(Gate(clock=now), [client]))


def test_connect_signs_in_only_the_sessions_that_need_it() -> None:
    fresh, saved = FakeClient("fresh", A, [], bot=True), FakeClient("saved", A, [], bot=True)
    fresh.authorized = False

    async def scenario() -> tuple[Gate, TelethonPool]:
        gate = Gate(clock=now)
        pool = TelethonPool(gate, [fresh, saved])
        await pool.connect(bot_token=TOKEN_A)
        return gate, pool

    gate, pool = run(scenario())
    assert (fresh.signed_in_with, saved.signed_in_with) == ([TOKEN_A], [])
    assert fresh.connected
    assert saved.connected
    assert pool.accounts == [A]
    assert gate.account(A).kind == "bot"
    assert TOKEN_A not in repr(pool)


def test_connect_without_a_token_refuses_a_session_that_is_not_logged_in() -> None:
    client = FakeClient("a", A, [])
    client.authorized = False
    with pytest.raises(ConfigError, match="not logged in"):
        run(TelethonPool(Gate(clock=now), [client]).connect())


def fake_session() -> str:
    session = StringSession()
    session.set_dc(2, "127.0.0.1", 443)
    session.auth_key = AuthKey(bytes(range(256)))  # all zeros reads back as no key
    text: str = session.save()
    return text


async def test_from_credentials_builds_clients_without_connecting(tmp_path: Path) -> None:
    saved = fake_session()
    credentials = [
        MTProtoCredential(12345, API_HASH),
        MTProtoCredential(12345, API_HASH),
        MTProtoCredential(777, API_HASH, session=saved),
    ]
    pool = TelethonPool.from_credentials(Gate(clock=now), credentials, data_dir=tmp_path)
    try:
        clients: list[TelegramClient] = pool.clients
        assert [type(c) for c in clients] == [TelegramClient] * 3
        assert all(not c.is_connected() for c in clients)
        assert all(c.flood_sleep_threshold == 0 for c in clients)
        assert [c.api_id for c in clients] == [12345, 12345, 777]
        sessions = tmp_path / "sessions"
        assert [c.session.filename for c in clients[:2]] == [
            str(sessions / "12345-0.session"),
            str(sessions / "12345-1.session"),
        ]
        assert isinstance(clients[2].session, StringSession)
        assert clients[2].session.save() == saved
        assert stat.S_IMODE(sessions.stat().st_mode) == 0o700
        assert stat.S_IMODE((sessions / "12345-0.session").stat().st_mode) == 0o600
        assert API_HASH not in repr(pool)
        assert pool.accounts == []  # unknown until the clients connect
    finally:
        await pool.disconnect()
    assert sorted(p.name for p in sessions.iterdir()) == ["12345-0.session", "12345-1.session"]
