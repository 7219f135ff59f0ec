"""Signed links and the records behind them, on SQLite and PostgreSQL: a tampered
link is refused (403), an expired, deleted or revoked one is gone (410), a banned
owner's links stop serving (403), and links outlive the process and its tokens."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice._exceptions import ConfigError
from sluice.apps.filelink._links import Claims, LinkResolver, Links, LinkSigner
from sluice.apps.filelink._model import LinkRefused, StoredFile
from sluice.apps.filelink._records import Records
from sluice.store import Store, Users
from vclock import ManualClock

SECRET = "test-link-secret-0123456789abcdefghij"
OTHER = "another-link-secret-0123456789abcdefgh"
OWNER, STRANGER = 501, 502


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sluice.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store.open(store_url, namespace=f"t{uuid.uuid4().hex[:12]}")
    await opened.setup()
    try:
        yield opened
    finally:
        await opened.drop()
        await opened.close()


class World:
    def __init__(self, store: Store, clock: ManualClock, secret: str = SECRET) -> None:
        self.records = Records(store, clock=clock)
        self.users = Users(store)
        self.signer = LinkSigner(secret)
        self.links = Links(
            self.signer, self.users, "https://files.example.com/", ttl=3600, clock=clock
        )
        self.resolver = LinkResolver(self.signer, self.records, self.users, clock=clock)

    async def keep(self, unique_id: str = "AgADuniq", size: int = 1000) -> StoredFile:
        file, _ = await self.records.add(
            unique_id=unique_id, file_id="BQAC", kind="video", name="clip.mp4",
            mime="video/mp4", size=size, chat_id=-1001234567890, message_id=7,
        )  # fmt: skip
        return file

    async def token(self, file: StoredFile, owner: int = OWNER) -> str:
        link = await self.records.link(file, owner, file.name)
        return await self.links.token(link)


async def _refused(resolver: LinkResolver, token: str) -> LinkRefused:
    with pytest.raises(LinkRefused) as caught:
        await resolver.resolve(token)
    return caught.value


async def test_a_link_resolves_to_its_file_and_its_urls_name_it(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    file = await world.keep()
    link = await world.records.link(file, OWNER, "my clip.mp4")
    download, watch = await world.links.urls(link)
    token = download.split("/")[4]
    assert download == f"https://files.example.com/dl/{token}/my%20clip.mp4"
    assert watch == f"https://files.example.com/watch/{token}/my%20clip.mp4"
    assert await world.resolver.resolve(token) == file


@pytest.mark.parametrize("change", ["payload", "tag", "truncated", "garbage", "long", "empty"])
async def test_a_tampered_link_is_refused_with_403(store: Store, change: str) -> None:
    world = World(store, ManualClock(1000.0))
    token = await world.token(await world.keep())
    payload, tag = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[8] ^= 1  # another link id
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    tampered = {
        "payload": f"{forged}.{tag}",
        "tag": f"{payload}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BB'}",
        "truncated": token[:-1],
        "garbage": "%%%.***",
        "long": token + "A" * 200,
        "empty": "",
    }[change]
    refused = await _refused(world.resolver, tampered)
    assert refused.status == 403


async def test_a_link_signed_with_another_secret_is_refused(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    token = await world.token(await world.keep())
    other = World(store, ManualClock(1000.0), secret=OTHER)
    assert (await _refused(other.resolver, token)).status == 403


async def test_an_expired_link_is_gone_with_410(store: Store) -> None:
    clock = ManualClock(1000.0)
    world = World(store, clock)
    token = await world.token(await world.keep())
    clock.now += 3599
    assert (await world.resolver.resolve(token)).unique_id == "AgADuniq"
    clock.now += 1
    refused = await _refused(world.resolver, token)
    assert (refused.status, refused.reason) == (410, "this link has expired")


async def test_a_deleted_link_stays_dead_when_made_again(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    file = await world.keep()
    old = await world.token(file)
    link = await world.records.link(file, OWNER, file.name)
    assert await world.records.revoke(link.id, owner_id=STRANGER) is None  # not theirs
    assert await world.resolver.resolve(old) == file
    assert await world.records.revoke(link.id, owner_id=OWNER) is not None
    assert (await _refused(world.resolver, old)).status == 410
    new = await world.token(file)  # the owner asks for it again: a new epoch
    assert new != old
    assert await world.resolver.resolve(new) == file
    assert (await _refused(world.resolver, old)).status == 410


async def test_revoking_all_of_a_users_links_spares_other_owners(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    one, two = await world.keep("AgADone"), await world.keep("AgADtwo")
    mine = [await world.token(one), await world.token(two)]
    theirs = await world.token(one, STRANGER)
    await world.links.revoke_all(OWNER)
    for token in mine:
        assert (await _refused(world.resolver, token)).status == 410
    assert await world.resolver.resolve(theirs) == one
    fresh = await world.token(one)
    assert await world.resolver.resolve(fresh) == one


async def test_a_banned_owners_links_stop_serving_until_unbanned(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    file = await world.keep()
    token = await world.token(file)
    await world.users.set_banned(OWNER, True)
    assert (await _refused(world.resolver, token)).status == 403
    await world.users.set_banned(OWNER, False)
    assert await world.resolver.resolve(token) == file


async def test_one_file_kept_once_with_a_link_per_owner(store: Store) -> None:
    world = World(store, ManualClock(1000.0))
    first = await world.keep()
    again, new = await world.records.add(
        unique_id="AgADuniq", file_id="other", kind="video", name="x.mp4", mime="video/mp4",
        size=1000, chat_id=-1001234567890, message_id=99,
    )  # fmt: skip
    assert (again, new) == (first, False)
    mine = await world.records.link(first, OWNER, "a.mp4")
    theirs = await world.records.link(first, STRANGER, "b.mp4")
    assert mine.id != theirs.id
    assert (await world.records.link(first, OWNER, "a.mp4")).id == mine.id
    assert await world.records.totals() == {"files": 1, "bytes": 1000, "links": 2, "owners": 2}
    page, total = await world.records.links_of(OWNER)
    assert ([link.id for link in page], total) == ([mine.id], 1)


async def test_links_outlive_the_process_and_its_bot_tokens(store_url: str) -> None:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    first = Store.open(store_url, namespace=namespace)
    await first.setup()
    world = World(first, ManualClock(1000.0))
    file = await world.keep()
    token = await world.token(file)
    await first.close()
    # A new process: nothing in memory, the same database and secret, other bot tokens.
    second = Store.open(store_url, namespace=namespace)
    try:
        await second.setup()
        assert await World(second, ManualClock(2000.0)).resolver.resolve(token) == file
    finally:
        await second.drop()
        await second.close()


def test_the_secret_is_required_long_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="too short"):
        LinkSigner("short")
    signer = LinkSigner(SECRET)
    assert SECRET not in repr(signer)
    token = signer.sign(Claims(1, 0, 0, None))
    assert SECRET not in token
    assert signer.verify(token) == Claims(1, 0, 0, None)
