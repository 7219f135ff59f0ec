"""Simulated membership: bots and users added, promoted, restricted, removed; profile photos."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._admin import (
    full_rights,
    joined_message,
    left_message,
    member_api,
    member_change,
    parse_permissions,
    parse_rights,
    post_service,
    remove_member,
    set_admin,
    until_date,
)
from sluice.emulator._errors import bad_request
from sluice.emulator._params import Params
from sluice.emulator._sim import Simulator, sim_post
from sluice.emulator._world import Chat, ChatAdmin, InviteLink, Restriction, User

__all__: list[str] = []

_STATUSES = ("member", "administrator", "restricted", "left", "kicked")


@sim_post("chats/members")
async def change_member(
    sim: Simulator, p: Params, files: Mapping[str, UploadFile]
) -> dict[str, Any]:
    """A member's new status, set by a user (``by_user_id``): the ChatMember object after."""
    world = sim.emu.world
    chat = world.resolve_chat(p.chat_id())
    if isinstance(chat, User):
        raise bad_request("membership changes happen in groups, supergroups and channels")
    status = p.text("status", empty_error="status is required")
    if status not in _STATUSES:
        raise bad_request(f"status must be one of {', '.join(_STATUSES)}")
    member_id = _member_id(sim, p)
    if member_id == chat.owner_id:
        raise bad_request("the owner's status can't change: create the chat with another owner")
    actor = _actor(sim, chat, p, member_id, status)
    chat.expire(int(time.time()))
    was_in = member_id in chat.member_user_ids or member_id in chat.bot_ids
    link = _invite_link(chat, p, member_id, actor)
    apply = _change(sim, chat, p, member_id, status, actor)
    member_change(sim.emu, chat, member_id, actor.to_api(), apply, invite_link=link)
    is_in = member_id in chat.member_user_ids or member_id in chat.bot_ids
    if chat.type != "channel" and was_in != is_in:
        body = joined_message(world, [member_id]) if is_in else left_message(world, member_id)
        post_service(sim.emu, chat, actor.id, body, skip=None)
    return member_api(world, chat, member_id, 0)


def _member_id(sim: Simulator, p: Params) -> int:
    if p.has("user_id") == p.has("bot_id"):
        raise bad_request("give either user_id or bot_id")
    if p.has("user_id"):
        return sim.user(p, "user_id").id
    bot_id = p.integer("bot_id")
    return sim.emu.world.ensure_bot(bot_id or 0).id


def _actor(sim: Simulator, chat: Chat, p: Params, member_id: int, status: str) -> User:
    """Who makes the change: the user themselves joining or leaving, else ``by_user_id``
    (the owner by default), who must manage the chat to change someone else's status."""
    world = sim.emu.world
    on_their_own = status in ("member", "left") and member_id in world.users
    if not p.has("by_user_id"):
        if on_their_own:
            return world.users[member_id]
        if chat.owner_id is None:
            raise bad_request(f"by_user_id is required: chat {chat.id} has no owner")
        return world.users[chat.owner_id]
    actor = sim.user(p, "by_user_id")
    if actor.id == member_id:
        if not on_their_own:
            raise bad_request(f"a user can't make themselves {status}")
        return actor
    manages = actor.id == chat.owner_id or actor.id in chat.admins
    if status != "member" and not manages:
        raise bad_request(f"user {actor.id} is not an administrator of chat {chat.id}")
    if actor.id not in chat.member_user_ids:
        raise bad_request(f"user {actor.id} is not a member of chat {chat.id}")
    return actor


def _invite_link(chat: Chat, p: Params, member_id: int, actor: User) -> InviteLink | None:
    url = p.text("invite_link")
    if url is None:
        return None
    link = chat.invite_links.get(url.strip())
    if link is None:
        raise bad_request(f"chat {chat.id} has no invite link {url!r}")
    if link.is_revoked:
        raise bad_request(f"invite link {url!r} is revoked")
    if link.creates_join_request:
        raise bad_request("join requests are not simulated: use a link without approval")
    if actor.id != member_id:
        raise bad_request("a user joins by invite link on their own: give no by_user_id")
    return link


def _change(
    sim: Simulator, chat: Chat, p: Params, member_id: int, status: str, actor: User
) -> Callable[[], object]:
    """Validate the change and return what applies it (a refused change changes nothing)."""
    world = sim.emu.world
    is_bot = member_id in world.bots
    members = chat.bot_ids if is_bot else chat.member_user_ids
    now = int(time.time())
    # An administrator adding a banned user lifts the ban; they can't come back alone.
    if status == "member" and member_id in chat.banned and actor.id == member_id:
        raise bad_request(f"user {member_id} is banned in chat {chat.id}")
    if status == "member":
        if is_bot and chat.type == "channel":
            raise bad_request("a bot joins a channel only as an administrator")

        def join() -> None:
            set_admin(chat, member_id, None)
            members.add(member_id)

        return join
    if status == "administrator":
        raw = p.json("rights", "rights")
        if raw is not None and not isinstance(raw, dict):
            raise bad_request("rights must be an object of ChatAdministratorRights fields")
        rights = full_rights(chat.type) if raw is None else parse_rights(raw, chat.type)
        if not any(rights.values()):
            raise bad_request("rights grant nothing: set status member to demote")
        admin = ChatAdmin(rights, None, p.text("custom_title"))

        def promote() -> None:
            members.add(member_id)
            set_admin(chat, member_id, admin)

        return promote
    if status == "restricted":
        if chat.type != "supergroup":
            raise bad_request("only supergroups restrict members")
        independent = p.flag("use_independent_chat_permissions")
        perms = parse_permissions(p.json("permissions", "permissions"), independent=independent)
        until = until_date(p, now)

        def restrict() -> None:
            set_admin(chat, member_id, None)
            if not all(perms.values()):
                chat.restricted[member_id] = Restriction(perms, until, member_id in members)

        return restrict
    until = until_date(p, now)

    def remove() -> None:
        remove_member(chat, member_id)
        if status == "kicked":
            chat.banned[member_id] = until
        else:
            chat.banned.pop(member_id, None)

    return remove


@sim_post("users/photos")
async def add_profile_photo(
    sim: Simulator, p: Params, files: Mapping[str, UploadFile]
) -> dict[str, Any]:
    """A new profile photo of a user (``file``: kind photo), first in getUserProfilePhotos."""
    user = sim.user(p, "user_id")
    upload = files.get("file")
    _, record = await sim.content(p, upload.file if upload is not None else None)
    if record is None or record.kind != "photo":
        raise bad_request("a profile photo needs a file of kind photo")
    photos = sim.emu.world.profile_photos.setdefault(user.id, [])
    photos.insert(0, record)
    return {"user_id": user.id, "total_count": len(photos), "file_unique_id": record.unique_id}
