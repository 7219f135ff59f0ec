"""Providers that speak OpenAI's ``POST /audio/transcriptions``: Groq, Together, OpenAI,
and any compatible server (a local Whisper, say), through the ``openai`` SDK.

The SDK never retries (``max_retries=0``): the failover chain decides what a
failure means and where to go next, and a retry inside the SDK would hide a
429 from it and spend another provider's time. Every SDK error is mapped to
sluice's own (see :mod:`sluice.apps.transcribe._provider_errors`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai import OpenAIError, omit
from openai.types.audio import Transcription, TranscriptionVerbose

from sluice._redact import redact, redact_exception, register_secret
from sluice.apps.transcribe._model import Segment, Transcript
from sluice.apps.transcribe._provider_errors import (
    ProviderError,
    Unauthorized,
    Unavailable,
)
from sluice.apps.transcribe._providers import (
    Clock,
    Provider,
    RateLimit,
    Sleep,
    audio_content_type,
)

__all__ = [
    "CUSTOM",
    "GROQ",
    "OPENAI",
    "PRESETS",
    "TOGETHER",
    "OpenAICompatibleProvider",
    "OpenAIPreset",
    "language_code",
]

MiB = 1024 * 1024
# The caps are on the whole multipart body; the form fields and boundaries
# around the file take a few hundred bytes, so leave them room.
_FORM_ROOM = 16 * 1024

_ALL = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
_JSON_TEXT = frozenset({"json", "text"})
_WHISPER_FILES = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}
)
# Other names for the same container, tried in order when a provider refuses
# a file's own extension: a Telegram voice note is ``.oga``, which Groq refuses
# although it takes the very same Ogg file as ``.ogg``.
_SAME_CONTAINER = {
    "oga": ("ogg", "opus"),
    "opus": ("ogg",),
    "mp4": ("m4a",),
    "m4a": ("mp4",),
    "mpga": ("mp3",),
    "mpeg": ("mp3",),
}


@dataclass(frozen=True, slots=True)
class OpenAIPreset:
    """What one OpenAI-compatible service offers, as it publishes it.

    ``models`` maps each known model to its answer formats; ``extensions`` are
    the file names it accepts (None: any); ``other_formats`` are those of a
    model not listed (one the provider added later, or a custom server's).
    """

    name: str
    base_url: str
    default_model: str
    models: Mapping[str, frozenset[str]]
    max_bytes: int
    rate_limit: RateLimit
    extensions: frozenset[str] | None = None
    other_formats: frozenset[str] = _ALL

    def formats(self, model: str) -> frozenset[str]:
        if model in self.models:
            return self.models[model]
        if self.name == "openai" and model.startswith("gpt-"):
            return _JSON_TEXT  # OpenAI's gpt-4o transcription models answer json or text only
        return self.other_formats


GROQ = OpenAIPreset(
    name="groq",
    base_url="https://api.groq.com/openai/v1",
    default_model="whisper-large-v3",
    models=dict.fromkeys(
        ("whisper-large-v3", "whisper-large-v3-turbo"), _JSON_TEXT | {"verbose_json"}
    ),
    max_bytes=25 * MiB - _FORM_ROOM,  # the free tier's cap; 100 MB on the dev tier
    rate_limit=RateLimit(20, 60.0),  # the free tier
    extensions=frozenset(
        {"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "opus", "wav", "webm"}
    ),
    other_formats=_JSON_TEXT | {"verbose_json"},
)
TOGETHER = OpenAIPreset(
    name="together",
    base_url="https://api.together.xyz/v1",
    default_model="openai/whisper-large-v3",
    models={"openai/whisper-large-v3": frozenset({"json", "verbose_json"})},
    max_bytes=500 * MiB - _FORM_ROOM,
    rate_limit=RateLimit(60, 60.0),
    extensions=frozenset({"wav", "mp3", "m4a", "webm", "flac", "ogg", "opus", "aac"}),
    other_formats=frozenset({"json", "verbose_json"}),
)
OPENAI = OpenAIPreset(
    name="openai",
    base_url="https://api.openai.com/v1",
    default_model="whisper-1",
    models={
        "whisper-1": _ALL,
        "gpt-4o-transcribe": _JSON_TEXT,
        "gpt-4o-mini-transcribe": _JSON_TEXT,
    },
    max_bytes=25 * MiB - _FORM_ROOM,
    rate_limit=RateLimit(50, 60.0),  # usage tier 1
    extensions=_WHISPER_FILES,
)
# Any compatible server: no known models or file types, Whisper's answer formats.
CUSTOM = OpenAIPreset(
    name="custom",
    base_url="",
    default_model="",
    models={},
    max_bytes=25 * MiB - _FORM_ROOM,
    rate_limit=RateLimit(60, 60.0),
)

PRESETS = {preset.name: preset for preset in (GROQ, TOGETHER, OPENAI)}


class OpenAICompatibleProvider(Provider):
    """A provider reached through ``openai.AsyncOpenAI``.

    Use :meth:`groq`, :meth:`together`, :meth:`openai` or :meth:`custom`.

    Parameters:
        preset: what the service offers (models, caps, file types, rate).
        api_key: its key (registered with :func:`sluice.register_secret`); a
            custom server may need none.
        name: what to call it; the preset's name by default.
        base_url: overrides the preset's (a proxy, a region, the emulator).
        model: overrides the preset's default model.
        rate_limit: overrides the preset's rate limit.
        max_bytes: overrides the preset's upload cap.
        timeout: seconds for the whole request, upload included.
        clock, sleep, max_wait: see :class:`Provider`.
    """

    def __init__(
        self,
        preset: OpenAIPreset,
        api_key: str,
        *,
        name: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        rate_limit: RateLimit | None = None,
        max_bytes: int | None = None,
        timeout: float = 300.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 5.0,
    ) -> None:
        model = model or preset.default_model
        base_url = (base_url or preset.base_url).rstrip("/")
        if not model or not base_url:
            raise ValueError("an OpenAI-compatible provider needs a model and a base URL")
        super().__init__(
            name=name or preset.name,
            model=model,
            models=tuple(preset.models),
            max_bytes=max_bytes or preset.max_bytes,
            formats=preset.formats(model),
            rate_limit=rate_limit or preset.rate_limit,
            clock=clock,
            sleep=sleep,
            max_wait=max_wait,
        )
        self.preset = preset
        self.base_url = base_url
        self.timeout = timeout
        self.extensions = preset.extensions
        register_secret(api_key)
        # A key is always given explicitly: with None the SDK would read
        # OPENAI_API_KEY and send OpenAI's key to some other server.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "no-key", base_url=base_url, max_retries=0, timeout=timeout
        )

    @classmethod
    def groq(cls, api_key: str, **options: Any) -> OpenAICompatibleProvider:
        """Groq: whisper-large-v3 (or -turbo), 25 MB, 20 requests/min on the free tier."""
        return cls(GROQ, api_key, **options)

    @classmethod
    def together(cls, api_key: str, **options: Any) -> OpenAICompatibleProvider:
        """Together: openai/whisper-large-v3."""
        return cls(TOGETHER, api_key, **options)

    @classmethod
    def openai(cls, api_key: str, **options: Any) -> OpenAICompatibleProvider:
        """OpenAI: whisper-1 (segments), or gpt-4o-transcribe (text only)."""
        return cls(OPENAI, api_key, **options)

    @classmethod
    def custom(
        cls, name: str, base_url: str, model: str, api_key: str = "", **options: Any
    ) -> OpenAICompatibleProvider:
        """Any OpenAI-compatible server, e.g. a local Whisper at ``http://localhost:8000/v1``."""
        return cls(CUSTOM, api_key, name=name, base_url=base_url, model=model, **options)

    @property
    def timed(self) -> bool:
        return "verbose_json" in self.formats

    def upload_name(self, path: Path) -> str:
        """The file name to send: the file's own, or the same container's other name
        when the provider refuses the first (``voice.oga`` goes to Groq as ``voice.ogg``)."""
        suffix = path.suffix.lower().lstrip(".")
        if self.extensions is None or suffix in self.extensions:
            return path.name
        for other in _SAME_CONTAINER.get(suffix, ()):
            if other in self.extensions:
                return f"{path.stem}.{other}"
        return path.name  # the provider will say which types it takes

    async def _request(
        self, path: Path, size: int, language: str | None, timestamps: bool
    ) -> Transcript:
        verbose = timestamps and self.timed
        name = self.upload_name(path)
        # An open file, not bytes: the SDK streams it into the multipart body.
        audio = await asyncio.to_thread(path.open, "rb")
        try:
            result = await self._client.audio.transcriptions.create(
                file=(name, audio, audio_content_type(name)),
                model=self.model,
                response_format="verbose_json" if verbose else "json",
                language=language or omit,
            )
        except OpenAIError as error:
            raise self._mapped(error) from redact_exception(error)
        finally:
            audio.close()
        return self._transcript(result, language, timestamps)

    def _transcript(self, result: object, language: str | None, timestamps: bool) -> Transcript:
        if isinstance(result, TranscriptionVerbose):
            segments = tuple(
                Segment(float(s.start), float(s.end), s.text.strip()) for s in result.segments or ()
            )
            return Transcript(
                text=result.text.strip(),
                segments=segments if timestamps else (),
                language=language_code(result.language) or language,
                duration=float(result.duration or 0.0),
                provider=self.name,
                model=self.model,
            )
        if isinstance(result, Transcription):
            text = result.text
        elif isinstance(result, str):
            text = result
        else:
            raise Unavailable(
                f"{self.name} answered something that is not a transcript "
                f"({type(result).__name__})",
                provider=self.name,
            )
        return Transcript(
            text=text.strip(), language=language, provider=self.name, model=self.model
        )

    def _mapped(self, error: OpenAIError) -> ProviderError:
        name = self.name
        if isinstance(error, openai.APITimeoutError):
            return Unavailable(
                f"{name} did not answer within {self.timeout:g} s: try another provider",
                provider=name,
            )
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__ or error.__context__
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else error.message
            return Unavailable(f"{name} could not be reached ({reason})", provider=name)
        if not isinstance(error, openai.APIStatusError):
            return Unavailable(f"{name} answered something unexpected: {error}", provider=name)
        status = error.status_code
        said = f"{status} {_said(error)}"
        if status == 429 and error.code == "insufficient_quota":
            return Unauthorized(
                f"{name} says the account's quota is spent ({said}): add credit or remove it",
                provider=name,
            )
        # A 404 says "does not exist or you do not have access to it": the same for
        # every request.
        return self.status_error(
            status, said, error.response.headers,
            key_hint="check its API key",
            not_found=(
                f"{name} has no model {self.model!r} for this key ({said}): "
                "check the model setting"
            ),
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleProvider(name={self.name!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )


def _said(error: openai.APIStatusError) -> str:
    """The provider's own message (the SDK's ``message`` also holds the whole body)."""
    body = error.body
    message = body.get("message") if isinstance(body, Mapping) else body
    if isinstance(message, str) and message.strip():
        return redact(message.strip()[:500])
    return error.response.reason_phrase or "(no message)"


# Whisper answers a language by name (OpenAI "english", Groq "English");
# others by its code. Transcripts carry the code.
# fmt: off
_WHISPER_LANGUAGES = {
    "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "russian": "ru",
    "korean": "ko", "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr",
    "polish": "pl", "catalan": "ca", "dutch": "nl", "arabic": "ar", "swedish": "sv",
    "italian": "it", "indonesian": "id", "hindi": "hi", "finnish": "fi", "vietnamese": "vi",
    "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms", "czech": "cs",
    "romanian": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
    "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt",
    "latin": "la", "maori": "mi", "malayalam": "ml", "welsh": "cy", "slovak": "sk", "telugu": "te",
    "persian": "fa", "latvian": "lv", "bengali": "bn", "serbian": "sr", "azerbaijani": "az",
    "slovenian": "sl", "kannada": "kn", "estonian": "et", "macedonian": "mk", "breton": "br",
    "basque": "eu", "icelandic": "is", "armenian": "hy", "nepali": "ne", "mongolian": "mn",
    "bosnian": "bs", "kazakh": "kk", "albanian": "sq", "swahili": "sw", "galician": "gl",
    "marathi": "mr", "punjabi": "pa", "sinhala": "si", "khmer": "km", "shona": "sn",
    "yoruba": "yo", "somali": "so", "afrikaans": "af", "occitan": "oc", "georgian": "ka",
    "belarusian": "be", "tajik": "tg", "sindhi": "sd", "gujarati": "gu", "amharic": "am",
    "yiddish": "yi", "lao": "lo", "uzbek": "uz", "faroese": "fo", "haitian creole": "ht",
    "pashto": "ps", "turkmen": "tk", "nynorsk": "nn", "maltese": "mt", "sanskrit": "sa",
    "luxembourgish": "lb", "myanmar": "my", "tibetan": "bo", "tagalog": "tl", "malagasy": "mg",
    "assamese": "as", "tatar": "tt", "hawaiian": "haw", "lingala": "ln", "hausa": "ha",
    "bashkir": "ba", "javanese": "jw", "sundanese": "su", "cantonese": "yue",
}
# fmt: on


def language_code(language: str | None) -> str | None:
    """``en`` for ``english``, ``English`` or ``en``; an unknown name as given, lowercased."""
    if not language or not language.strip():
        return None
    key = language.strip().lower()
    return _WHISPER_LANGUAGES.get(key, key)
