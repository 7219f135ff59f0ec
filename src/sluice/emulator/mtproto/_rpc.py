"""The registry of MTProto methods the emulator answers, and their errors.

Each handler takes the :class:`Call` (who asks, on which DC and connection)
and the request as Telethon's TL object, and returns a TL object (or raises
:class:`RpcError`). Handlers live in the ``_m_*`` modules, by namespace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.emulator._errors import ApiError

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator.mtproto._connection import Connection
    from sluice.emulator.mtproto._state import KeyRecord, MtprotoWorld

__all__ = [
    "Call",
    "RpcError",
    "bad_request",
    "flood_wait",
    "from_api_error",
    "handler_for",
    "method_name",
    "rpc",
    "unauthorized",
]

Handler = Callable[["Call", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Entry:
    handler: Handler
    auth: bool
    faults: bool


_RPC: dict[int, _Entry] = {}


class RpcError(Exception):
    """An ``rpc_error`` answer: Telegram's code and message (``FLOOD_WAIT_30``...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def bad_request(message: str) -> RpcError:
    return RpcError(400, message)


def unauthorized(message: str = "AUTH_KEY_UNREGISTERED") -> RpcError:
    return RpcError(401, message)


def flood_wait(seconds: float) -> RpcError:
    return RpcError(420, f"FLOOD_WAIT_{max(1, int(-(-seconds // 1)))}")


@dataclass(slots=True)
class Call:
    """One request being answered."""

    emu: Emulator
    mt: MtprotoWorld
    connection: Connection
    key: KeyRecord
    msg_id: int

    @property
    def dc(self) -> int:
        return self.connection.dc

    @property
    def account_id(self) -> int:
        """The signed-in user or bot (handlers registered with ``auth=True`` only)."""
        user_id = self.key.user_id
        if user_id is None:
            raise unauthorized()
        return user_id


def rpc(
    *request_types: type, auth: bool = True, faults: bool = True
) -> Callable[[Handler], Handler]:
    """Register a handler for these request types.

    ``auth``: only for signed-in keys (else ``401 AUTH_KEY_UNREGISTERED``).
    ``faults``: the emulator's fault mix applies (latency, 5xx, dropped connections);
    off for connecting, signing in and the updates state, as for the Bot API's getUpdates.
    """

    def register(handler: Handler) -> Handler:
        for request_type in request_types:
            constructor = getattr(request_type, "CONSTRUCTOR_ID")  # noqa: B009
            _RPC[constructor] = _Entry(handler, auth, faults)
        return handler

    return register


def handler_for(constructor_id: int) -> _Entry | None:
    return _RPC.get(constructor_id)


def from_api_error(error: ApiError) -> RpcError:
    """A Bot API side error (the shared flood model's 429...) as MTProto answers it."""
    if error.error_code == 429:
        retry_after = int((error.parameters or {}).get("retry_after", 1))
        return RpcError(420, f"FLOOD_WAIT_{retry_after}")
    if error.error_code == 403:
        return RpcError(403, "CHAT_WRITE_FORBIDDEN")
    if error.error_code == 401:
        return RpcError(401, "AUTH_KEY_UNREGISTERED")
    return RpcError(400, "INPUT_REQUEST_INVALID")


def method_name(request: object) -> str:
    """``messages.sendMessage`` for ``SendMessageRequest``: the name in Telegram's schema."""
    cls = type(request)
    name = cls.__name__.removesuffix("Request")
    namespace = cls.__module__.rsplit(".", 1)[-1]
    camel = name[:1].lower() + name[1:]
    return camel if namespace == "functions" else f"{namespace}.{camel}"
