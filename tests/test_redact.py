"""Secrets never reach logs, error messages or tracebacks: sluice._redact."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import quote

import aiohttp
import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from sluice import install_log_redaction, redact, redact_exception, register_secret

SECRET = "FakeSecret_ZYXWVUTSRQ-abcdefghijklm"  # 35 characters, as in a real token
TOKEN = f"123456:{SECRET}"
API_URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
FILE_URL = f"https://api.telegram.org/file/bot{TOKEN}/documents/file_1.pdf"


def assert_hidden(text: str, secret: str = SECRET) -> None:
    """No 6 consecutive characters of ``secret`` appear in ``text``."""
    leaks = [secret[i : i + 6] for i in range(len(secret) - 5) if secret[i : i + 6] in text]
    assert not leaks, f"secret leaked: {leaks} in {text!r}"


def response_error() -> aiohttp.ClientResponseError:
    url = URL(API_URL)
    info = RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
    return aiohttp.ClientResponseError(info, (), status=502, message="Bad Gateway")


def aiogram_network_error() -> TelegramNetworkError:
    """Built as aiogram's AiohttpSession does, chained to the aiohttp error."""
    cause = response_error()
    try:
        try:
            raise cause
        except aiohttp.ClientError as e:
            method = SendMessage(chat_id=1, text="hi")
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
    except TelegramNetworkError as error:
        return error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TOKEN, "123456:***"),
        (API_URL, "https://api.telegram.org/bot123456:***/sendMessage"),
        (FILE_URL, "https://api.telegram.org/file/bot123456:***/documents/file_1.pdf"),
        (
            f"url={quote(API_URL, safe='')}",
            "url=https%3A%2F%2Fapi.telegram.org%2Fbot123456:***%2FsendMessage",
        ),
        (f"123456%3a{SECRET} and 7%3A{SECRET}", "123456:*** and 7:***"),
        (f"bots {TOKEN},{TOKEN.replace('123456', '99')}.", "bots 123456:***,99:***."),
        (f"'{TOKEN}xyz'", "'123456:***'"),  # a longer run is hidden whole
    ],
)
def test_bot_tokens_keep_only_their_id(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Update id=123456789 is handled. Duration 12 ms by bot id=1234567",
        "at 12:30, chat 12345: hello",
        "123456:" + "A" * 34,  # one character short of a token
        "5a" * 32,  # hex no test registers (the registry is process-wide)
        "100% done, %3 left",
    ],
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_registered_secrets_are_hidden_wherever_they_appear() -> None:
    api_hash = "feedfacecafebeef" * 2
    register_secret(api_hash)
    register_secret(api_hash)  # twice is fine
    assert redact(f"api_hash={api_hash}; again:{api_hash}") == "api_hash=***; again:***"


def test_short_values_are_not_registered() -> None:
    register_secret("a1b2c3d")  # 7 characters: would mangle ordinary text
    assert redact("a1b2c3d") == "a1b2c3d"


def test_url_encoded_registered_secret_is_hidden() -> None:
    session = "1SessionStringEndsInPadding+/=="
    register_secret(session)
    assert redact(f"?s={quote(session, safe='')}&x=1") == "?s=***&x=1"


def test_the_longest_registered_secret_wins() -> None:
    register_secret("nested-secret-inner")
    register_secret("outer-nested-secret-inner-tail")
    assert redact("[outer-nested-secret-inner-tail]") == "[***]"
    assert redact("[nested-secret-inner-tail]") == "[***-tail]"
    register_secret("shared-start-short")
    register_secret("shared-start-short-and-long")
    assert redact("[shared-start-short-and-long]") == "[***]"


def test_overlapping_secrets_are_hidden_as_one_span() -> None:
    register_secret("overlap-left-shared")
    register_secret("left-shared-right-end")
    assert redact("<overlap-left-shared-right-end>") == "<***>"


def test_no_digit_of_a_secret_starting_inside_a_bot_id_is_kept() -> None:
    register_secret("7654:Digits_Overlap")
    assert redact(f"bot987654:Digits_Overlap_{'q' * 21}/getMe") == "bot98:***/getMe"


def test_secret_next_to_a_token_leaves_nothing_of_either() -> None:
    register_secret("adjacent-session-value")
    text = redact(f"{TOKEN}adjacent-session-value|{TOKEN}")
    assert text == "123456:***|123456:***"


def test_redact_exception_scrubs_args_in_place_and_returns_it() -> None:
    error = RuntimeError(TOKEN, 42)
    assert redact_exception(error) is error
    assert error.args == ("123456:***", 42)
    assert str(error) == "('123456:***', 42)"


def test_redact_exception_follows_cause_and_context() -> None:
    try:
        try:
            raise ValueError(f"context {API_URL}")
        except ValueError:
            raise KeyError(TOKEN) from OSError(2, "No such file", f"/srv/{TOKEN}")
    except KeyError as error:
        caught = error
    redact_exception(caught)
    assert caught.args == ("123456:***",)
    assert isinstance(caught.__cause__, OSError)
    assert caught.__cause__.filename == "/srv/123456:***"
    assert isinstance(caught.__context__, ValueError)
    assert str(caught.__context__) == "context https://api.telegram.org/bot123456:***/sendMessage"


def test_redact_exception_survives_a_cycle_and_scrubs_notes_and_groups() -> None:
    first, second = RuntimeError(TOKEN), RuntimeError(TOKEN)
    first.__context__, second.__context__ = second, first
    first.add_note(f"while calling {API_URL}")
    group = ExceptionGroup("several", [first, ValueError(TOKEN)])
    redact_exception(group)
    assert first.args == second.args == ("123456:***",)
    assert first.__notes__ == ["while calling https://api.telegram.org/bot123456:***/sendMessage"]
    assert group.exceptions[1].args == ("123456:***",)


def test_redact_exception_on_aiogram_network_error() -> None:
    error = aiogram_network_error()
    assert SECRET in str(error)  # aiogram formats str() from .message
    assert redact_exception(error) is error
    assert isinstance(error, TelegramNetworkError)
    assert str(error) == (
        "HTTP Client says - ClientResponseError: 502, message='Bad Gateway', "
        "url='https://api.telegram.org/bot123456:***/sendMessage'"
    )
    assert_hidden(repr(error))
    cause = error.__cause__
    assert isinstance(cause, aiohttp.ClientResponseError)
    assert_hidden(str(cause))
    assert_hidden(repr(cause))


def test_redact_exception_on_aiohttp_response_error() -> None:
    error = response_error()
    assert SECRET in str(error)  # aiohttp's str() shows request_info.real_url
    redact_exception(error)
    assert str(error) == (
        "502, message='Bad Gateway', url='https://api.telegram.org/bot123456:***/sendMessage'"
    )
    assert isinstance(error.request_info, RequestInfo)
    assert error.request_info.method == "POST"
    assert str(error.request_info.url) == str(error.request_info.real_url)
    assert_hidden(str(error.request_info.url))
    assert_hidden(repr(error.args))


@pytest.fixture
def log_redaction() -> Iterator[None]:
    previous = logging.getLogRecordFactory()
    install_log_redaction()
    yield
    logging.setLogRecordFactory(previous)


LOGGERS = ["aiogram.event", "aiohttp.client", "sluice.gate"]


def assert_records_hidden(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records
    assert_hidden(caplog.text)
    for record in caplog.records:
        assert_hidden(logging.Formatter().format(record))
        assert_hidden(logging.Formatter("%(message)s").format(record))


@pytest.mark.usefixtures("log_redaction")
@pytest.mark.parametrize("name", LOGGERS)
def test_logged_message_and_args_are_redacted(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger(name)
    logger.info(f"POST {API_URL}")
    logger.warning("Request to %s failed after %d ms", API_URL, 12)
    logger.error("%(url)s answered %(status)d", {"url": FILE_URL, "status": 502})
    logger.debug("token object %r", [TOKEN])
    assert_records_hidden(caplog)
    assert caplog.records[1].getMessage() == (
        "Request to https://api.telegram.org/bot123456:***/sendMessage failed after 12 ms"
    )
    assert caplog.records[1].args == ()


@pytest.mark.usefixtures("log_redaction")
@pytest.mark.parametrize("name", LOGGERS)
def test_logged_exception_traceback_is_redacted(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error = aiogram_network_error()
    try:
        raise error
    except TelegramNetworkError:
        logging.getLogger(name).exception("send failed")
    assert "ClientResponseError: 502" in caplog.text  # the chained cause is shown...
    assert "HTTP Client says" in caplog.text
    assert_records_hidden(caplog)  # ...without the token
    # Handlers that render exc_info themselves (Rich) see a scrubbed exception.
    assert_hidden(str(error))
    assert_hidden(str(error.__cause__))


class OpaqueError(Exception):
    """Its str() reads the URL from an object redact_exception does not look into."""

    def __init__(self) -> None:
        super().__init__()
        self.request = SimpleNamespace(url=API_URL)

    def __str__(self) -> str:
        return f"request to {self.request.url} failed"


@pytest.mark.usefixtures("log_redaction")
def test_traceback_text_is_redacted_even_where_the_exception_cannot_be(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    try:
        raise OpaqueError
    except OpaqueError:
        logging.getLogger("aiohttp.client").exception("call failed")
    assert "OpaqueError: request to https://api.telegram.org/bot123456:***/sendMessage" in (
        caplog.text
    )
    assert_records_hidden(caplog)


@pytest.mark.usefixtures("log_redaction")
def test_stack_info_is_redacted() -> None:
    record = logging.getLogRecordFactory()(
        "sluice.gate", logging.INFO, __file__, 1, "msg", (), None, None, f"Stack:\n  {API_URL}"
    )
    assert record.stack_info == "Stack:\n  https://api.telegram.org/bot123456:***/sendMessage"


@pytest.mark.usefixtures("log_redaction")
def test_event_dict_messages_stay_dicts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event = {"event": "sent", "url": API_URL, "status": 200}
    logging.getLogger("sluice.gate").info(event)
    (record,) = caplog.records
    assert record.msg == {
        "event": "sent",
        "url": "https://api.telegram.org/bot123456:***/sendMessage",
        "status": 200,
    }
    assert event["url"] == API_URL  # the caller's dict is not modified


@pytest.mark.usefixtures("log_redaction")
def test_a_bad_logging_call_does_not_raise_or_leak(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("sluice.test_redact.bad_call")
    logger.propagate = False  # pytest's own handler re-raises logging errors
    handler = logging.StreamHandler(sys.stdout)
    logger.addHandler(handler)
    try:
        logger.error("%d requests to %s", "many", API_URL)  # %d of a str fails
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    report = capsys.readouterr().err
    assert "--- Logging error ---" in report
    assert "123456:***" in report
    assert_hidden(report)


def test_install_is_idempotent_and_chains_the_previous_factory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = logging.getLogRecordFactory()

    def tagging_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = original(*args, **kwargs)
        record.tagged = True
        return record

    logging.setLogRecordFactory(tagging_factory)
    try:
        install_log_redaction()
        installed = logging.getLogRecordFactory()
        install_log_redaction()
        assert logging.getLogRecordFactory() is installed
        caplog.set_level(logging.INFO)
        logging.getLogger("sluice.gate").info("calling %s", API_URL)
    finally:
        logging.setLogRecordFactory(original)
    (record,) = caplog.records
    assert getattr(record, "tagged", False)
    assert record.getMessage() == "calling https://api.telegram.org/bot123456:***/sendMessage"
