"""The transcription bot: any voice note, audio or video, any length, with provider
failover and caching. Run it with ``sluice run transcribe``; see docs/transcribe.md."""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiogram  # noqa: F401
    import httpx  # noqa: F401
    import openai  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("the transcription bot", "transcribe", error) from None

from sluice.apps.transcribe._app import TranscribeApp, open_app, run_transcribe
from sluice.apps.transcribe._bot import TranscribeBot, media_of
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._local import LocalWhisperProvider
from sluice.apps.transcribe._model import Segment, Transcript
from sluice.apps.transcribe._pipeline import Transcriber, Transcription
from sluice.apps.transcribe._provider_settings import (
    ProviderSettings,
    build_providers,
    load_provider_settings,
)

__all__ = [
    "LocalWhisperProvider",
    "ProviderSettings",
    "Providers",
    "Segment",
    "TranscribeApp",
    "TranscribeBot",
    "Transcriber",
    "Transcript",
    "Transcription",
    "build_providers",
    "load_provider_settings",
    "media_of",
    "open_app",
    "run_transcribe",
]
