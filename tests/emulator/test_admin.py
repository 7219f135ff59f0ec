"""Chat administration through aiogram 3 and python-telegram-bot 22, and simulated membership."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiogram
import pytest
import telegram
from aiogram import Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ChatMemberUpdated, Message
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from sluice._exceptions import EmulatorError
from sluice.emulator import EmulatorServer
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

WAIT = 10.0  # the bound on every wait for an update
HOUR_AHEAD = int(time.time()) + 3600
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MEMBER_UPDATES = ["message", "my_chat_member", "chat_member"]


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on reading durations as int; opt in to timedelta, its future default.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def aiogram_bot(server: EmulatorServer, token: str = TOKEN_A) -> aiogram.Bot:
    api = TelegramAPIServer.from_base(server.url)
    return aiogram.Bot(token, session=AiohttpSession(api=api))


def ptb_bot(server: EmulatorServer, token: str = TOKEN_A) -> telegram.Bot:
    return telegram.Bot(token, base_url=server.url + "/bot", base_file_url=server.url + "/file/bot")


@pytest.fixture
async def ag(server: EmulatorServer) -> AsyncIterator[aiogram.Bot]:
    bot = aiogram_bot(server)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def ptb(server: EmulatorServer) -> AsyncIterator[telegram.Bot]:
    async with ptb_bot(server) as bot:
        yield bot


@dataclass
class Group:
    id: int
    owner: int
    users: list[int]


async def group(
    sim: Sim,
    chat_type: str = "supergroup",
    *,
    rights: dict[str, bool] | None = None,
    admin: bool = True,
    users: int = 3,
) -> Group:
    """A chat with an owner, ``users`` members and BOT_A: an administrator with ``rights``
    (every right if None) unless not ``admin``."""
    owner = (await sim.user("Owner"))["id"]
    members = [(await sim.user(f"User{n}"))["id"] for n in range(users)]
    chat = await sim.chat(chat_type, title="Team", owner_user_id=owner, member_user_ids=members)
    if admin:
        await sim.promote(chat["id"], bot_id=BOT_A, rights=rights)
    else:
        await sim.add_member(chat["id"], bot_id=BOT_A)
    return Group(chat["id"], owner, members)


def ptb_says(description: str) -> str:
    """What python-telegram-bot makes of a "Bad Request: ..." description."""
    return description.removeprefix("Bad Request: ").capitalize()


async def refused(
    description: str,
    on_aiogram: Callable[[], Awaitable[Any]],
    on_ptb: Callable[[], Awaitable[Any]],
) -> None:
    """Both libraries raise their 400 error with Telegram's description."""
    with pytest.raises(TelegramBadRequest) as aiogram_error:
        await on_aiogram()
    assert aiogram_error.value.message == description
    with pytest.raises(BadRequest) as ptb_error:
        await on_ptb()
    assert ptb_error.value.message == ptb_says(description)


# -- reading members -------------------------------------------------------------------


async def test_get_chat_member_answers_every_status(
    ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim
) -> None:
    g = await group(sim, rights={"can_restrict_members": True, "can_invite_users": True})
    admin, member, restricted = g.users
    banned = (await sim.user("Banned"))["id"]
    stranger = (await sim.user("Stranger"))["id"]
    await sim.promote(g.id, user_id=admin, rights={"can_delete_messages": True})
    await sim.restrict(g.id, restricted, {"can_send_photos": True}, until_date=HOUR_AHEAD)
    await sim.member(g.id, "kicked", user_id=banned, until_date=HOUR_AHEAD)

    owner_a = await ag.get_chat_member(g.id, g.owner)
    assert isinstance(owner_a, aiogram.types.ChatMemberOwner)
    assert owner_a.user.id == g.owner
    assert not owner_a.is_anonymous
    bot_a = await ag.get_chat_member(g.id, BOT_A)
    assert isinstance(bot_a, aiogram.types.ChatMemberAdministrator)
    assert (bot_a.can_restrict_members, bot_a.can_invite_users) == (True, True)
    assert (bot_a.can_promote_members, bot_a.can_delete_messages) == (False, False)
    assert bot_a.can_manage_chat  # implied by any right
    admin_a = await ag.get_chat_member(g.id, admin)
    assert isinstance(admin_a, aiogram.types.ChatMemberAdministrator)
    assert admin_a.can_delete_messages
    assert not admin_a.can_be_edited
    assert isinstance(await ag.get_chat_member(g.id, member), aiogram.types.ChatMemberMember)
    restricted_a = await ag.get_chat_member(g.id, restricted)
    assert isinstance(restricted_a, aiogram.types.ChatMemberRestricted)
    assert restricted_a.is_member
    assert restricted_a.can_send_photos
    assert not restricted_a.can_send_messages
    assert int(restricted_a.until_date.timestamp()) == HOUR_AHEAD
    banned_a = await ag.get_chat_member(g.id, banned)
    assert isinstance(banned_a, aiogram.types.ChatMemberBanned)
    assert int(banned_a.until_date.timestamp()) == HOUR_AHEAD
    assert isinstance(await ag.get_chat_member(g.id, stranger), aiogram.types.ChatMemberLeft)

    assert isinstance(await ptb.get_chat_member(g.id, g.owner), telegram.ChatMemberOwner)
    bot_p = await ptb.get_chat_member(g.id, BOT_A)
    assert isinstance(bot_p, telegram.ChatMemberAdministrator)
    assert bot_p.can_restrict_members
    assert not bot_p.can_promote_members
    assert isinstance(await ptb.get_chat_member(g.id, member), telegram.ChatMemberMember)
    restricted_p = await ptb.get_chat_member(g.id, restricted)
    assert isinstance(restricted_p, telegram.ChatMemberRestricted)
    assert restricted_p.can_send_photos
    assert not restricted_p.can_send_messages
    assert restricted_p.until_date == dtm.datetime.fromtimestamp(HOUR_AHEAD, dtm.UTC)
    banned_p = await ptb.get_chat_member(g.id, banned)
    assert isinstance(banned_p, telegram.ChatMemberBanned)
    assert isinstance(await ptb.get_chat_member(g.id, stranger), telegram.ChatMemberLeft)


async def test_administrators_and_member_count(
    ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim
) -> None:
    g = await group(sim)
    await sim.promote(g.id, user_id=g.users[0], rights={"can_pin_messages": True})
    await sim.promote(g.id, bot_id=BOT_B)

    listed = await ag.get_chat_administrators(g.id)
    assert [m.user.id for m in listed] == [g.owner, BOT_A, g.users[0]]
    assert isinstance(listed[0], aiogram.types.ChatMemberOwner)
    assert isinstance(listed[2], aiogram.types.ChatMemberAdministrator)
    assert listed[2].can_pin_messages
    with_bots = await ag.get_chat_administrators(g.id, return_bots=True)
    assert {m.user.id for m in with_bots} == {g.owner, BOT_A, BOT_B, g.users[0]}
    listed_p = await ptb.get_chat_administrators(g.id)
    assert [m.user.id for m in listed_p] == [g.owner, BOT_A, g.users[0]]
    assert isinstance(listed_p[0], telegram.ChatMemberOwner)
    # The owner, three users and two bots.
    assert await ag.get_chat_member_count(g.id) == 6
    assert await ptb.get_chat_member_count(g.id) == 6

    user = await sim.started_user(BOT_A)
    await refused(
        "Bad Request: there are no administrators in the private chat",
        lambda: ag.get_chat_administrators(user["id"]),
        lambda: ptb.get_chat_administrators(user["id"]),
    )
    assert await ag.get_chat_member_count(user["id"]) == 2


async def test_a_channel_hides_its_members_from_a_bot_that_is_not_an_admin(
    ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim
) -> None:
    owner = (await sim.user("Owner"))["id"]
    channel = await sim.chat("channel", owner_user_id=owner, bot_ids=[BOT_A])
    description = "Bad Request: member list is inaccessible"
    await refused(
        description,
        lambda: ag.get_chat_administrators(channel["id"]),
        lambda: ptb.get_chat_administrators(channel["id"]),
    )
    await refused(
        description,
        lambda: ag.get_chat_member(channel["id"], owner),
        lambda: ptb.get_chat_member(channel["id"], owner),
    )
    with pytest.raises(TelegramBadRequest, match="member list is inaccessible"):
        await ag.get_chat_member_count(channel["id"])
    # Its own status it may always ask.
    me = await ag.get_chat_member(channel["id"], BOT_A)
    assert isinstance(me, aiogram.types.ChatMemberMember)


# -- bans and restrictions -----------------------------------------------------------


async def test_ban_and_unban(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    first, second, third = g.users
    assert await ag.ban_chat_member(g.id, first, until_date=HOUR_AHEAD, revoke_messages=True)
    assert await ptb.ban_chat_member(g.id, second)
    banned = await ag.get_chat_member(g.id, first)
    assert isinstance(banned, aiogram.types.ChatMemberBanned)
    assert int(banned.until_date.timestamp()) == HOUR_AHEAD
    forever = await ptb.get_chat_member(g.id, second)
    assert isinstance(forever, telegram.ChatMemberBanned)
    assert forever.until_date == dtm.datetime.fromtimestamp(0, dtm.UTC)

    with pytest.raises(EmulatorError, match=f"user {first} is banned in chat {g.id}"):
        await sim.send(g.id, "let me in", from_user_id=first)
    with pytest.raises(EmulatorError, match="is banned"):
        await sim.join(g.id, first)
    log = await sim.messages(g.id)
    assert [m["left_chat_member"]["id"] for m in log if "left_chat_member" in m] == [
        first,
        second,
    ]

    # only_if_banned leaves members alone; without it, a member is removed.
    assert await ag.unban_chat_member(g.id, third, only_if_banned=True)
    assert isinstance(await ag.get_chat_member(g.id, third), aiogram.types.ChatMemberMember)
    assert await ag.unban_chat_member(g.id, first, only_if_banned=True)
    assert isinstance(await ag.get_chat_member(g.id, first), aiogram.types.ChatMemberLeft)
    assert await ptb.unban_chat_member(g.id, third)
    assert isinstance(await ptb.get_chat_member(g.id, third), telegram.ChatMemberLeft)
    await sim.join(g.id, first)
    await sim.send(g.id, "back", from_user_id=first)


async def test_ban_errors(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim, rights={"can_restrict_members": True})
    admin, member, _ = g.users
    await sim.promote(g.id, user_id=admin, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: can't remove chat owner",
        lambda: ag.ban_chat_member(g.id, g.owner),
        lambda: ptb.ban_chat_member(g.id, g.owner),
    )
    await refused(
        "Bad Request: user is an administrator of the chat",
        lambda: ag.ban_chat_member(g.id, admin),
        lambda: ptb.ban_chat_member(g.id, admin),
    )
    await refused(
        "Bad Request: can't restrict self",
        lambda: ag.ban_chat_member(g.id, BOT_A),
        lambda: ptb.ban_chat_member(g.id, BOT_A),
    )
    await refused(
        "Bad Request: user not found",
        lambda: ag.ban_chat_member(g.id, 987654321),
        lambda: ptb.ban_chat_member(g.id, 987654321),
    )
    user = await sim.started_user(BOT_A)
    await refused(
        "Bad Request: can't ban members in private chats",
        lambda: ag.ban_chat_member(user["id"], member),
        lambda: ptb.ban_chat_member(user["id"], member),
    )

    weak = await group(sim, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: not enough rights to restrict/unrestrict chat member",
        lambda: ag.ban_chat_member(weak.id, weak.users[0]),
        lambda: ptb.unban_chat_member(weak.id, weak.users[0]),
    )
    plain = await group(sim, admin=False)
    await refused(
        "Bad Request: not enough rights to restrict/unrestrict chat member",
        lambda: ag.ban_chat_member(plain.id, plain.users[0]),
        lambda: ptb.ban_chat_member(plain.id, plain.users[0]),
    )
    basic = await group(sim, "group")
    await refused(
        "Bad Request: method is available for supergroup and channel chats only",
        lambda: ag.unban_chat_member(basic.id, basic.users[0]),
        lambda: ptb.unban_chat_member(basic.id, basic.users[0]),
    )
    # Nothing refused changed anything.
    assert isinstance(await ag.get_chat_member(g.id, admin), aiogram.types.ChatMemberAdministrator)
    assert isinstance(await ag.get_chat_member(g.id, member), aiogram.types.ChatMemberMember)


async def test_a_basic_group_ban_removes_and_needs_an_admin(
    ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim
) -> None:
    basic = await group(sim, "group")
    assert await ag.ban_chat_member(basic.id, basic.users[0])
    assert isinstance(
        await ag.get_chat_member(basic.id, basic.users[0]), aiogram.types.ChatMemberLeft
    )
    await refused(
        "Bad Request: CHAT_ADMIN_REQUIRED",
        lambda: ag.ban_chat_member(basic.id, basic.owner),
        lambda: ptb.ban_chat_member(basic.id, basic.owner),
    )
    plain = await group(sim, "group", admin=False)
    await refused(
        "Bad Request: CHAT_ADMIN_REQUIRED",
        lambda: ag.ban_chat_member(plain.id, plain.users[0]),
        lambda: ptb.ban_chat_member(plain.id, plain.users[0]),
    )


async def test_restrict_chat_member(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    first, second, _ = g.users
    muted = aiogram.types.ChatPermissions(can_send_messages=False, can_send_other_messages=True)
    assert await ag.restrict_chat_member(g.id, first, muted, until_date=HOUR_AHEAD)
    seen = await ag.get_chat_member(g.id, first)
    assert isinstance(seen, aiogram.types.ChatMemberRestricted)
    # Without use_independent_chat_permissions, other messages imply every kind of media.
    assert seen.can_send_other_messages
    assert seen.can_send_photos
    assert seen.can_send_documents
    assert not seen.can_send_messages
    assert not seen.can_react_to_messages
    assert int(seen.until_date.timestamp()) == HOUR_AHEAD
    with pytest.raises(EmulatorError, match=f"user {first} is restricted to send messages"):
        await sim.send(g.id, "hello?", from_user_id=first)

    independent = telegram.ChatPermissions(can_send_polls=True)
    assert await ptb.restrict_chat_member(
        g.id, second, independent, use_independent_chat_permissions=True
    )
    seen_p = await ptb.get_chat_member(g.id, second)
    assert isinstance(seen_p, telegram.ChatMemberRestricted)
    assert seen_p.can_send_polls
    assert not seen_p.can_send_messages

    # Every permission lifts the restriction.
    assert await ptb.restrict_chat_member(g.id, first, telegram.ChatPermissions.all_permissions())
    assert isinstance(await ptb.get_chat_member(g.id, first), telegram.ChatMemberMember)
    await sim.send(g.id, "free again", from_user_id=first)


async def test_restrict_errors(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    muted = aiogram.types.ChatPermissions(can_send_messages=False)
    muted_p = telegram.ChatPermissions.no_permissions()
    basic = await group(sim, "group")
    await refused(
        "Bad Request: method is available only for supergroups",
        lambda: ag.restrict_chat_member(basic.id, basic.users[0], muted),
        lambda: ptb.restrict_chat_member(basic.id, basic.users[0], muted_p),
    )
    g = await group(sim, rights={"can_invite_users": True})
    await refused(
        "Bad Request: not enough rights to restrict/unrestrict chat member",
        lambda: ag.restrict_chat_member(g.id, g.users[0], muted),
        lambda: ptb.restrict_chat_member(g.id, g.users[0], muted_p),
    )
    await refused(
        "Bad Request: can't remove chat owner",
        lambda: ag.restrict_chat_member(g.id, g.owner, muted),
        lambda: ptb.restrict_chat_member(g.id, g.owner, muted_p),
    )
    # Permissions as no library would send them: a number where a Boolean belongs.
    raw = _RawRestrict(chat_id=g.id, user_id=g.users[0], permissions='{"can_send_messages": 1}')
    with pytest.raises(TelegramBadRequest) as bad:
        await ag(raw)
    assert bad.value.message == (
        "Bad Request: can't parse chat permissions: "
        'Field "can_send_messages" must be of type Boolean'
    )


class _RawRestrict(aiogram.methods.base.TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "restrictChatMember"

    chat_id: int
    user_id: int
    permissions: str


# -- promotions --------------------------------------------------------------------------


async def test_promote_and_demote(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    first, second, _ = g.users
    assert await ag.promote_chat_member(
        g.id, first, can_delete_messages=True, can_pin_messages=True, can_post_messages=True
    )
    seen = await ag.get_chat_member(g.id, first)
    assert isinstance(seen, aiogram.types.ChatMemberAdministrator)
    assert seen.can_be_edited  # this bot promoted them
    assert seen.can_delete_messages
    assert seen.can_pin_messages
    assert seen.can_manage_chat
    assert not seen.can_restrict_members
    assert seen.can_post_messages is None  # a channel right, dropped in a supergroup

    assert await ptb.promote_chat_member(g.id, second, can_invite_users=True)
    seen_p = await ptb.get_chat_member(g.id, second)
    assert isinstance(seen_p, telegram.ChatMemberAdministrator)
    assert seen_p.can_invite_users
    assert seen_p.can_be_edited
    assert await ptb.promote_chat_member(g.id, second)  # every right False: demoted
    assert isinstance(await ptb.get_chat_member(g.id, second), telegram.ChatMemberMember)
    assert await ag.promote_chat_member(g.id, first)
    assert isinstance(await ag.get_chat_member(g.id, first), aiogram.types.ChatMemberMember)


async def test_promote_errors(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim, rights={"can_promote_members": True, "can_delete_messages": True})
    by_owner, member, _ = g.users
    await sim.promote(g.id, user_id=by_owner, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: can't remove chat owner",
        lambda: ag.promote_chat_member(g.id, g.owner, can_delete_messages=True),
        lambda: ptb.promote_chat_member(g.id, g.owner),
    )
    await refused(
        "Bad Request: CHAT_ADMIN_REQUIRED",
        lambda: ag.promote_chat_member(g.id, by_owner),
        lambda: ptb.promote_chat_member(g.id, by_owner, can_delete_messages=True),
    )
    await refused(
        "Bad Request: RIGHT_FORBIDDEN",
        lambda: ag.promote_chat_member(g.id, member, can_restrict_members=True),
        lambda: ptb.promote_chat_member(g.id, member, can_change_info=True),
    )
    await refused(
        "Bad Request: can't promote self",
        lambda: ag.promote_chat_member(g.id, BOT_A, can_delete_messages=True),
        lambda: ptb.promote_chat_member(g.id, BOT_A, can_delete_messages=True),
    )
    stranger = (await sim.user("Stranger"))["id"]
    await refused(
        "Bad Request: USER_NOT_PARTICIPANT",
        lambda: ag.promote_chat_member(g.id, stranger, can_delete_messages=True),
        lambda: ptb.promote_chat_member(g.id, stranger, can_delete_messages=True),
    )
    weak = await group(sim, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: not enough rights",
        lambda: ag.promote_chat_member(weak.id, weak.users[0], can_delete_messages=True),
        lambda: ptb.promote_chat_member(weak.id, weak.users[0], can_delete_messages=True),
    )
    basic = await group(sim, "group")
    await refused(
        "Bad Request: method is available for supergroup and channel chats only",
        lambda: ag.promote_chat_member(basic.id, basic.users[0], can_delete_messages=True),
        lambda: ptb.promote_chat_member(basic.id, basic.users[0], can_delete_messages=True),
    )
    assert isinstance(await ag.get_chat_member(g.id, member), aiogram.types.ChatMemberMember)


# -- the chat's settings ---------------------------------------------------------------


async def test_set_chat_permissions(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    member = g.users[0]
    before = await ag.get_chat(g.id)
    assert before.permissions is not None
    assert before.permissions.can_send_messages
    read_only = aiogram.types.ChatPermissions(can_send_messages=False, can_invite_users=True)
    assert await ag.set_chat_permissions(g.id, read_only)
    after = await ptb.get_chat(g.id)
    assert after.permissions is not None
    assert not after.permissions.can_send_messages
    assert after.permissions.can_invite_users
    with pytest.raises(EmulatorError, match=f"user {member} is not allowed to send messages"):
        await sim.send(g.id, "hello?", from_user_id=member)
    await sim.send(g.id, "owners always may", from_user_id=g.owner)
    assert await ptb.set_chat_permissions(g.id, telegram.ChatPermissions.all_permissions())
    await sim.send(g.id, "hello!", from_user_id=member)

    weak = await group(sim, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: not enough rights to change chat permissions",
        lambda: ag.set_chat_permissions(weak.id, read_only),
        lambda: ptb.set_chat_permissions(weak.id, telegram.ChatPermissions.no_permissions()),
    )
    channel = await group(sim, "channel", users=0)
    await refused(
        "Bad Request: can't change channel chat permissions",
        lambda: ag.set_chat_permissions(channel.id, read_only),
        lambda: ptb.set_chat_permissions(channel.id, telegram.ChatPermissions.no_permissions()),
    )


async def test_set_chat_title(
    ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim, server: EmulatorServer
) -> None:
    g = await group(sim)
    await sim.add_member(g.id, bot_id=BOT_B)
    other = aiogram_bot(server, TOKEN_B)
    try:
        assert await ag.set_chat_title(g.id, "  Release crew  ")
        assert (await ptb.get_chat(g.id)).title == "Release crew"
        updates = await other.get_updates(allowed_updates=["message"], timeout=0)
        titled = [u.message for u in updates if u.message and u.message.new_chat_title]
        assert len(titled) == 1
        assert titled[0].new_chat_title == "Release crew"
        assert titled[0].from_user is not None
        assert titled[0].from_user.id == BOT_A
        assert await ptb.set_chat_title(g.id, "x" * 200)
        assert (await ag.get_chat(g.id)).title == "x" * 128  # cut to Telegram's limit
    finally:
        await other.session.close()
    assert [m["new_chat_title"] for m in await sim.messages(g.id) if "new_chat_title" in m] == [
        "Release crew",
        "x" * 128,
    ]

    await refused(
        "Bad Request: title must be non-empty",
        lambda: ag.set_chat_title(g.id, "   "),
        lambda: ptb.set_chat_title(g.id, ""),
    )
    weak = await group(sim, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: not enough rights to change chat title",
        lambda: ag.set_chat_title(weak.id, "Mine"),
        lambda: ptb.set_chat_title(weak.id, "Mine"),
    )
    user = await sim.started_user(BOT_A)
    await refused(
        "Bad Request: can't change private chat title",
        lambda: ag.set_chat_title(user["id"], "Mine"),
        lambda: ptb.set_chat_title(user["id"], "Mine"),
    )


async def test_leave_chat(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    other = await group(sim)
    await ag.get_updates(allowed_updates=MEMBER_UPDATES, timeout=0)
    seen = await ag.get_updates(timeout=0)
    offset = seen[-1].update_id + 1 if seen else None
    assert await ag.leave_chat(g.id)
    updates = await ag.get_updates(offset=offset, timeout=0)
    left = [u.my_chat_member for u in updates if u.my_chat_member]
    assert len(left) == 1
    assert isinstance(left[0].old_chat_member, aiogram.types.ChatMemberAdministrator)
    assert isinstance(left[0].new_chat_member, aiogram.types.ChatMemberLeft)
    with pytest.raises(TelegramForbiddenError) as gone:
        await ag.send_message(g.id, "still here?")
    assert gone.value.message == "Forbidden: bot is not a member of the supergroup chat"
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await ag.get_chat(g.id)
    log = await sim.messages(g.id)
    assert log[-1]["left_chat_member"]["id"] == BOT_A

    assert await ptb.leave_chat(other.id)
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await ptb.send_message(other.id, "still here?")
    user = await sim.started_user(BOT_A)
    with pytest.raises(BadRequest, match="Can't leave private chats"):
        await ptb.leave_chat(user["id"])


async def test_a_kicked_bot_is_told_so(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim)
    await sim.remove_member(g.id, bot_id=BOT_A, ban=True)
    with pytest.raises(TelegramForbiddenError) as kicked:
        await ag.send_message(g.id, "hello?")
    assert kicked.value.message == "Forbidden: bot was kicked from the supergroup chat"
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await ptb.get_chat(g.id)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await ptb.ban_chat_member(g.id, g.users[0])


# -- invite links ------------------------------------------------------------------------


async def test_invite_links(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim, rights={"can_invite_users": True})
    primary = await ag.export_chat_invite_link(g.id)
    assert primary.startswith("https://t.me/+")
    newer = await ptb.export_chat_invite_link(g.id)
    assert newer != primary

    link = await ag.create_chat_invite_link(
        g.id, name="launch", expire_date=HOUR_AHEAD, member_limit=5
    )
    assert isinstance(link, aiogram.types.ChatInviteLink)
    assert link.creator.id == BOT_A
    assert link.creator.is_bot
    assert (link.name, link.member_limit, link.is_primary, link.is_revoked) == (
        "launch",
        5,
        False,
        False,
    )
    assert link.expire_date is not None
    assert int(link.expire_date.timestamp()) == HOUR_AHEAD
    edited = await ptb.edit_chat_invite_link(g.id, link.invite_link, name="renamed")
    assert isinstance(edited, telegram.ChatInviteLink)
    assert (edited.name, edited.member_limit, edited.expire_date) == ("renamed", None, None)
    approval = await ptb.create_chat_invite_link(g.id, creates_join_request=True)
    assert approval.creates_join_request
    assert approval.creator.id == BOT_A

    joiner = (await sim.user("Joiner"))["id"]
    await sim.join(g.id, joiner, invite_link=link.invite_link)
    revoked = await ag.revoke_chat_invite_link(g.id, link.invite_link)
    assert revoked.is_revoked
    assert revoked.invite_link == link.invite_link
    revoked_primary = await ptb.revoke_chat_invite_link(g.id, newer)
    assert revoked_primary.is_revoked
    assert revoked_primary.is_primary
    with pytest.raises(EmulatorError, match="is revoked"):
        await sim.join(g.id, (await sim.user("Late"))["id"], invite_link=link.invite_link)


async def test_invite_link_errors(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    g = await group(sim, rights={"can_delete_messages": True})
    await refused(
        "Bad Request: not enough rights to manage chat invite link",
        lambda: ag.export_chat_invite_link(g.id),
        lambda: ptb.create_chat_invite_link(g.id),
    )
    able = await group(sim, rights={"can_invite_users": True})
    await refused(
        "Bad Request: member limit can't be specified for links requiring administrator approval",
        lambda: ag.create_chat_invite_link(able.id, member_limit=3, creates_join_request=True),
        lambda: ptb.create_chat_invite_link(able.id, member_limit=3, creates_join_request=True),
    )
    await refused(
        "Bad Request: INVITE_HASH_EXPIRED",
        lambda: ag.edit_chat_invite_link(able.id, "https://t.me/+unknown", name="x"),
        lambda: ptb.revoke_chat_invite_link(able.id, "https://t.me/+unknown"),
    )
    user = await sim.started_user(BOT_A)
    await refused(
        "Bad Request: can't invite members to a private chat",
        lambda: ag.create_chat_invite_link(user["id"]),
        lambda: ptb.export_chat_invite_link(user["id"]),
    )


# -- profile photos ---------------------------------------------------------------------


async def test_user_profile_photos(ag: aiogram.Bot, ptb: telegram.Bot, sim: Sim) -> None:
    user = (await sim.user("Pic"))["id"]
    empty = await ag.get_user_profile_photos(user)
    assert (empty.total_count, empty.photos) == (0, [])
    await sim.profile_photo(user, PNG)
    added = await sim.profile_photo(user, PNG + b"newer")
    photos = await ag.get_user_profile_photos(user, limit=1)
    assert photos.total_count == 2
    assert [[size.file_unique_id for size in photo] for photo in photos.photos] == [
        [added["file_unique_id"]]
    ]
    photos_p = await ptb.get_user_profile_photos(user, offset=1)
    assert photos_p.total_count == 2
    assert len(photos_p.photos) == 1
    file = await ptb.get_file(photos_p.photos[0][0].file_id)
    assert bytes(await file.download_as_bytearray()) == PNG
    await refused(
        "Bad Request: user not found",
        lambda: ag.get_user_profile_photos(987654321),
        lambda: ptb.get_user_profile_photos(987654321),
    )


# -- simulated membership: what a real Dispatcher and Application receive -----------------


@dataclass
class Scenario:
    group: Group
    joiner: int


async def membership_story(sim: Sim, bot_id: int) -> Scenario:
    """The owner adds the bot and promotes it; a user joins, is promoted, then leaves; the
    owner removes the bot."""
    owner = (await sim.user("Owner"))["id"]
    joiner = (await sim.user("Joiner"))["id"]
    chat = await sim.chat("supergroup", title="Story", owner_user_id=owner)
    await sim.add_member(chat["id"], bot_id=bot_id)
    await sim.promote(chat["id"], bot_id=bot_id, rights={"can_restrict_members": True})
    await sim.join(chat["id"], joiner)
    await sim.promote(chat["id"], user_id=joiner, rights={"can_pin_messages": True})
    await sim.leave(chat["id"], joiner)
    await sim.remove_member(chat["id"], bot_id=bot_id, ban=True)
    return Scenario(Group(chat["id"], owner, []), joiner)


async def test_dispatcher_receives_membership_updates(sim: Sim, server: EmulatorServer) -> None:
    bot = aiogram_bot(server)
    dp = Dispatcher()
    mine: list[ChatMemberUpdated] = []
    others: list[ChatMemberUpdated] = []
    service: list[Message] = []
    done = asyncio.Event()

    def check() -> None:
        if len(mine) == 3 and len(others) == 3 and len(service) == 3:
            done.set()

    @dp.my_chat_member()
    async def on_mine(update: ChatMemberUpdated) -> None:
        mine.append(update)
        check()

    @dp.chat_member()
    async def on_member(update: ChatMemberUpdated) -> None:
        others.append(update)
        check()

    @dp.message(F.new_chat_members | F.left_chat_member)
    async def on_service(message: Message) -> None:
        service.append(message)
        check()

    try:
        # Telegram sends chat_member only to bots that asked for it.
        await bot.get_updates(allowed_updates=MEMBER_UPDATES, timeout=0)
        story = await membership_story(sim, BOT_A)
        polling = asyncio.create_task(
            dp.start_polling(
                bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=1,
                allowed_updates=MEMBER_UPDATES,
            )
        )
        try:
            await asyncio.wait_for(done.wait(), WAIT)
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, WAIT)
    finally:
        await bot.session.close()

    chat_id = story.group.id
    assert [(u.old_chat_member.status, u.new_chat_member.status) for u in mine] == [
        ("left", "member"),
        ("member", "administrator"),
        ("administrator", "kicked"),
    ]
    assert all(u.chat.id == chat_id and u.from_user.id == story.group.owner for u in mine)
    promoted = mine[1].new_chat_member
    assert isinstance(promoted, aiogram.types.ChatMemberAdministrator)
    assert promoted.can_restrict_members
    assert not promoted.can_promote_members
    assert [(u.old_chat_member.status, u.new_chat_member.status) for u in others] == [
        ("left", "member"),
        ("member", "administrator"),
        ("administrator", "left"),
    ]
    assert {u.new_chat_member.user.id for u in others} == {story.joiner}
    assert [u.from_user.id for u in others] == [story.joiner, story.group.owner, story.joiner]
    assert service[0].new_chat_members is not None
    assert [u.id for u in service[0].new_chat_members] == [BOT_A]
    assert service[1].new_chat_members is not None
    assert [u.id for u in service[1].new_chat_members] == [story.joiner]
    assert service[2].left_chat_member is not None
    assert service[2].left_chat_member.id == story.joiner


def build_app(server: EmulatorServer, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .build()
    )


async def test_application_receives_membership_updates(sim: Sim, server: EmulatorServer) -> None:
    app = build_app(server, TOKEN_B)
    mine: list[telegram.ChatMemberUpdated] = []
    others: list[telegram.ChatMemberUpdated] = []
    service: list[telegram.Message] = []
    done = asyncio.Event()

    def check() -> None:
        if len(mine) == 3 and len(others) == 3 and len(service) == 3:
            done.set()

    async def on_mine(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.my_chat_member is not None
        mine.append(update.my_chat_member)
        check()

    async def on_member(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.chat_member is not None
        others.append(update.chat_member)
        check()

    async def on_service(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        service.append(update.message)
        check()

    app.add_handler(ChatMemberHandler(on_mine, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.CHAT_MEMBER))
    status = filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER
    app.add_handler(MessageHandler(status, on_service))
    async with app:
        await app.bot.get_updates(allowed_updates=MEMBER_UPDATES, timeout=dtm.timedelta(0))
        story = await membership_story(sim, BOT_B)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=dtm.timedelta(seconds=1), allowed_updates=MEMBER_UPDATES
        )
        try:
            await asyncio.wait_for(done.wait(), WAIT)
        finally:
            await app.updater.stop()
            await app.stop()

    assert [(u.old_chat_member.status, u.new_chat_member.status) for u in mine] == [
        ("left", "member"),
        ("member", "administrator"),
        ("administrator", "kicked"),
    ]
    assert isinstance(mine[1].new_chat_member, telegram.ChatMemberAdministrator)
    assert isinstance(mine[2].new_chat_member, telegram.ChatMemberBanned)
    assert [(u.old_chat_member.status, u.new_chat_member.status) for u in others] == [
        ("left", "member"),
        ("member", "administrator"),
        ("administrator", "left"),
    ]
    assert all(u.new_chat_member.user.id == story.joiner for u in others)
    assert [m.new_chat_members[0].id for m in service[:2]] == [BOT_B, story.joiner]
    assert service[2].left_chat_member is not None
    assert service[2].left_chat_member.id == story.joiner


async def test_chat_member_goes_only_to_admins_that_asked(
    ag: aiogram.Bot, sim: Sim, server: EmulatorServer
) -> None:
    g = await group(sim)  # BOT_A an administrator, with the default allowed updates
    await sim.add_member(g.id, bot_id=BOT_B)  # BOT_B a plain member that asks for them
    plain = aiogram_bot(server, TOKEN_B)
    try:
        await plain.get_updates(allowed_updates=MEMBER_UPDATES, timeout=0)
        joiner = (await sim.user("Joiner"))["id"]
        await sim.join(g.id, joiner)
        assert not [u for u in await plain.get_updates(timeout=0) if u.chat_member]
    finally:
        await plain.session.close()
    updates = await ag.get_updates(timeout=0)
    assert not [u for u in updates if u.chat_member]
    joined = [u.message for u in updates if u.message and u.message.new_chat_members]
    assert [m.new_chat_members[0].id for m in joined if m.new_chat_members] == [
        BOT_A,
        BOT_B,
        joiner,
    ]

    await ag.get_updates(offset=updates[-1].update_id + 1, allowed_updates=MEMBER_UPDATES)
    await sim.leave(g.id, joiner)
    after = await ag.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    changes = [u.chat_member for u in after if u.chat_member]
    assert len(changes) == 1
    assert isinstance(changes[0].new_chat_member, aiogram.types.ChatMemberLeft)


async def test_sim_membership_errors(sim: Sim) -> None:
    owner = (await sim.user("Owner"))["id"]
    user = (await sim.user("Someone"))["id"]
    chat = (await sim.chat("supergroup", owner_user_id=owner, member_user_ids=[user]))["id"]
    basic = (await sim.chat("group", member_user_ids=[user]))["id"]
    channel = (await sim.chat("channel", owner_user_id=owner))["id"]
    cases: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (lambda: sim.promote(chat, user_id=user, by_user_id=user), "can't make themselves"),
        (lambda: sim.promote(chat, user_id=owner), "the owner's status can't change"),
        (lambda: sim.remove_member(basic, user_id=user, ban=True), "has no owner"),
        (lambda: sim.member(chat, "member", user_id=user, bot_id=BOT_A), "user_id or bot_id"),
        (lambda: sim.member(chat, "banned", user_id=user), "status must be one of"),
        (lambda: sim.add_member(channel, bot_id=BOT_A), "only as an administrator"),
        (lambda: sim.restrict(chat, user, {}, by_user_id=user), "can't make themselves"),
        (lambda: sim.restrict(basic, user, {}, by_user_id=user), "can't make themselves"),
        (lambda: sim.promote(chat, user_id=user, rights={}), "rights grant nothing"),
        (lambda: sim.join(chat, user, invite_link="https://t.me/+nope"), "has no invite link"),
        (lambda: sim.member(chat, "kicked", user_id=user, by_user_id=user), "themselves"),
    ]
    for call, message in cases:
        with pytest.raises(EmulatorError, match=message):
            await call()
    stranger = (await sim.user("Stranger"))["id"]
    with pytest.raises(EmulatorError, match=f"user {stranger} is not an administrator"):
        await sim.remove_member(chat, user_id=user, by_user_id=stranger)
    owned_basic = (await sim.chat("group", owner_user_id=owner))["id"]
    with pytest.raises(EmulatorError, match="only supergroups restrict"):
        await sim.restrict(owned_basic, user, {})
    with pytest.raises(EmulatorError, match="needs a file of kind photo"):
        await sim.post("users/photos", user_id=user, text="not a photo")
