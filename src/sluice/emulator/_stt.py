"""The emulated speech-to-text providers: their state, statistics and HTTP face.

OpenAI, Groq, Together and a generic OpenAI-compatible endpoint take multipart
uploads; Deepgram takes the raw audio as the body. Either way the upload is
counted as it streams in (413 the moment it passes the provider's cap),
spooled to a temporary file, decoded by ffmpeg in a subprocess, and removed.
The transcript is derived from the sound actually received (see
:mod:`sluice.emulator._transcript`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request

from sluice._ffmpeg import AudioAnalysis, analyse_audio
from sluice._redact import register_secret
from sluice.emulator._config import MAX_RETRY_AFTER, STT_PROVIDERS, SttConfig, SttFaults
from sluice.emulator._errors import bad_request
from sluice.emulator._stt_dialects import DIALECTS, SttError
from sluice.emulator._stt_faults import FAULT_STATUSES, ScriptedFault, SttFaultInjector
from sluice.emulator._stt_handlers import CountedBody, Handler

__all__ = ["ProviderStats", "SttService"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("sluice.emulator")


@dataclass(slots=True)
class ProviderStats:
    requests: int = 0
    answered: Counter[int] = field(default_factory=Counter)
    bytes_received: int = 0
    audio_seconds: float = 0.0
    models: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "answered": {str(k): v for k, v in sorted(self.answered.items())},
            "bytes_received": self.bytes_received,
            "audio_seconds": round(self.audio_seconds, 3),
            "models": dict(sorted(self.models.items())),
        }


class SttService:
    """Every emulated speech-to-text provider, served by :meth:`serve`.

    Parameters:
        config: upload caps, accepted keys and faults per provider.
        seed: seeds each provider's fault draws (with the provider's name).
    """

    def __init__(self, config: SttConfig, seed: int | None) -> None:
        self.config = config
        self.seed = seed
        for name in STT_PROVIDERS:
            for key in config.provider(name).api_keys or ():
                register_secret(key)
        self.faults = {
            name: SttFaultInjector(config.provider(name).faults, seed, name)
            for name in STT_PROVIDERS
        }
        self.stats = {name: ProviderStats() for name in STT_PROVIDERS}
        # ffmpeg is CPU-bound: more decoders than cores only makes each one slower.
        self._decoders = asyncio.Semaphore(os.cpu_count() or 2)
        self._tmpdir: Path | None = None

    def reset(self) -> None:
        """Forget the statistics and restore the configured faults (and the seed)."""
        self.faults = {
            name: SttFaultInjector(self.config.provider(name).faults, self.seed, name)
            for name in STT_PROVIDERS
        }
        self.stats = {name: ProviderStats() for name in STT_PROVIDERS}

    def close(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def stats_json(self) -> dict[str, Any]:
        return {name: stats.to_json() for name, stats in self.stats.items()}

    def config_json(self) -> dict[str, Any]:
        return {
            name: {
                "base": DIALECTS[name].base,
                "max_upload": self.config.provider(name).max_upload,
                "faults": self.faults_json(name),
            }
            for name in STT_PROVIDERS
        }

    def faults_json(self, name: str) -> dict[str, Any]:
        injector = self.faults[name]
        return {
            **asdict(injector.faults),
            "script": [
                {"status": fault.status, "count": count, "retry_after": fault.retry_after}
                for fault, count in injector.script
            ],
        }

    def set_faults(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Change one provider's faults: any :class:`SttFaults` field, and ``script``."""
        name = values.get("provider")
        if name not in STT_PROVIDERS:
            raise bad_request(f"provider must be one of {', '.join(STT_PROVIDERS)}")
        injector = self.faults[name]
        current = asdict(injector.faults)
        for key, old in current.items():
            if key in values:
                current[key] = _number(values[key], key, whole=isinstance(old, int))
        unknown = set(values) - set(current) - {"provider", "script"}
        if unknown:
            raise bad_request(f"unknown fault settings: {', '.join(sorted(unknown))}")
        try:
            faults = SttFaults(**current)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        script = _script(values["script"]) if "script" in values else None
        injector.faults = faults
        if script is not None:
            injector.set_script(script)
        return {"provider": name, **self.faults_json(name)}

    @contextlib.contextmanager
    def spool(self, suffix: str) -> Iterator[Path]:
        if self._tmpdir is None or not self._tmpdir.is_dir():
            self._tmpdir = Path(tempfile.mkdtemp(prefix="sluice-stt-"))
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self._tmpdir)
        os.close(fd)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    async def analyse(self, path: Path) -> AudioAnalysis:
        async with self._decoders:
            return await analyse_audio(path)

    async def serve(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request to provider ``name``'s transcription endpoint."""
        dialect = DIALECTS[name]
        limit = self.config.provider(name).max_upload
        stats = self.stats[name]
        stats.requests += 1
        body = CountedBody(receive, limit)
        request = Request(scope, body)
        handler = Handler(self, name, request, body)
        try:
            response = await handler.answer()
        except ClientDisconnect:
            return
        except SttError as exc:
            response = handler.error_response(exc)
        except Exception:
            log.exception("emulator bug while answering %s", dialect.base)
            response = handler.error_response(handler.server_error(500))
        finally:
            stats.bytes_received += body.received
        stats.answered[response.status_code] += 1
        await response(scope, receive, send)


def _number(raw: Any, name: str, *, whole: bool) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise bad_request(f"{name} must be a number")
    if isinstance(raw, float) and whole and not raw.is_integer():
        raise bad_request(f"{name} must be a whole number of seconds")
    try:
        return int(raw) if whole else float(raw)
    except (OverflowError, ValueError):  # an integer past any float; inf or NaN to int
        raise bad_request(f"{name} is far out of range") from None


def _script(raw: Any) -> list[ScriptedFault]:
    if not isinstance(raw, list):
        raise bad_request("script must be a list of {status, count?, retry_after?} objects")
    items: list[ScriptedFault] = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) - {"status", "count", "retry_after"}:
            raise bad_request("each script entry must be {status, count?, retry_after?}")
        status = entry.get("status")
        if status not in FAULT_STATUSES or isinstance(status, bool):
            statuses = ", ".join(map(str, sorted(FAULT_STATUSES)))
            raise bad_request(f"script status must be one of {statuses}")
        count, retry_after = entry.get("count", 1), entry.get("retry_after", 1)
        for label, value in (("count", count), ("retry_after", retry_after)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad_request(f"script {label} must be a whole number, at least 0")
        if retry_after > MAX_RETRY_AFTER:
            raise bad_request(f"script retry_after must be at most {MAX_RETRY_AFTER} seconds")
        items.append(ScriptedFault(status, count, retry_after))
    return items
