"""Downloads over MTProto with real Telethon clients: upload.getFile's rules and errors,
file references, two DCs, synthetic files, dropped connections and the download model."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telethon import TelegramClient, errors, functions, types

from mtproto_support import admin_channel, signed_in_bot
from sluice.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    MtprotoConfig,
    Rate,
    Sim,
    synthetic_bytes,
)
from sluice.emulator._config import Limits
from sluice.emulator.mtproto._download_model import DownloadModel
from sluice.emulator.mtproto._rpc import RpcError
from support import BOT_A, TOKEN_A
from vclock import ManualClock

KIB = 1024
MIB = 1024 * 1024


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1, mtproto=MtprotoConfig(download_model=False))


@pytest.fixture
async def server(
    emulator_config: EmulatorConfig, clock: ManualClock
) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(emulator=Emulator(emulator_config, clock=clock)) as srv:
        yield srv


async def _posted(
    client: TelegramClient, sim: Sim, size: int, seed: int, **extra: Any
) -> tuple[Any, dict[str, Any]]:
    """A synthetic file posted in a channel the bot administers: its message as the bot
    reads it, and the file's description."""
    channel_id, _ = await admin_channel(sim, title="Files", username="files")
    posted = await sim.synthetic(channel_id, size, seed=seed, file_name="blob.bin", **extra)
    channel = await client.get_entity("files")
    message = await client.get_messages(channel, ids=posted["message"]["message_id"])
    return message, posted["file"]


def _location(message: Any, **changes: Any) -> Any:
    document = message.media.document
    fields = {
        "id": document.id,
        "access_hash": document.access_hash,
        "file_reference": document.file_reference,
        "thumb_size": "",
    }
    return types.InputDocumentFileLocation(**(fields | changes))


def _get(location: Any, offset: int, limit: int, *, precise: bool = False) -> Any:
    return functions.upload.GetFileRequest(location, offset, limit, precise=precise or None)


def _named(error: str) -> type[errors.RPCError]:
    """Telethon's class for an error Telegram names (OFFSET_INVALID: OffsetInvalidError)."""
    found: type[errors.RPCError] = errors.rpcerrorlist.rpc_errors_dict[error]
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_download_media_of_a_50_mb_upload_is_byte_identical(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    payload = synthetic_bytes(99, 0, 50 * MIB)  # uploaded as real bytes, stored on disk
    user = await sim.started_user(BOT_A)
    response = await http.post(
        "/_sim/send",
        data={
            "chat_id": str(user["id"]),
            "from_user_id": str(user["id"]),
            "kind": "document",
            "file_name": "big.bin",
        },
        files={"file": ("big.bin", payload, "application/octet-stream")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["message_id"]
    async with signed_in_bot(server, TOKEN_A) as client:
        [message] = await client.get_messages(None, ids=[message_id])
        assert message.file.size == 50 * MIB
        assert message.file.name == "big.bin"
        data = await client.download_media(message, bytes)
    assert _sha256(data) == _sha256(payload)
    downloads = await sim.downloads()
    assert downloads[BOT_A]["bytes"] == 50 * MIB


async def test_iter_download_at_odd_offsets(server: EmulatorServer, sim: Sim) -> None:
    size = 3 * MIB + 5
    async with signed_in_bot(server, TOKEN_A) as client:
        message, _ = await _posted(client, sim, size, seed=11)
        chunks = [
            bytes(c)
            async for c in client.iter_download(
                message.media, offset=MIB - 3, chunk_size=70_001, limit=20
            )
        ]
        got = b"".join(chunks)
        assert got == synthetic_bytes(11, MIB - 3, 20 * 70_001)
        tail = b"".join(
            [bytes(c) async for c in client.iter_download(message.media, offset=size - 9000)]
        )
        assert tail == synthetic_bytes(11, size - 9000, 9000)
        small = b"".join(
            [
                bytes(c)
                async for c in client.iter_download(
                    message.media, offset=12_345, request_size=8192, chunk_size=1000, limit=3
                )
            ]
        )
        assert small == synthetic_bytes(11, 12_345, 3000)


VALID = [
    (0, 4 * KIB, False),
    (MIB - 4 * KIB, 4 * KIB, False),
    (512 * KIB, 512 * KIB, False),
    (MIB, MIB, False),
    (KIB, KIB, True),  # precise: 1 KiB steps
    (3 * KIB, 3 * KIB, True),  # precise: 1 MiB need not be divisible by the limit
]
INVALID = [
    (1000, 4 * KIB, False, "OFFSET_INVALID"),
    (-4 * KIB, 4 * KIB, False, "OFFSET_INVALID"),
    (KIB, 4 * KIB, False, "OFFSET_INVALID"),  # 1 KiB steps need precise
    (512, KIB, True, "OFFSET_INVALID"),
    (0, 1000, False, "LIMIT_INVALID"),
    (0, 0, False, "LIMIT_INVALID"),
    (0, KIB, False, "LIMIT_INVALID"),
    (0, 12 * KIB, False, "LIMIT_INVALID"),  # 1 MiB is not divisible by it
    (0, 2 * MIB, False, "LIMIT_INVALID"),
    (0, 2 * MIB, True, "LIMIT_INVALID"),
    (MIB - 4 * KIB, 8 * KIB, False, "LIMIT_INVALID"),  # crosses a 1 MiB boundary
    (MIB - KIB, 2 * KIB, True, "LIMIT_INVALID"),  # even with precise
]


async def test_get_file_rules(server: EmulatorServer, sim: Sim) -> None:
    size = 3 * MIB + 5
    async with signed_in_bot(server, TOKEN_A) as client:
        message, _ = await _posted(client, sim, size, seed=5)
        location = _location(message)
        for offset, limit, precise in VALID:
            answer = await client(_get(location, offset, limit, precise=precise))
            assert answer.bytes == synthetic_bytes(5, offset, limit), (offset, limit)
            assert isinstance(answer.type, types.storage.FileUnknown)
        for offset, limit, precise, error in INVALID:
            with pytest.raises(errors.RPCError) as caught:
                await client(_get(location, offset, limit, precise=precise))
            assert type(caught.value) is _named(error), (offset, limit)
        # The end of the file: the bytes left, then nothing (how a client knows it is done).
        assert (await client(_get(location, 3 * MIB, 4 * KIB))).bytes == synthetic_bytes(
            5, 3 * MIB, 5
        )
        assert (await client(_get(location, 4 * MIB, 4 * KIB))).bytes == b""
        assert (await client(_get(location, 2**40, MIB))).bytes == b""
        wrong = {
            "access_hash": (location.access_hash + 1, "FILE_ID_INVALID"),
            "id": (location.id + 1000, "FILE_ID_INVALID"),
            "thumb_size": ("m", "LOCATION_INVALID"),
            "file_reference": (b"", "FILE_REFERENCE_EMPTY"),
        }
        for name, (value, error) in wrong.items():
            with pytest.raises(errors.RPCError) as caught:
                await client(_get(_location(message, **{name: value}), 0, 4 * KIB))
            assert type(caught.value) is _named(error), name
        photo = types.InputPhotoFileLocation(
            location.id, location.access_hash, location.file_reference, "y"
        )
        with pytest.raises(errors.FileIdInvalidError):
            await client(_get(photo, 0, 4 * KIB))


async def test_a_photo_downloads_by_its_photo_location(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + synthetic_bytes(3, 0, 70_000)
    user = await sim.started_user(BOT_A)
    response = await http.post(
        "/_sim/send",
        data={"chat_id": str(user["id"]), "from_user_id": str(user["id"]), "kind": "photo"},
        files={"file": ("p.jpg", jpeg, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    async with signed_in_bot(server, TOKEN_A) as client:
        [message] = await client.get_messages(None, ids=[response.json()["message_id"]])
        assert isinstance(message.media, types.MessageMediaPhoto)
        assert await client.download_media(message, bytes) == jpeg
        answer = await client(_get(_located_photo(message), 0, 4 * KIB))
    assert isinstance(answer.type, types.storage.FileJpeg)


def _located_photo(message: Any) -> Any:
    photo = message.media.photo
    return types.InputPhotoFileLocation(photo.id, photo.access_hash, photo.file_reference, "y")


async def test_the_last_megabyte_of_a_4_gb_synthetic_file(server: EmulatorServer, sim: Sim) -> None:
    size = 4 * 1024**3
    async with signed_in_bot(server, TOKEN_A) as client:
        message, described = await _posted(client, sim, size, seed=4, kind="video")
        assert message.file.size == size
        assert described["seed"] == 4
        location = _location(message)
        answer = await client(_get(location, size - MIB, MIB))
        assert answer.bytes == synthetic_bytes(4, size - MIB, MIB)
        streamed = b"".join(
            [bytes(c) async for c in client.iter_download(message.media, offset=size - MIB)]
        )
    assert streamed == synthetic_bytes(4, size - MIB, MIB)


async def test_an_expired_file_reference_is_refreshed_by_fetching_the_message(
    server: EmulatorServer, sim: Sim, clock: ManualClock
) -> None:
    ttl = server.emulator.config.mtproto.file_reference_ttl
    async with signed_in_bot(server, TOKEN_A) as client:
        message, _ = await _posted(client, sim, MIB, seed=8)
        clock.now += ttl - 1
        assert len((await client(_get(_location(message), 0, 4 * KIB))).bytes) == 4 * KIB
        clock.now += 2
        with pytest.raises(errors.FileReferenceExpiredError):
            await client(_get(_location(message), 0, 4 * KIB))
        fresh = await client.get_messages(message.chat_id, ids=message.id)
        assert fresh.media.document.file_reference != message.media.document.file_reference
        answer = await client(_get(_location(fresh), 0, 4 * KIB))
        assert answer.bytes == synthetic_bytes(8, 0, 4 * KIB)
        # download_media with the stale message: Telethon refetches it by itself.
        clock.now += ttl + 1
        assert await client.download_media(fresh, bytes) == synthetic_bytes(8, 0, MIB)


async def test_a_file_on_dc_2_migrates_and_downloads_transparently(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    mt = server.emulator.mtproto
    assert mt is not None
    async with signed_in_bot(server, TOKEN_A) as client:
        message, _ = await _posted(client, sim, 2 * MIB + 7, seed=21, dc=2)
        assert message.media.document.dc_id == 2
        with pytest.raises(errors.FileMigrateError) as caught:
            await client(_get(_location(message), 0, 4 * KIB))
        assert caught.value.new_dc == 2
        data = await client.download_media(message, bytes)
        assert data == synthetic_bytes(21, 0, 2 * MIB + 7)
        # A bare location (no dc_id known): Telethon follows FILE_MIGRATE_2 itself.
        bare = b"".join([bytes(c) async for c in client.iter_download(_location(message))])
        assert bare == data
        # The import happened on DC 2: a key there is signed in as the bot.
        assert any(k.dc == 2 and k.user_id == BOT_A for k in mt.keys.values())
        # A stored (uploaded) file moved to DC 2 by /_sim/ migrates too.
        user = await sim.started_user(BOT_A)
        payload = synthetic_bytes(22, 0, 300_000)
        sent = await http.post(
            "/_sim/send",
            data={"chat_id": str(user["id"]), "from_user_id": str(user["id"]), "kind": "audio"},
            files={"file": ("a.mp3", payload, "audio/mpeg")},
        )
        assert sent.status_code == 200, sent.text
        moved = await sim.file_dc(sent.json()["audio"]["file_unique_id"], 2)
        assert moved["dc"] == 2
        [audio] = await client.get_messages(None, ids=[sent.json()["message_id"]])
        assert audio.media.document.dc_id == 2
        assert await client.download_media(audio, bytes) == payload


async def test_a_dropped_connection_mid_download_is_retried(
    server: EmulatorServer, sim: Sim
) -> None:
    size = 4 * MIB + 1
    async with signed_in_bot(server, TOKEN_A) as client:
        message, _ = await _posted(client, sim, size, seed=31)
        scheduled = await sim.drop_mtproto(BOT_A, after_requests=3)
        assert scheduled == {"account_id": BOT_A, "after_requests": 3}
        data = await client.download_media(message, bytes)
        assert data == synthetic_bytes(31, 0, size)
        downloads = await sim.downloads()
        assert downloads[BOT_A]["drops"] == 1
        # 33 parts of 128 KiB (Telethon's part size under 100 MB), each answered once:
        # the request that met the drop was not answered, and was asked again.
        assert downloads[BOT_A]["requests"] == 33
        now = await sim.drop_mtproto(BOT_A)
        assert now["dropped"] >= 1
        assert await client.get_me() is not None  # the client reconnects


async def test_the_bot_api_serves_a_small_synthetic_file_and_refuses_a_big_one(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    user = await sim.started_user(BOT_A)
    small = await sim.synthetic(user["id"], 100_000, seed=2, from_user_id=user["id"])
    big = await sim.synthetic(user["id"], 30 * MIB, seed=3, from_user_id=user["id"])
    file_id = small["message"]["document"]["file_id"]
    info = (await http.post(f"/bot{TOKEN_A}/getFile", data={"file_id": file_id})).json()
    assert info["ok"], info
    body = await http.get(f"/file/bot{TOKEN_A}/{info['result']['file_path']}")
    assert body.status_code == 200
    assert body.content == synthetic_bytes(2, 0, 100_000)
    too_big = (
        await http.post(
            f"/bot{TOKEN_A}/getFile", data={"file_id": big["message"]["document"]["file_id"]}
        )
    ).json()
    assert too_big["description"].endswith("file is too big")
    unique = small["file"]["file_unique_id"]
    assert (await http.get(f"/_sim/files/{unique}")).content == synthetic_bytes(2, 0, 100_000)


async def test_synthetic_files_are_checked(server: EmulatorServer, sim: Sim) -> None:
    from sluice.emulator._client import EmulatorError

    channel_id, _ = await admin_channel(sim, title="Files", username="files")
    for bad in (
        {"size": 0},
        {"size": 4 * 1024**3 + 1},
        {"size": 10, "kind": "sticker"},
        {"size": 10, "dc": 3},
    ):
        with pytest.raises(EmulatorError):
            await sim.synthetic(channel_id, **bad)
    group = await sim.chat("supergroup", title="g")
    with pytest.raises(EmulatorError, match="from_user_id is required"):
        await sim.synthetic(group["id"], 10)


# -- the download model -------------------------------------------------------------


def _model(clock: ManualClock, speed: float = 1.0, **settings: Any) -> DownloadModel:
    config = MtprotoConfig(**settings)
    return DownloadModel(config, Limits(speed=speed).speed, clock)


def test_sequential_requests_pay_latency_and_transfer_each() -> None:
    clock = ManualClock()
    model = _model(clock, download_latency_ms=50, download_bytes_per_s=MIB)
    finished = []
    for _ in range(4):
        delay = model.admit(1, 512 * KIB)
        clock.now += delay  # the client asks again once answered
        finished.append(round(clock.now - 1000.0, 6))
    assert finished == [0.55, 1.1, 1.65, 2.2]
    assert 4 * 512 * KIB / (clock.now - 1000.0) < MIB  # latency-bound, under the cap


def test_parallel_requests_share_the_accounts_bandwidth() -> None:
    clock = ManualClock()
    model = _model(clock, download_latency_ms=50, download_bytes_per_s=MIB)
    delays = [model.admit(1, 512 * KIB) for _ in range(8)]
    # One pipe: each answer leaves half a second after the one before it.
    assert [round(d, 6) for d in delays] == [0.55 + 0.5 * i for i in range(8)]
    assert 8 * 512 * KIB / delays[-1] <= MIB
    # Another account has its own pipe.
    assert round(model.admit(2, 512 * KIB), 6) == 0.55
    # Idle time is not banked: after a pause the pipe starts from now.
    clock.now += 100
    assert round(model.admit(1, 512 * KIB), 6) == 0.55


def test_speed_scales_the_model() -> None:
    clock = ManualClock()
    model = _model(
        clock,
        speed=10,
        download_latency_ms=50,
        download_bytes_per_s=MIB,
        download_requests=Rate(2, 10),
    )
    assert round(model.admit(1, MIB), 6) == round(0.005 + 0.1, 6)
    model.admit(1, 0)
    with pytest.raises(RpcError, match="FLOOD_WAIT_1"):
        model.admit(1, 0)
    clock.now += 1.0  # the window is 10 s / 10
    model.admit(1, 0)


def test_past_the_request_rate_flood_wait_counts_down() -> None:
    clock = ManualClock()
    model = _model(clock, download_latency_ms=0, download_requests=Rate(3, 10))
    for _ in range(3):
        assert model.admit(7, 4 * KIB) >= 0
    with pytest.raises(RpcError) as caught:
        model.admit(7, 4 * KIB)
    assert (caught.value.code, caught.value.message) == (420, "FLOOD_WAIT_10")
    clock.now += 4.2
    with pytest.raises(RpcError, match="FLOOD_WAIT_6"):
        model.admit(7, 4 * KIB)
    clock.now += 5.8
    model.admit(7, 4 * KIB)
    assert model.to_json()["7"] == {
        "requests": 4,
        "bytes": 16 * KIB,
        "flood_waits": 2,
        "drops": 0,
    }


def test_the_model_switched_off_never_waits_nor_refuses() -> None:
    clock = ManualClock()
    model = _model(clock, download_model=False, download_requests=Rate(1, 60))
    assert [model.admit(1, MIB) for _ in range(50)] == [0.0] * 50


class TestFloodWaitOverMtproto:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        mtproto = MtprotoConfig(
            download_latency_ms=0, download_bytes_per_s=0, download_requests=Rate(3, 10)
        )
        return EmulatorConfig(seed=1, mtproto=mtproto)

    async def test_flood_wait_error_names_the_seconds_left(
        self, server: EmulatorServer, sim: Sim, clock: ManualClock
    ) -> None:
        async with signed_in_bot(server, TOKEN_A, flood_sleep_threshold=0) as client:
            message, _ = await _posted(client, sim, MIB, seed=1)
            location = _location(message)
            for _ in range(3):
                await client(_get(location, 0, 4 * KIB))
            with pytest.raises(errors.FloodWaitError) as caught:
                await client(_get(location, 0, 4 * KIB))
            assert caught.value.seconds == 10
            # Telethon refuses a flood-waited request itself until the wait passes in real
            # time; forget it so the next request reaches the emulator's clock.
            client._flood_waited_requests.clear()
            clock.now += 7.5
            with pytest.raises(errors.FloodWaitError) as caught:
                await client(_get(location, 0, 4 * KIB))
            assert caught.value.seconds == 3
            client._flood_waited_requests.clear()
            clock.now += 2.5
            assert len((await client(_get(location, 0, 4 * KIB))).bytes) == 4 * KIB
        downloads = await sim.downloads()
        assert downloads[BOT_A] == {
            "requests": 4,
            "bytes": 16 * KIB,
            "flood_waits": 2,
            "drops": 0,
        }


class TestWaitsEndWhenTheServerStops:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        mtproto = MtprotoConfig(download_latency_ms=60_000)
        return EmulatorConfig(seed=1, mtproto=mtproto)

    async def test_a_request_held_by_latency_is_answered_on_stop(
        self, server: EmulatorServer, sim: Sim, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        held = asyncio.Event()
        admit = DownloadModel.admit

        def admit_and_tell(model: DownloadModel, account_id: int, nbytes: int) -> float:
            delay = admit(model, account_id, nbytes)
            held.set()
            return delay

        monkeypatch.setattr(DownloadModel, "admit", admit_and_tell)
        async with signed_in_bot(server, TOKEN_A) as client:
            message, _ = await _posted(client, sim, MIB, seed=1)
            pending = asyncio.ensure_future(client(_get(_location(message), 0, 4 * KIB)))
            await asyncio.wait_for(held.wait(), 5)
            assert not pending.done()  # held for a minute
            server.emulator.stop_waiting()
            answer = await asyncio.wait_for(pending, 5)
        assert answer.bytes == synthetic_bytes(1, 0, 4 * KIB)
