"""Updates for MTProto accounts: every message stored, edited or deleted in the world
(by a Bot API bot, a simulated user, or an MTProto account) becomes an event in the
pts sequences of the accounts that see it, is pushed to their connections, and is
kept (bounded) for updates.getDifference and updates.getChannelDifference.

Sequences as on Telegram (core.telegram.org/api/updates): one ``pts`` per account for
its private chats and basic groups, one per channel or supergroup. Only accounts that
signed in get a box; a channel counts its events from the first sign-in on. Service
messages (members joining, pins...) are not turned into updates.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
from collections import deque
from typing import TYPE_CHECKING, Any

from telethon.tl import types  # type: ignore[import-untyped]

from sluice.emulator._world import SERVICE_KEYS, Chat, StoredMessage, User
from sluice.emulator.mtproto._convert import (
    channel_id,
    chat_tl,
    is_member,
    message_tl,
    peer_of,
    user_tl,
)

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator.mtproto._connection import Connection
    from sluice.emulator.mtproto._state import MtprotoWorld

__all__ = [
    "account_difference",
    "answering",
    "channel_difference",
    "is_channel",
    "listen",
    "participants",
    "render",
]

# The connection whose request caused the events being recorded: its answer carries
# them, so they are not pushed to it again (its account's other connections get them).
answering: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "answering", default=None
)
_DIFFERENCE_SLICE = 100  # events one getDifference answer carries at most
_CHANNEL_TIMEOUT = 30  # seconds a client waits before polling a channel again
_pushing: set[asyncio.Task[None]] = set()

Event = tuple[int, int, str, list[Any]]  # pts, pts_count, kind, [chat, *messages]


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


def is_channel(chat: Chat | User) -> bool:
    return isinstance(chat, Chat) and chat.type in ("supergroup", "channel")


def listen(emu: Emulator) -> None:
    """Record the world's message events (again after a reset made a new world)."""
    mt = emu.mtproto
    if mt is None or mt.listening is emu.world:
        return
    world = emu.world
    mt.listening = world

    def on_message(kind: str, chat: Chat | User, messages: list[StoredMessage]) -> None:
        if emu.world is world:
            record(emu, mt, kind, chat, messages)

    world.listeners.append(on_message)


def participants(emu: Emulator, chat: Chat | User, stored: StoredMessage) -> set[int]:
    """The accounts that see a message of a private chat or basic group."""
    if isinstance(chat, User):
        return {chat.id, stored.bot_id or chat.id}
    accounts = chat.bot_ids | chat.member_user_ids
    if chat.owner_id is not None:
        accounts.add(chat.owner_id)
    return accounts - set(chat.banned)


def record(
    emu: Emulator, mt: MtprotoWorld, kind: str, chat: Chat | User, messages: list[StoredMessage]
) -> None:
    if not messages:
        return
    if kind == "new" and not SERVICE_KEYS.isdisjoint(messages[0].api):
        return
    count = len(messages) if kind == "delete" else 1
    if is_channel(chat):
        assert isinstance(chat, Chat)
        pts = mt.channel_pts.get(chat.id, 1) + count
        mt.channel_pts[chat.id] = pts
        log = mt.channel_logs.get(chat.id)
        if log is None:
            log = mt.channel_logs[chat.id] = deque(maxlen=mt.log_limit)
        event: Event = (pts, count, kind, [chat, *messages])
        log.append(event)
        for account in {c.user_id for c in mt.connections if c.wants_updates}:
            if account is not None and is_member(chat, account):
                _push(emu, mt, account, event)
        return
    for account in participants(emu, chat, messages[0]):
        box = mt.boxes.get(account)
        if box is None:
            continue
        box.pts += count
        event = (box.pts, count, kind, [chat, *messages])
        box.log.append(event)
        _push(emu, mt, account, event)


def _push(emu: Emulator, mt: MtprotoWorld, account: int, event: Event) -> None:
    quiet = answering.get()
    targets = [c for c in mt.online(account) if c is not quiet]
    if not targets:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    updates = render(emu, account, [event])
    if not updates:
        return
    pushed = types.Updates(
        updates=updates,
        users=_users(emu, account, [event]),
        chats=_chats(emu, account, [event]),
        date=_now(),
        seq=0,
    )
    for connection in targets:
        # Tasks start in creation order and write before their first await: the
        # client reads its updates in pts order.
        task = loop.create_task(connection.push(pushed))
        _pushing.add(task)
        task.add_done_callback(_pushing.discard)


def render(emu: Emulator, viewer: int, events: list[Event]) -> list[Any]:
    """The Update objects of events, as ``viewer`` sees them."""
    out: list[Any] = []
    for pts, count, kind, (chat, *messages) in events:
        channel = is_channel(chat)
        if kind == "delete":
            ids = [m.message_id for m in messages]
            if channel:
                out.append(
                    types.UpdateDeleteChannelMessages(
                        channel_id=channel_id(chat.id), messages=ids, pts=pts, pts_count=count
                    )
                )
            else:
                out.append(types.UpdateDeleteMessages(messages=ids, pts=pts, pts_count=count))
            continue
        message = message_tl(emu, viewer, messages[0])
        if kind == "new":
            cls = types.UpdateNewChannelMessage if channel else types.UpdateNewMessage
        else:
            cls = types.UpdateEditChannelMessage if channel else types.UpdateEditMessage
        out.append(cls(message=message, pts=pts, pts_count=count))
    return out


def _users(emu: Emulator, viewer: int, events: list[Event]) -> list[Any]:
    ids = {viewer}
    for _, _, _, (chat, *messages) in events:
        if isinstance(chat, User):
            ids.add(chat.id)
        for stored in messages:
            ids.add(stored.sender_id)
            if stored.bot_id is not None:
                ids.add(stored.bot_id)
    return [user_tl(emu, viewer, user_id) for user_id in sorted(ids)]


def _chats(emu: Emulator, viewer: int, events: list[Event]) -> list[Any]:
    seen: dict[int, Chat] = {}
    for _, _, _, (chat, *_messages) in events:
        if isinstance(chat, Chat):
            seen[chat.id] = chat
    return [chat_tl(emu, viewer, chat) for chat in seen.values()]


def _state(pts: int) -> Any:
    return types.updates.State(pts=pts, qts=0, date=_now(), seq=0, unread_count=0)


def account_difference(emu: Emulator, mt: MtprotoWorld, viewer: int, pts: int) -> Any:
    """updates.getDifference from ``pts``: the events since, in slices, or too long."""
    box = mt.box(viewer)
    if pts == box.pts:
        return types.updates.DifferenceEmpty(date=_now(), seq=0)
    oldest = box.log[0][0] - box.log[0][1] if box.log else box.pts
    if pts > box.pts or pts < oldest:
        # Older than the log keeps (or from before a reset): start again from now.
        return types.updates.DifferenceTooLong(pts=box.pts)
    events = [e for e in box.log if e[0] > pts]
    chunk = events[:_DIFFERENCE_SLICE]
    new_messages, other = _split(emu, viewer, chunk)
    fields = {
        "new_messages": new_messages,
        "new_encrypted_messages": [],
        "other_updates": other,
        "chats": _chats(emu, viewer, chunk),
        "users": _users(emu, viewer, chunk),
    }
    if len(events) > len(chunk):
        return types.updates.DifferenceSlice(**fields, intermediate_state=_state(chunk[-1][0]))
    return types.updates.Difference(**fields, state=_state(box.pts))


def _split(emu: Emulator, viewer: int, events: list[Event]) -> tuple[list[Any], list[Any]]:
    """New messages (still there) apart; edits and deletions as other updates."""
    new_messages: list[Any] = []
    other: list[Any] = []
    for update in render(emu, viewer, events):
        if isinstance(update, types.UpdateNewMessage | types.UpdateNewChannelMessage):
            if not isinstance(update.message, types.MessageEmpty):
                new_messages.append(update.message)
        else:
            other.append(update)
    return new_messages, other


def channel_difference(
    emu: Emulator, mt: MtprotoWorld, viewer: int, chat: Chat, pts: int, limit: int
) -> Any:
    """updates.getChannelDifference from ``pts``."""
    current = mt.channel_pts.get(chat.id, 1)
    log = mt.channel_logs.get(chat.id, deque())
    if pts == current:
        return types.updates.ChannelDifferenceEmpty(
            pts=current, final=True, timeout=_CHANNEL_TIMEOUT
        )
    oldest = log[0][0] - log[0][1] if log else current
    if pts > current or pts < oldest or pts <= 0:
        recent = [e for e in log if e[2] == "new"][-max(1, min(limit, 100)) :]
        messages = [message_tl(emu, viewer, e[3][1]) for e in recent]
        top = max((m.id for m in messages), default=0)
        dialog = types.Dialog(
            peer=peer_of(chat.id),
            top_message=top,
            read_inbox_max_id=top,
            read_outbox_max_id=top,
            unread_count=0,
            unread_mentions_count=0,
            unread_reactions_count=0,
            notify_settings=types.PeerNotifySettings(),
            pts=current,
        )
        return types.updates.ChannelDifferenceTooLong(
            dialog=dialog,
            messages=messages,
            chats=[chat_tl(emu, viewer, chat)],
            users=_users(emu, viewer, recent),
            final=True,
            timeout=_CHANNEL_TIMEOUT,
        )
    events = [e for e in log if e[0] > pts]
    chunk = events[: max(1, min(limit, 100_000))]
    new_messages, other = _split(emu, viewer, chunk)
    return types.updates.ChannelDifference(
        pts=chunk[-1][0],
        new_messages=new_messages,
        other_updates=other,
        chats=[chat_tl(emu, viewer, chat)],
        users=_users(emu, viewer, chunk),
        final=len(chunk) == len(events),
        timeout=_CHANNEL_TIMEOUT,
    )
