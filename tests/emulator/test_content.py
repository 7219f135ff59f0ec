"""Albums, animations, stickers, places, contacts, dice and polls, through aiogram 3 and
python-telegram-bot 22 as they parse them; users' content and votes through /_sim/."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiogram import Bot as ABot
from aiogram import Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InputMediaAnimation,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    InputPollOption,
    Message,
    PollAnswer,
)
from aiogram.types import Poll as APoll
from starlette.datastructures import UploadFile
from telegram import Bot as PBot
from telegram import InputFile, Update
from telegram import InputMediaAudio as PInputMediaAudio
from telegram import InputMediaDocument as PInputMediaDocument
from telegram import InputMediaPhoto as PInputMediaPhoto
from telegram import InputMediaVideo as PInputMediaVideo
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    PollHandler,
    filters,
)

from sluice._exceptions import EmulatorError
from sluice.emulator import Emulator, EmulatorConfig, EmulatorServer, Limits
from sluice.emulator._errors import ApiError
from sluice.emulator._params import Params
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim
from vclock import ManualClock

WAIT = 10.0  # the bound on every wait for an update
JPEG = b"\xff\xd8\xff\xe0 a tiny photo"
MP4 = b"\x00\x00\x00\x18ftypmp42 a tiny video"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Fast limits: these tests send many messages into one private chat.
    return EmulatorConfig(seed=1, limits=Limits(speed=1000, private_burst=100))


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def aiogram_bot(server: EmulatorServer, token: str = TOKEN_A) -> ABot:
    return ABot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))


def ptb_bot(server: EmulatorServer, token: str = TOKEN_A) -> PBot:
    return PBot(token, base_url=server.url + "/bot", base_file_url=server.url + "/file/bot")


@pytest.fixture
async def abot(server: EmulatorServer) -> AsyncIterator[ABot]:
    bot = aiogram_bot(server)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def abot_b(server: EmulatorServer) -> AsyncIterator[ABot]:
    bot = aiogram_bot(server, TOKEN_B)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def pbot(server: EmulatorServer) -> AsyncIterator[PBot]:
    async with ptb_bot(server) as bot:
        yield bot


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A))["id"])


def ptb_text(description: str) -> str:
    """What python-telegram-bot makes of a "Bad Request: ..." description."""
    return description.capitalize()


async def raw(http: httpx.AsyncClient, method: str, token: str = TOKEN_A, **params: Any) -> Any:
    return (await http.post(f"/bot{token}/{method}", json=params)).json()


# -- sendMediaGroup ---------------------------------------------------------------------------


async def test_media_group_through_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    video = await abot.send_video(user_id, BufferedInputFile(MP4, "clip.mp4"))
    assert video.video is not None
    album = await abot.send_media_group(
        user_id,
        [
            InputMediaPhoto(media=BufferedInputFile(JPEG, "a.jpg"), caption="first"),
            InputMediaVideo(media=video.video.file_id, caption="<b>second</b>", parse_mode="HTML"),
        ],
    )
    assert [type(m) for m in album] == [Message, Message]
    assert album[0].photo is not None
    assert album[0].caption == "first"
    assert album[1].video is not None
    assert album[1].video.file_unique_id == video.video.file_unique_id
    assert album[1].caption == "second"
    assert album[1].caption_entities is not None
    assert album[1].caption_entities[0].type == "bold"
    group_id = album[0].media_group_id
    assert group_id is not None
    assert group_id.isdigit()
    assert album[1].media_group_id == group_id
    assert album[1].message_id == album[0].message_id + 1

    described = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert described[album[0].message_id]["media_group_id"] == group_id
    assert described[album[1].message_id]["media"]["kind"] == "video"

    documents = await abot.send_media_group(
        user_id,
        [InputMediaDocument(media=BufferedInputFile(b"doc %d" % i, f"{i}.txt")) for i in range(3)],
    )
    assert len({m.media_group_id for m in documents}) == 1
    assert all(m.document is not None for m in documents)
    # One item goes as a message of its own, outside any album, as on Telegram.
    (single,) = await abot.send_media_group(
        user_id, [InputMediaPhoto(media=BufferedInputFile(JPEG, "b.jpg"))]
    )
    assert single.photo is not None
    assert single.media_group_id is None


@pytest.mark.parametrize(
    ("media", "description"),
    [
        ([], "Bad Request: there are no messages to send"),
        (
            [InputMediaPhoto(media=BufferedInputFile(JPEG, f"{i}.jpg")) for i in range(11)],
            "Bad Request: too many messages to send as an album",
        ),
        (
            [
                InputMediaPhoto(media=BufferedInputFile(JPEG, "p.jpg")),
                InputMediaDocument(media=BufferedInputFile(b"d", "d.txt")),
            ],
            "Bad Request: document can't be mixed with other media types",
        ),
        (
            [
                InputMediaPhoto(media="not-a-file-id"),
                InputMediaPhoto(media=BufferedInputFile(JPEG, "p.jpg")),
            ],
            "Bad Request: wrong file identifier/HTTP URL specified",
        ),
    ],
    ids=["empty", "eleven", "mixed-document", "bad-file-id"],
)
async def test_media_group_refusals_through_aiogram(
    abot: ABot, user_id: int, sim: Sim, media: list[Any], description: str
) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        await abot.send_media_group(user_id, media)
    assert refused.value.message == description
    assert [m["message_id"] for m in await sim.messages(user_id)] == [1]  # only /start


async def test_media_group_through_ptb(pbot: PBot, user_id: int, http: httpx.AsyncClient) -> None:
    album = await pbot.send_media_group(
        user_id,
        [
            PInputMediaAudio(media=b"ID3 one", filename="one.mp3", caption="side A"),
            PInputMediaAudio(media=b"ID3 two", filename="two.mp3"),
        ],
    )
    assert len(album) == 2
    assert album[0].audio is not None
    assert album[0].caption == "side A"
    assert album[0].media_group_id is not None
    assert album[0].media_group_id == album[1].media_group_id
    mixed = [
        PInputMediaPhoto(media=JPEG, filename="p.jpg"),
        PInputMediaVideo(media=MP4, filename="v.mp4"),
        PInputMediaAudio(media=b"ID3", filename="a.mp3"),
    ]
    with pytest.raises(BadRequest) as refused:
        await pbot.send_media_group(user_id, mixed)
    assert refused.value.message == ptb_text("audio can't be mixed with other media types")
    # Photos and videos mix; documents go with documents only.
    photo_and_video = await pbot.send_media_group(user_id, mixed[:2])
    assert photo_and_video[0].photo
    assert photo_and_video[1].video
    with pytest.raises(BadRequest) as missing:
        await pbot.send_media_group(user_id, [PInputMediaDocument(media="attach://nothing")] * 2)
    assert missing.value.message == ptb_text("Can't parse InputMedia: media not found")

    bad_json = await raw(http, "sendMediaGroup", chat_id=user_id, media="[{")
    assert bad_json["description"] == "Bad Request: can't parse media JSON object"
    not_array = await raw(http, "sendMediaGroup", chat_id=user_id, media={"type": "photo"})
    assert not_array["description"] == "Bad Request: expected an Array of InputMedia"
    audio_id = album[0].audio.file_id
    for kind, reason in (
        ("animation", 'type "animation" can\'t be used in sendMediaGroup'),
        ("sticker", 'type "sticker" is unsupported'),
    ):
        media = [{"type": "audio", "media": audio_id}, {"type": kind, "media": audio_id}]
        odd = await raw(http, "sendMediaGroup", chat_id=user_id, media=media)
        assert odd["description"] == f"Bad Request: can't parse InputMedia: {reason}"
    no_media = await raw(http, "sendMediaGroup", chat_id=user_id)
    assert no_media["description"] == 'Bad Request: parameter "media" is required'


# -- the flood model: an album is as many messages as it has items ------------------------------


def _album(size: int) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    media = [{"type": "photo", "media": f"attach://p{i}"} for i in range(size)]
    files = {f"p{i}": UploadFile(io.BytesIO(JPEG), filename=f"{i}.jpg") for i in range(size)}
    return {"media": media}, files


async def _send_album(emu: Emulator, chat_id: int, size: int) -> Any:
    values, files = _album(size)
    return await emu.call(TOKEN_A, "sendMediaGroup", Params(values | {"chat_id": chat_id}, files))


async def test_album_counts_its_items_against_the_limits() -> None:
    clock = ManualClock()
    emu = Emulator(EmulatorConfig(seed=1), clock=clock)
    try:
        emu.world.bot_for_token(TOKEN_A)
        groups = [
            emu.world.add_chat("supergroup", None, None, set(), {BOT_A}, set()).id for _ in range(4)
        ]
        # A group's 20 a minute: two albums of 10 fill it, one more photo is refused.
        assert len(await _send_album(emu, groups[0], 10)) == 10
        assert len(await _send_album(emu, groups[0], 10)) == 10
        with pytest.raises(ApiError) as group_full:
            await _send_album(emu, groups[0], 2)
        assert group_full.value.error_code == 429
        assert group_full.value.parameters == {"retry_after": 60}
        # The bot's 30 a second: a third album of 10 fills it, a fourth is refused.
        clock.now += 61
        await _send_album(emu, groups[1], 10)
        await _send_album(emu, groups[2], 10)
        await _send_album(emu, groups[3], 10)
        with pytest.raises(ApiError) as bot_full:
            await _send_album(emu, groups[1], 2)
        assert bot_full.value.error_code == 429
        assert emu.bot_stats(BOT_A).sends_accepted == 50

        # A private chat admits an album on one token and owes the rest: the next message
        # waits for the 10 sent at once to be paid back, at 1 a second.
        clock.now += 61
        user = emu.world.add_user("Ana")
        emu.world.started.add((BOT_A, user.id))
        await _send_album(emu, user.id, 10)
        with pytest.raises(ApiError) as owed:
            await emu.call(TOKEN_A, "sendMessage", Params({"chat_id": user.id, "text": "hi"}))
        assert owed.value.parameters == {"retry_after": 8}
        # A refused album changes nothing: no message was stored for it.
        assert len(emu.world.messages[(groups[0], 0)]) == 20
    finally:
        await emu.close()


# -- editMessageMedia -------------------------------------------------------------------------


async def test_edit_message_media_through_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    photo = await abot.send_photo(user_id, BufferedInputFile(JPEG, "p.jpg"), caption="before")
    edited = await abot.edit_message_media(
        media=InputMediaVideo(media=BufferedInputFile(MP4, "v.mp4"), caption="after"),
        chat_id=user_id,
        message_id=photo.message_id,
    )
    assert isinstance(edited, Message)
    assert edited.video is not None
    assert edited.photo is None
    assert edited.caption == "after"
    assert edited.edit_date is not None
    with pytest.raises(TelegramBadRequest) as same:
        await abot.edit_message_media(
            media=InputMediaVideo(media=edited.video.file_id, caption="after"),
            chat_id=user_id,
            message_id=photo.message_id,
        )
    assert same.value.message.startswith("Bad Request: message is not modified")
    to_animation = await abot.edit_message_media(
        media=InputMediaAnimation(media=BufferedInputFile(MP4, "a.mp4")),
        chat_id=user_id,
        message_id=photo.message_id,
    )
    assert isinstance(to_animation, Message)
    assert to_animation.animation is not None
    assert to_animation.document is not None  # as Telegram sets it for older clients
    assert to_animation.caption is None

    text = await abot.send_message(user_id, "no media here")
    with pytest.raises(TelegramBadRequest) as no_media:
        await abot.edit_message_media(
            media=InputMediaPhoto(media=BufferedInputFile(JPEG, "p.jpg")),
            chat_id=user_id,
            message_id=text.message_id,
        )
    assert no_media.value.message == "Bad Request: there is no media in the message to edit"

    album = await abot.send_media_group(
        user_id,
        [InputMediaPhoto(media=BufferedInputFile(JPEG, f"{i}.jpg")) for i in range(2)],
    )
    as_video = await abot.edit_message_media(
        media=InputMediaVideo(media=BufferedInputFile(MP4, "v.mp4")),
        chat_id=user_id,
        message_id=album[0].message_id,
    )
    assert isinstance(as_video, Message)
    assert as_video.media_group_id == album[0].media_group_id  # still in its album
    with pytest.raises(TelegramBadRequest) as to_document:
        await abot.edit_message_media(
            media=InputMediaDocument(media=BufferedInputFile(b"d", "d.txt")),
            chat_id=user_id,
            message_id=album[1].message_id,
        )
    assert to_document.value.message == "Bad Request: can't change media type in the album"
    with pytest.raises(TelegramBadRequest) as animated:
        await abot.edit_message_media(
            media=InputMediaAnimation(media=BufferedInputFile(MP4, "a.mp4")),
            chat_id=user_id,
            message_id=album[1].message_id,
        )
    assert animated.value.message == ("Bad Request: message content type can't be used in an album")
    described = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert described[album[0].message_id]["media"]["kind"] == "video"
    assert described[album[0].message_id]["media_group_id"] == album[0].media_group_id


async def test_edit_message_media_through_ptb(pbot: PBot, user_id: int) -> None:
    document = await pbot.send_document(user_id, b"v1", filename="v1.txt")
    edited = await pbot.edit_message_media(
        media=PInputMediaDocument(media=b"v2", filename="v2.txt", caption="new version"),
        chat_id=user_id,
        message_id=document.message_id,
    )
    assert not isinstance(edited, bool)
    assert edited.document is not None
    assert edited.document.file_name == "v2.txt"
    assert edited.caption == "new version"
    with pytest.raises(BadRequest) as unchanged:
        await pbot.edit_message_media(
            media=PInputMediaDocument(media=edited.document.file_id, caption="new version"),
            chat_id=user_id,
            message_id=document.message_id,
        )
    assert unchanged.value.message.startswith("Message is not modified")
    with pytest.raises(BadRequest) as missing:
        await pbot.edit_message_media(
            media=PInputMediaPhoto(media=JPEG), chat_id=user_id, message_id=999
        )
    assert missing.value.message == "Message to edit not found"


# -- sendAnimation and sendSticker --------------------------------------------------------------


async def test_animation_and_stickers_through_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    animation = await abot.send_animation(
        user_id,
        BufferedInputFile(MP4, "loop.mp4"),
        duration=3,
        width=320,
        height=180,
        caption="a loop",
    )
    assert animation.animation is not None
    assert (animation.animation.width, animation.animation.height) == (320, 180)
    assert animation.animation.duration == 3
    assert animation.animation.file_name == "loop.mp4"
    assert animation.document is not None
    assert animation.document.file_id == animation.animation.file_id
    assert animation.caption == "a loop"
    assert animation.content_type == "animation"
    again = await abot.send_animation(user_id, animation.animation.file_id)
    assert again.animation is not None
    assert again.animation.file_unique_id == animation.animation.file_unique_id

    kinds: dict[str, tuple[bool, bool]] = {}
    for name, emoji in (("s.webp", "👍"), ("s.tgs", "🔥"), ("s.webm", "🎉")):
        sent = await abot.send_sticker(user_id, BufferedInputFile(b"sticker", name), emoji=emoji)
        assert sent.sticker is not None
        assert sent.sticker.type == "regular"
        assert (sent.sticker.width, sent.sticker.height) == (512, 512)
        assert sent.sticker.emoji == emoji
        kinds[name] = (sent.sticker.is_animated, sent.sticker.is_video)
        file = await abot.get_file(sent.sticker.file_id)
        assert file.file_path is not None
        assert file.file_path.endswith(name.rpartition(".")[2])
    assert kinds == {"s.webp": (False, False), "s.tgs": (True, False), "s.webm": (False, True)}
    resent = await abot.send_sticker(user_id, sent.sticker.file_id)
    assert resent.sticker is not None
    assert resent.sticker.emoji == "🎉"  # a sticker keeps its emoji
    with pytest.raises(TelegramBadRequest) as unknown:
        await abot.send_sticker(user_id, "no-such-file")
    assert unknown.value.message == "Bad Request: wrong file identifier/HTTP URL specified"
    described = await sim.messages(user_id)
    assert [m["media"]["kind"] for m in described if "media" in m][:2] == [
        "animation",
        "animation",
    ]
    assert "document" not in described[1]  # the file is summarised, not a bot's file_id


async def test_animation_and_sticker_through_ptb(pbot: PBot, user_id: int) -> None:
    animation = await pbot.send_animation(user_id, MP4, filename="cat.mp4", caption="meow")
    assert animation.animation is not None
    assert animation.animation.duration == dtm.timedelta(0)
    assert animation.animation.file_name == "cat.mp4"
    assert animation.caption == "meow"
    assert animation.effective_attachment == animation.animation
    sticker = await pbot.send_sticker(user_id, InputFile(b"tgs", filename="x.tgs"), emoji="🙂")
    assert sticker.sticker is not None
    assert sticker.sticker.is_animated
    assert not sticker.sticker.is_video
    assert sticker.sticker.emoji == "🙂"
    assert sticker.sticker.type == "regular"
    with pytest.raises(BadRequest) as nothing:
        await pbot.send_sticker(user_id, "")
    assert nothing.value.message == "There is no sticker in the request"


# -- sendLocation, sendVenue, sendContact ---------------------------------------------------------


async def test_places_and_contacts_through_aiogram(abot: ABot, user_id: int) -> None:
    here = await abot.send_location(user_id, 52.37, 4.89, horizontal_accuracy=25.5)
    assert here.location is not None
    assert (here.location.latitude, here.location.longitude) == (52.37, 4.89)
    assert here.location.horizontal_accuracy == 25.5
    assert here.location.live_period is None
    live = await abot.send_location(
        user_id, -33.9, 18.4, live_period=0x7FFFFFFF, heading=90, proximity_alert_radius=500
    )
    assert live.location is not None
    assert live.location.live_period == 0x7FFFFFFF
    assert live.location.heading == 90
    assert live.location.proximity_alert_radius == 500

    venue = await abot.send_venue(
        user_id, 48.858, 2.294, "Eiffel Tower", "Champ de Mars", google_place_id="g1"
    )
    assert venue.venue is not None
    assert venue.venue.title == "Eiffel Tower"
    assert venue.venue.google_place_id == "g1"
    assert venue.venue.foursquare_id is None
    assert venue.location is not None  # set too, as Telegram does
    assert venue.venue.location.latitude == 48.858
    assert venue.content_type == "venue"

    contact = await abot.send_contact(user_id, "+15551234567", "Grace", last_name="Hopper")
    assert contact.contact is not None
    assert contact.contact.phone_number == "+15551234567"
    assert contact.contact.last_name == "Hopper"
    assert contact.contact.user_id is None

    refusals = [
        ({"latitude": 91, "longitude": 0}, "Bad Request: wrong location specified"),
        ({"latitude": 0, "longitude": -181}, "Bad Request: wrong location specified"),
        (
            {"latitude": 0, "longitude": 0, "live_period": 30},
            "wrong live location period specified",
        ),
        ({"latitude": 0, "longitude": 0, "live_period": 90, "heading": 361}, "heading specified"),
        (
            {"latitude": 0, "longitude": 0, "live_period": 90, "proximity_alert_radius": 100_001},
            "Bad Request: wrong live location proximity alert radius specified",
        ),
    ]
    for params, description in refusals:
        with pytest.raises(TelegramBadRequest) as refused:
            await abot.send_location(user_id, **params)
        assert refused.value.message.endswith(description)
    with pytest.raises(TelegramBadRequest) as far:
        await abot.send_venue(user_id, 100, 0, "Nowhere", "None")
    assert far.value.message == "Bad Request: wrong venue location specified"


async def test_places_and_contacts_through_ptb(
    pbot: PBot, user_id: int, http: httpx.AsyncClient
) -> None:
    here = await pbot.send_location(user_id, 35.68, 139.69, live_period=3600)
    assert here.location is not None
    assert here.location.live_period == dtm.timedelta(hours=1)
    venue = await pbot.send_venue(
        user_id, 35.66, 139.7, "Shibuya", "Tokyo", foursquare_id="4b", foursquare_type="food"
    )
    assert venue.venue is not None
    assert venue.venue.foursquare_type == "food"
    assert venue.venue.location.longitude == 139.7
    contact = await pbot.send_contact(user_id, "+4412345", "Ada", vcard="BEGIN:VCARD")
    assert contact.contact is not None
    assert contact.contact.vcard == "BEGIN:VCARD"
    with pytest.raises(BadRequest) as wrong:
        await pbot.send_location(user_id, 0, 200)
    assert wrong.value.message == "Wrong location specified"

    no_phone = await raw(http, "sendContact", chat_id=user_id, first_name="X")
    assert no_phone["description"] == 'Bad Request: parameter "phone_number" is required'
    no_latitude = await raw(http, "sendLocation", chat_id=user_id, longitude=1)
    assert no_latitude["description"] == "Bad Request: latitude is empty"


# -- sendDice -----------------------------------------------------------------------------------


async def test_dice_through_aiogram_and_ptb(abot: ABot, pbot: PBot, user_id: int) -> None:
    faces = {"🎲": 6, "🎯": 6, "🎳": 6, "🏀": 5, "⚽": 5, "🎰": 64}
    for emoji, top in faces.items():
        thrown = await abot.send_dice(user_id, emoji=emoji)
        assert thrown.dice is not None
        assert thrown.dice.emoji == emoji
        assert 1 <= thrown.dice.value <= top
    default = await pbot.send_dice(user_id)
    assert default.dice is not None
    assert default.dice.emoji == "🎲"
    assert 1 <= default.dice.value <= 6
    with pytest.raises(TelegramBadRequest) as bad:
        await abot.send_dice(user_id, emoji="🍕")
    assert bad.value.message == "Bad Request: EMOTICON_INVALID"
    with pytest.raises(BadRequest) as ptb_bad:
        await pbot.send_dice(user_id, emoji="x")
    assert ptb_bad.value.message == "Emoticon_invalid"


async def _throws(seed: int | None) -> list[int]:
    config = EmulatorConfig(seed=seed, limits=Limits(speed=1000, private_burst=100))
    async with EmulatorServer(config) as server, Sim.connect(server.url) as sim:
        user = await sim.started_user(BOT_A)
        values = []
        for _ in range(8):
            response = await sim.http.post(
                f"/bot{TOKEN_A}/sendDice", json={"chat_id": user["id"], "emoji": "🎰"}
            )
            values.append(response.json()["result"]["dice"]["value"])
        values.append((await sim.send_dice(user["id"], "🎰"))["dice"]["value"])
        return values


async def test_dice_values_follow_the_seed() -> None:
    first, second, other = await asyncio.gather(_throws(7), _throws(7), _throws(8))
    assert first == second
    assert first != other
    assert all(1 <= v <= 64 for v in first + other)


# -- sendPoll and stopPoll ------------------------------------------------------------------------


async def test_polls_through_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    regular = await abot.send_poll(
        user_id,
        "Lunch?",
        ["Pizza", InputPollOption(text="Sushi")],
        is_anonymous=False,
        allows_multiple_answers=True,
    )
    poll = regular.poll
    assert poll is not None
    assert poll.question == "Lunch?"
    assert [(o.text, o.voter_count, o.persistent_id) for o in poll.options] == [
        ("Pizza", 0, "0"),
        ("Sushi", 0, "1"),
    ]
    assert (poll.type, poll.is_anonymous, poll.allows_multiple_answers) == ("regular", False, True)
    assert poll.allows_revoting is True  # the default for regular polls
    assert poll.is_closed is False
    assert poll.total_voter_count == 0
    quiz = await abot.send_poll(
        user_id,
        "2 + 2?",
        ["3", "4", "5"],
        type="quiz",
        correct_option_ids=[1],
        explanation="<i>basic</i> arithmetic",
        explanation_parse_mode="HTML",
        open_period=300,
    )
    assert quiz.poll is not None
    assert quiz.poll.type == "quiz"
    assert quiz.poll.correct_option_ids == [1]
    assert quiz.poll.explanation == "basic arithmetic"
    assert quiz.poll.explanation_entities is not None
    assert quiz.poll.explanation_entities[0].type == "italic"
    assert quiz.poll.allows_revoting is False
    assert quiz.poll.is_anonymous is True
    assert quiz.poll.open_period == 300
    assert quiz.poll.close_date is not None

    await sim.answer_poll(
        [0, 1], from_user_id=user_id, chat_id=user_id, message_id=regular.message_id
    )
    stopped = await abot.stop_poll(user_id, regular.message_id)
    assert isinstance(stopped, APoll)
    assert stopped.is_closed is True
    assert [o.voter_count for o in stopped.options] == [1, 1]
    assert stopped.total_voter_count == 1
    with pytest.raises(TelegramBadRequest) as twice:
        await abot.stop_poll(user_id, regular.message_id)
    assert twice.value.message == "Bad Request: poll has already been closed"
    text = await abot.send_message(user_id, "hello")
    with pytest.raises(TelegramBadRequest) as not_poll:
        await abot.stop_poll(user_id, text.message_id)
    assert not_poll.value.message == "Bad Request: message is not a poll"
    with pytest.raises(TelegramBadRequest) as missing:
        await abot.stop_poll(user_id, 9999)
    assert missing.value.message == "Bad Request: message with poll to stop not found"
    described = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert described[regular.message_id]["poll"]["is_closed"] is True
    assert described[regular.message_id]["poll"]["total_voter_count"] == 1


@pytest.mark.parametrize(
    ("question", "options", "extra", "description"),
    [
        ("Q", [], {}, "poll must have at least 1 option"),
        ("Q", [str(i) for i in range(13)], {}, "poll can't have more than 12 options"),
        ("Q" * 301, ["a", "b"], {}, "poll question length must not exceed 300"),
        ("Q", ["a", "b" * 101], {}, "poll options length must not exceed 100"),
        (" ", ["a", "b"], {}, "text must be non-empty"),
        ("Q", ["a", ""], {}, "text must be non-empty"),
        ("Q", ["a", "b"], {"type": "quiz"}, "wrong correct option ID specified"),
        (
            "Q",
            ["a", "b"],
            {"type": "quiz", "correct_option_ids": [2]},
            "wrong correct option ID specified",
        ),
        ("Q", ["a", "b"], {"type": "vote"}, "unsupported poll type specified"),
    ],
)
async def test_poll_refusals_through_aiogram_and_ptb(
    abot: ABot,
    pbot: PBot,
    user_id: int,
    question: str,
    options: list[str],
    extra: dict[str, Any],
    description: str,
) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        await abot.send_poll(user_id, question, options, **extra)
    assert refused.value.message == f"Bad Request: {description}"
    with pytest.raises(BadRequest) as ptb_refused:
        await pbot.send_poll(user_id, question, options, **extra)
    assert ptb_refused.value.message == ptb_text(description)


async def test_polls_through_ptb(pbot: PBot, user_id: int, sim: Sim) -> None:
    sent = await pbot.send_poll(
        user_id,
        "Best editor?",
        ["vim", "emacs", "nano"],
        type="quiz",
        correct_option_ids=[0],
        is_anonymous=False,
        explanation="obviously",
    )
    poll = sent.poll
    assert poll is not None
    assert poll.type == "quiz"
    assert tuple(poll.correct_option_ids or ()) == (0,)
    assert [o.text for o in poll.options] == ["vim", "emacs", "nano"]
    assert poll.options[2].persistent_id == "2"
    assert poll.members_only is False
    stopped = await pbot.stop_poll(user_id, sent.message_id)
    assert stopped.is_closed
    assert stopped.id == poll.id
    with pytest.raises(BadRequest) as twice:
        await pbot.stop_poll(user_id, sent.message_id)
    assert twice.value.message == "Poll has already been closed"

    # A channel takes anonymous polls only.
    channel = await sim.chat("channel", admin_bot_ids=[BOT_A])
    with pytest.raises(BadRequest) as named:
        await pbot.send_poll(channel["id"], "Q", ["a", "b"], is_anonymous=False)
    assert named.value.message == ptb_text(
        "non-anonymous polls can't be sent or forwarded to channels"
    )
    posted = await pbot.send_poll(channel["id"], "Q", ["a", "b"])
    assert posted.poll is not None
    assert posted.poll.is_anonymous


async def test_only_its_own_poll_is_stopped_and_a_foreign_quiz_not_copied(
    abot: ABot, abot_b: ABot, sim: Sim
) -> None:
    user = await sim.user("Gus")
    group = (await sim.chat("supergroup", bot_ids=[BOT_A, BOT_B], member_user_ids=[user["id"]]))[
        "id"
    ]
    quiz = await abot.send_poll(
        group, "Capital of France?", ["Paris", "Rome"], type="quiz", correct_option_ids=[0]
    )
    with pytest.raises(TelegramBadRequest) as foreign:
        await abot_b.stop_poll(group, quiz.message_id)
    assert foreign.value.message == "Bad Request: poll can't be stopped"
    with pytest.raises(TelegramBadRequest) as copied:
        await abot_b.copy_message(group, group, quiz.message_id)
    assert copied.value.message == "Bad Request: message can't be copied"
    # Its own quiz the bot can copy: a new poll, with no votes.
    await sim.answer_poll([0], from_user_id=user["id"], chat_id=group, message_id=quiz.message_id)
    copy_id = (await abot.copy_message(group, group, quiz.message_id)).message_id
    described = {m["message_id"]: m for m in await sim.messages(group)}
    original, duplicate = described[quiz.message_id]["poll"], described[copy_id]["poll"]
    assert duplicate["id"] != original["id"]
    assert duplicate["question"] == original["question"]
    assert (original["total_voter_count"], duplicate["total_voter_count"]) == (1, 0)
    assert duplicate["correct_option_ids"] == [0]
    # A forward shows the same poll: its votes go on.
    forwarded = await abot.forward_message(group, group, quiz.message_id)
    assert forwarded.poll is not None
    assert forwarded.poll.id == original["id"]
    assert forwarded.poll.total_voter_count == 1


# -- forward and copy carry the new kinds of content -------------------------------------------


async def test_forward_and_copy_carry_content(
    abot: ABot, pbot: PBot, user_id: int, sim: Sim
) -> None:
    other = int((await sim.started_user(BOT_A, first_name="Bo"))["id"])
    sources = [
        await abot.send_location(user_id, 1.5, 2.5),
        await abot.send_venue(user_id, 1.5, 2.5, "Cafe", "Main St"),
        await abot.send_contact(user_id, "+100", "Ann"),
        await abot.send_dice(user_id, emoji="🎯"),
        await abot.send_sticker(user_id, BufferedInputFile(b"s", "s.webp"), emoji="😀"),
        await abot.send_animation(user_id, BufferedInputFile(MP4, "a.mp4")),
    ]
    for source in sources:
        forwarded = await abot.forward_message(other, user_id, source.message_id)
        assert forwarded.forward_origin is not None
        assert forwarded.content_type == source.content_type
        copy_id = await pbot.copy_message(other, user_id, source.message_id)
        copied = (await sim.messages(other))[-1]
        assert copied["message_id"] == copy_id.message_id
    # Each source's forward, then its copy.
    log = (await sim.messages(other))[-12:]
    assert [m["location"]["latitude"] for m in log[0:4]] == [1.5] * 4
    assert [m["venue"]["title"] for m in log[2:4]] == ["Cafe", "Cafe"]
    assert [m["contact"]["first_name"] for m in log[4:6]] == ["Ann", "Ann"]
    assert sources[3].dice is not None
    thrown = {"emoji": "🎯", "value": sources[3].dice.value}
    assert [m["dice"] for m in log[6:8]] == [thrown, thrown]
    assert [m["media"]["kind"] for m in log[8:]] == ["sticker"] * 2 + ["animation"] * 2


# -- /_sim/: users' content and votes ----------------------------------------------------------


async def test_sim_content_messages(sim: Sim, user_id: int, http: httpx.AsyncClient) -> None:
    located = await sim.send_location(user_id, 40.4, -3.7, live_period=600, heading=10)
    assert located["location"] == {
        "latitude": 40.4,
        "longitude": -3.7,
        "live_period": 600,
        "heading": 10,
    }
    assert located["from"]["is_bot"] is False
    venue = await sim.send_venue(user_id, 40.4, -3.7, "Prado", "Madrid", foursquare_id="p")
    assert venue["venue"]["foursquare_id"] == "p"
    assert venue["location"] == {"latitude": 40.4, "longitude": -3.7}
    contact = await sim.send_contact(user_id, "+34600", "Ana", user_id=user_id)
    assert contact["contact"] == {"phone_number": "+34600", "first_name": "Ana", "user_id": user_id}
    dice = await sim.send_dice(user_id, "🏀", value=5)
    assert dice["dice"] == {"emoji": "🏀", "value": 5}
    sticker = await sim.send_sticker(user_id, "😎", "video")
    assert sticker["sticker"]["is_video"] is True
    assert sticker["sticker"]["emoji"] == "😎"
    again = await sim.send_sticker(user_id, file_unique_id=sticker["sticker"]["file_unique_id"])
    assert again["sticker"]["file_unique_id"] == sticker["sticker"]["file_unique_id"]
    animation = await sim.send_animation(user_id, duration=2, width=64, caption="#loop")
    assert animation["animation"]["duration"] == 2
    assert animation["animation"]["width"] == 64
    assert animation["document"]["file_unique_id"] == animation["animation"]["file_unique_id"]
    assert animation["caption_entities"][0]["type"] == "hashtag"
    downloaded = await http.get(f"/_sim/files/{sticker['sticker']['file_unique_id']}")
    assert downloaded.content.startswith(b"\x1a\x45\xdf\xa3")  # a WebM's EBML header

    refusals = [
        ({"dice": {"emoji": "🏀", "value": 6}}, "a 🏀 shows 1..5"),
        ({"dice": {"emoji": "🃏"}}, "EMOTICON_INVALID"),
        ({"sticker": {"format": "gif"}}, "sticker.format must be one of static, animated, video"),
        ({"location": {"latitude": 95, "longitude": 0}}, "wrong location specified"),
        ({"location": [1, 2]}, "location must be a JSON object"),
        ({"contact": {"first_name": "X"}}, 'parameter "phone_number" is required'),
        (
            {"animation": {"file_unique_id": sticker["sticker"]["file_unique_id"]}},
            "not a animation",
        ),
    ]
    for body, description in refusals:
        response = await http.post(
            "/_sim/send", json={"chat_id": user_id, "from_user_id": user_id, **body}
        )
        assert response.status_code == 400
        assert description in response.json()["description"]


async def _poll_message(
    http: httpx.AsyncClient, chat_id: int, token: str = TOKEN_A, **extra: Any
) -> dict[str, Any]:
    body = {"chat_id": chat_id, "question": "Which?", "options": ["a", "b", "c"], **extra}
    sent = await raw(http, "sendPoll", token, **body)
    assert sent["ok"], sent
    result: dict[str, Any] = sent["result"]
    return result


async def _updates(http: httpx.AsyncClient, offset: int | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await raw(http, "getUpdates", offset=offset, timeout=0, allowed_updates=[])
    )["result"]
    return found


async def test_sim_votes_change_polls_and_reach_the_bot(
    sim: Sim, user_id: int, http: httpx.AsyncClient
) -> None:
    start = (await _updates(http))[-1]["update_id"] + 1
    named = await _poll_message(http, user_id, is_anonymous=False)
    poll_id = named["poll"]["id"]
    voted = await sim.answer_poll([2], from_user_id=user_id, poll_id=poll_id)
    assert voted["option_ids"] == [2]
    assert [o["voter_count"] for o in voted["poll"]["options"]] == [0, 0, 1]
    changed = await sim.answer_poll([0], from_user_id=user_id, poll_id=poll_id)
    assert [o["voter_count"] for o in changed["poll"]["options"]] == [1, 0, 0]
    retracted = await sim.answer_poll([], from_user_id=user_id, poll_id=poll_id)
    assert retracted["poll"]["total_voter_count"] == 0
    updates = await _updates(http, start)
    answers = [u["poll_answer"] for u in updates if "poll_answer" in u]
    assert [a["option_ids"] for a in answers] == [[2], [0], []]
    assert answers[0]["user"] == {"id": user_id, "is_bot": False, "first_name": "Ana"}
    assert answers[0]["option_persistent_ids"] == ["2"]
    states = [u["poll"] for u in updates if "poll" in u]
    assert [s["total_voter_count"] for s in states] == [1, 1, 0]

    anonymous = await _poll_message(http, user_id)
    start = updates[-1]["update_id"] + 1
    await sim.answer_poll(
        [1], from_user_id=user_id, chat_id=user_id, message_id=anonymous["message_id"]
    )
    only_state = await _updates(http, start)
    assert [list(u)[1] for u in only_state] == ["poll"]  # no poll_answer: the voter is anonymous

    def refused(response: httpx.Response, description: str) -> None:
        assert response.status_code == 400
        assert description in response.json()["description"]

    answer = "/_sim/poll/answer"
    single = {"from_user_id": user_id, "poll_id": poll_id}
    refused(await http.post(answer, json=single | {"option_ids": [0, 1]}), "one answer")
    refused(await http.post(answer, json=single | {"option_ids": [3]}), "option indexes 0..2")
    refused(await http.post(answer, json=single | {"poll_id": "1", "option_ids": [0]}), "not found")
    quiz = await _poll_message(http, user_id, type="quiz", correct_option_ids=[1])
    quiz_vote = {"from_user_id": user_id, "poll_id": quiz["poll"]["id"]}
    await http.post(answer, json=quiz_vote | {"option_ids": [0]})
    refused(
        await http.post(answer, json=quiz_vote | {"option_ids": []}),
        "does not allow changing or retracting",
    )
    await raw(http, "stopPoll", chat_id=user_id, message_id=anonymous["message_id"])
    closed = {"from_user_id": user_id, "poll_id": anonymous["poll"]["id"], "option_ids": [0]}
    refused(await http.post(answer, json=closed), "the poll is closed")
    described = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert described[anonymous["message_id"]]["poll"]["is_closed"] is True
    assert described[quiz["message_id"]]["poll"]["options"][0]["voter_count"] == 1


# -- real bots receive what users send ---------------------------------------------------------


async def _drive(sim: Sim, chat: int) -> int:
    """Every kind of user content once, then a vote in the bot's poll; the poll's message id."""
    await sim.send_location(chat, 1.0, 2.0)
    await sim.send_contact(chat, "+1", "Al")
    await sim.send_sticker(chat)
    await sim.send_animation(chat)
    await sim.send_venue(chat, 1.0, 2.0, "Spot", "Road")
    await sim.send_dice(chat, "🎳")
    response = await sim.http.post(
        f"/bot{TOKEN_A}/sendPoll",
        json={"chat_id": chat, "question": "?", "options": ["y", "n"], "is_anonymous": False},
    )
    message_id = int(response.json()["result"]["message_id"])
    await sim.answer_poll([0], from_user_id=chat, chat_id=chat, message_id=message_id)
    return message_id


EXPECTED = ["location", "contact", "sticker", "animation", "venue", "dice", "poll_answer", "poll"]


async def test_an_aiogram_dispatcher_receives_users_content(
    abot: ABot, user_id: int, sim: Sim
) -> None:
    dp = Dispatcher()
    seen: asyncio.Queue[str] = asyncio.Queue()
    kinds: dict[str, Callable[[Message], bool]] = {
        "location": lambda m: m.location is not None and m.venue is None,
        "contact": lambda m: m.contact is not None,
        "sticker": lambda m: m.sticker is not None,
        "animation": lambda m: m.animation is not None,
        "venue": lambda m: m.venue is not None,
        "dice": lambda m: m.dice is not None,
    }

    @dp.message(~F.text)
    async def on_content(message: Message) -> None:
        await seen.put(next(kind for kind, test in kinds.items() if test(message)))

    @dp.poll_answer()
    async def on_answer(answer: PollAnswer) -> None:
        assert answer.user is not None
        assert answer.user.id == user_id
        await seen.put("poll_answer")

    @dp.poll()
    async def on_poll(poll: APoll) -> None:
        assert poll.total_voter_count == 1
        await seen.put("poll")

    polling = asyncio.create_task(
        dp.start_polling(abot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        await _drive(sim, user_id)
        got = [await asyncio.wait_for(seen.get(), WAIT) for _ in EXPECTED]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, WAIT)
    assert got == EXPECTED


async def test_a_ptb_application_receives_users_content(server: EmulatorServer, sim: Sim) -> None:
    app = (
        ApplicationBuilder()
        .token(TOKEN_A)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .build()
    )
    seen: asyncio.Queue[str] = asyncio.Queue()

    def handler(kind: str) -> Any:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await seen.put(kind)

        return handle

    app.add_handler(MessageHandler(filters.VENUE, handler("venue")))
    app.add_handler(MessageHandler(filters.LOCATION, handler("location")))
    app.add_handler(MessageHandler(filters.CONTACT, handler("contact")))
    app.add_handler(MessageHandler(filters.Sticker.ALL, handler("sticker")))
    app.add_handler(MessageHandler(filters.ANIMATION, handler("animation")))
    app.add_handler(MessageHandler(filters.Dice.BOWLING, handler("dice")))
    app.add_handler(PollAnswerHandler(handler("poll_answer")))
    app.add_handler(PollHandler(handler("poll")))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=1))
        try:
            user = await sim.started_user(BOT_A, first_name="Pat")
            await _drive(sim, user["id"])
            got = [await asyncio.wait_for(seen.get(), WAIT) for _ in EXPECTED]
        finally:
            await app.updater.stop()
            await app.stop()
    assert got == EXPECTED


async def test_a_user_sends_a_poll_and_the_bot_sees_it(sim: Sim) -> None:
    # python-telegram-bot's pollbot: a user answers a request_poll button with a poll.
    user = await sim.started_user(BOT_A)
    sent = await sim.send_poll(
        user["id"], "Tea or coffee?", ["tea", "coffee"], is_anonymous=False, type="regular"
    )
    poll = sent["poll"]
    assert poll["question"] == "Tea or coffee?"
    assert [o["text"] for o in poll["options"]] == ["tea", "coffee"]
    assert not poll["is_anonymous"]
    seen = (await sim.messages(user["id"]))[-1]
    assert seen["poll"]["id"] == poll["id"]
    with pytest.raises(EmulatorError, match="poll must have at least 1 option"):
        await sim.send_poll(user["id"], "Nothing?", [])
