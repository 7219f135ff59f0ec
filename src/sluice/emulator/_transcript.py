"""The emulated transcript: one segment per stretch of sound, named after its length.

A span of sound lasting 1.2 s (rounded half up to 0.1 s) is the word
``tone12``; a transcript is those words, in order, joined by spaces. Times are
the span's own within the uploaded file, so a test that cuts a long recording
into chunks can recognise every sound wherever a cut put it. The renderings
below follow each provider's response shapes.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Segment",
    "deepgram_body",
    "language_name",
    "segments_for",
    "srt",
    "verbose_segments",
    "vtt",
    "word_for",
]

# Whisper's language codes and names (a subset of the 99: the common ones).
_LANGUAGES = dict(
    pair.split(":")
    for pair in str.split(
        "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese "
        "pt:portuguese tr:turkish pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian "
        "id:indonesian hi:hindi fi:finnish vi:vietnamese he:hebrew uk:ukrainian el:greek "
        "ms:malay cs:czech ro:romanian da:danish hu:hungarian ta:tamil no:norwegian th:thai "
        "ur:urdu hr:croatian bg:bulgarian lt:lithuanian la:latin cy:welsh sk:slovak fa:persian "
        "lv:latvian bn:bengali sr:serbian az:azerbaijani sl:slovenian et:estonian mk:macedonian "
        "kk:kazakh uz:uzbek be:belarusian ka:georgian hy:armenian tl:tagalog sw:swahili"
    )
)
_DEEPGRAM_NAMESPACE = uuid.UUID("5f0e7d8c-1d5a-4e55-9d3c-2f6a4c1b7e90")


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    word: str


def word_for(start: float, end: float) -> str:
    """``tone12`` for 1.2 seconds of sound: tenths of a second, rounded half up."""
    return f"tone{math.floor((end - start) * 10 + 0.5)}"


def segments_for(spans: Sequence[tuple[float, float]]) -> list[Segment]:
    return [Segment(round(a, 3), round(b, 3), word_for(a, b)) for a, b in spans]


def language_name(code: str) -> str:
    """Whisper's name for a language code (``en`` -> ``english``); unknown codes as given."""
    return _LANGUAGES.get(code.lower(), code)


def verbose_segments(
    segments: Sequence[Segment], temperature: float, *, whisper_fields: bool
) -> list[dict[str, Any]]:
    """Segments as Whisper returns them (its text starts with a space, as Whisper's does)."""
    out: list[dict[str, Any]] = []
    for index, segment in enumerate(segments):
        text = " " + segment.word
        item: dict[str, Any] = {
            "id": index,
            "start": segment.start,
            "end": segment.end,
            "text": text,
            "tokens": [50364 + index, *text.encode()],
        }
        if whisper_fields:
            item.update(
                seek=int(segment.start // 30) * 3000,  # Whisper decodes 30 s windows
                temperature=temperature,
                avg_logprob=-0.25,
                compression_ratio=1.0,
                no_speech_prob=0.01,
            )
        out.append(item)
    return out


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: Sequence[Segment]) -> str:
    cues = (
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.word}\n\n"
        for i, s in enumerate(segments, 1)
    )
    return "".join(cues)


def vtt(segments: Sequence[Segment]) -> str:
    cues = (f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.word}\n\n" for s in segments)
    return "WEBVTT\n\n" + "".join(cues)


def _dg_word(segment: Segment, punctuate: bool) -> dict[str, Any]:
    word: dict[str, Any] = {
        "word": segment.word,
        "start": segment.start,
        "end": segment.end,
        "confidence": 0.99,
    }
    if punctuate:
        word["punctuated_word"] = segment.word.capitalize() + "."
    return word


def deepgram_body(
    segments: Sequence[Segment],
    *,
    duration: float,
    model: str,
    request_id: str,
    sha256: str,
    punctuate: bool,
    detect_language: bool,
    utterances: bool,
) -> dict[str, Any]:
    """A pre-recorded ``/v1/listen`` answer in Deepgram's shape."""
    words = [_dg_word(s, punctuate) for s in segments]
    transcript = " ".join(w.get("punctuated_word", w["word"]) for w in words)
    model_id = str(uuid.uuid5(_DEEPGRAM_NAMESPACE, model))
    parts = model.split("-")
    arch = "-".join(parts[:2]) if len(parts) > 1 and parts[1].isdigit() else parts[0]
    channel: dict[str, Any] = {
        "alternatives": [
            {"transcript": transcript, "confidence": 0.99 if words else 0.0, "words": words}
        ]
    }
    if detect_language:
        channel["detected_language"] = "en"
        channel["language_confidence"] = 0.99
    results: dict[str, Any] = {"channels": [channel]}
    if utterances:
        results["utterances"] = [
            {
                "start": word["start"],
                "end": word["end"],
                "confidence": 0.99,
                "channel": 0,
                "transcript": word.get("punctuated_word", word["word"]),
                "words": [word],
                "id": str(uuid.uuid5(_DEEPGRAM_NAMESPACE, f"{request_id}/{index}")),
            }
            for index, word in enumerate(words)
        ]
    return {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": sha256,
            "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": duration,
            "channels": 1,
            "models": [model_id],
            "model_info": {model_id: {"name": model, "version": "2025-01-01.0", "arch": arch}},
        },
        "results": results,
    }
