"""sluice for Telethon: a pool of clients whose calls go through the gate::

    pool = TelethonPool.from_credentials(gate, credentials, data_dir="data", bot_token=TOKEN)
    await pool.connect()

then ``await pool.call(lambda client: client.send_message(chat, "hi"), chat_id=chat)``.
The pool learns which Telegram account each client is logged in as. Clients
logged in as the same account (several api_id/api_hash pairs, or several
sessions, for one bot) are one account in the gate, since Telegram limits the
account, not the credential; calls take turns among its clients. Each client's
``flood_sleep_threshold`` is set to 0: Telethon would otherwise sleep through
flood waits itself, holding a call the gate could move to another account.

Errors reach your code as Telethon raised them (``UserIsBlockedError``,
``ChatWriteForbiddenError``, ...); a PEER_FLOOD pauses the account and raises
:class:`~sluice.AccountRestricted`, and what the gate gives up on raises
sluice's own errors (``DeadlineExceeded``, ``NoAccountAvailable``, ...).
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import telethon  # type: ignore[import-untyped]  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.integrations.telethon", "telethon", error) from None

import asyncio
import os
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from telethon import TelegramClient, errors, utils
from telethon.sessions import StringSession  # type: ignore[import-untyped]

from sluice._exceptions import ConfigError
from sluice.accounts import Account, BotToken, MTProtoCredential
from sluice.gate import (
    Fatal,
    Flood,
    Gate,
    Kind,
    Priority,
    Restricted,
    Transient,
    Unauthorized,
    Verdict,
    chat_key,
    current_flow,
    current_priority,
)

__all__ = ["TelethonPool", "classify_telethon"]

T = TypeVar("T")

_ACCOUNT_FLOOD = (
    errors.FloodWaitError,
    errors.FloodPremiumWaitError,
    errors.FloodTestPhoneWaitError,
)
# What DESIGN.md says to pause and report, never to work around by using another account.
_RESTRICTED = (
    errors.PeerFloodError,  # spam-restricted
    errors.UserRestrictedError,  # "you're spamreported"
    errors.FrozenMethodInvalidError,  # the account is frozen (a 420 without seconds)
    errors.UserDeactivatedBanError,  # banned: a 401, but failing over would evade the ban
)
_RESTRICTED_REASONS = {
    errors.PeerFloodError: "PEER_FLOOD: spam-restricted; its owner should check @SpamBot",
    errors.UserRestrictedError: "USER_RESTRICTED: reported for spam; see @SpamBot",
    errors.FrozenMethodInvalidError: "FROZEN_METHOD_INVALID: the account is frozen",
    errors.UserDeactivatedBanError: "USER_DEACTIVATED_BAN: the account is banned",
}
# The session (or the bot token behind it) is dead; other sessions may still work.
_UNAUTHORIZED = (
    errors.UnauthorizedError,  # AUTH_KEY_UNREGISTERED, SESSION_REVOKED, USER_DEACTIVATED, ...
    errors.AuthKeyDuplicatedError,  # a 406: the key was used from two places and is void
    errors.AccessTokenInvalidError,  # 400s, not 401s, in Telegram's own error list
    errors.AccessTokenExpiredError,
)
_CHAT_NOT_FOUND = (
    errors.PeerIdInvalidError,
    errors.ChatIdInvalidError,
    errors.ChannelInvalidError,
    errors.UsernameNotOccupiedError,
    errors.UsernameInvalidError,
)
_FORBIDDEN = (
    errors.ForbiddenError,  # the 403s: CHAT_WRITE_FORBIDDEN, USER_PRIVACY_RESTRICTED, ...
    errors.ChannelPrivateError,  # these three are 400s
    errors.UserBannedInChannelError,
    errors.ChatAdminRequiredError,
)
# OSErrors that are about local files (an upload's path), not the network.
_FILE_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def classify_telethon(exc: BaseException) -> Verdict:
    """What a Telethon exception means to the gate.

    ``FLOOD_WAIT_X`` and ``FLOOD_PREMIUM_WAIT_X`` close the whole account for X
    seconds, ``SLOWMODE_WAIT_X`` only its chat. ``FILE_REFERENCE_EXPIRED`` is a
    bad request: the caller must fetch the message again (channel and message
    id are the durable reference) and retry with the fresh file reference.
    """
    if isinstance(exc, _ACCOUNT_FLOOD):
        return Flood(float(exc.seconds), account_wide=True)
    if isinstance(exc, errors.SlowModeWaitError):
        return Flood(float(exc.seconds))
    if isinstance(exc, _RESTRICTED):
        return Restricted(_RESTRICTED_REASONS.get(type(exc), type(exc).__name__))
    if isinstance(exc, _UNAUTHORIZED):
        return Unauthorized()
    if isinstance(exc, errors.RandomIdDuplicateError):
        return Fatal()  # the message was sent already: a retry would send it twice
    if isinstance(exc, errors.ServerError | errors.TimedOutError):
        return Transient()  # 500, -500 "No workers running", -503 "Timeout", ...
    if isinstance(exc, OSError) and not isinstance(exc, _FILE_ERRORS):
        return Transient()  # ConnectionError, TimeoutError, unreachable networks
    if isinstance(exc, errors.UserIsBlockedError):
        return Fatal(Kind.BLOCKED)
    if isinstance(exc, _CHAT_NOT_FOUND):
        return Fatal(Kind.CHAT_NOT_FOUND)
    if isinstance(exc, _FORBIDDEN):
        return Fatal(Kind.FORBIDDEN)
    if isinstance(exc, errors.BadRequestError):
        return Fatal(Kind.BAD_REQUEST)  # FILE_REFERENCE_EXPIRED too
    return Fatal()


def _chat_key(chat: object) -> int | str | None:
    """The lane key of a chat: the same keys as the Bot API integrations use.

    Marked ids (``-100...`` for channels), ``@usernames`` lower-cased, and
    Telethon's peers and entities turned into their marked id.
    """
    if chat is None or isinstance(chat, int | str):
        return chat_key(chat)
    try:
        return int(utils.get_peer_id(chat))
    except (TypeError, ValueError):
        raise ConfigError(
            f"chat_id must be an id, a @username or a Telethon peer or entity, not "
            f"{type(chat).__name__}"
        ) from None


class TelethonPool:
    """Telethon clients that send through a :class:`~sluice.gate.Gate`.

    Parameters:
        gate: the gate; each account the clients are logged in as becomes one of its accounts.
        clients: connected, logged-in ``TelegramClient`` objects (or see
            :meth:`from_credentials` and :meth:`connect`).
        timeout: default deadline in seconds for each call, waits and retries included.

    Call :meth:`start` once before the first :meth:`call`.
    """

    def __init__(
        self, gate: Gate, clients: Iterable[TelegramClient], *, timeout: float | None = None
    ) -> None:
        self.gate = gate
        self.timeout = timeout
        self._clients: list[TelegramClient] = list(clients)
        if not self._clients:
            raise ConfigError("a TelethonPool needs at least one client")
        for client in self._clients:
            # The gate decides what a flood wait means; Telethon must not sleep it away.
            client.flood_sleep_threshold = 0
        self._by_account: dict[int, list[TelegramClient]] = {}
        self._turn: dict[int, int] = {}
        self._bot_token: BotToken | None = None
        self._tokens: dict[int, BotToken] = {}  # client index -> the bot token it signs in with

    @classmethod
    def from_credentials(
        cls,
        gate: Gate,
        credentials: Sequence[MTProtoCredential],
        *,
        data_dir: str | os.PathLike[str],
        bot_token: str | BotToken | None = None,
        timeout: float | None = None,
        dc: tuple[int, str, int] | None = None,
        **client_options: Any,
    ) -> TelethonPool:
        """One client per credential, not connected yet: ``await pool.connect()`` next.

        A credential with a saved session uses it; the others keep their session
        in ``<data_dir>/sessions/<api_id>-<index>.session``, so that a restart does
        not log in again (repeated logins earn long flood waits). ``bot_token``
        signs in the sessions that are not logged in yet. ``client_options`` go
        to every ``TelegramClient`` (``proxy=...``, ``device_model=...``).

        ``dc`` is ``(dc_id, host, port)``: where a session that knows no data
        centre yet first connects, instead of Telegram's own (Telegram's test
        servers, or the sluice emulator). A session that knows its DC, saved or
        migrated since, keeps it.
        """
        sessions_dir = Path(data_dir) / "sessions"
        clients = []
        for index, credential in enumerate(credentials):
            saved = credential.reveal_session()
            if saved is not None:
                session: Any = StringSession(saved)
            else:
                # The files hold login keys: only their owner may read them.
                sessions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                session = str(sessions_dir / f"{credential.api_id}-{index}.session")
            clients.append(_new_client(session, credential, dc, client_options))
        pool = cls(gate, clients, timeout=timeout)
        if bot_token is not None:
            pool._bot_token = _bot_token(bot_token)
        return pool

    @classmethod
    def for_bots(
        cls,
        gate: Gate,
        credential: MTProtoCredential,
        bot_tokens: Sequence[str | BotToken],
        *,
        data_dir: str | os.PathLike[str],
        timeout: float | None = None,
        dc: tuple[int, str, int] | None = None,
        **client_options: Any,
    ) -> TelethonPool:
        """One client per bot, all through one app's api_id/api_hash: a pool of
        several bots (``await pool.connect()`` next).

        Each bot keeps its session in ``<data_dir>/sessions/bot-<bot id>.session``,
        so a restart signs no bot in again. ``dc`` and ``client_options`` as in
        :meth:`from_credentials`.
        """
        tokens = [_bot_token(token) for token in bot_tokens]
        if not tokens:
            raise ConfigError("a pool of bots needs at least one bot token")
        sessions_dir = Path(data_dir) / "sessions"
        sessions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        clients = [
            _new_client(
                str(sessions_dir / f"bot-{token.bot_id}.session"), credential, dc, client_options
            )
            for token in tokens
        ]
        pool = cls(gate, clients, timeout=timeout)
        pool._tokens = dict(enumerate(tokens))
        return pool

    def __repr__(self) -> str:
        return f"TelethonPool(clients={len(self._clients)}, accounts={self.accounts})"

    @property
    def accounts(self) -> list[int]:
        """The ids of the Telegram accounts the clients are logged in as (after :meth:`start`)."""
        return list(self._by_account)

    @property
    def clients(self) -> list[TelegramClient]:
        return list(self._clients)

    def clients_for(self, account_id: int) -> list[TelegramClient]:
        """The clients that currently serve ``account_id``, in the order calls take turns."""
        return list(self._by_account.get(account_id, ()))

    async def connect(
        self, bot_token: str | BotToken | None = None, *, keep_going: bool = False
    ) -> dict[int, BaseException]:
        """Connect every client, sign in those not logged in with their bot token, then
        :meth:`start`.

        A client's token is the one :meth:`for_bots` gave it, else ``bot_token``
        (here or given to :meth:`from_credentials`); without one, every session
        must be logged in already, else :class:`~sluice.ConfigError`. Clients sign
        in one at a time: a burst of logins is what earns long flood waits.
        ``keep_going``: a client that fails (a flood wait on its login, a refused
        token, no network) is left out instead of failing the pool; the failures
        are returned by client index, and at least one client must succeed.
        """
        default = _bot_token(bot_token) if bot_token is not None else self._bot_token
        failed: dict[int, BaseException] = {}
        for index, client in enumerate(self._clients):
            token = self._tokens.get(index, default)
            try:
                await client.connect()
                if await client.is_user_authorized():
                    continue
                if token is None:
                    raise ConfigError(
                        f"client {index} of the pool is not logged in: give a bot token, or "
                        "log its session in once (the session keeps the login)"
                    )
                await client.sign_in(bot_token=token.reveal())
            except Exception as exc:
                if not keep_going:
                    raise
                failed[index] = exc
                await client.disconnect()
        if failed:
            self._clients = [c for i, c in enumerate(self._clients) if i not in failed]
            if not self._clients:
                raise ConfigError("no client of the pool could connect and sign in")
        await self.start()
        return failed

    async def start(self) -> None:
        """Learn each client's account and register the accounts with the gate.

        Raises :class:`~sluice.ConfigError` when a client is not logged in.
        """
        identities = await asyncio.gather(*(client.get_me() for client in self._clients))
        by_account: dict[int, list[TelegramClient]] = {}
        for index, (client, me) in enumerate(zip(self._clients, identities, strict=True)):
            if me is None:  # get_me() answers None for a session that is not logged in
                raise ConfigError(
                    f"client {index} of the pool is not logged in: log it in first, "
                    "or use TelethonPool.connect(bot_token=...)"
                )
            account_id = int(me.id)
            by_account.setdefault(account_id, []).append(client)
            if not self.gate.has_account(account_id):
                self.gate.add_account(Account(account_id, "bot" if me.bot else "user"))
        self._by_account = by_account
        self._turn = dict.fromkeys(by_account, 0)

    async def disconnect(self) -> None:
        """Disconnect every client (file sessions are saved and closed)."""
        await asyncio.gather(*(client.disconnect() for client in self._clients))

    async def call(
        self,
        fn: Callable[[TelegramClient], Awaitable[T]],
        *,
        chat_id: Hashable | None,
        accounts: Sequence[int] | None = None,
        method: str = "",
        priority: Priority | None = None,
        flow: Hashable = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a gate deadline, see Gate.call
        paid: bool = False,
        limited: bool = True,
    ) -> T:
        """Run ``await fn(client)`` through the gate, with a client of the account it picks.

        ``accounts`` names the accounts that may serve the call (all of the
        pool's by default; a bot's private chat belongs to the bot the user
        started, so name that one). Resolve entities inside ``fn`` with the
        client it is given: access hashes differ from one account to another.
        ``priority`` and ``flow`` default to the task's (see
        :func:`~sluice.gate.sending_as`); ``chat_id`` is an id, a @username or
        a Telethon peer, and orders the calls made to that chat. Pass
        ``limited=False`` for calls that send nothing (downloads, reading
        history): only flood waits hold them back.
        """
        allowed = list(accounts) if accounts is not None else self.accounts
        if not allowed:
            raise ConfigError("the pool knows no account yet: await pool.start() first")
        unknown = [a for a in allowed if a not in self._by_account]
        if unknown:
            raise ConfigError(f"accounts {unknown} have no client in this pool")

        async def run(account: Account) -> T:
            while True:
                client = self._next_client(account.id)
                try:
                    return await fn(client)
                except Exception as exc:
                    # A dead session is the client's, not the account's, while the
                    # account has other clients; Telegram did not perform the call.
                    if isinstance(classify_telethon(exc), Unauthorized) and self._retire(
                        account.id, client
                    ):
                        continue
                    raise

        return await self.gate.call(
            run,
            account=allowed,
            chat_id=_chat_key(chat_id),
            method=method,
            priority=current_priority() if priority is None else priority,
            flow=current_flow() if flow is None else flow,
            timeout=self.timeout if timeout is None else timeout,
            paid=paid,
            limited=limited,
            classifier=classify_telethon,
        )

    def _next_client(self, account_id: int) -> TelegramClient:
        clients = self._by_account[account_id]
        turn = self._turn[account_id] % len(clients)
        self._turn[account_id] = turn + 1
        return clients[turn]

    def _retire(self, account_id: int, client: TelegramClient) -> bool:
        """Stop using a client whose session died; True if the account has others left."""
        clients = self._by_account[account_id]
        if client in clients:  # another call may have retired it meanwhile
            if len(clients) == 1:
                return False  # the last one: the gate quarantines the account, fails over
            clients.remove(client)
        return True


def _new_client(
    session: Any,
    credential: MTProtoCredential,
    dc: tuple[int, str, int] | None,
    options: dict[str, Any],
) -> TelegramClient:
    """A client of ``credential`` on ``session`` (a StringSession, or a file path: the
    file holds a login key, so only its owner may read it), first connecting to
    ``dc`` when the session knows no data centre yet."""
    client = TelegramClient(
        session, credential.api_id, credential.reveal_api_hash(), flood_sleep_threshold=0,
        **options,
    )  # fmt: skip
    if isinstance(session, str):
        os.chmod(client.session.filename, 0o600)
    if dc is not None and not client.session.server_address:
        client.session.set_dc(*dc)
    return client


def _bot_token(token: str | BotToken) -> BotToken:
    if isinstance(token, BotToken):
        return token
    return BotToken(token, source="the bot token given to TelethonPool")
