"""A local Telegram Bot API server that enforces Telegram's limits and injects faults.

Start one in-process::

    async with EmulatorServer(EmulatorConfig(limits=Limits(speed=10))) as server:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))

or from the shell with ``sluice emulator``. The same server emulates the
speech-to-text providers (OpenAI, Groq, Together, Deepgram): see
``server.stt_url(provider)`` and ``docs/emulator.md``.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import httpx  # noqa: F401
    import python_multipart  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.emulator", "emulator", error) from None

from sluice.emulator._audio import make_tone_audio
from sluice.emulator._client import Sim
from sluice.emulator._config import (
    EmulatorConfig,
    Faults,
    Limits,
    MtprotoConfig,
    Rate,
    SttConfig,
    SttFaults,
    SttProvider,
)
from sluice.emulator._core import Emulator
from sluice.emulator._server import EmulatorServer
from sluice.emulator._synthetic import iter_synthetic, synthetic_bytes

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Faults",
    "Limits",
    "MtprotoConfig",
    "Rate",
    "Sim",
    "SttConfig",
    "SttFaults",
    "SttProvider",
    "iter_synthetic",
    "make_tone_audio",
    "synthetic_bytes",
]
