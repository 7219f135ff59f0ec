"""The users table through its helpers: first contact, language, ban, settings."""

from __future__ import annotations

import pytest

from sluice.store import Store, User, Users


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(store: Store, clock: Clock) -> Users:
    return Users(store, clock=clock)


async def test_an_unknown_user_is_none(users: Users) -> None:
    assert await users.get(42) is None


async def test_first_contact_stores_the_user_and_later_ones_update_it(
    users: Users, clock: Clock
) -> None:
    first = await users.seen(42, "id")
    assert first == User(
        id=42,
        language_code="id",
        chosen_language=None,
        banned=False,
        settings={},
        created_at=clock.now,
        updated_at=clock.now,
    )
    clock.now += 60
    again = await users.seen(42, "en")
    assert (again.language_code, again.created_at, again.updated_at) == (
        "en",
        first.created_at,
        clock.now,
    )
    # Telegram does not always say: what is known stays.
    assert (await users.seen(42)).language_code == "en"
    assert await users.get(42) == await users.seen(42)


async def test_telegram_user_ids_need_64_bits(users: Users) -> None:
    big = 7_000_000_000  # past 2**31, as new Telegram accounts are
    await users.seen(big, "pt-br")
    found = await users.get(big)
    assert found is not None
    assert found.id == big


async def test_a_chosen_language_wins_over_telegrams(users: Users) -> None:
    await users.seen(1, "en")
    chosen = await users.set_language(1, "id")
    assert (chosen.language_code, chosen.chosen_language, chosen.language) == ("en", "id", "id")
    back = await users.set_language(1, None)
    assert back.language == "en"


async def test_ban_and_unban(users: Users) -> None:
    assert (await users.set_banned(5)).banned
    stored = await users.get(5)
    assert stored is not None
    assert stored.banned
    assert not (await users.set_banned(5, False)).banned


async def test_setters_create_a_user_not_seen_yet(users: Users, clock: Clock) -> None:
    banned = await users.set_banned(99)
    assert (banned.id, banned.banned, banned.language_code, banned.created_at) == (
        99,
        True,
        None,
        clock.now,
    )


async def test_settings_are_replaced_or_merged(users: Users) -> None:
    settings = {"model": "whisper-1", "timestamps": True, "glossary": ["Halo", "Selamat"]}
    assert (await users.set_settings(3, settings)).settings == settings
    merged = await users.update_settings(3, {"timestamps": None, "format": "srt"})
    assert merged.settings == {
        "model": "whisper-1",
        "glossary": ["Halo", "Selamat"],
        "format": "srt",
    }
    assert (await users.set_settings(3, {})).settings == {}


async def test_the_store_offers_its_users(store: Store) -> None:
    await store.users.seen(11, "ru")
    found = await store.users.get(11)
    assert found is not None
    assert found.language == "ru"
