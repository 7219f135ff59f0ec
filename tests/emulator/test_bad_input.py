"""Bad input gets a Telegram-shaped 4xx, never a 500 or a traceback, and nothing is performed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

MAX_UPLOAD = 1000  # bytes; the body limit is this plus 1 MiB of room for the form
OVER_BODY_LIMIT = MAX_UPLOAD + 1024 * 1024 + 4096
DEEP = "[" * 100_000  # JSON nested deeper than any parser's recursion
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
BAD = "Bad Request: "
WRONG_FILE = BAD + "wrong file identifier/HTTP URL specified"
MARKUP = "can't parse reply keyboard markup JSON object"
CHAT_TYPES = "type must be one of group, supergroup, channel"
SECRET = b"TOP-SECRET-OUTSIDE-THE-STORE"
JSON = {"content-type": "application/json"}
ONE_BYTE = {"kind": "document", "base64": "QQ=="}


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1, max_upload_cloud=MAX_UPLOAD)


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A))["id"])


def api(method: str, token: str = TOKEN_A) -> str:
    return f"/bot{token}/{method}"


def assert_error(response: httpx.Response, status: int, description: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["ok"], body["error_code"], type(body["description"])) == (False, status, str)
    assert body["description"], "a Telegram-shaped error always has a description"
    if description is not None:
        assert body["description"] == description
    assert "Traceback" not in response.text
    return str(body["description"])


async def raw_get(http: httpx.AsyncClient, target: str) -> httpx.Response:
    """GET with the request target sent byte for byte (httpx would normalise ``..``)."""
    return await http.send(http.build_request("GET", "/", extensions={"target": target.encode()}))


async def assert_nothing_sent(sim: Sim, user_id: int, bot_id: int = BOT_A) -> None:
    assert [m["text"] for m in await sim.messages(user_id, bot_id)] == ["/start"]
    bots = (await sim.stats())["bots"]
    assert bots.get(str(bot_id), {}).get("sends_accepted", 0) == 0


def stored_files(server: EmulatorServer) -> list[Path]:
    return [p for p in server.emulator.files.directory.rglob("*") if p.is_file()]


async def upload(http: httpx.AsyncClient, user_id: int, data: bytes = b"hello") -> str:
    files = {"document": ("a.txt", data)}
    response = await http.post(api("sendDocument"), data={"chat_id": user_id}, files=files)
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["document"]["file_id"])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{bad", "can't parse JSON object"),
        (b'{"chat_id": 1,', "can't parse JSON object"),
        (b"\xff\xfe\x00", "can't parse JSON object"),
        (DEEP.encode(), "can't parse JSON object"),
        (b"[1, 2]", "JSON object expected"),
        (b'"a string"', "JSON object expected"),
        (b"42", "JSON object expected"),
        (b"null", "JSON object expected"),
    ],
)
async def test_json_body_that_is_not_an_object(
    http: httpx.AsyncClient, sim: Sim, user_id: int, body: bytes, reason: str
) -> None:
    response = await http.post(api("sendMessage"), content=body, headers=JSON)
    assert_error(response, 400, BAD + reason)
    await assert_nothing_sent(sim, user_id)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"chat_id": ["me"]}, "chat not found"),
        ({"chat_id": {"id": 1}}, "chat not found"),
        ({"chat_id": True}, "chat not found"),
        ({"text": {"a": 1}}, 'field "text" must be of type String'),
        ({"chat_id": None}, "chat_id is empty"),
        ({"text": None}, "message text is empty"),
        ({"reply_markup": "{not json"}, MARKUP),
        ({"reply_markup": DEEP}, MARKUP),
        ({"reply_markup": [1]}, MARKUP),
        ({"entities": "[{"}, "can't parse entities JSON object"),
        ({"entities": DEEP}, "can't parse entities JSON object"),
        ({"entities": {"type": "bold"}}, None),
        ({"entities": [{"type": "bold", "offset": 0}]}, None),
        ({"entities": [{"type": "bold", "offset": "a", "length": 1}]}, None),
        ({"entities": [{"type": "bold", "offset": 0, "length": 99}]}, None),
        ({"reply_parameters": {"message_id": "abc"}}, None),
        ({"protect_content": [1]}, 'field "protect_content" must be of type Boolean'),
        ({"parse_mode": "Klingon"}, "unsupported parse_mode"),
    ],
)
async def test_send_message_with_wrong_or_missing_parameters(
    http: httpx.AsyncClient, sim: Sim, user_id: int, fields: dict[str, Any], reason: str | None
) -> None:
    payload = {"chat_id": user_id, "text": "hello"} | fields
    description = None if reason is None else BAD + reason
    text = assert_error(await http.post(api("sendMessage"), json=payload), 400, description)
    assert text.startswith(BAD)
    # The same parameters as a form: objects arrive JSON-encoded in the fields.
    if all(isinstance(v, str | int) and not isinstance(v, bool) for v in payload.values()):
        form = {k: str(v) for k, v in payload.items()}
        assert_error(await http.post(api("sendMessage"), data=form), 400, text)
    await assert_nothing_sent(sim, user_id)


async def test_bad_edits_change_nothing(http: httpx.AsyncClient, sim: Sim, user_id: int) -> None:
    sent = await http.post(api("sendMessage"), json={"chat_id": user_id, "text": "v1"})
    message_id = sent.json()["result"]["message_id"]
    base = {"chat_id": user_id, "text": "v2"}
    for extra, description in [
        ({}, BAD + "message identifier is not specified"),
        ({"message_id": "abc"}, BAD + 'field "message_id" must be of type Integer'),
        ({"message_id": 1.5}, BAD + 'field "message_id" must be of type Integer'),
        ({"message_id": [message_id]}, BAD + 'field "message_id" must be of type Integer'),
        ({"message_id": message_id + 50}, BAD + "message to edit not found"),
    ]:
        response = await http.post(api("editMessageText"), json=base | extra)
        assert_error(response, 400, description)
    [_, mine] = await sim.messages(user_id, BOT_A)
    assert (mine["text"], mine["edit_history"], mine.get("edit_date")) == ("v1", [], None)


async def test_bad_get_updates_confirms_nothing(http: httpx.AsyncClient, user_id: int) -> None:
    for params, description in [
        ({"limit": "abc"}, BAD + 'field "limit" must be of type Integer'),
        ({"offset": 99, "timeout": "soon"}, BAD + 'field "timeout" must be of type Integer'),
        ({"offset": "x"}, BAD + 'field "offset" must be of type Integer'),
        ({"allowed_updates": "{"}, BAD + "can't parse allowed updates JSON object"),
        ({"allowed_updates": {"a": 1}}, BAD + "can't parse allowed updates JSON object"),
    ]:
        assert_error(await http.post(api("getUpdates"), json=params), 400, description)
    updates = (await http.post(api("getUpdates"), json={})).json()["result"]
    assert [u["message"]["text"] for u in updates] == ["/start"]


async def test_unknown_methods_and_routes_are_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.post(api("sendMesage"), json={}), 404, "Not Found")
    assert_error(await http.get(api("getMe") + "/extra"), 404, "Not Found")
    assert (await http.get(api("GETME"))).json()["ok"] is True  # names are case-insensitive
    # A "/" (raw or %2F, which the server decodes) splits the path: not /bot<token>/<method>.
    for token in ["../../etc", "..%2F..%2Fetc", TOKEN_A[:-1] + "%2F"]:
        assert_error(await raw_get(http, f"/bot{token}/getMe"), 404, "Not Found")


A34 = "1000001:" + "A" * 34  # one character short of a token
MALFORMED = ["", "123:abc", "abc:" + "A" * 35, "1000001" + "A" * 35, "%2e%2e", "..%5C..%5Cetc"]


@pytest.mark.parametrize("token", MALFORMED + [A34 + t for t in ("", "AA", "!", "%00", "%20", ".")])
async def test_malformed_tokens_are_401(http: httpx.AsyncClient, token: str) -> None:
    for target in [f"/bot{token}/getMe", f"/bot{token}/nope", f"/file/bot{token}/documents/f"]:
        assert_error(await raw_get(http, target), 401, "Unauthorized")


async def test_unknown_tokens_are_401(http: httpx.AsyncClient, user_id: int) -> None:
    assert (await http.get(api("getMe"))).status_code == 200  # binds bot A's secret
    other_secret = TOKEN_A.split(":")[0] + ":" + "Z" * 35
    assert_error(await http.get(api("getMe", other_secret)), 401, "Unauthorized")
    user_token = f"{user_id}:" + "U" * 35  # a user's id is not a bot
    assert_error(await http.get(api("getMe", user_token)), 401, "Unauthorized")
    async with (
        EmulatorServer(EmulatorConfig(bots=(TOKEN_A,))) as only_a,
        httpx.AsyncClient(base_url=only_a.url, trust_env=False) as client,
    ):
        assert (await client.get(api("getMe"))).status_code == 200
        assert_error(await client.get(api("getMe", TOKEN_B)), 401, "Unauthorized")


async def test_declared_length_over_the_limit_is_413_before_the_body(
    server: EmulatorServer, sim: Sim, user_id: int
) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = f"POST {api('sendDocument')}?chat_id={user_id} HTTP/1.1\r\nHost: x\r\n"
    head += "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000000000\r\n"
    writer.write(head.encode() + b"Connection: close\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 10.0)  # no body was sent: answered anyway
    writer.close()
    status_line, _, body = raw.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 413 ")
    assert_error(httpx.Response(413, content=body, headers=JSON), 413, "Request Entity Too Large")
    await assert_nothing_sent(sim, user_id)
    assert stored_files(server) == []


async def test_bodies_over_the_limit_are_413(
    server: EmulatorServer, http: httpx.AsyncClient, sim: Sim, user_id: int
) -> None:
    big = {"document": ("big.bin", b"x" * OVER_BODY_LIMIT)}
    response = await http.post(api("sendDocument"), data={"chat_id": user_id}, files=big)
    assert_error(response, 413, "Request Entity Too Large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        for _ in range(OVER_BODY_LIMIT // 65536 + 1):
            yield b"y" * 65536

    streamed = await http.post(api("sendMessage"), content=chunks(), headers=JSON)
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "Request Entity Too Large")
    # Within the body limit but over the upload limit: Telegram's 400, and no file kept.
    small = {"document": ("a.bin", b"z" * (MAX_UPLOAD + 1))}
    response = await http.post(api("sendDocument"), data={"chat_id": user_id}, files=small)
    assert_error(response, 400, BAD + "file is too big")
    await assert_nothing_sent(sim, user_id)
    assert stored_files(server) == []


async def test_tampered_file_ids_are_refused(
    http: httpx.AsyncClient, sim: Sim, user_id: int
) -> None:
    # The tenth file's id has spare bits in its last base64 character: a careless decoder
    # would take several spellings of it.
    for _ in range(10):
        sent = await sim.post("send", chat_id=user_id, from_user_id=user_id, file=ONE_BYTE)
    file_id = str(sent["document"]["file_id"])
    assert (await http.post(api("getFile"), json={"file_id": file_id})).status_code == 200
    variants = {file_id[:-1] + c for c in B64_ALPHABET} | {file_id + c for c in "!=.A"}
    for i, char in enumerate(file_id):
        variants.add(file_id[:i] + ("C" if char == "B" else "B") + file_id[i + 1 :])
    variants.discard(file_id)
    for tampered in sorted(variants):
        send = await http.post(api("sendDocument"), json={"chat_id": user_id, "document": tampered})
        assert_error(send, 400, WRONG_FILE)
        got = await http.post(api("getFile"), json={"file_id": tampered})
        assert_error(got, 400, BAD + "invalid file_id")
    log = await sim.messages(user_id, BOT_A)
    assert all(m["sender"]["type"] == "user" for m in log)


async def test_another_bots_or_no_file_id(http: httpx.AsyncClient, sim: Sim, user_id: int) -> None:
    file_id = await upload(http, user_id)
    await sim.post("start", bot_id=BOT_B, user_id=user_id)
    send = {"chat_id": user_id, "document": file_id}
    assert_error(await http.post(api("sendDocument", TOKEN_B), json=send), 400, WRONG_FILE)
    for body in [{"file_id": file_id}, {}]:
        got = await http.post(api("getFile", TOKEN_B), json=body)
        assert_error(got, 400, BAD + "invalid file_id")
    await assert_nothing_sent(sim, user_id, BOT_B)


async def test_download_path_tricks_find_nothing(
    server: EmulatorServer, http: httpx.AsyncClient, user_id: int, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    file_id = await upload(http, user_id, b"stored bytes")
    got = await http.post(api("getFile"), json={"file_id": file_id})
    file_path = got.json()["result"]["file_path"]
    store = server.emulator.files.directory
    assert (await http.get(f"/file/bot{TOKEN_A}/{file_path}")).content == b"stored bytes"
    await http.get(api("getMe", TOKEN_B))
    # From the store's documents/ up to / and down to the secret, which lies outside it.
    climb = "../" * (len((store / "documents").parts) - 1) + str(secret).lstrip("/")
    for target in [
        f"/file/bot{TOKEN_A}/../../etc/passwd",
        f"/file/bot{TOKEN_A}/documents/../../../../../../etc/passwd",
        f"/file/bot{TOKEN_A}/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/file/bot{TOKEN_A}/documents/{climb}",
        f"/file/bot{TOKEN_A}/documents/{climb.replace('/', '%2F')}",
        f"/file/bot{TOKEN_A}/{secret}",
        f"/file/bot{TOKEN_A}/{store / file_path}",
        f"/file/bot{TOKEN_A}/{file_path}%00",
        f"/file/bot{TOKEN_A}/{file_path}%00.txt",
        f"/file/bot{TOKEN_A}/%00",
        f"/file/bot{TOKEN_A}/documents/file_999.bin",
        f"/file/bot{TOKEN_A}/documents/../{file_path}",
        f"/file/bot{TOKEN_B}/{file_path}",  # another bot's file
    ]:
        response = await raw_get(http, target)
        assert response.status_code in (400, 404), target
        assert_error(response, response.status_code)
        assert SECRET not in response.content
        assert b"root:" not in response.content


async def test_local_mode_serves_only_its_own_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    async with (
        EmulatorServer(EmulatorConfig(local=True)) as local,
        httpx.AsyncClient(base_url=local.url, trust_env=False) as client,
    ):
        user = (await client.post("/_sim/users", json={"first_name": "L"})).json()
        await client.post("/_sim/start", json={"bot_id": BOT_A, "user_id": user["id"]})
        file_id = await upload(client, user["id"], b"local bytes")
        got = await client.post(api("getFile"), json={"file_id": file_id})
        file_path = got.json()["result"]["file_path"]
        assert Path(file_path).is_absolute()
        assert (await raw_get(client, f"/file/bot{TOKEN_A}{file_path}")).content == b"local bytes"
        for target in [f"/file/bot{TOKEN_A}{secret}", f"/file/bot{TOKEN_A}/etc/passwd"]:
            response = await raw_get(client, target)
            assert_error(response, 404, "Not Found")
            assert SECRET not in response.content


async def test_bad_range_headers(http: httpx.AsyncClient, user_id: int) -> None:
    file_id = await upload(http, user_id, b"0123456789")
    got = await http.post(api("getFile"), json={"file_id": file_id})
    url = f"/file/bot{TOKEN_A}/{got.json()['result']['file_path']}"
    part = await http.get(url, headers={"range": "bytes=2-4"})
    assert (part.status_code, part.content) == (206, b"234")
    for header in ["bytes=abc", "items=0-1", "bytes=5-2", ""]:
        bad_range = await http.get(url, headers={"range": header})
        assert_error(bad_range, 400, BAD + "wrong Range header")
    unsatisfiable = await http.get(url, headers={"range": "bytes=99-"})
    assert_error(unsatisfiable, 416, "Requested Range Not Satisfiable")


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("users", {}, "first_name is required"),
        ("users", {"first_name": ["x"]}, 'field "first_name" must be of type String'),
        ("users", ["Ana"], "JSON object expected"),
        ("chats", {"type": "forum"}, CHAT_TYPES),
        ("chats", {"type": "private"}, CHAT_TYPES),
        ("chats", {"type": "group", "member_user_ids": [424242]}, "user 424242 not found"),
        ("chats", {"type": "group", "bot_ids": DEEP}, "can't parse bot_ids JSON object"),
        ("chats", {"type": "group", "bot_ids": ["x"]}, "bot_ids must be a list of integers"),
        ("start", {"bot_id": BOT_A, "user_id": 424242}, "user 424242 not found"),
        ("start", {"bot_id": BOT_A}, "user_id is required"),
        ("send", {"chat_id": -999, "text": "x"}, "chat not found"),
        ("send", {"file": {"kind": "audio", "base64": "@@"}}, "file.base64 is not valid base64"),
        ("send", {"file": {"kind": "sticker", "base64": "QQ=="}}, None),
        ("send", {"file": "{"}, "can't parse file JSON object"),
    ],
)
async def test_sim_bad_bodies(
    http: httpx.AsyncClient, sim: Sim, user_id: int, path: str, body: Any, reason: str | None
) -> None:
    if path == "send":
        body = {"chat_id": user_id, "from_user_id": user_id} | body
    description = None if reason is None else BAD + reason
    assert_error(await http.post(f"/_sim/{path}", json=body), 400, description)
    # Nothing was created: the next user and chat get the next ids, the chat has no new message.
    assert (await sim.user("Next"))["id"] == user_id + 1
    assert (await sim.post("chats", type="group"))["id"] == -700_000_001
    assert [m["text"] for m in await sim.messages(user_id)] == ["/start"]


async def test_sim_unknown_routes(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/_sim/chats/-999/messages"), 400, BAD + "chat not found")
    assert_error(await http.get("/_sim/files/AgADnope"), 404, "Not Found")
    assert_error(await http.post("/_sim/teleport", json={}), 404, "Not Found")
    assert_error(await http.put("/_sim/users", json={}), 405, "Method Not Allowed")


async def test_hostile_headers(http: httpx.AsyncClient, sim: Sim, user_id: int) -> None:
    huge = {"x-padding": "a" * 256 * 1024}
    no_chat = await http.post(api("sendMessage"), json={"text": "hi"}, headers=huge)
    assert_error(no_chat, 400, BAD + "chat_id is empty")
    bogus = {"content-type": "application/x-bogus"}  # the body is not read
    body = b'{"chat_id": %d, "text": "hi"}' % user_id
    ignored = await http.post(api("sendMessage"), content=body, headers=bogus)
    assert_error(ignored, 400, BAD + "chat_id is empty")
    form = f"chat_id={user_id}&text=hi".encode()
    not_json = await http.post(api("sendMessage"), content=form, headers=JSON)
    assert_error(not_json, 400, BAD + "can't parse JSON object")
    part = b'--abc\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n%d\r\n' % user_id
    part += b'--abc\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--abc--\r\n'
    for ctype in [
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "b" * 5000,
    ]:
        headers = {"content-type": ctype}
        response = await http.post(api("sendMessage"), content=part, headers=headers)
        assert assert_error(response, 400).startswith(BAD + "can't parse multipart form")
    await assert_nothing_sent(sim, user_id)
    assert (await http.get(api("getMe"), headers=huge)).json()["ok"] is True  # still serving


@pytest.mark.parametrize(
    ("method", "body", "description"),
    [
        ("sendMessage", {"chat_id": 2**64, "text": "hi"}, BAD + "chat not found"),
        ("getUpdates", {"offset": 10**30}, BAD + 'field "offset" must be of type Integer'),
    ],
)
async def test_integers_wider_than_64_bits_are_refused(
    http: httpx.AsyncClient, method: str, body: dict[str, Any], description: str
) -> None:
    assert_error(await http.post(api(method), json=body), 400, description)


async def test_a_bot_id_wider_than_64_bits_is_not_a_bot(http: httpx.AsyncClient) -> None:
    response = await http.post("/_sim/chats", json={"type": "group", "bot_ids": [10**30]})
    assert_error(response, 400)
