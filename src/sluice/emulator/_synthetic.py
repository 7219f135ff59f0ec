"""Synthetic files: any size up to 4 GiB, bytes generated from a seed, nothing on disk.

The emulator serves a synthetic file's bytes (``upload.getFile`` over MTProto, the
Bot API's ``/file/`` route) from :func:`synthetic_bytes`, and tests and benchmarks
check what they downloaded against the same function. The bytes of 1 MiB block
``b`` are SHAKE-128 of ``b"sluice-synthetic:<seed>:<b>"`` (decimal numbers), so any
language can reproduce them. An extendable-output hash rather than ``random``:
it runs near 550 MB/s in OpenSSL, against about 320 MB/s for Mersenne Twister,
and any prefix of a block costs only that prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

__all__ = ["SYNTHETIC_BLOCK", "SYNTHETIC_MAX_SIZE", "iter_synthetic", "synthetic_bytes"]

SYNTHETIC_BLOCK = 1024 * 1024
SYNTHETIC_MAX_SIZE = 4 * 1024**3  # Telegram's largest file (Premium), 4 GiB


def _block(seed: int, block: int, end: int) -> bytes:
    """The first ``end`` bytes of a block."""
    return hashlib.shake_128(b"sluice-synthetic:%d:%d" % (seed, block)).digest(end)


def synthetic_bytes(seed: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` of the synthetic file ``seed`` (of unbounded size:
    a file of size N is the first N bytes).

    Raises ValueError for a negative offset or length.
    """
    if offset < 0 or length < 0:
        raise ValueError("offset and length must not be negative")
    parts: list[bytes] = []
    position, end = offset, offset + length
    while position < end:
        block, start = divmod(position, SYNTHETIC_BLOCK)
        stop = min(SYNTHETIC_BLOCK, start + (end - position))
        parts.append(_block(seed, block, stop)[start:])
        position += stop - start
    return b"".join(parts)


def iter_synthetic(seed: int, size: int, chunk: int = SYNTHETIC_BLOCK) -> Iterator[bytes]:
    """The whole synthetic file of ``size`` bytes, ``chunk`` bytes at a time."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1 byte")
    for offset in range(0, size, chunk):
        yield synthetic_bytes(seed, offset, min(chunk, size - offset))
