"""Reading sluice's settings from the environment and a .env file."""

from __future__ import annotations

import random
import traceback
from pathlib import Path
from typing import Any

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from sluice import ConfigError
from sluice.accounts import Account, BotToken
from sluice.config import Settings, load_settings

SECRET = "FakeSecret_ZYXWVUTSRQ-abcdefghijklm"  # 35 characters, as Telegram issues
API_HASH = "0123456789abcdef" * 2
OTHER_HASH = "fedcba9876543210" * 2
TOKEN_SHAPE = "'<digits>:<35 characters of A-Z, a-z, 0-9, _ or ->'"


def token(bot_id: int, secret: str = SECRET) -> str:
    return f"{bot_id}:{secret}"


def session(dc: int = 2) -> str:
    """A session string made by Telethon itself (fake auth key)."""
    made = StringSession()
    made.set_dc(dc, "149.154.167.40", 443)
    made.auth_key = AuthKey(bytes(range(256)))
    saved: str = made.save()
    return saved


def load(**env: str) -> Settings:
    return load_settings(env, env_file=None)


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(**env)
    return str(caught.value).splitlines()


def assert_hidden(text: str, secret: str) -> None:
    leaks = [secret[i : i + 6] for i in range(len(secret) - 5) if secret[i : i + 6] in text]
    assert not leaks, f"secret leaked: {leaks} in {text!r}"


def test_no_configuration_is_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load()
    assert settings.bot_tokens == ()
    assert settings.mtproto_credentials == ()
    assert settings.accounts() == []
    assert settings.data_dir == tmp_path / ".sluice"
    assert (settings.redis_url, settings.database_url, settings.api_server) == (None, None, None)
    assert settings.owner_ids == ()


@pytest.mark.parametrize("name", ["TELEGRAM_BOT_TOKEN", "BOT_TOKEN", "MULTITOKEN1", "MULTITOKEN0"])
def test_every_bot_token_name_is_read(name: str) -> None:
    (read,) = load(**{name: token(777)}).bot_tokens
    assert (read.bot_id, read.source, read.reveal()) == (777, name, token(777))


def test_telegram_bot_token_and_bot_token_together() -> None:
    assert len(load(TELEGRAM_BOT_TOKEN=token(1), BOT_TOKEN=token(1)).bot_tokens) == 1
    both = load(BOT_TOKEN=token(2), TELEGRAM_BOT_TOKEN=token(1)).bot_tokens
    assert [t.bot_id for t in both] == [1, 2]


def test_multitokens_have_no_upper_bound_and_are_ordered_by_number() -> None:
    names = [f"MULTITOKEN{n}" for n in range(1, 251)]
    random.Random(7).shuffle(names)  # neither insertion nor string order may leak through
    settings = load(**{name: token(1000 + int(name[10:])) for name in names}, BOT_TOKEN=token(9))
    assert [t.bot_id for t in settings.bot_tokens] == [9, *range(1001, 1251)]
    assert settings.bot_tokens[-1].source == "MULTITOKEN250"


def test_multitoken_numbers_may_have_gaps() -> None:
    settings = load(MULTITOKEN40=token(40), MULTITOKEN7=token(7), MULTITOKEN2=token(2))
    assert [t.source for t in settings.bot_tokens] == ["MULTITOKEN2", "MULTITOKEN7", "MULTITOKEN40"]


def test_accounts_are_one_bot_per_token() -> None:
    accounts = load(BOT_TOKEN=token(5), MULTITOKEN1=token(6)).accounts()
    assert all(isinstance(account, Account) for account in accounts)
    assert [(a.id, a.kind, a.label) for a in accounts] == [(5, "bot", "bot:5"), (6, "bot", "bot:6")]


def test_the_same_token_under_several_names_is_used_once() -> None:
    (read,) = load(BOT_TOKEN=token(5), MULTITOKEN3=token(5), MULTITOKEN9=token(5)).bot_tokens
    assert read.source == "BOT_TOKEN"


def test_two_tokens_of_one_bot_are_an_error_naming_both() -> None:
    other = "Z" * 35
    assert problems(MULTITOKEN2=token(5), MULTITOKEN5=token(5, other), MULTITOKEN6=token(6)) == [
        "MULTITOKEN2 and MULTITOKEN5 hold different tokens of the same bot 5: "
        "a bot has one valid token at a time, keep the current one"
    ]


@pytest.mark.parametrize(
    "value",
    [
        SECRET,  # no bot id
        f"12345{SECRET}",  # no colon
        token(5, SECRET[:-1]),  # 34 characters
        token(5, SECRET + "x"),  # 36 characters
        token(5, SECRET[:-1] + "+"),  # not base64url
        token(5, SECRET[:-1] + "é"),
        f"05:{SECRET}",  # leading zero
        f"{'1' * 21}:{SECRET}",  # 21 digits
        f"١٢٣:{SECRET}",  # digits of another script
        f":{SECRET}",
        f"5: {SECRET}",
        f"bot5:{SECRET}",
    ],
)
def test_malformed_bot_token_is_named_without_its_value(value: str) -> None:
    lines = problems(MULTITOKEN3=value)
    assert lines == [f"MULTITOKEN3 is not a bot token: expected {TOKEN_SHAPE}"]
    assert_hidden("\n".join(lines), SECRET)


def test_surrounding_blanks_are_stripped_and_empty_means_unset() -> None:
    settings = load(BOT_TOKEN=f"  {token(5)}\n", MULTITOKEN1="", MULTITOKEN2="   ")
    assert [t.reveal() for t in settings.bot_tokens] == [token(5)]


def test_mtproto_credentials_have_no_upper_bound_and_allow_gaps() -> None:
    env = {"TELEGRAM_API_ID": "100", "TELEGRAM_API_HASH": API_HASH}
    for n in [*range(2, 41), 57]:
        env |= {f"TELEGRAM_API_ID_{n}": str(100 + n), f"TELEGRAM_API_HASH_{n}": API_HASH}
    credentials = load(**env).mtproto_credentials
    assert [c.api_id for c in credentials] == [100, *range(102, 141), 157]
    assert credentials[0].source == "TELEGRAM_API_ID"
    assert credentials[-1].source == "TELEGRAM_API_ID_57"
    assert all(c.reveal_api_hash() == API_HASH and not c.has_session for c in credentials)


def test_session_belongs_to_the_credential_with_its_number() -> None:
    saved = session()
    first, second = load(
        TELEGRAM_API_ID="1",
        TELEGRAM_API_HASH=API_HASH,
        TELEGRAM_API_ID_2="1",
        TELEGRAM_API_HASH_2=API_HASH,
        TELEGRAM_SESSION_2=saved,
    ).mtproto_credentials
    assert first.reveal_session() is None
    assert second.reveal_session() == saved
    loaded = StringSession(second.reveal_session())
    assert loaded.dc_id == 2


def test_the_same_credential_twice_is_used_once() -> None:
    env = {"TELEGRAM_API_ID": "1", "TELEGRAM_API_HASH": API_HASH}
    env |= {"TELEGRAM_API_ID_3": "1", "TELEGRAM_API_HASH_3": API_HASH.upper()}
    (credential,) = load(**env).mtproto_credentials
    assert credential.source == "TELEGRAM_API_ID"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TELEGRAM_API_ID_2": "12"},
            "TELEGRAM_API_HASH_2 is missing: TELEGRAM_API_ID_2 is set, "
            "and a credential needs both an api_id and an api_hash",
        ),
        (
            {"TELEGRAM_API_HASH": API_HASH},
            "TELEGRAM_API_ID is missing: TELEGRAM_API_HASH is set, "
            "and a credential needs both an api_id and an api_hash",
        ),
        (
            {"TELEGRAM_SESSION_4": session()},
            "TELEGRAM_SESSION_4 is set but TELEGRAM_API_ID_4 and TELEGRAM_API_HASH_4 are not: "
            "a session needs the api_id and api_hash it was made with",
        ),
        (
            {"TELEGRAM_API_ID_1": "12", "TELEGRAM_API_HASH": API_HASH, "TELEGRAM_API_ID": "1"},
            "TELEGRAM_API_ID_1 is not a credential name: the first has no number "
            "(TELEGRAM_API_ID), the next ones are TELEGRAM_API_ID_2, TELEGRAM_API_ID_3 and so on",
        ),
        (
            {"TELEGRAM_API_ID": "1", "TELEGRAM_API_HASH": API_HASH}
            | {"TELEGRAM_API_ID_2": "1", "TELEGRAM_API_HASH_2": OTHER_HASH},
            "TELEGRAM_API_HASH and TELEGRAM_API_HASH_2 differ for the same api_id 1: "
            "an api_id has exactly one api_hash",
        ),
    ],
)
def test_incomplete_or_inconsistent_credentials(env: dict[str, str], expected: str) -> None:
    assert problems(**env) == [expected]


@pytest.mark.parametrize("api_id", ["0", "-5", "12a", "1.0", "012", "2147483648", "abc"])
def test_malformed_api_id(api_id: str) -> None:
    assert problems(TELEGRAM_API_ID_3=api_id, TELEGRAM_API_HASH_3=API_HASH) == [
        "TELEGRAM_API_ID_3 is not an api_id: expected a positive whole number "
        "(the api_id my.telegram.org shows)"
    ]


@pytest.mark.parametrize("api_hash", [API_HASH[:-1], API_HASH + "0", "g" * 32, API_HASH[:-1] + " "])
def test_malformed_api_hash_is_named_without_its_value(api_hash: str) -> None:
    lines = problems(TELEGRAM_API_ID_2="5", TELEGRAM_API_HASH_2=f"{api_hash}!")
    assert lines == [
        "TELEGRAM_API_HASH_2 is not an api_hash: expected 32 hexadecimal characters, "
        "0-9 and a-f (the api_hash my.telegram.org shows)"
    ]
    assert_hidden("\n".join(lines), API_HASH)


@pytest.mark.parametrize("damage", [lambda s: s[:-4], lambda s: "2" + s[1:], lambda s: s + "AAAA"])
def test_malformed_session_is_named_without_its_value(damage: object) -> None:
    assert callable(damage)
    bad = damage(session())
    lines = problems(TELEGRAM_API_ID="5", TELEGRAM_API_HASH=API_HASH, TELEGRAM_SESSION=bad)
    assert lines == [
        "TELEGRAM_SESSION is not a Telethon session string: "
        "expected the text Telethon's StringSession.save() returns"
    ]
    assert_hidden("\n".join(lines), bad[1:40])


def test_other_settings_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load(
        SLUICE_DATA_DIR="state",
        SLUICE_REDIS_URL="redis://localhost:6379/2",
        SLUICE_DATABASE_URL="postgresql+asyncpg://bot@db/sluice",
        TELEGRAM_API_SERVER="http://localhost:8081/",
        SLUICE_OWNER_IDS="12345, 67890,,",
    )
    assert settings.data_dir == tmp_path / "state"
    assert settings.redis_url == "redis://localhost:6379/2"
    assert settings.database_url == "postgresql+asyncpg://bot@db/sluice"
    assert settings.api_server == "http://localhost:8081"
    assert settings.api_local  # a local Bot API server runs with --local unless told
    assert not load(TELEGRAM_API_LOCAL="false").api_local
    assert settings.owner_ids == (12345, 67890)
    assert (
        load(SLUICE_DATABASE_URL="sqlite+aiosqlite:///x.db").database_url
        == "sqlite+aiosqlite:///x.db"
    )
    assert load(SLUICE_DATA_DIR="/srv/sluice").data_dir == Path("/srv/sluice")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "SLUICE_REDIS_URL",
            "localhost:6379",
            "is not a Redis URL: expected redis://, rediss:// or unix://...",
        ),
        (
            "SLUICE_DATABASE_URL",
            "mysql://u:p@h/db",
            "is not a database URL: expected sqlite:///<path> or "
            "postgresql://<user>:<password>@<host>/<database>",
        ),
        (
            "TELEGRAM_API_SERVER",
            "localhost:8081",
            "is not a Bot API server URL: expected http(s)://<host>[:<port>], e.g. http://localhost:8081",
        ),
        (
            "SLUICE_OWNER_IDS",
            "12345,@admin",
            "is not a list of user ids: expected positive whole numbers separated by commas, "
            "e.g. 12345,67890",
        ),
    ],
)
def test_malformed_other_settings(name: str, value: str, expected: str) -> None:
    assert problems(**{name: value}) == [f"{name} {expected}"]


def test_every_problem_is_reported_at_once_one_per_line() -> None:
    lines = problems(
        MULTITOKEN3=f"5:{SECRET[:-1]}",
        BOT_TOKEN=token(8),
        TELEGRAM_API_ID_2="x",
        TELEGRAM_API_HASH_2=API_HASH,
        SLUICE_OWNER_IDS="me",
        SLUICE_REDIS_URL="http://cache",
    )
    assert lines == [
        f"MULTITOKEN3 is not a bot token: expected {TOKEN_SHAPE}",
        "TELEGRAM_API_ID_2 is not an api_id: expected a positive whole number "
        "(the api_id my.telegram.org shows)",
        "SLUICE_REDIS_URL is not a Redis URL: expected redis://, rediss:// or unix://...",
        "SLUICE_OWNER_IDS is not a list of user ids: expected positive whole numbers "
        "separated by commas, e.g. 12345,67890",
    ]


def test_the_error_chain_holds_no_secret() -> None:
    password = "hunter2-db-password"
    with pytest.raises(ConfigError) as caught:
        load(
            MULTITOKEN1=f"5:{SECRET}!",
            SLUICE_REDIS_URL=f"http://user:{password}@cache",  # fails pydantic validation
            SLUICE_OWNER_IDS=SECRET,
        )
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None  # pydantic's ValidationError shows its input
    shown = "".join(traceback.format_exception(error)) + repr(error)
    for secret in (SECRET, password):
        assert_hidden(shown, secret)


def test_printed_settings_hold_no_secret() -> None:
    password = "hunter2-redis-password"
    saved = session()
    settings = load(
        BOT_TOKEN=token(5),
        TELEGRAM_API_ID="7",
        TELEGRAM_API_HASH=API_HASH,
        TELEGRAM_SESSION=saved,
        SLUICE_REDIS_URL=f"redis://user:{password}@cache:6379/0",
    )
    shown = [str(settings), repr(settings), f"{settings}", settings.model_dump_json()]
    shown += [repr(settings.model_dump()["bot_tokens"])]
    for text in shown:
        for secret in (SECRET, API_HASH, saved[1:60], password):
            assert_hidden(text, secret)
    assert "redis_url='redis://user:***@cache:6379/0'" in repr(settings)
    assert settings.redis_url == f"redis://user:{password}@cache:6379/0"  # the code that connects


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "bots.env"
    env_file.write_text(
        f"# tokens\nBOT_TOKEN={token(1)}\nexport MULTITOKEN1='{token(2)}'\n"
        f'MULTITOKEN2="{token(3)}"\nSLUICE_OWNER_IDS=42\n',
        encoding="utf-8",
    )
    settings = load_settings({"BOT_TOKEN": token(9), "MULTITOKEN5": token(5)}, env_file=env_file)
    assert [(t.source, t.bot_id) for t in settings.bot_tokens] == [
        ("BOT_TOKEN", 9),
        ("MULTITOKEN1", 2),
        ("MULTITOKEN2", 3),
        ("MULTITOKEN5", 5),
    ]
    assert settings.owner_ids == (42,)
    # An empty variable in the environment does not hide the file's value.
    assert load_settings({"BOT_TOKEN": ""}, env_file=env_file).bot_tokens[0].bot_id == 1


def test_dot_env_in_the_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).bot_tokens == ()  # no .env: fine
    (tmp_path / ".env").write_text(f"MULTITOKEN4={token(4)}\n", encoding="utf-8")
    assert [t.bot_id for t in load_settings({}).bot_tokens] == [4]
    assert load_settings({}, env_file=None).bot_tokens == ()


def test_env_file_that_is_not_utf8_is_an_error_without_its_bytes(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"BOT_TOKEN=5:\xff\xfe" + SECRET.encode())
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env_file=env_file)
    assert str(caught.value) == f"{env_file} is not UTF-8 text: save it as UTF-8"
    assert caught.value.__context__ is None


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTITOKEN987654", token(987654))
    tokens = load_settings(env_file=None).bot_tokens
    assert BotToken(token(987654)) in tokens


def test_settings_can_be_built_directly_and_refuse_unknown_keywords() -> None:
    by_variable: dict[str, Any] = {"SLUICE_REDIS_URL": "redis://x"}
    settings = Settings(owner_ids=(1,), bot_tokens=(BotToken(token(3)),), **by_variable)
    assert settings.owner_ids == (1,)
    assert settings.redis_url == "redis://x"
    assert settings.accounts()[0].id == 3
    misspelt: dict[str, Any] = {"redis_urls": "redis://x"}
    with pytest.raises(ValueError, match="redis_urls"):
        Settings(**misspelt)
