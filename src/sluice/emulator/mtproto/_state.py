"""What the MTProto side remembers: authorization keys, what they are signed in
as, API apps, and the connections updates are pushed to."""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.emulator.mtproto._crypto import AuthKey, RsaKey
from sluice.emulator.mtproto._rpc import RpcError

if TYPE_CHECKING:
    from sluice.emulator.mtproto._connection import Connection

__all__ = ["Box", "DcAddress", "KeyRecord", "LoginCode", "MtprotoWorld", "Upload"]

_API_HASH = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class DcAddress:
    id: int
    host: str
    port: int


@dataclass(slots=True)
class KeyRecord:
    """An authorization key a client created on one DC, and what it is signed in as."""

    auth_key: AuthKey
    dc: int
    salt: int
    initial_salt: int
    created: float = field(default_factory=time.time)
    user_id: int | None = None
    api_id: int | None = None
    layer: int = 0

    def __repr__(self) -> str:
        return f"KeyRecord(key_id={self.auth_key.key_id}, dc={self.dc}, user_id={self.user_id})"


class MtprotoWorld:
    """The MTProto side's state, shared by both DCs of one emulator."""

    def __init__(self, rsa_key: RsaKey) -> None:
        self.rsa = rsa_key
        self.dcs: dict[int, DcAddress] = {}
        self.keys: dict[int, KeyRecord] = {}
        # api_id -> api_hash. Like bot tokens, any well-formed pair is accepted and
        # bound on first use unless apps are registered (/_sim/apps) or restricted.
        self.apps: dict[int, str] = {}
        self.apps_restricted = False
        self.connections: set[Connection] = set()
        # auth.exportAuthorization: (user id, bytes) -> the DC it is for, used once.
        self.exported: dict[int, tuple[int, bytes, int]] = {}
        self.boxes: dict[int, Box] = {}
        self.channel_pts: dict[int, int] = {}
        # A channel's (or supergroup's) events, its pts being channel_pts[chat id].
        self.channel_logs: dict[int, deque[tuple[int, int, str, list[Any]]]] = {}
        self.log_limit = 1000  # events an account or channel keeps for getDifference
        self._bot_logins: dict[int, list[float]] = {}
        # account id (0: not signed in) -> method -> requests answered (GET /_sim/stats).
        self.calls: dict[int, Counter[str]] = {}
        self.bot_logins_rate = (5, 3600.0)
        # The World whose messages feed the boxes (a reset makes a new one).
        self.listening: object | None = None
        # User accounts: login codes by phone, uploads in progress, and the limits'
        # memory (slow mode per supergroup, last post per (chat, user), the strangers
        # an account wrote to, the random_ids it used).
        self.codes: dict[str, LoginCode] = {}
        self.uploads: dict[tuple[int, int], Upload] = {}
        self.slow_mode: dict[int, int] = {}
        self.last_post: dict[tuple[int, int], float] = {}
        self.strangers: dict[int, set[int]] = {}
        self.random_ids: dict[int, dict[int, None]] = {}

    def box(self, account_id: int) -> Box:
        box = self.boxes.get(account_id)
        if box is None:
            box = self.boxes[account_id] = Box(log=deque(maxlen=self.log_limit))
        return box

    def bot_login(self, bot_id: int, now: float) -> float | None:
        """Count a bot's sign-in; seconds to wait if it signed in too often lately."""
        count, window = self.bot_logins_rate
        recent = [t for t in self._bot_logins.get(bot_id, []) if t > now - window]
        if len(recent) >= count:
            self._bot_logins[bot_id] = recent
            return recent[0] + window - now
        recent.append(now)
        self._bot_logins[bot_id] = recent
        return None

    def count_call(self, account_id: int | None, method: str) -> None:
        self.calls.setdefault(account_id or 0, Counter())[method] += 1

    def calls_json(self) -> dict[str, dict[str, int]]:
        return {
            str(account): dict(sorted(methods.items()))
            for account, methods in sorted(self.calls.items())
        }

    def new_key(self, auth_key: AuthKey, dc: int, initial_salt: int) -> KeyRecord:
        record = KeyRecord(auth_key, dc, secrets.randbits(63), initial_salt)
        self.keys[auth_key.key_id] = record
        return record

    def check_app(self, api_id: int, api_hash: str) -> None:
        """API_ID_INVALID unless (api_id, api_hash) is a registered app."""
        known = self.apps.get(api_id)
        if known is not None and secrets.compare_digest(known, api_hash):
            return
        if known is None and not self.apps_restricted and api_id > 0 and _API_HASH.match(api_hash):
            self.apps[api_id] = api_hash
            return
        raise RpcError(400, "API_ID_INVALID")

    def online(self, user_id: int) -> list[Connection]:
        """The connections signed in as ``user_id`` that take updates."""
        return [c for c in self.connections if c.wants_updates and c.user_id == user_id]

    def forget_accounts(self) -> None:
        """After the world is reset: keys stay, but nobody is signed in any more."""
        for record in self.keys.values():
            record.user_id = None
        self.exported.clear()
        for connection in self.connections:
            connection.wants_updates = False
        self.boxes.clear()
        self.channel_pts.clear()
        self.channel_logs.clear()
        self.listening = None
        for table in (self.codes, self.uploads, self.slow_mode, self.last_post):
            table.clear()
        self.strangers.clear()
        self.random_ids.clear()
        self.calls.clear()


@dataclass(slots=True)
class Box:
    """An account's update sequence: ``pts`` counts the events of its private chats
    and basic groups (channels keep their own, see ``channel_pts``). ``log`` keeps the
    last events as (pts, pts_count, kind, [chat, messages...]) for getDifference."""

    pts: int = 1
    log: deque[tuple[int, int, str, list[Any]]] = field(default_factory=deque)


@dataclass(slots=True)
class LoginCode:
    """A code auth.sendCode issued (revealed by ``POST /_sim/mtproto/code``)."""

    code: str
    phone_code_hash: str
    issued: float  # emulator clock
    attempts: int = 0

    def __repr__(self) -> str:
        return f"LoginCode(issued={self.issued}, attempts={self.attempts})"


@dataclass(slots=True)
class Upload:
    """A file an account is uploading with upload.saveFilePart / saveBigFilePart."""

    parts: dict[int, bytes] = field(default_factory=dict)
    total_parts: int | None = None  # given by saveBigFilePart
    size: int = 0
