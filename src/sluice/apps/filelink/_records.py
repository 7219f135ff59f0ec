"""The bot's files and links in sluice's store (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from sluice.apps.filelink._model import Link, StoredFile
from sluice.store import Store, filelink_files_table, filelink_links_table

__all__ = ["Records"]

_f = filelink_files_table.c
_l = filelink_links_table.c
_LINK_COLUMNS = (_l.id.label("link_id"), _l.owner_id, _l.name.label("link_name"), _l.epoch,
                 _l.revoked, _l.created_at.label("link_created_at"))  # fmt: skip


def _file(row: Any) -> StoredFile:
    return StoredFile(
        id=row.id, unique_id=row.unique_id, file_id=row.file_id, kind=row.kind, name=row.name,
        mime=row.mime, size=row.size, chat_id=row.chat_id, message_id=row.message_id,
        created_at=row.created_at,
    )  # fmt: skip


def _link(row: Any) -> Link:
    return Link(
        id=row.link_id, file=_file(row), owner_id=row.owner_id, name=row.link_name,
        epoch=row.epoch, revoked=bool(row.revoked), created_at=row.link_created_at,
    )  # fmt: skip


class Records:
    """Typed access to the ``filelink_files`` and ``filelink_links`` tables.

    Parameters:
        store: a set-up :class:`~sluice.store.Store`.
        clock: epoch seconds (tests inject one).
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def find(self, unique_id: str) -> StoredFile | None:
        """The stored file with this ``file_unique_id``, if one is kept."""
        async with self.store.read() as conn:
            row = (
                await conn.execute(sa.select(filelink_files_table).where(_f.unique_id == unique_id))
            ).first()
        return None if row is None else _file(row)

    async def get(self, file_id: int) -> StoredFile | None:
        async with self.store.read() as conn:
            row = (
                await conn.execute(sa.select(filelink_files_table).where(_f.id == file_id))
            ).first()
        return None if row is None else _file(row)

    async def add(
        self, *, unique_id: str, file_id: str, kind: str, name: str, mime: str, size: int,
        chat_id: int, message_id: int,
    ) -> tuple[StoredFile, bool]:  # fmt: skip
        """Keep a stored copy: (the file, True), or (the one kept already, False)."""
        async with self.store.write("filelink") as conn:
            insert = self.store.insert(filelink_files_table).values(
                unique_id=unique_id, file_id=file_id, kind=kind, name=name, mime=mime, size=size,
                chat_id=chat_id, message_id=message_id, created_at=self.clock(),
            )  # fmt: skip
            insert = insert.on_conflict_do_nothing(index_elements=[_f.unique_id])
            row = (await conn.execute(insert.returning(*filelink_files_table.c))).first()
            if row is not None:
                return _file(row), True
            row = (
                await conn.execute(sa.select(filelink_files_table).where(_f.unique_id == unique_id))
            ).one()
            return _file(row), False

    async def moved(self, file: StoredFile, *, chat_id: int, message_id: int, file_id: str) -> None:
        """The stored copy is now another message (the old one was deleted)."""
        async with self.store.write() as conn:
            await conn.execute(
                sa.update(filelink_files_table)
                .where(_f.id == file.id)
                .values(chat_id=chat_id, message_id=message_id, file_id=file_id)
            )

    async def link(self, file: StoredFile, owner_id: int, name: str) -> Link:
        """The owner's link to ``file``: made now, or the live one; a deleted one is made
        again with a new epoch, so that its old tokens stay dead."""
        now = self.clock()
        async with self.store.write("filelink") as conn:
            current = (
                await conn.execute(
                    sa.select(_l.id, _l.revoked)
                    .where(_l.file_id == file.id, _l.owner_id == owner_id)
                )
            ).first()  # fmt: skip
            if current is None:
                await conn.execute(
                    sa.insert(filelink_links_table).values(
                        file_id=file.id, owner_id=owner_id, name=name, created_at=now
                    )
                )
            elif current.revoked:
                await conn.execute(
                    sa.update(filelink_links_table)
                    .where(_l.id == current.id)
                    .values(revoked=False, epoch=_l.epoch + 1, name=name, created_at=now)
                )
            row = (
                await conn.execute(
                    self._select().where(_l.file_id == file.id, _l.owner_id == owner_id)
                )
            ).one()
        return _link(row)

    async def get_link(self, link_id: int) -> Link | None:
        async with self.store.read() as conn:
            row = (await conn.execute(self._select().where(_l.id == link_id))).first()
        return None if row is None else _link(row)

    async def links_of(
        self, owner_id: int, *, offset: int = 0, limit: int = 10
    ) -> tuple[list[Link], int]:
        """A page of the owner's live links, newest first, and how many there are."""
        where = (_l.owner_id == owner_id, _l.revoked.is_(False))
        async with self.store.read() as conn:
            rows = (
                await conn.execute(
                    self._select().where(*where).order_by(_l.id.desc()).offset(offset).limit(limit)
                )
            ).all()
            total = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(filelink_links_table).where(*where)
                )
            ).scalar_one()
        return [_link(row) for row in rows], int(total)

    async def revoke(self, link_id: int, *, owner_id: int | None = None) -> Link | None:
        """Delete a link: its tokens answer 410. ``owner_id``: only if it is theirs.
        None when there is no such live link."""
        async with self.store.write() as conn:
            where = [_l.id == link_id, _l.revoked.is_(False)]
            if owner_id is not None:
                where.append(_l.owner_id == owner_id)
            done = await conn.execute(
                sa.update(filelink_links_table).where(*where).values(revoked=True)
            )
            if not done.rowcount:
                return None
            row = (await conn.execute(self._select().where(_l.id == link_id))).one()
        return _link(row)

    async def totals(self) -> dict[str, int]:
        """Files kept, their bytes, live links and the users owning them."""
        async with self.store.read() as conn:
            kept = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_f.size), 0))
            files, size = (await conn.execute(kept)).one()
            live = _l.revoked.is_(False)
            links, owners = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.count(sa.distinct(_l.owner_id))).where(live)
                )
            ).one()
        return {"files": int(files), "bytes": int(size), "links": int(links), "owners": int(owners)}

    @staticmethod
    def _select() -> sa.Select[Any]:
        joined = filelink_links_table.join(filelink_files_table, _l.file_id == _f.id)
        return sa.select(*filelink_files_table.c, *_LINK_COLUMNS).select_from(joined)
