"""One client connection: the handshake that creates an authorization key, then
MTProto 2.0 sessions — containers, gzip, acks, pings, salts, rpc results and
errors — and updates pushed to the client.

Written here because MTProto has no server library; requests are parsed and
answers built with Telethon's TL schema (``telethon.tl``), which carries every
constructor. See core.telegram.org/mtproto/description and
core.telegram.org/mtproto/service_messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
import zlib
from typing import TYPE_CHECKING, Any

from telethon.extensions import BinaryReader  # type: ignore[import-untyped]
from telethon.tl import TLObject, functions, types  # type: ignore[import-untyped]

from sluice.emulator.mtproto._crypto import (
    DH_G,
    DH_PRIME,
    AuthKey,
    decrypt_message,
    encrypt_message,
    ige_decrypt,
    ige_encrypt,
    key_from_nonces,
    random_pq,
    sha1,
)
from sluice.emulator.mtproto._rpc import Call, RpcError, handler_for, method_name
from sluice.emulator.mtproto._transport import Framing, TransportError

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator.mtproto._state import KeyRecord, MtprotoWorld

__all__ = ["Connection", "DropMtprotoConnection"]

log = logging.getLogger("sluice.emulator.mtproto")

_CONTAINER = 0x73F1F8DC
_GZIP = 0x3072CFA1
_RPC_RESULT = 0xF35C6D01
_MSGS_ACK = 0x62D6B459
_MAX_INFLATED = 2 * 1024 * 1024  # a gzip_packed request may not inflate past this
_MAX_IN_FLIGHT = 512  # requests one connection may have unanswered at once
_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeWithMessagesRangeRequest,
    functions.InvokeWithTakeoutRequest,
)
# The plain (unencrypted) messages of the handshake; nothing else may come unencrypted.
_HANDSHAKE = (
    functions.ReqPqMultiRequest,
    functions.ReqPqRequest,
    functions.ReqDHParamsRequest,
    functions.SetClientDHParamsRequest,
)
_TIME_PAST = 300  # seconds a client's msg_id may lag the server's clock
_TIME_FUTURE = 30


class DropMtprotoConnection(Exception):
    """A handler (or an injected fault) wants the connection closed without an answer."""


class Connection:
    """Serves one TCP connection to one DC."""

    def __init__(
        self,
        emu: Emulator,
        mt: MtprotoWorld,
        dc: int,
        framing: Framing,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.emu = emu
        self.mt = mt
        self.dc = dc
        self.framing = framing
        self.writer = writer
        self.key: KeyRecord | None = None
        self.session_id: int | None = None
        self.wants_updates = False
        self.closed = False
        self._handshake: dict[str, Any] = {}
        self._last_msg_id = 0
        self._content_sent = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: set[int] = set()

    def __repr__(self) -> str:
        return f"Connection(dc={self.dc}, transport={self.framing.name}, user_id={self.user_id})"

    @property
    def user_id(self) -> int | None:
        return self.key.user_id if self.key is not None else None

    async def serve(self) -> None:
        self.mt.connections.add(self)
        try:
            while not self.closed:
                packet = await self.framing.read()
                if len(packet) < 8:
                    raise TransportError("packet too short")
                (key_id,) = struct.unpack("<q", packet[:8])
                if key_id == 0:
                    await self._plain(packet)
                else:
                    await self._encrypted(key_id, packet[8:])
        except (TransportError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("mtproto connection closed: %s", exc)
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.mt.connections.discard(self)
        for task in list(self._tasks):
            task.cancel()
        self.writer.close()

    # -- the handshake (plain messages) ------------------------------------------------

    async def _plain(self, packet: bytes) -> None:
        if len(packet) < 20:
            raise TransportError("plain message too short")
        (length,) = struct.unpack("<i", packet[16:20])
        if not 0 < length <= len(packet) - 20:
            raise TransportError("plain message length")
        try:
            request = BinaryReader(packet[20 : 20 + length]).tgread_object()
        except Exception as exc:  # a malformed handshake: nothing to answer
            raise TransportError("unreadable handshake message") from exc
        if not isinstance(request, _HANDSHAKE):
            raise TransportError(f"{type(request).__name__} sent unencrypted")
        answer = self._handshake_step(request)
        body = bytes(answer)
        self.framing.write(struct.pack("<qqi", 0, self._next_msg_id(True), len(body)) + body)
        await self.framing.drain()

    def _handshake_step(self, request: Any) -> TLObject:
        hs = self._handshake
        if isinstance(request, functions.ReqPqMultiRequest | functions.ReqPqRequest):
            p, q = random_pq()
            hs.clear()
            hs.update(nonce=request.nonce, server_nonce=secrets.randbits(127), p=p, q=q)
            return types.ResPQ(
                nonce=request.nonce,
                server_nonce=hs["server_nonce"],
                pq=_int_bytes(p * q),
                server_public_key_fingerprints=[self.mt.rsa.fingerprint],
            )
        if not hs or request.nonce != hs["nonce"] or request.server_nonce != hs["server_nonce"]:
            raise TransportError("handshake nonce mismatch")
        if isinstance(request, functions.ReqDHParamsRequest):
            return self._dh_params(request)
        return self._client_dh(request)

    def _dh_params(self, request: Any) -> TLObject:
        hs = self._handshake
        if (
            request.public_key_fingerprint != self.mt.rsa.fingerprint
            or _from_bytes(request.p) != hs["p"]
            or _from_bytes(request.q) != hs["q"]
        ):
            raise TransportError("handshake: wrong key or factors")
        decrypted = self.mt.rsa.decrypt_inner(request.encrypted_data)
        if decrypted is None:
            raise TransportError("handshake: undecryptable inner data")
        payload, digest = decrypted
        try:
            inner = BinaryReader(payload).tgread_object()
        except Exception as exc:
            raise TransportError("handshake: unreadable inner data") from exc
        if digest is not None and sha1(bytes(inner)).digest() != digest:
            raise TransportError("handshake: inner data hash")
        inner_types = (types.PQInnerData, types.PQInnerDataDc)
        if not isinstance(inner, inner_types) or inner.nonce != hs["nonce"]:
            raise TransportError("handshake: inner data")
        hs["new_nonce"] = inner.new_nonce
        a = secrets.randbits(2048) % (DH_PRIME - 2) + 1
        g_a = pow(DH_G, a, DH_PRIME)
        hs["a"] = a
        answer = bytes(
            types.ServerDHInnerData(
                nonce=hs["nonce"],
                server_nonce=hs["server_nonce"],
                g=DH_G,
                dh_prime=_int_bytes(DH_PRIME),
                g_a=_int_bytes(g_a),
                server_time=int(time.time()),
            )
        )
        data = sha1(answer).digest() + answer
        data += secrets.token_bytes(-len(data) % 16)
        key, iv = key_from_nonces(hs["server_nonce"], inner.new_nonce)
        return types.ServerDHParamsOk(
            nonce=hs["nonce"],
            server_nonce=hs["server_nonce"],
            encrypted_answer=ige_encrypt(data, key, iv),
        )

    def _client_dh(self, request: Any) -> TLObject:
        hs = self._handshake
        if "a" not in hs or len(request.encrypted_data) % 16:
            raise TransportError("handshake: out of order")
        key, iv = key_from_nonces(hs["server_nonce"], hs["new_nonce"])
        plain = ige_decrypt(request.encrypted_data, key, iv)
        try:
            inner = BinaryReader(plain[20:]).tgread_object()
        except Exception as exc:
            raise TransportError("handshake: unreadable client DH data") from exc
        if (
            not isinstance(inner, types.ClientDHInnerData)
            or sha1(bytes(inner)).digest() != plain[:20]
        ):
            raise TransportError("handshake: client DH data")
        g_b = _from_bytes(inner.g_b)
        safety = 2 ** (2048 - 64)
        if not safety <= g_b <= DH_PRIME - safety:
            raise TransportError("handshake: g_b out of range")
        auth_key = AuthKey(pow(g_b, hs["a"], DH_PRIME).to_bytes(256, "big"))
        new_nonce = hs["new_nonce"]
        nonce_bytes = new_nonce.to_bytes(32, "little", signed=True)
        server_bytes = hs["server_nonce"].to_bytes(16, "little", signed=True)
        salt = struct.unpack(
            "<q", bytes(a ^ b for a, b in zip(nonce_bytes[:8], server_bytes[:8], strict=True))
        )[0]
        self.mt.new_key(auth_key, self.dc, salt)
        hs.clear()
        return types.DhGenOk(
            nonce=request.nonce,
            server_nonce=request.server_nonce,
            new_nonce_hash1=auth_key.new_nonce_hash(new_nonce, 1),
        )

    # -- encrypted messages ------------------------------------------------------------

    async def _encrypted(self, key_id: int, body: bytes) -> None:
        record = self.mt.keys.get(key_id)
        if record is None or record.dc != self.dc:
            # Telegram's transport error for a key it does not know: the client makes a new one.
            self.framing.write(struct.pack("<i", -404))
            await self.framing.drain()
            return
        if self.framing.name == "padded":
            body = body[: len(body) - (len(body) - 16) % 16]
        plain = decrypt_message(record.auth_key.key, body)
        if plain is None or len(plain) < 32:
            raise TransportError("message failed its msg_key check")
        salt, session_id, msg_id, seq_no, length = struct.unpack("<qqqii", plain[:32])
        if not 0 <= length <= len(plain) - 32 or len(plain) - 32 - length > 1024:
            raise TransportError("bad message length")
        if self.key is not None and self.key is not record:
            raise TransportError("one connection, one authorization key")
        self.key = record
        if session_id != self.session_id:
            self.session_id = session_id
            self._content_sent = 0
            self._seen.clear()
            await self._send(
                types.NewSessionCreated(
                    first_msg_id=msg_id, unique_id=secrets.randbits(63), server_salt=record.salt
                ),
                content=True,
            )
        if await self._bad_msg(msg_id, seq_no):
            return
        if salt not in (record.salt, record.initial_salt):
            await self._send(
                types.BadServerSalt(
                    bad_msg_id=msg_id,
                    bad_msg_seqno=seq_no,
                    error_code=48,
                    new_server_salt=record.salt,
                ),
                content=False,
            )
            return
        await self._message(msg_id, seq_no, plain[32 : 32 + length])

    async def _bad_msg(self, msg_id: int, seq_no: int) -> bool:
        """Answer bad_msg_notification for a msg_id Telegram would refuse (and say so)."""
        code = 0
        now = time.time()
        if msg_id % 4:
            code = 18
        elif (msg_id >> 32) < now - _TIME_PAST:
            code = 16
        elif (msg_id >> 32) > now + _TIME_FUTURE:
            code = 17
        elif msg_id in self._seen:
            code = 19
        if code:
            await self._send(
                types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seq_no, error_code=code),
                content=False,
            )
            return True
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen.add(msg_id)
        return False

    async def _message(self, msg_id: int, seq_no: int, body: bytes) -> None:
        if len(body) < 4:
            return
        (constructor,) = struct.unpack("<I", body[:4])
        if constructor == _CONTAINER:
            for inner_id, inner_seq, inner in _container(body):
                await self._message(inner_id, inner_seq, inner)
            return
        if constructor == _GZIP:
            await self._message(msg_id, seq_no, _inflate(body))
            return
        if constructor == _MSGS_ACK:
            return
        try:
            request = BinaryReader(body).tgread_object()
        except Exception:  # a constructor not in the schema, or a truncated one
            await self._answer(msg_id, RpcError(400, "INPUT_CONSTRUCTOR_INVALID"))
            return
        if isinstance(request, functions.PingRequest | functions.PingDelayDisconnectRequest):
            await self._send(types.Pong(msg_id=msg_id, ping_id=request.ping_id), content=False)
            return
        if isinstance(request, functions.GetFutureSaltsRequest):
            assert self.key is not None
            now = int(time.time())
            salt = types.FutureSalt(
                valid_since=now - 60, valid_until=now + 3600, salt=self.key.salt
            )
            await self._result(msg_id, types.FutureSalts(req_msg_id=msg_id, now=now, salts=[salt]))
            return
        if isinstance(request, functions.DestroySessionRequest):
            await self._result(msg_id, types.DestroySessionOk(session_id=request.session_id))
            return
        if isinstance(request, functions.RpcDropAnswerRequest):
            await self._result(msg_id, types.RpcAnswerUnknown())
            return
        if isinstance(request, types.MsgsStateReq | types.MsgResendReq | types.HttpWait):
            return
        if len(self._tasks) >= _MAX_IN_FLIGHT:
            await self._answer(msg_id, RpcError(420, "FLOOD_WAIT_1"))
            return
        task = asyncio.create_task(self._invoke(msg_id, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invoke(self, msg_id: int, request: Any) -> None:
        assert self.key is not None
        key = self.key
        while isinstance(request, _WRAPPERS):
            if isinstance(request, functions.InvokeWithLayerRequest):
                key.layer = request.layer
            elif isinstance(request, functions.InitConnectionRequest):
                key.api_id = request.api_id
            elif isinstance(request, functions.InvokeWithoutUpdatesRequest):
                pass
            request = request.query
        if key.user_id is not None and not isinstance(request, functions.auth.LogOutRequest):
            self.wants_updates = True
        entry = handler_for(request.CONSTRUCTOR_ID)
        try:
            await self._handle(msg_id, key, entry, request)
        finally:
            # Counted once answered (or not): a sign-in counts for the account it signed in.
            self.mt.count_call(key.user_id, method_name(request))

    async def _handle(self, msg_id: int, key: KeyRecord, entry: Any, request: Any) -> None:
        try:
            if entry is None:
                raise RpcError(400, f"METHOD_NOT_EMULATED: {method_name(request)}")
            if entry.auth and key.user_id is None:
                raise RpcError(401, "AUTH_KEY_UNREGISTERED")
            if entry.faults and self.emu.faults.faults.active:
                await self._inject_faults(key.user_id)
            result = await entry.handler(Call(self.emu, self.mt, self, key, msg_id), request)
        except RpcError as error:
            await self._answer(msg_id, error)
            return
        except DropMtprotoConnection:
            self.close()
            return
        except Exception:  # a handler's bug: answered like Telegram's own internal errors
            log.exception("mtproto handler failed: %s", method_name(request))
            await self._answer(msg_id, RpcError(500, "INTERNAL_SERVER_ERROR"))
            return
        await self._result(msg_id, result)

    async def _inject_faults(self, account_id: int | None) -> None:
        """The emulator's fault mix, as the Bot API side draws it: latency, then maybe a
        dropped connection or a 500 (Telegram's MTProto answers ``RPC_CALL_FAIL``)."""
        faults = self.emu.faults
        delay = faults.latency()
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.emu._stopping.wait(), delay)
        fault = faults.transport_fault()
        if fault is None:
            return
        if account_id is not None:
            self.emu.bot_stats(account_id).faults[f"mtproto_{fault}"] += 1
        if fault == "drop":
            raise DropMtprotoConnection
        raise RpcError(500, "RPC_CALL_FAIL")

    async def _answer(self, msg_id: int, error: RpcError) -> None:
        await self._result(
            msg_id, types.RpcError(error_code=error.code, error_message=error.message)
        )

    async def _result(self, msg_id: int, result: Any) -> None:
        data = result if isinstance(result, bytes) else _serialize(result)
        await self._send_raw(struct.pack("<Iq", _RPC_RESULT, msg_id) + data, content=True)

    async def push(self, update: TLObject) -> None:
        """Send an update (Updates, UpdateShort...) the client did not ask for."""
        if not self.closed and self.session_id is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(update, content=True, response=False)

    async def _send(self, obj: TLObject, *, content: bool, response: bool = True) -> None:
        await self._send_raw(bytes(obj), content=content, response=response)

    async def _send_raw(self, body: bytes, *, content: bool, response: bool = True) -> None:
        if self.closed or self.key is None or self.session_id is None:
            return
        if content:
            seq_no = self._content_sent * 2 + 1
            self._content_sent += 1
        else:
            seq_no = self._content_sent * 2
        header = struct.pack(
            "<qqqii", self.key.salt, self.session_id, self._next_msg_id(response), seq_no, len(body)
        )
        self.framing.write(encrypt_message(self.key.auth_key, header + body))
        await self.framing.drain()

    def _next_msg_id(self, response: bool) -> int:
        now = time.time()
        msg_id = (int(now) << 32) | (int((now % 1) * 2**30) << 2)
        msg_id = max(msg_id, self._last_msg_id + 4)
        msg_id = (msg_id & ~3) | (1 if response else 3)
        self._last_msg_id = msg_id
        return msg_id


def _serialize(result: Any) -> bytes:
    """A TL object, or a Vector of them (a list), or of longs/ints (``vector_of``)."""
    if isinstance(result, list):
        items = b"".join(
            struct.pack("<q", item) if isinstance(item, int) else bytes(item) for item in result
        )
        return struct.pack("<Ii", 0x1CB5C415, len(result)) + items
    return bytes(result)


def _container(body: bytes) -> list[tuple[int, int, bytes]]:
    """The messages of a msg_container (no nested containers, as Telegram says)."""
    (count,) = struct.unpack("<i", body[4:8])
    if not 0 <= count <= 1024:
        raise TransportError("container too large")
    messages, offset = [], 8
    for _ in range(count):
        if offset + 16 > len(body):
            raise TransportError("container truncated")
        msg_id, seq_no, length = struct.unpack("<qii", body[offset : offset + 16])
        offset += 16
        if length < 0 or offset + length > len(body):
            raise TransportError("container truncated")
        inner = body[offset : offset + length]
        if inner[:4] == struct.pack("<I", _CONTAINER):
            raise TransportError("nested container")
        messages.append((msg_id, seq_no, inner))
        offset += length
    return messages


def _inflate(body: bytes) -> bytes:
    reader = BinaryReader(body[4:])
    try:
        packed = reader.tgread_bytes()
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        data = inflater.decompress(packed, _MAX_INFLATED)
    except (zlib.error, struct.error, IndexError) as exc:
        raise TransportError("bad gzip_packed") from exc
    if inflater.unconsumed_tail:
        raise TransportError("gzip_packed inflates too far")
    return data


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "big")
