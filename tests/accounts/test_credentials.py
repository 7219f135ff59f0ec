"""Bot tokens and MTProto credentials keep their secrets out of sight."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest
from pydantic import BaseModel
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from sluice import ConfigError, redact
from sluice.accounts import BotToken, MTProtoCredential

SECRET = "FakeSecret_ZYXWVUTSRQ-abcdefghijklm"
TOKEN = f"123456:{SECRET}"
API_HASH = "00112233445566778899aabbccddeeff"


def session() -> str:
    made = StringSession()
    made.set_dc(4, "2001:67c:4e8:f004::b", 443)  # IPv6: the longer form
    made.auth_key = AuthKey(bytes(range(256)))
    saved: str = made.save()
    return saved


SESSION = session()


class Holder(BaseModel):
    token: BotToken
    credential: MTProtoCredential


def test_bot_token_shows_only_its_id() -> None:
    bot_token = BotToken(TOKEN, "MULTITOKEN3")
    assert (bot_token.bot_id, bot_token.source) == (123456, "MULTITOKEN3")
    for shown in (repr(bot_token), str(bot_token), f"{bot_token}", "%s" % bot_token):  # noqa: UP031
        assert shown == "BotToken(123456:***)"
    assert bot_token.reveal() == TOKEN


def test_bot_token_logged_by_any_logger_hides_its_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("aiogram.event").info("using %s and %r", BotToken(TOKEN), [BotToken(TOKEN)])
    assert caplog.records[0].getMessage() == (
        "using BotToken(123456:***) and [BotToken(123456:***)]"
    )


def test_bot_token_is_an_immutable_value() -> None:
    bot_token = BotToken(TOKEN, "BOT_TOKEN")
    assert bot_token == BotToken(TOKEN, "MULTITOKEN1")  # where it came from is not identity
    assert len({bot_token, BotToken(TOKEN)}) == 1
    assert bot_token != BotToken("123456:" + "B" * 35)
    with pytest.raises(AttributeError):
        bot_token.bot_id = 1
    for clone in (
        copy.copy(bot_token),
        copy.deepcopy(bot_token),
        pickle.loads(pickle.dumps(bot_token)),  # noqa: S301 - our own object
    ):
        assert clone == bot_token
        assert clone.source == "BOT_TOKEN"


@pytest.mark.parametrize("value", [SECRET, "0" + TOKEN, TOKEN + "A", TOKEN.replace(":", ";")])
def test_bot_token_refuses_a_malformed_value_without_showing_it(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BotToken(value, "BOT_TOKEN")
    assert str(caught.value) == (
        "BOT_TOKEN is not a bot token: expected '<digits>:<35 characters of A-Z, a-z, 0-9, _ or ->'"
    )
    with pytest.raises(ConfigError, match=r"^the value is not a bot token"):
        BotToken(value)


def test_credential_hides_hash_and_session() -> None:
    credential = MTProtoCredential(12345, API_HASH, SESSION, "TELEGRAM_API_ID_2")
    expected = (
        "MTProtoCredential(api_id=12345, api_hash=***, session=***, source='TELEGRAM_API_ID_2')"
    )
    assert repr(credential) == str(credential) == f"{credential}" == expected
    assert "session=None" in repr(MTProtoCredential(12345, API_HASH))
    assert credential.reveal_api_hash() == API_HASH
    assert credential.reveal_session() == SESSION
    assert StringSession(credential.reveal_session()).dc_id == 4


def test_credential_secrets_are_registered_for_redaction() -> None:
    api_hash = "abcdef0123456789" * 2
    MTProtoCredential(1, api_hash.upper(), SESSION)
    assert (
        redact(f"hash={api_hash} HASH={api_hash.upper()} s={SESSION}") == "hash=*** HASH=*** s=***"
    )


def test_credential_is_an_immutable_value() -> None:
    credential = MTProtoCredential(7, API_HASH.upper(), SESSION, "TELEGRAM_API_ID")
    assert credential.reveal_api_hash() == API_HASH  # issued lowercase: one hash, one spelling
    assert credential == MTProtoCredential(7, API_HASH, SESSION)
    assert credential != MTProtoCredential(7, API_HASH)
    with pytest.raises(AttributeError):
        credential.api_id = 8
    clone = pickle.loads(pickle.dumps(credential))  # noqa: S301 - our own object
    assert (clone, clone.source) == (credential, "TELEGRAM_API_ID")


@pytest.mark.parametrize(
    ("api_id", "api_hash", "session", "message"),
    [
        (0, API_HASH, None, "TELEGRAM_API_ID_2: api_id must be a positive whole number"),
        (True, API_HASH, None, "TELEGRAM_API_ID_2: api_id must be a positive whole number"),
        (2**31, API_HASH, None, "TELEGRAM_API_ID_2: api_id must be a positive whole number"),
        (5, API_HASH[1:], None, "TELEGRAM_API_ID_2: api_hash must be 32 hexadecimal characters"),
        (5, API_HASH, SESSION[:-1], "TELEGRAM_API_ID_2: session must be the text Telethon's"),
        (5, API_HASH, "", "TELEGRAM_API_ID_2: session must be the text Telethon's"),
    ],
)
def test_credential_refuses_malformed_parts(
    api_id: int, api_hash: str, session: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        MTProtoCredential(api_id, api_hash, session, "TELEGRAM_API_ID_2")
    assert str(caught.value).startswith(message)
    assert API_HASH[1:20] not in str(caught.value)
    assert SESSION[1:20] not in str(caught.value)


def test_pydantic_dumps_hide_the_secrets() -> None:
    holder = Holder(token=BotToken(TOKEN), credential=MTProtoCredential(5, API_HASH, SESSION))
    assert holder.model_dump_json() == (
        '{"token":"123456:***","credential":'
        '{"api_id":5,"api_hash":"***","session":"***","source":""}}'
    )
    dumped = repr(holder.model_dump()) + repr(holder) + str(holder)
    for secret in (SECRET, API_HASH, SESSION[1:40]):
        assert secret not in dumped
    with pytest.raises(ValueError, match="instance of BotToken"):
        Holder.model_validate({"token": TOKEN, "credential": holder.credential})
