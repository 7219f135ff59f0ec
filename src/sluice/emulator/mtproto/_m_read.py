"""Reading over MTProto: messages by id, history, usernames, chats and full profiles.

What Telethon's ``get_messages``, ``iter_messages``, ``get_entity`` and
``download_media`` ask for: ``messages.getMessages`` (the account's private chats
and basic groups, whose ids it names without a peer), ``channels.getMessages``,
``messages.getHistory``, ``contacts.resolveUsername``, ``channels.getChannels``,
``messages.getChats``, ``users.getFullUser`` and ``channels.getFullChannel``.

Access is Telegram's: a bot reads the chats it is in and the private chats of users
who started it; a user account reads its chats and public (named) channels and
supergroups. A channel or supergroup the account may not read is ``CHANNEL_PRIVATE``
(it left, was removed or banned, or never joined a private one); a wrong access hash
is ``CHANNEL_INVALID`` / ``PEER_ID_INVALID``. Bots may not read history
(``BOT_METHOD_INVALID``, as on Telegram): they fetch messages by id. Every message
with a file carries a file reference issued now.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator._world import Chat, StoredMessage, User, conversation_key
from sluice.emulator.mtproto._convert import (
    access_hash,
    channel_id,
    chat_tl,
    fit,
    is_member,
    message_tl,
    peer_of,
    resolve_input_peer,
    user_tl,
)
from sluice.emulator.mtproto._rpc import Call, RpcError, rpc
from sluice.emulator.mtproto._updates import is_channel

if TYPE_CHECKING:
    from sluice.emulator._world import World

__all__ = ["history_page"]

_MAX_IDS = 200  # message ids in one getMessages
_HISTORY_MAX = 100  # messages in one getHistory answer, as Telegram caps it
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")

Conversation = tuple["Chat | User", int]  # the world's chat and store_message's bot_id


def _is_bot(call: Call) -> bool:
    return call.account_id in call.emu.world.bots


def check_can_read(call: Call, chat: Chat) -> None:
    """Refuse a group, supergroup or channel the account may not read."""
    account = call.account_id
    if is_member(chat, account):
        return
    public = chat.username is not None and is_channel(chat)
    if public and not _is_bot(call) and account not in chat.banned:
        return
    raise RpcError(400, "CHANNEL_PRIVATE" if is_channel(chat) else "PEER_ID_INVALID")


def _conversation(call: Call, peer: Any) -> Conversation:
    """The conversation an InputPeer names for the calling account, if it may read it."""
    world = call.emu.world
    account = call.account_id
    target = resolve_input_peer(call.emu, account, peer)
    if isinstance(target, Chat):
        check_can_read(call, target)
        return target, 0
    if account in world.bots:
        if target.is_bot or (account, target.id) not in world.started:
            raise RpcError(400, "PEER_ID_INVALID")
        return target, account
    if target.is_bot:
        return world.users[account], target.id
    low, high = sorted((account, target.id))
    return world.users[low], high


def _own_conversations(call: Call) -> list[Conversation]:
    """The account's private chats and basic groups: where messages.getMessages looks."""
    world = call.emu.world
    account = call.account_id
    bot = account in world.bots
    found: list[Conversation] = []
    for chat_id, other in world.messages:
        if other == 0:
            chat = world.chats.get(chat_id)
            if chat is not None and chat.type == "group" and is_member(chat, account):
                found.append((chat, 0))
            continue
        user = world.users.get(chat_id)
        if user is None:
            continue
        mine = other == account if bot else account in (chat_id, other)
        if mine:
            found.append((user, other))
    return found


def _related(
    call: Call, messages: list[StoredMessage], extra: list[Chat | User]
) -> tuple[list[Any], list[Any]]:
    """The ``users`` and ``chats`` vectors an answer with these messages carries."""
    emu = call.emu
    me = call.account_id
    user_ids: set[int] = {me}
    chats: dict[int, Chat] = {}
    for item in extra:
        if isinstance(item, Chat):
            chats[item.id] = item
        else:
            user_ids.add(item.id)
    for stored in messages:
        api = stored.api
        chat_id = int(api["chat"]["id"])
        if chat_id > 0:
            user_ids |= {chat_id, stored.bot_id or chat_id}
        elif (chat := emu.world.chats.get(chat_id)) is not None:
            chats[chat.id] = chat
        if "from" in api:
            user_ids.add(int(api["from"]["id"]))
    users = [user_tl(emu, me, i) for i in sorted(user_ids)]
    return users, [chat_tl(emu, me, c) for _, c in sorted(chats.items())]


def _log(world: World, conversation: Conversation) -> list[StoredMessage]:
    chat, other = conversation
    return [m for m in world.messages.get(conversation_key(chat, other), []) if not m.deleted]


def _by_ids(call: Call, conversation: Conversation, ids: list[Any]) -> list[StoredMessage | int]:
    """Each InputMessage's message in the conversation (its id if it has none)."""
    chat, other = conversation
    world = call.emu.world
    found: list[StoredMessage | int] = []
    for wanted in ids:
        message_id = int(getattr(wanted, "id", 0) or 0)
        stored = None
        if isinstance(wanted, types.InputMessageID):
            stored = world.find_message(chat, other, message_id)
        found.append(stored if stored is not None else message_id)
    return found


def _message_list(call: Call, found: list[StoredMessage | int]) -> list[Any]:
    me = call.account_id
    return [
        types.MessageEmpty(id=m, peer_id=None)
        if isinstance(m, int)
        else message_tl(call.emu, me, m)
        for m in found
    ]


def _check_ids(ids: list[Any]) -> None:
    if not ids:
        raise RpcError(400, "MESSAGE_IDS_EMPTY")
    if len(ids) > _MAX_IDS:
        raise RpcError(400, "LIMIT_INVALID")


@rpc(functions.messages.GetMessagesRequest)
async def get_messages(call: Call, request: Any) -> Any:
    """Messages by id in the account's private chats and basic groups, which Telegram
    numbers in one sequence per account. The emulator numbers a bot's private chats
    so; an id found in several of a user account's chats names the newest message."""
    _check_ids(request.id)
    world = call.emu.world
    conversations = _own_conversations(call)
    found: list[StoredMessage | int] = []
    for wanted in request.id:
        message_id = int(getattr(wanted, "id", 0) or 0)
        best: StoredMessage | None = None
        if isinstance(wanted, types.InputMessageID):
            for chat, other in conversations:
                stored = world.find_message(chat, other, message_id)
                if stored is not None and (best is None or stored.seq > best.seq):
                    best = stored
        found.append(best if best is not None else message_id)
    stored_only = [m for m in found if not isinstance(m, int)]
    users, chats = _related(call, stored_only, [])
    return fit(
        types.messages.Messages,
        messages=_message_list(call, found),
        topics=[],
        chats=chats,
        users=users,
    )


def _channel(call: Call, input_channel: Any) -> Chat:
    chat = resolve_input_peer(call.emu, call.account_id, input_channel)
    if not isinstance(chat, Chat) or not is_channel(chat):
        raise RpcError(400, "CHANNEL_INVALID")
    return chat


@rpc(functions.channels.GetMessagesRequest)
async def get_channel_messages(call: Call, request: Any) -> Any:
    chat = _channel(call, request.channel)
    check_can_read(call, chat)
    _check_ids(request.id)
    found = _by_ids(call, (chat, 0), request.id)
    stored_only = [m for m in found if not isinstance(m, int)]
    users, chats = _related(call, stored_only, [chat])
    return fit(
        types.messages.ChannelMessages,
        pts=call.mt.channel_pts.get(chat.id, 1),
        count=len(found),
        messages=_message_list(call, found),
        topics=[],
        chats=chats,
        users=users,
    )


def history_page(
    log: list[StoredMessage],
    *,
    offset_id: int,
    offset_date: int,
    add_offset: int,
    limit: int,
    max_id: int,
    min_id: int,
) -> list[StoredMessage]:
    """What messages.getHistory answers from a conversation's messages (ascending ids):
    newest first, starting below ``offset_id`` (else before ``offset_date``), shifted by
    ``add_offset`` (negative: newer ones too), at most ``limit``, then only ids within
    ``(min_id, max_id)``."""
    newest_first = log[::-1]
    if offset_id > 0:
        start = sum(1 for m in newest_first if m.message_id >= offset_id)
    elif offset_date > 0:
        start = sum(1 for m in newest_first if int(m.api.get("date", 0)) >= offset_date)
    else:
        start = 0
    start += add_offset
    end = start + min(max(limit, 0), _HISTORY_MAX)
    page = newest_first[max(start, 0) : max(end, 0)]
    return [
        m
        for m in page
        if (not max_id or m.message_id < max_id) and (not min_id or m.message_id > min_id)
    ]


def _timestamp(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value or 0)


@rpc(functions.messages.GetHistoryRequest)
async def get_history(call: Call, request: Any) -> Any:
    if _is_bot(call):
        raise RpcError(400, "BOT_METHOD_INVALID")
    conversation = _conversation(call, request.peer)
    log = _log(call.emu.world, conversation)
    page = history_page(
        log,
        offset_id=request.offset_id,
        offset_date=_timestamp(request.offset_date),
        add_offset=request.add_offset,
        limit=request.limit,
        max_id=request.max_id,
        min_id=request.min_id,
    )
    chat = conversation[0]
    users, chats = _related(call, page, [chat])
    messages = [message_tl(call.emu, call.account_id, m) for m in page]
    if isinstance(chat, Chat) and is_channel(chat):
        return fit(
            types.messages.ChannelMessages,
            pts=call.mt.channel_pts.get(chat.id, 1),
            count=len(log),
            messages=messages,
            topics=[],
            chats=chats,
            users=users,
        )
    if len(page) == len(log):
        return fit(types.messages.Messages, messages=messages, topics=[], chats=chats, users=users)
    return fit(
        types.messages.MessagesSlice,
        count=len(log),
        messages=messages,
        topics=[],
        chats=chats,
        users=users,
    )


@rpc(functions.contacts.ResolveUsernameRequest)
async def resolve_username(call: Call, request: Any) -> Any:
    name = request.username.removeprefix("@")
    if not _USERNAME.match(name):
        raise RpcError(400, "USERNAME_INVALID")
    world = call.emu.world
    found = world.usernames.get(name.lower())
    me = call.account_id
    if found is None:
        raise RpcError(400, "USERNAME_NOT_OCCUPIED")
    if found > 0:
        user = user_tl(call.emu, me, found)
        return types.contacts.ResolvedPeer(peer=peer_of(found), chats=[], users=[user])
    chat = world.chats[found]
    return types.contacts.ResolvedPeer(
        peer=peer_of(chat.id), chats=[chat_tl(call.emu, me, chat)], users=[]
    )


def _channel_seen(call: Call, chat: Chat) -> Any:
    """A channel as getChannels shows it: forbidden once the account was banned."""
    me = call.account_id
    if me in chat.banned:
        return types.ChannelForbidden(
            id=channel_id(chat.id),
            access_hash=access_hash(call.emu, me, chat.id),
            title=chat.title or "",
            broadcast=chat.type == "channel" or None,
            megagroup=chat.type == "supergroup" or None,
        )
    return chat_tl(call.emu, me, chat)


@rpc(functions.channels.GetChannelsRequest)
async def get_channels(call: Call, request: Any) -> Any:
    if len(request.id) > _MAX_IDS:
        raise RpcError(400, "LIMIT_INVALID")
    chats = [_channel_seen(call, _channel(call, c)) for c in request.id]
    return types.messages.Chats(chats=chats)


@rpc(functions.messages.GetChatsRequest)
async def get_chats(call: Call, request: Any) -> Any:
    if len(request.id) > _MAX_IDS:
        raise RpcError(400, "LIMIT_INVALID")
    world = call.emu.world
    found = []
    for number in request.id:
        chat = world.chats.get(-int(number))
        if chat is None or chat.type != "group":
            raise RpcError(400, "CHAT_ID_INVALID")
        found.append(chat_tl(call.emu, call.account_id, chat))
    return types.messages.Chats(chats=found)


@rpc(functions.users.GetFullUserRequest)
async def get_full_user(call: Call, request: Any) -> Any:
    me = call.account_id
    user = resolve_input_peer(call.emu, me, request.id)
    if not isinstance(user, User):
        raise RpcError(400, "USER_ID_INVALID")
    full = types.UserFull(
        id=user.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=0,
    )
    return types.users.UserFull(full_user=full, chats=[], users=[user_tl(call.emu, me, user.id)])


@rpc(functions.channels.GetFullChannelRequest)
async def get_full_channel(call: Call, request: Any) -> Any:
    chat = _channel(call, request.channel)
    check_can_read(call, chat)
    members = len(chat.member_user_ids | chat.bot_ids)
    full = types.ChannelFull(
        id=channel_id(chat.id),
        about="",
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=call.mt.channel_pts.get(chat.id, 1),
        participants_count=members,
        admins_count=len(chat.admins) + len(chat.admin_bot_ids),
    )
    return types.messages.ChatFull(
        full_chat=full,
        chats=[chat_tl(call.emu, call.account_id, chat)],
        users=[user_tl(call.emu, call.account_id, call.account_id)],
    )
