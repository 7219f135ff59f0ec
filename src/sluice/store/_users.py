"""The bots' users: language, ban, settings; one row per Telegram user id."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sluice.store._tables import users_table

if TYPE_CHECKING:
    from sluice.store._store import Store

__all__ = ["User", "Users"]

_t = users_table.c


@dataclass(frozen=True, slots=True)
class User:
    """A user as stored. Times are epoch seconds."""

    id: int
    language_code: str | None = None
    chosen_language: str | None = None
    banned: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def language(self) -> str | None:
        """The language to speak to the user: the one chosen, else Telegram's."""
        return self.chosen_language or self.language_code


def _user(row: sa.Row[Any]) -> User:
    return User(
        id=row.id,
        language_code=row.language_code,
        chosen_language=row.chosen_language,
        banned=bool(row.banned),
        settings=dict(row.settings or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Users:
    """Typed access to the ``users`` table of a :class:`Store`.

    Every setter creates the user if it is not stored yet, so that a bot can
    ban or configure a user id before that user has written to it.

    Parameters:
        store: the store (set up) whose table this is.
        clock: epoch seconds, for ``created_at`` and ``updated_at`` (tests inject one).
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def get(self, user_id: int) -> User | None:
        async with self.store.read() as conn:
            row = (await conn.execute(sa.select(users_table).where(_t.id == user_id))).first()
        return None if row is None else _user(row)

    async def seen(self, user_id: int, language_code: str | None = None) -> User:
        """Record that the user wrote, with the language Telegram reports for them.

        ``language_code`` None leaves a stored one as it is.
        """
        changes: dict[str, Any] = {}
        if language_code is not None:
            changes["language_code"] = language_code
        return await self._upsert(user_id, changes)

    async def set_banned(self, user_id: int, banned: bool = True) -> User:
        return await self._upsert(user_id, {"banned": banned})

    async def set_language(self, user_id: int, language: str | None) -> User:
        """The language the user chose (None: go back to Telegram's)."""
        return await self._upsert(user_id, {"chosen_language": language})

    async def set_settings(self, user_id: int, settings: Mapping[str, Any]) -> User:
        """Replace the user's settings (JSON-serialisable)."""
        return await self._upsert(user_id, {"settings": dict(settings)})

    async def update_settings(self, user_id: int, changes: Mapping[str, Any]) -> User:
        """Merge ``changes`` into the user's settings; a value of None removes its key."""
        async with self.store.write(f"user:{user_id}") as conn:
            current = (
                await conn.execute(sa.select(_t.settings).where(_t.id == user_id))
            ).scalar_one_or_none()
            settings = {**(current or {}), **changes}
            merged = {key: value for key, value in settings.items() if value is not None}
            return await self._upsert_in(conn, user_id, {"settings": merged})

    async def _upsert(self, user_id: int, changes: dict[str, Any]) -> User:
        async with self.store.write() as conn:
            return await self._upsert_in(conn, user_id, changes)

    async def _upsert_in(
        self, conn: AsyncConnection, user_id: int, changes: dict[str, Any]
    ) -> User:
        now = self.clock()
        statement = self.store.insert(users_table).values(
            id=user_id, created_at=now, updated_at=now, **changes
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_t.id], set_={**changes, "updated_at": now}
        )
        row = (await conn.execute(statement.returning(*users_table.c))).one()
        return _user(row)
