"""Chat administration: member statuses, bans, restrictions, promotions, titles, invite links."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import ApiError, bad_request, forbidden
from sluice.emulator._messages import media_object
from sluice.emulator._params import Params
from sluice.emulator._world import (
    CHAT_PERMISSIONS,
    Bot,
    Chat,
    ChatAdmin,
    InviteLink,
    Restriction,
    User,
    World,
)

__all__ = [
    "admin_of",
    "chat_member",
    "full_rights",
    "joined_message",
    "left_message",
    "link_api",
    "member_api",
    "member_change",
    "parse_permissions",
    "parse_rights",
    "post_service",
    "remove_member",
    "rights_names",
    "set_admin",
    "status_of",
    "until_date",
]

# ChatAdministratorRights: those of every chat, then those of channels or groups only.
_RIGHTS = (
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)
_CHANNEL_RIGHTS = ("can_post_messages", "can_edit_messages", "can_manage_direct_messages")
_GROUP_RIGHTS = ("can_pin_messages", "can_manage_topics", "can_manage_tags")
_MEDIA = (
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
)
_FOREVER_AFTER = 366 * 86400  # Telegram: bans longer than this, or under 30 s, are forever
_LINK_NAME = 32
_TITLE = 128


def _now() -> int:
    return int(time.time())


def rights_names(chat_type: str) -> tuple[str, ...]:
    if chat_type == "channel":
        return _RIGHTS + _CHANNEL_RIGHTS
    if chat_type == "supergroup":
        return _RIGHTS + _GROUP_RIGHTS
    return (*_RIGHTS, "can_pin_messages", "can_manage_tags")


def full_rights(chat_type: str) -> dict[str, bool]:
    """Every right an administrator of this kind of chat can hold (not anonymous)."""
    return dict.fromkeys(rights_names(chat_type), True) | {"is_anonymous": False}


def parse_rights(values: dict[str, Any], chat_type: str) -> dict[str, bool]:
    """Rights as promoteChatMember reads them: absent is False, rights of other kinds of
    chats are dropped, and any right implies can_manage_chat."""
    rights = {name: bool(values.get(name)) for name in rights_names(chat_type)}
    if any(rights.values()):
        rights["can_manage_chat"] = True
    return rights


def parse_permissions(raw: Any, *, independent: bool) -> dict[str, bool]:
    """ChatPermissions as restrictChatMember and setChatPermissions read them: absent is
    False, and unless ``independent``, Telegram's implications between permissions."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad_request("object expected as permissions")
    given: dict[str, bool] = {}
    for name in (*CHAT_PERMISSIONS, "can_send_media_messages"):
        value = raw.get(name)
        if value is not None and not isinstance(value, bool):
            raise bad_request(
                f'can\'t parse chat permissions: Field "{name}" must be of type Boolean'
            )
        if value is not None:
            given[name] = value
    if "can_send_media_messages" in given:  # the field before media were split by kind
        for name in _MEDIA:
            given.setdefault(name, given["can_send_media_messages"])
    perms = {name: given.get(name, False) for name in CHAT_PERMISSIONS}
    if not independent:
        if perms["can_send_other_messages"] or perms["can_add_web_page_previews"]:
            perms |= dict.fromkeys(_MEDIA, True)
        if perms["can_send_polls"]:
            perms["can_send_messages"] = True
    perms["can_react_to_messages"] = given.get("can_react_to_messages", perms["can_send_messages"])
    perms["can_edit_tag"] = given.get("can_edit_tag", perms["can_pin_messages"])
    perms["can_manage_topics"] = given.get("can_manage_topics", perms["can_pin_messages"])
    return perms


def until_date(p: Params, now: int) -> int:
    """``until_date`` as Telegram keeps it: 0 (forever) unless 30 s to 366 days ahead."""
    until = p.integer("until_date") or 0
    return until if 30 <= until - now <= _FOREVER_AFTER else 0


# -- who is who -----------------------------------------------------------------------


def admin_of(chat: Chat, member_id: int) -> ChatAdmin | None:
    """The member's administrator record; a bot in ``admin_bot_ids`` alone has every right."""
    if member_id in chat.bot_ids:
        if member_id not in chat.admin_bot_ids:
            return None
        return chat.admins.get(member_id) or ChatAdmin(full_rights(chat.type))
    return chat.admins.get(member_id)


def _in_chat(chat: Chat, member_id: int) -> bool:
    return member_id in chat.member_user_ids or member_id in chat.bot_ids


def status_of(chat: Chat, member_id: int) -> str:
    chat.expire(_now())
    if member_id == chat.owner_id:
        return "creator"
    if admin_of(chat, member_id) is not None:
        return "administrator"
    if member_id in chat.banned:
        return "kicked"
    if member_id in chat.restricted:
        return "restricted"
    return "member" if _in_chat(chat, member_id) else "left"


def member_api(world: World, chat: Chat, member_id: int, viewer_id: int) -> dict[str, Any]:
    """The ChatMember object of ``member_id`` as the bot ``viewer_id`` sees it."""
    user = world.user_api(member_id)
    status = status_of(chat, member_id)
    obj: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        obj["is_anonymous"] = False
    elif status == "administrator":
        admin = admin_of(chat, member_id)
        assert admin is not None
        viewer = admin_of(chat, viewer_id)
        can_edit = (
            admin.promoted_by == viewer_id
            and viewer is not None
            and viewer.rights.get("can_promote_members", False)
        )
        every = dict.fromkeys(rights_names(chat.type), False)
        obj |= {"can_be_edited": bool(can_edit)} | every | admin.rights
        if admin.custom_title:
            obj["custom_title"] = admin.custom_title
    elif status == "kicked":
        obj["until_date"] = chat.banned[member_id]
    elif status == "restricted":
        restriction = chat.restricted[member_id]
        obj |= {"is_member": restriction.is_member} | restriction.permissions
        obj["until_date"] = restriction.until_date
    return obj


def remove_member(chat: Chat, member_id: int) -> bool:
    """Take a member out of the chat (administrator rights and restrictions too); whether
    they were in it."""
    was_in = _in_chat(chat, member_id)
    chat.member_user_ids.discard(member_id)
    chat.bot_ids.discard(member_id)
    chat.admin_bot_ids.discard(member_id)
    chat.admins.pop(member_id, None)
    chat.restricted.pop(member_id, None)
    return was_in


def _viewers(chat: Chat) -> set[int]:
    return {b for b in chat.bot_ids if admin_of(chat, b) is not None}


def member_change(
    emu: Emulator,
    chat: Chat,
    member_id: int,
    actor: dict[str, Any],
    apply: Callable[[], object],
    *,
    invite_link: InviteLink | None = None,
) -> None:
    """Change a member's status and send the updates Telegram sends: ``my_chat_member``
    to the member if it is a bot, ``chat_member`` to the administrator bots."""
    world = emu.world
    candidates = chat.bot_ids | {member_id}
    before = {v: member_api(world, chat, member_id, v) for v in candidates}
    apply()
    receivers = (_viewers(chat) - {member_id}) | ({member_id} & world.bots.keys())
    date = _now()
    for viewer in sorted(receivers):
        old = before.get(viewer) or before[member_id]
        new = member_api(world, chat, member_id, viewer)
        if old == new:
            continue
        update: dict[str, Any] = {
            "chat": chat.to_api(),
            "from": actor,
            "date": date,
            "old_chat_member": old,
            "new_chat_member": new,
        }
        if invite_link is not None:
            update["invite_link"] = link_api(world, invite_link, viewer)
        kind = "my_chat_member" if viewer == member_id else "chat_member"
        emu.hub.push(viewer, kind, update)


def post_service(
    emu: Emulator, chat: Chat, sender_id: int, body: dict[str, Any], *, skip: int | None
) -> dict[str, Any]:
    """Store a service message in the chat and deliver it to its bots but ``skip``."""
    world = emu.world
    author = (
        {"sender_chat": chat.to_api()}
        if chat.type == "channel"
        else {"from": world.user_api(sender_id)}
    )
    stored = world.store_message(chat, 0, sender_id, author | body)
    kind = "channel_post" if chat.type == "channel" else "message"
    for bot_id in sorted(chat.bot_ids - {skip}):
        emu.hub.push(bot_id, kind, stored.api)
    return stored.api


def left_message(world: World, member_id: int) -> dict[str, Any]:
    user = world.user_api(member_id)
    # Telegram still sends the field's old name beside the documented one.
    return {"left_chat_participant": user, "left_chat_member": user}


def joined_message(world: World, member_ids: list[int]) -> dict[str, Any]:
    users = [world.user_api(m) for m in member_ids]
    return {
        "new_chat_participant": users[0],
        "new_chat_member": users[0],
        "new_chat_members": users,
    }


def link_api(world: World, link: InviteLink, viewer_id: int) -> dict[str, Any]:
    url = link.invite_link
    if link.creator_id != viewer_id:  # another administrator's link shows only its start
        url = url[: url.index("+") + 1] + "…"
    obj: dict[str, Any] = {
        "invite_link": url,
        "creator": world.user_api(link.creator_id),
        "creates_join_request": link.creates_join_request,
        "is_primary": link.is_primary,
        "is_revoked": link.is_revoked,
    }
    for key in ("name", "expire_date", "member_limit"):
        if (value := getattr(link, key)) is not None:
            obj[key] = value
    return obj


# -- checks the methods share ---------------------------------------------------------


def _member_id(p: Params) -> int:
    try:
        member_id = p.integer("user_id")
    except ApiError:
        member_id = None
    if member_id is None or member_id <= 0:
        raise bad_request("invalid user_id specified")
    return member_id


def _known(world: World, member_id: int) -> None:
    if world.user_api(member_id) is None:
        raise bad_request("user not found")


def _managed(emu: Emulator, bot: Bot, p: Params, private_error: str) -> Chat:
    """The group, supergroup or channel the bot acts on (as a member), or Telegram's answer."""
    world = emu.world
    chat = world.resolve_chat(p.chat_id())
    if isinstance(chat, User):
        world.check_can_read(bot, chat)
        raise bad_request(private_error)
    chat.expire(_now())
    if bot.id in chat.banned:
        raise forbidden(f"bot was kicked from the {chat.type} chat")
    if bot.id not in chat.bot_ids:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat


def _readable(emu: Emulator, bot: Bot, p: Params) -> Chat | User:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    return chat


def _check_member_list(chat: Chat, bot: Bot) -> None:
    if chat.type == "channel" and admin_of(chat, bot.id) is None:
        raise bad_request("member list is inaccessible")


def _has_right(chat: Chat, bot: Bot, right: str) -> bool:
    admin = admin_of(chat, bot.id)
    # A basic group's administrators hold every right.
    return admin is not None and (chat.type == "group" or admin.rights.get(right, False))


def _check_can_restrict(chat: Chat, bot: Bot, member_id: int) -> None:
    if member_id == chat.owner_id:
        raise bad_request("can't remove chat owner")
    if member_id == bot.id:
        raise bad_request("can't restrict self")
    if not _has_right(chat, bot, "can_restrict_members"):
        raise bad_request("not enough rights to restrict/unrestrict chat member")
    target = admin_of(chat, member_id)
    if target is not None and target.promoted_by != bot.id:
        raise bad_request("user is an administrator of the chat")


def set_admin(chat: Chat, member_id: int, admin: ChatAdmin | None) -> None:
    """Make a member an administrator with ``admin``'s rights, or (None) no longer one."""
    chat.restricted.pop(member_id, None)
    chat.banned.pop(member_id, None)
    if admin is None:
        chat.admins.pop(member_id, None)
        chat.admin_bot_ids.discard(member_id)
        return
    chat.admins[member_id] = admin
    if member_id in chat.bot_ids:
        chat.admin_bot_ids.add(member_id)


# -- members ----------------------------------------------------------------------------


def chat_member(emu: Emulator, bot: Bot, chat: Chat, member_id: int) -> dict[str, Any]:
    """getChatMember in a group, supergroup or channel."""
    if member_id != bot.id:
        _check_member_list(chat, bot)
    return member_api(emu.world, chat, member_id, bot.id)


@method("getChatAdministrators")
async def get_chat_administrators(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _readable(emu, bot, p)
    if isinstance(chat, User):
        raise bad_request("there are no administrators in the private chat")
    _check_member_list(chat, bot)
    with_bots = p.flag("return_bots")
    ids = [chat.owner_id] if chat.owner_id is not None else []
    for member_id in [*chat.admins, *sorted(chat.admin_bot_ids - chat.admins.keys())]:
        is_bot = member_id in emu.world.bots
        if admin_of(chat, member_id) is not None and (
            not is_bot or with_bots or member_id == bot.id
        ):
            ids.append(member_id)
    return [member_api(emu.world, chat, member_id, bot.id) for member_id in ids]


@method("getChatMemberCount")
async def get_chat_member_count(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _readable(emu, bot, p)
    if isinstance(chat, User):
        return 1 + (chat.id != bot.id)
    _check_member_list(chat, bot)
    return len(chat.member_user_ids) + len(chat.bot_ids)


@method("getUserProfilePhotos")
async def get_user_profile_photos(emu: Emulator, bot: Bot, p: Params) -> Any:
    member_id = _member_id(p)
    offset = max(p.integer("offset") or 0, 0)
    limit = min(max(p.integer("limit") or 100, 1), 100)
    _known(emu.world, member_id)
    photos = emu.world.profile_photos.get(member_id, [])
    shown = [media_object(emu, bot, record)[1] for record in photos[offset : offset + limit]]
    return {"total_count": len(photos), "photos": shown}


@method("banChatMember")
async def ban_chat_member(emu: Emulator, bot: Bot, p: Params) -> Any:
    member_id = _member_id(p)
    chat = _managed(emu, bot, p, "can't ban members in private chats")
    until = until_date(p, _now())
    p.flag("revoke_messages")  # the removed user's own view of the chat: not modelled
    _known(emu.world, member_id)
    if chat.type == "group":
        return _remove_from_basic_group(emu, bot, chat, member_id)
    _check_can_restrict(chat, bot, member_id)
    if chat.banned.get(member_id) == until:
        return True
    was_in = _in_chat(chat, member_id)

    def ban() -> None:
        remove_member(chat, member_id)
        chat.banned[member_id] = until

    member_change(emu, chat, member_id, bot.user.to_api(), ban)
    if was_in and chat.type == "supergroup":
        post_service(emu, chat, bot.id, left_message(emu.world, member_id), skip=bot.id)
    return True


def _remove_from_basic_group(emu: Emulator, bot: Bot, chat: Chat, member_id: int) -> bool:
    # A basic group has no list of banned users: removing is all a ban does there.
    if member_id == bot.id:
        _leave(emu, bot, chat)
        return True
    target = admin_of(chat, member_id)
    protected = member_id == chat.owner_id or (target is not None and target.promoted_by != bot.id)
    if admin_of(chat, bot.id) is None or protected:
        raise bad_request("CHAT_ADMIN_REQUIRED")
    if not _in_chat(chat, member_id):
        return True
    member_change(emu, chat, member_id, bot.user.to_api(), lambda: remove_member(chat, member_id))
    post_service(emu, chat, bot.id, left_message(emu.world, member_id), skip=bot.id)
    return True


@method("unbanChatMember")
async def unban_chat_member(emu: Emulator, bot: Bot, p: Params) -> Any:
    member_id = _member_id(p)
    only_supergroups = "method is available for supergroup and channel chats only"
    chat = _managed(emu, bot, p, only_supergroups)
    if chat.type == "group":
        raise bad_request(only_supergroups)
    _known(emu.world, member_id)
    status = status_of(chat, member_id)
    if (p.flag("only_if_banned") and status != "kicked") or status == "left":
        return True
    if member_id == chat.owner_id:
        raise bad_request("can't remove chat owner")
    if member_id == bot.id:  # leaving is what "not a member, free to come back" means
        _leave(emu, bot, chat)
        return True
    _check_can_restrict(chat, bot, member_id)
    was_in = _in_chat(chat, member_id)

    def unban() -> None:
        remove_member(chat, member_id)
        chat.banned.pop(member_id, None)

    member_change(emu, chat, member_id, bot.user.to_api(), unban)
    if was_in and chat.type == "supergroup":
        post_service(emu, chat, bot.id, left_message(emu.world, member_id), skip=bot.id)
    return True


@method("restrictChatMember")
async def restrict_chat_member(emu: Emulator, bot: Bot, p: Params) -> Any:
    member_id = _member_id(p)
    independent = p.flag("use_independent_chat_permissions")
    perms = parse_permissions(p.json("permissions", "permissions"), independent=independent)
    chat = _managed(emu, bot, p, "method is available only for supergroups")
    if chat.type != "supergroup":
        raise bad_request("method is available only for supergroups")
    until = until_date(p, _now())
    _known(emu.world, member_id)
    _check_can_restrict(chat, bot, member_id)

    def restrict() -> None:
        chat.admins.pop(member_id, None)
        chat.admin_bot_ids.discard(member_id)
        is_member = _in_chat(chat, member_id)
        if all(perms.values()):  # every permission: no restriction left
            chat.restricted.pop(member_id, None)
            return
        chat.banned.pop(member_id, None)
        chat.restricted[member_id] = Restriction(perms, until, is_member)

    member_change(emu, chat, member_id, bot.user.to_api(), restrict)
    return True


@method("promoteChatMember")
async def promote_chat_member(emu: Emulator, bot: Bot, p: Params) -> Any:
    member_id = _member_id(p)
    values: dict[str, Any] = {
        name: p.flag(name) for name in {*_RIGHTS, *_CHANNEL_RIGHTS, *_GROUP_RIGHTS}
    }
    values["can_manage_video_chats"] |= p.flag("can_manage_voice_chats")  # the former name
    only_supergroups = "method is available for supergroup and channel chats only"
    chat = _managed(emu, bot, p, only_supergroups)
    if chat.type == "group":
        raise bad_request(only_supergroups)
    _known(emu.world, member_id)
    rights = parse_rights(values, chat.type)
    promote = any(rights.values())
    if member_id == chat.owner_id:
        raise bad_request("can't remove chat owner")
    if member_id == bot.id and promote:
        raise bad_request("can't promote self")
    mine = admin_of(chat, bot.id)
    if member_id != bot.id and (mine is None or not mine.rights.get("can_promote_members")):
        raise bad_request("not enough rights")
    current = admin_of(chat, member_id)
    if member_id != bot.id and current is not None and current.promoted_by != bot.id:
        raise bad_request("CHAT_ADMIN_REQUIRED")
    if (
        promote
        and mine is not None
        and any(v and not mine.rights.get(k) for k, v in rights.items())
    ):
        raise bad_request("RIGHT_FORBIDDEN")
    if not _in_chat(chat, member_id):
        raise bad_request("USER_NOT_PARTICIPANT" if promote else "bots can't add new chat members")
    if not promote and current is None:
        return True
    title = current.custom_title if current is not None else None
    admin = ChatAdmin(rights, bot.id, title) if promote else None
    member_change(
        emu, chat, member_id, bot.user.to_api(), lambda: set_admin(chat, member_id, admin)
    )
    return True


@method("setChatPermissions")
async def set_chat_permissions(emu: Emulator, bot: Bot, p: Params) -> Any:
    independent = p.flag("use_independent_chat_permissions")
    perms = parse_permissions(p.json("permissions", "permissions"), independent=independent)
    chat = _managed(emu, bot, p, "can't change private chat permissions")
    if chat.type == "channel":
        raise bad_request("can't change channel chat permissions")
    if not _has_right(chat, bot, "can_restrict_members"):
        raise bad_request("not enough rights to change chat permissions")
    chat.permissions = perms
    return True


@method("setChatTitle")
async def set_chat_title(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _managed(emu, bot, p, "can't change private chat title")
    # As Telegram cleans a name: no control characters, trimmed, cut to the limit.
    raw = p.text("title") or ""
    title = "".join(c if c.isprintable() else " " for c in raw).strip()[:_TITLE].strip()
    if not title:
        raise bad_request("title must be non-empty")
    if not _can_change_info(chat, bot):
        raise bad_request("not enough rights to change chat title")
    if title == chat.title:
        return True
    chat.title = title
    post_service(emu, chat, bot.id, {"new_chat_title": title}, skip=bot.id)
    return True


def _can_change_info(chat: Chat, bot: Bot) -> bool:
    if admin_of(chat, bot.id) is not None or chat.type != "supergroup":
        return _has_right(chat, bot, "can_change_info")
    # A supergroup's members may change its info if their permissions let them.
    restriction = chat.restricted.get(bot.id)
    perms = restriction.permissions if restriction is not None else chat.permissions
    return perms.get("can_change_info", False)


@method("leaveChat")
async def leave_chat(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _readable(emu, bot, p)
    if isinstance(chat, User):
        raise bad_request("can't leave private chats")
    _leave(emu, bot, chat)
    return True


def _leave(emu: Emulator, bot: Bot, chat: Chat) -> None:
    member_change(emu, chat, bot.id, bot.user.to_api(), lambda: remove_member(chat, bot.id))
    if chat.type != "channel":
        post_service(emu, chat, bot.id, left_message(emu.world, bot.id), skip=bot.id)


# -- invite links ---------------------------------------------------------------------


def _link_chat(emu: Emulator, bot: Bot, p: Params) -> Chat:
    chat = _managed(emu, bot, p, "can't invite members to a private chat")
    if not _has_right(chat, bot, "can_invite_users"):
        raise bad_request("not enough rights to manage chat invite link")
    return chat


def _new_link(chat: Chat, creator_id: int, *, primary: bool) -> InviteLink:
    link = InviteLink(f"https://t.me/+{secrets.token_urlsafe(12)}", creator_id, is_primary=primary)
    chat.invite_links[link.invite_link] = link
    return link


def _bot_link(chat: Chat, bot: Bot, p: Params) -> InviteLink:
    url = (p.text("invite_link") or "").strip()
    if not url:
        raise bad_request("invite link must be non-empty")
    link = chat.invite_links.get(url)
    if link is None or link.creator_id != bot.id:
        raise bad_request("INVITE_HASH_EXPIRED")
    return link


def _link_options(p: Params) -> dict[str, Any]:
    """The options of createChatInviteLink and editChatInviteLink (all of them: an edit
    replaces every option)."""
    name = (p.text("name") or "").strip()[:_LINK_NAME]
    expire_date = max(p.integer("expire_date") or 0, 0)
    member_limit = min(max(p.integer("member_limit") or 0, 0), 100_000)
    creates_join_request = p.flag("creates_join_request")
    if creates_join_request and member_limit:
        raise bad_request(
            "member limit can't be specified for links requiring administrator approval"
        )
    return {
        "name": name or None,
        "expire_date": expire_date or None,
        "member_limit": member_limit or None,
        "creates_join_request": creates_join_request,
    }


def _set_options(link: InviteLink, options: dict[str, Any]) -> InviteLink:
    for key, value in options.items():
        setattr(link, key, value)
    return link


@method("exportChatInviteLink")
async def export_chat_invite_link(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _link_chat(emu, bot, p)
    for link in chat.invite_links.values():
        if link.is_primary:
            link.is_revoked = True
    return _new_link(chat, bot.id, primary=True).invite_link


@method("createChatInviteLink")
async def create_chat_invite_link(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _link_chat(emu, bot, p)
    options = _link_options(p)
    link = _set_options(_new_link(chat, bot.id, primary=False), options)
    return link_api(emu.world, link, bot.id)


@method("editChatInviteLink")
async def edit_chat_invite_link(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _link_chat(emu, bot, p)
    link = _bot_link(chat, bot, p)
    _set_options(link, _link_options(p))
    return link_api(emu.world, link, bot.id)


@method("revokeChatInviteLink")
async def revoke_chat_invite_link(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _link_chat(emu, bot, p)
    link = _bot_link(chat, bot, p)
    if not link.is_revoked:
        link.is_revoked = True
        if link.is_primary:
            _new_link(chat, bot.id, primary=True)
    return link_api(emu.world, link, bot.id)
