"""The server's half of MTProto's cryptography.

Written here because no library serves MTProto: Telethon is a client, and its
crypto module does the client's half (it encrypts to the server's RSA key and
derives the client's keys). This module keeps the emulator's RSA key, decrypts
what clients encrypt to it (the 2013 padding Telethon 1.x uses, and RSA_PAD of
today's MTProto), runs the server's side of the Diffie-Hellman exchange and
encrypts and decrypts MTProto 2.0 messages. AES-IGE is Telethon's
(``telethon.crypto.AES``: cryptg when installed, else pure Python).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from hashlib import sha256
from pathlib import Path

import rsa  # Telethon's own dependency
from telethon.crypto import AES  # type: ignore[import-untyped]
from telethon.tl import TLObject  # type: ignore[import-untyped]

__all__ = [
    "DH_G",
    "DH_PRIME",
    "AuthKey",
    "RsaKey",
    "decrypt_message",
    "encrypt_message",
    "ige_decrypt",
    "ige_encrypt",
    "key_from_nonces",
    "random_pq",
    "sha1",
]

# Telegram's own 2048-bit safe prime (core.telegram.org/mtproto/auth_key): clients
# know it, and with g = 3 it passes every check the docs ask clients to make.
DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
DH_G = 3


def sha1(data: bytes = b"") -> hashlib._Hash:
    """SHA-1, which MTProto's handshake and key ids are defined with."""
    return hashlib.sha1(data)  # noqa: S324  (the protocol fixes it; not our choice)


_RSA_FILE = "mtproto_rsa.pem"


def ige_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    return bytes(AES.encrypt_ige(data, key, iv))


def ige_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    return bytes(AES.decrypt_ige(data, key, iv))


class RsaKey:
    """The emulator's RSA key pair; its public half is what clients are given."""

    def __init__(self, private: rsa.PrivateKey) -> None:
        self._private = private
        n = TLObject.serialize_bytes(_int_bytes(private.n))
        e = TLObject.serialize_bytes(_int_bytes(private.e))
        self.fingerprint: int = struct.unpack("<q", sha1(n + e).digest()[-8:])[0]

    def __repr__(self) -> str:
        return f"RsaKey(fingerprint={self.fingerprint})"

    @classmethod
    def load_or_create(cls, directory: Path) -> RsaKey:
        """The key kept in ``directory``, generated there (2048 bits) on first use."""
        path = directory / _RSA_FILE
        if path.exists():
            return cls(rsa.PrivateKey.load_pkcs1(path.read_bytes()))
        directory.mkdir(parents=True, exist_ok=True)
        _, private = rsa.newkeys(2048)
        # Written aside then renamed: two emulators starting at once never read half a key.
        temp = directory / f".{_RSA_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private.save_pkcs1())
        os.replace(temp, path)
        return cls(private)

    @property
    def public_pem(self) -> str:
        """PKCS#1 PEM, as ``telethon.crypto.rsa.add_key`` takes it."""
        public = rsa.PublicKey(self._private.n, self._private.e)
        return str(public.save_pkcs1().decode())

    def decrypt_inner(self, cipher: bytes) -> tuple[bytes, bytes | None] | None:
        """What a client encrypted to this key, or None: (data with its padding, the
        SHA-1 the data must have) with the old padding, (data, None) with RSA_PAD."""
        if len(cipher) != 256:
            return None
        value = int.from_bytes(cipher, "big")
        if value >= self._private.n:
            return None
        plain = pow(value, self._private.d, self._private.n).to_bytes(256, "big")
        old = _old_padding(plain)
        return old if old is not None else _rsa_pad(plain)


def _old_padding(plain: bytes) -> tuple[bytes, bytes | None] | None:
    # sha1(data) + data + random, 255 bytes: the length is not written, so the caller
    # parses the object and checks the hash of what it read.
    if plain[0] != 0:
        return None
    return plain[21:], plain[1:21]


def _rsa_pad(plain: bytes) -> tuple[bytes, bytes | None] | None:
    # RSA_PAD: temp_key_xor(32) + aes_encrypted(224); data_with_hash = reversed(data
    # with padding, 192 bytes) + sha256(temp_key + data_with_padding).
    temp_key_xor, aes_encrypted = plain[:32], plain[32:]
    digest = sha256(aes_encrypted).digest()
    temp_key = bytes(a ^ b for a, b in zip(temp_key_xor, digest, strict=True))
    data_with_hash = ige_decrypt(aes_encrypted, temp_key, bytes(32))
    padded = data_with_hash[:192][::-1]
    if sha256(temp_key + padded).digest() != data_with_hash[192:]:
        return None
    return padded, None


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def key_from_nonces(server_nonce: int, new_nonce: int) -> tuple[bytes, bytes]:
    """tmp_aes_key and tmp_aes_iv of the handshake's third step."""
    server = server_nonce.to_bytes(16, "little", signed=True)
    new = new_nonce.to_bytes(32, "little", signed=True)
    hash1 = sha1(new + server).digest()
    hash2 = sha1(server + new).digest()
    hash3 = sha1(new + new).digest()
    return hash1 + hash2[:12], hash2[12:20] + hash3 + new[:4]


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in (2, 3, 5, 7, 11, 13, 17):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def random_pq() -> tuple[int, int]:
    """Two distinct primes under 2^32 (p < q): the proof of work a client factorises."""
    primes: list[int] = []
    while len(primes) < 2:
        candidate = secrets.randbits(31) | (1 << 30) | 1
        if _is_prime(candidate) and candidate not in primes:
            primes.append(candidate)
    p, q = sorted(primes)
    return p, q


class AuthKey:
    """A 2048-bit authorization key and the ids derived from it."""

    __slots__ = ("aux_hash", "key", "key_id")

    def __init__(self, key: bytes) -> None:
        digest = sha1(key).digest()
        self.key = key
        self.key_id: int = struct.unpack("<q", digest[-8:])[0]
        self.aux_hash = digest[:8]

    def __repr__(self) -> str:  # the key is a secret
        return f"AuthKey(key_id={self.key_id})"

    def new_nonce_hash(self, new_nonce: int, number: int) -> int:
        data = new_nonce.to_bytes(32, "little", signed=True) + bytes([number]) + self.aux_hash
        return int.from_bytes(sha1(data).digest()[4:20], "little", signed=True)


def _aes_params(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    a = sha256(msg_key + auth_key[x : x + 36]).digest()
    b = sha256(auth_key[x + 40 : x + 76] + msg_key).digest()
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def decrypt_message(auth_key: bytes, body: bytes) -> bytes | None:
    """The plaintext of a client's encrypted message (``body`` after auth_key_id), or
    None when its msg_key does not match (a forged or corrupted message)."""
    if len(body) < 16 + 32 or (len(body) - 16) % 16:
        return None
    msg_key = body[:16]
    key, iv = _aes_params(auth_key, msg_key, 0)
    plain = ige_decrypt(body[16:], key, iv)
    if sha256(auth_key[88:120] + plain).digest()[8:24] != msg_key:
        return None
    return plain


def encrypt_message(auth_key: AuthKey, plain: bytes) -> bytes:
    """auth_key_id + msg_key + the encrypted data, server to client (x = 8)."""
    padding = os.urandom(-(len(plain) + 12) % 16 + 12)
    data = plain + padding
    msg_key = sha256(auth_key.key[96:128] + data).digest()[8:24]
    key, iv = _aes_params(auth_key.key, msg_key, 8)
    return struct.pack("<q", auth_key.key_id) + msg_key + ige_encrypt(data, key, iv)
