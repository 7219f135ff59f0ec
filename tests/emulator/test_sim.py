"""The /_sim/ API contract that tests, benchmarks and the demo rely on (docs/emulator.md)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from sluice.emulator import EmulatorConfig, EmulatorServer, Limits, Rate
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

TOKENS = {BOT_A: TOKEN_A, BOT_B: TOKEN_B}
PAYLOAD = b"\x00\x01 some media bytes \xff" * 10


def api(method: str, bot_id: int = BOT_A) -> str:
    return f"/bot{TOKENS[bot_id]}/{method}"


async def call(http: httpx.AsyncClient, method: str, bot_id: int = BOT_A, **params: Any) -> Any:
    """A Bot API call that must succeed; its result."""
    response = await http.post(api(method, bot_id), json=params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def updates(
    http: httpx.AsyncClient, bot_id: int = BOT_A, wait: int = 5
) -> list[dict[str, Any]]:
    """Every pending update, confirmed; long polling bounds the wait for the first."""
    found: list[dict[str, Any]] = await call(http, "getUpdates", bot_id, timeout=wait)
    if found:
        await call(http, "getUpdates", bot_id, offset=found[-1]["update_id"] + 1)
    return found


def assert_error(response: httpx.Response, status: int, description: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"ok": False, "error_code": status, "description": description}


async def test_users_get_increasing_ids_and_keep_their_details(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    ana = await sim.user("Ana", language_code="pt-br", username="ana_b", last_name="Silva")
    bo = await sim.user("Bo")
    cy = await sim.user("Cy", language_code="id")
    assert [u["id"] for u in (ana, bo, cy)] == [10_000_001, 10_000_002, 10_000_003]
    assert ana == {
        "id": 10_000_001,
        "is_bot": False,
        "first_name": "Ana",
        "last_name": "Silva",
        "username": "ana_b",
        "language_code": "pt-br",
    }
    assert bo == {"id": 10_000_002, "is_bot": False, "first_name": "Bo"}
    taken = await http.post("/_sim/users", json={"first_name": "X", "username": "ANA_B"})
    assert_error(taken, 400, "Bad Request: username is already taken")
    await sim.post("start", bot_id=BOT_A, user_id=ana["id"])
    [update] = await updates(http)
    assert update["message"]["from"] == ana  # what a bot sees of the user
    chat = await call(http, "getChat", chat_id="@ana_b")
    assert (chat["id"], chat["type"], chat["username"]) == (ana["id"], "private", "ana_b")


async def test_chats_get_negative_ids(http: httpx.AsyncClient, sim: Sim) -> None:
    user = await sim.user()
    made = [
        await sim.post("chats", type=kind, title=f"The {kind}", bot_ids=[BOT_A])
        for kind in ("group", "supergroup", "channel")
    ]
    untitled = await sim.post("chats", type="group", member_user_ids=[user["id"]])
    ids = [c["id"] for c in [*made, untitled]]
    assert all(i < 0 for i in ids)
    assert len(set(ids)) == 4
    assert [(c["type"], c["title"]) for c in made] == [
        ("group", "The group"),
        ("supergroup", "The supergroup"),
        ("channel", "The channel"),
    ]
    assert untitled["type"] == "group"
    assert untitled["title"]
    for chat in made:  # the bot in the chat sees it as created
        seen = await call(http, "getChat", chat_id=chat["id"])
        assert (seen["id"], seen["type"], seen["title"]) == (
            chat["id"],
            chat["type"],
            chat["title"],
        )
    assert_error(
        await http.post(api("getChat"), json={"chat_id": untitled["id"]}),
        400,
        "Bad Request: chat not found",
    )


async def test_start_creates_the_private_chat_and_queues_start(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    user = await sim.user("Ana")
    never = await http.post(api("sendMessage"), json={"chat_id": user["id"], "text": "hi"})
    assert_error(never, 403, "Forbidden: bot can't initiate conversation with a user")
    assert (await updates(http, wait=0)) == []
    started = await sim.post("start", bot_id=BOT_A, user_id=user["id"])
    assert started["text"] == "/start"
    assert started["chat"] == {"id": user["id"], "type": "private", "first_name": "Ana"}
    [update] = await updates(http)
    message = update["message"]
    assert message["message_id"] == started["message_id"]
    assert (message["text"], message["from"]["id"]) == ("/start", user["id"])
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert (await call(http, "getChat", chat_id=user["id"]))["type"] == "private"
    sent = await call(http, "sendMessage", chat_id=user["id"], text="welcome")
    assert sent["chat"]["id"] == user["id"]
    # Bot B was not started: its own conversation with the user does not exist.
    other = await http.post(api("sendMessage", BOT_B), json={"chat_id": user["id"], "text": "x"})
    assert_error(other, 403, "Forbidden: bot can't initiate conversation with a user")


async def test_block_forbids_sends_and_tells_the_bot(http: httpx.AsyncClient, sim: Sim) -> None:
    user = await sim.started_user(BOT_A)
    await updates(http)
    blocked = await sim.post("block", bot_id=BOT_A, user_id=user["id"])
    assert blocked == {"bot_id": BOT_A, "user_id": user["id"], "blocked": True}
    refused = await http.post(api("sendMessage"), json={"chat_id": user["id"], "text": "hi"})
    assert_error(refused, 403, "Forbidden: bot was blocked by the user")
    [update] = await updates(http)
    member = update["my_chat_member"]
    assert (member["chat"]["id"], member["from"]["id"]) == (user["id"], user["id"])
    assert member["old_chat_member"]["status"] == "member"
    assert (member["new_chat_member"]["status"], member["new_chat_member"]["user"]["id"]) == (
        "kicked",
        BOT_A,
    )
    assert [m["text"] for m in await sim.messages(user["id"], BOT_A)] == ["/start"]
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["sends_accepted"] == 0
    await sim.post("start", bot_id=BOT_A, user_id=user["id"])  # starting again unblocks
    assert (await call(http, "sendMessage", chat_id=user["id"], text="back"))["text"] == "back"


async def test_channels_need_the_bot(http: httpx.AsyncClient, sim: Sim) -> None:
    outside = await sim.post("chats", type="channel", title="News")
    member = await sim.post("chats", type="channel", bot_ids=[BOT_A])
    admin = await sim.post("chats", type="channel", admin_bot_ids=[BOT_A])
    text = {"text": "post"}
    refused = await http.post(api("sendMessage"), json={"chat_id": outside["id"]} | text)
    assert_error(refused, 403, "Forbidden: bot is not a member of the channel chat")
    no_rights = await http.post(api("sendMessage"), json={"chat_id": member["id"]} | text)
    assert_error(no_rights, 400, "Bad Request: need administrator rights in the channel chat")
    posted = await call(http, "sendMessage", chat_id=admin["id"], text="post")
    assert posted["sender_chat"]["id"] == admin["id"]
    assert await sim.messages(outside["id"]) == []


@pytest.mark.parametrize("kind", ["voice", "audio", "video", "video_note", "document", "photo"])
async def test_send_with_a_file_delivers_its_media(
    http: httpx.AsyncClient, sim: Sim, kind: str
) -> None:
    user = await sim.started_user(BOT_A)
    await updates(http)
    file = {"kind": kind, "base64": base64.b64encode(PAYLOAD).decode(), "file_name": "f.bin"}
    sent = await sim.post("send", chat_id=user["id"], from_user_id=user["id"], file=file)
    [update] = await updates(http)
    message = update["message"]
    media = message[kind][-1] if kind == "photo" else message[kind]
    assert message["message_id"] == sent["message_id"]
    assert media["file_size"] == len(PAYLOAD)
    unique = media["file_unique_id"]
    [logged] = [m for m in await sim.messages(user["id"], BOT_A) if "media" in m]
    assert logged["media"] == {
        "kind": kind,
        "file_unique_id": unique,
        "file_name": "f.bin",
        "size": len(PAYLOAD),
    }
    served = await http.get(f"/_sim/files/{unique}")
    assert (served.status_code, served.content) == (200, PAYLOAD)
    got = await call(http, "getFile", file_id=media["file_id"])
    assert got["file_unique_id"] == unique
    downloaded = await http.get(f"/file/bot{TOKEN_A}/{got['file_path']}")
    assert downloaded.content == PAYLOAD


async def test_multipart_send_and_a_file_shared_by_two_bots(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    user = await sim.user()
    group = await sim.post(
        "chats", type="group", member_user_ids=[user["id"]], bot_ids=[BOT_A, BOT_B]
    )
    form = {"chat_id": str(group["id"]), "from_user_id": str(user["id"]), "kind": "document"}
    response = await http.post("/_sim/send", data=form, files={"file": ("r.pdf", PAYLOAD)})
    assert response.status_code == 200, response.text
    docs = {bot: (await updates(http, bot))[0]["message"]["document"] for bot in (BOT_A, BOT_B)}
    assert docs[BOT_A]["file_unique_id"] == docs[BOT_B]["file_unique_id"]
    assert docs[BOT_A]["file_id"] != docs[BOT_B]["file_id"]
    for bot, doc in docs.items():  # each bot reads the file with its own id, not the other's
        other = docs[BOT_B if bot == BOT_A else BOT_A]["file_id"]
        theirs = await http.post(api("getFile", bot), json={"file_id": other})
        assert_error(theirs, 400, "Bad Request: invalid file_id")
        path = (await call(http, "getFile", bot, file_id=doc["file_id"]))["file_path"]
        assert (await http.get(f"/file/bot{TOKENS[bot]}/{path}")).content == PAYLOAD
    # The same bytes uploaded again are another file.
    again = await http.post("/_sim/send", data=form, files={"file": ("r.pdf", PAYLOAD)})
    assert again.json()["document"]["file_unique_id"] != docs[BOT_A]["file_unique_id"]


async def test_messages_in_acceptance_order(http: httpx.AsyncClient, sim: Sim) -> None:
    ana, bo = await sim.user("Ana"), await sim.user("Bo")
    group = await sim.post(
        "chats", type="supergroup", member_user_ids=[ana["id"], bo["id"]], admin_bot_ids=[BOT_A]
    )
    gid = group["id"]
    first = await sim.post("send", chat_id=gid, from_user_id=ana["id"], text="hi")
    reply = await call(http, "sendMessage", chat_id=gid, text="yo")
    await sim.post("send", chat_id=gid, from_user_id=bo["id"], text="hey")
    await call(http, "editMessageText", chat_id=gid, message_id=reply["message_id"], text="yo!")
    assert await call(http, "deleteMessage", chat_id=gid, message_id=first["message_id"])
    log = await sim.messages(gid)
    assert [(m["message_id"], m["text"]) for m in log] == [(1, "hi"), (2, "yo!"), (3, "hey")]
    assert [m["sender"] for m in log] == [
        {"type": "user", "id": ana["id"]},
        {"type": "bot", "id": BOT_A},
        {"type": "user", "id": bo["id"]},
    ]
    assert [m["deleted"] for m in log] == [True, False, False]
    assert [[h["text"] for h in m["edit_history"]] for m in log] == [[], ["yo"], []]
    assert "edit_date" in log[1]
    # A private chat holds one conversation per bot, listed together in acceptance order.
    await sim.post("start", bot_id=BOT_A, user_id=ana["id"])
    await sim.post("start", bot_id=BOT_B, user_id=ana["id"])
    await call(http, "sendMessage", BOT_B, chat_id=ana["id"], text="from B")
    await call(http, "sendMessage", BOT_A, chat_id=ana["id"], text="from A")
    both = await sim.messages(ana["id"])
    assert [(m["text"], m["bot_id"]) for m in both] == [
        ("/start", BOT_A),
        ("/start", BOT_B),
        ("from B", BOT_B),
        ("from A", BOT_A),
    ]
    only_b = await sim.messages(ana["id"], BOT_B)
    assert [(m["message_id"], m["text"]) for m in only_b] == [(1, "/start"), (2, "from B")]


async def test_stats_count_calls_sends_and_both_kinds_of_429() -> None:
    limits = Limits(private=Rate(1, 60.0), private_burst=1)
    async with (
        EmulatorServer(EmulatorConfig(seed=3, limits=limits)) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
    ):
        sim = Sim(http)
        ana, bo = await sim.started_user(BOT_A), await sim.started_user(BOT_A, first_name="Bo")
        await call(http, "getMe")
        await call(http, "getMe", BOT_B)
        await call(http, "sendMessage", chat_id=ana["id"], text="1")
        over = await http.post(api("sendMessage"), json={"chat_id": ana["id"], "text": "2"})
        assert over.status_code == 429
        await sim.post("faults", p429=1.0)
        injected = await http.post(api("sendMessage"), json={"chat_id": bo["id"], "text": "1"})
        assert injected.status_code == 429
        empty = await http.post(api("sendMessage"), json={"chat_id": bo["id"], "text": ""})
        assert empty.status_code == 400  # refused before the limits: no 429 of either kind
        stats = await sim.stats()
    assert stats["bots"][str(BOT_A)] == {
        "calls": {"getMe": 1, "sendMessage": 4},
        "sends_accepted": 1,
        "r429": {"limit": 1, "injected": 1, "total": 2},
        "faults": {},
    }
    assert stats["bots"][str(BOT_B)]["calls"] == {"getMe": 1}
    assert stats["totals"] == {"sends_accepted": 1, "r429": 2}


async def test_reset_forgets_everything(http: httpx.AsyncClient, sim: Sim) -> None:
    user = await sim.started_user(BOT_A)
    group = await sim.post("chats", type="group", member_user_ids=[user["id"]], bot_ids=[BOT_A])
    file = {"kind": "document", "base64": base64.b64encode(PAYLOAD).decode()}
    sent = await sim.post("send", chat_id=group["id"], from_user_id=user["id"], file=file)
    unique = sent["document"]["file_unique_id"]
    await call(http, "sendMessage", chat_id=user["id"], text="hi")
    assert (await http.post("/_sim/reset")).json() == {"ok": True}
    assert await sim.stats() == {"bots": {}, "totals": {"sends_accepted": 0, "r429": 0}}

    restart = await http.post("/_sim/start", json={"bot_id": BOT_A, "user_id": user["id"]})
    assert_error(restart, 400, f"Bad Request: user {user['id']} not found")
    for chat_id in (user["id"], group["id"]):
        send = await http.post(api("sendMessage"), json={"chat_id": chat_id, "text": "x"})
        assert_error(send, 400, "Bad Request: chat not found")
        log = await http.get(f"/_sim/chats/{chat_id}/messages")
        assert_error(log, 400, "Bad Request: chat not found")
    assert_error(await http.get(f"/_sim/files/{unique}"), 404, "Not Found")
    assert await call(http, "getUpdates") == []  # the queued updates are gone too
    assert (await sim.user())["id"] == 10_000_001  # ids start over
    assert (await sim.post("chats", type="group"))["id"] == group["id"]


async def test_many_users_are_made_and_started_in_one_call(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    made = await sim.post(
        "users/batch", count=300, first_name="fan", language_code="id", start_bot_id=BOT_A
    )
    ids = made["ids"]
    assert len(ids) == len(set(ids)) == 300
    assert ids == sorted(ids)
    found: list[dict[str, Any]] = []
    while batch := await updates(http, wait=0):  # getUpdates hands out 100 at a time
        found += batch
    starts = [u["message"] for u in found]
    assert [m["from"]["id"] for m in starts] == ids
    assert {m["text"] for m in starts} == {"/start"}
    assert [m["from"]["first_name"] for m in starts[:2]] == ["fan0", "fan1"]
    assert {m["from"]["language_code"] for m in starts} == {"id"}
    sent = await call(http, "sendMessage", chat_id=ids[-1], text="welcome")
    assert sent["chat"]["id"] == ids[-1]
    unstarted = (await sim.post("users/batch", count=2))["ids"]
    refused = await http.post(api("sendMessage"), json={"chat_id": unstarted[0], "text": "x"})
    assert refused.status_code == 403
    for count in (0, 10_001):
        too = await http.post("/_sim/users/batch", json={"count": count})
        assert_error(too, 400, "Bad Request: count must be within 1..10000")


async def test_many_chats_are_read_in_one_call(http: httpx.AsyncClient, sim: Sim) -> None:
    ids = (await sim.post("users/batch", count=3, start_bot_id=BOT_A))["ids"]
    for n, chat in enumerate(ids):
        await call(http, "sendMessage", chat_id=chat, text=f"hello {n}")
    read = await sim.post("chats/messages", chat_ids=ids)
    assert set(read) == {str(chat) for chat in ids}
    for n, chat in enumerate(ids):
        assert read[str(chat)] == await sim.messages(chat)
        assert [m["text"] for m in read[str(chat)]] == ["/start", f"hello {n}"]
    empty = await http.post("/_sim/chats/messages", json={"chat_ids": []})
    assert_error(empty, 400, "Bad Request: chat_ids must list 1..10000 chats")
    unknown = await http.post("/_sim/chats/messages", json={"chat_ids": [ids[0], 424242]})
    assert_error(unknown, 400, "Bad Request: chat not found")


async def test_the_python_client_raises_what_the_emulator_refused(sim: Sim) -> None:
    from sluice import EmulatorError

    with pytest.raises(EmulatorError, match="user 424242 not found"):
        await sim.start(BOT_A, 424242)
    ids = await sim.users(2, start_bot_id=BOT_A)
    assert await sim.texts_of(ids) == {ids[0]: [], ids[1]: []}  # no bot message yet
    assert await sim.users(0) == []  # none asked, none made: a scenario without users
    assert (await sim.config())["limits"]["bot"] == "30/1"


async def test_a_button_whose_data_is_whitespace_can_be_pressed(
    sim: Sim, http: httpx.AsyncClient
) -> None:
    # python-telegram-bot's nestedconversationbot has a button with callback_data "\t".
    user = await sim.started_user(BOT_A)
    keyboard = {"inline_keyboard": [[{"text": "Show data", "callback_data": "\t"}]]}
    sent = await http.post(
        f"/bot{TOKEN_A}/sendMessage",
        json={"chat_id": user["id"], "text": "pick", "reply_markup": keyboard},
    )
    message_id = sent.json()["result"]["message_id"]
    query = await sim.callback(user["id"], message_id, "\t")
    assert query["data"] == "\t"
    empty = await http.post(
        "/_sim/callback",
        json={"chat_id": user["id"], "from_user_id": user["id"], "message_id": message_id},
    )
    assert empty.status_code == 400
    assert "data is required" in empty.json()["description"]


async def test_a_users_file_may_come_base64_in_a_json_body_larger_than_a_call(
    sim: Sim, http: httpx.AsyncClient
) -> None:
    # A Bot API call without files is capped at 4 MiB; a simulated user's file in
    # /_sim/send (base64 in JSON) is capped like an upload instead.
    user = await sim.started_user(BOT_A)
    audio = bytes(range(256)) * (5 * 4096)  # 5 MiB
    sent = await sim.send(
        user["id"], file={"kind": "audio", "base64": base64.b64encode(audio).decode()}
    )
    assert sent["audio"]["file_size"] == len(audio)
    call = await http.post(
        f"/bot{TOKEN_A}/sendMessage", json={"chat_id": user["id"], "text": "x" * (5 << 20)}
    )
    assert call.status_code == 413
