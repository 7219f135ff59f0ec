"""What a transcription is: timed segments of text, wherever they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Segment", "Transcript"]


@dataclass(frozen=True, slots=True)
class Segment:
    """``text`` spoken from ``start`` to ``end`` seconds (from the start of the media)."""

    start: float
    end: float
    text: str

    def shifted(self, offset: float) -> Segment:
        return Segment(self.start + offset, self.end + offset, self.text)

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(float(data["start"]), float(data["end"]), str(data["text"]))


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole transcript: its text, its segments when the provider gave times, and where
    it came from. ``duration`` is the media's, in seconds."""

    text: str
    segments: tuple[Segment, ...] = ()
    language: str | None = None
    duration: float = 0.0
    provider: str = ""
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        return bool(self.segments)

    @property
    def empty(self) -> bool:
        return not self.text.strip()

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "segments": [s.to_json() for s in self.segments],
            "language": self.language,
            "duration": round(self.duration, 3),
            "provider": self.provider,
            "model": self.model,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            text=str(data.get("text", "")),
            segments=tuple(Segment.from_json(s) for s in data.get("segments", ())),
            language=data.get("language"),
            duration=float(data.get("duration", 0.0)),
            provider=str(data.get("provider", "")),
            model=str(data.get("model", "")),
        )
