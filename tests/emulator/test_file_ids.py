"""File ids: valid for the bot they were issued to, whatever bytes their tag holds."""

from __future__ import annotations

import hashlib
import hmac
import io
from pathlib import Path

from sluice.emulator._files import FileStore


def _secret_whose_tag_has_a_dot(body: bytes) -> bytes:
    # The first secret (by counter) whose 8-byte tag for ``body`` contains b".".
    for n in range(10_000):
        secret = n.to_bytes(32, "big")
        if b"." in hmac.new(secret, body, hashlib.sha256).digest()[:8]:
            return secret
    raise AssertionError("no such secret below 10000")


def test_file_id_whose_tag_contains_a_dot_resolves(tmp_path: Path) -> None:
    bot_id = 1000001
    store = FileStore(tmp_path, _secret_whose_tag_has_a_dot(f"{bot_id}.1".encode()), False)
    record = store.add(io.BytesIO(b"data"), "document")
    file_id = store.file_id(record, bot_id)
    assert store.resolve(file_id, bot_id) is record
    assert store.resolve(file_id, bot_id + 1) is None
    assert store.resolve(file_id[:-2], bot_id) is None
    assert store.resolve("BQAC", bot_id) is None
