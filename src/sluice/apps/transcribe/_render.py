"""Transcripts as Telegram messages, and as SRT, WebVTT and plain-text files.

Telegram counts a message's length in UTF-16 code units, not characters: an
emoji outside the Basic Multilingual Plane (most of them) counts 2, and so does
each half of a flag. :func:`split_message` cuts by that count, so no part is
refused as too long.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterator

from sluice.apps.transcribe._model import Segment, Transcript

__all__ = [
    "SUBTITLE_LINE_LENGTH",
    "TELEGRAM_MESSAGE_LIMIT",
    "split_message",
    "to_srt",
    "to_txt",
    "to_vtt",
    "utf16_length",
]

TELEGRAM_MESSAGE_LIMIT = 4096
SUBTITLE_LINE_LENGTH = 42

_WHITESPACE = re.compile(r"\s+")
# A sentence ends in . ! ? or an ellipsis, maybe inside closing quotes or brackets.
_SENTENCE_END = re.compile(r"""[.!?\u2026]['"\u2019\u201d)\]\u00bb]*$""")
# Chinese and Japanese sentences end without a space after them.
_FULL_STOPS = re.compile("[\u3002\uff01\uff1f]")
# Characters that belong to the one before them: a cut must not fall before them.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")
_PARAGRAPH, _LINE, _SENTENCE, _WORD = range(4)


def utf16_length(text: str) -> int:
    """The length of ``text`` as Telegram counts it: in UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def split_message(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Cut ``text`` into messages of at most ``limit`` UTF-16 code units.

    Each cut falls at the last paragraph break, line break or sentence end that
    leaves the part at least half full, else at the last space, else (one
    unbroken run of characters) at the limit itself. The whitespace at a cut is
    dropped, and so is the text's leading and trailing whitespace; no part is
    empty, so whitespace alone gives no parts at all.
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2 UTF-16 code units (one emoji), got {limit}")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        end = _fitting(rest, limit)
        if end == len(rest):
            parts.append(rest)
            break
        cut = _best_cut(rest, end)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


def _fitting(text: str, limit: int) -> int:
    """How many characters from the start of ``text`` fit in ``limit`` code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _best_cut(text: str, end: int) -> int:
    # A cut at p keeps text[:p]; the character at `end` is looked at too, because a
    # space just past what fits is a boundary exactly at the limit.
    window = text[: end + 1]
    best: dict[int, int] = {}
    for found in _WHITESPACE.finditer(window):
        position, space = found.start(), found.group()
        if "\n" in space:
            kind = _PARAGRAPH if space.count("\n") > 1 else _LINE
        elif _SENTENCE_END.search(text, max(0, position - 8), position):
            kind = _SENTENCE
        else:
            kind = _WORD
        best[kind] = position
    for found in _FULL_STOPS.finditer(window, 0, end):
        best[_SENTENCE] = max(best.get(_SENTENCE, 0), found.end())
    for kind in (_PARAGRAPH, _LINE, _SENTENCE):
        if best.get(kind, 0) >= end / 2:
            return best[kind]
    last_space = max(best.values(), default=0)
    if last_space > 0:
        return last_space
    return _hard_cut(text, end)


def _hard_cut(text: str, end: int) -> int:
    # Step back over a few characters rather than split an accent from its letter
    # or an emoji sequence (family, skin tone, keycap) in two.
    cut = end
    while cut > 1 and end - cut < 16 and _belongs_to_previous(text, cut):
        cut -= 1
    return cut if not _belongs_to_previous(text, cut) else end


def _belongs_to_previous(text: str, index: int) -> bool:
    char, previous = text[index], text[index - 1]
    return (
        unicodedata.combining(char) != 0
        or char in _JOINERS
        or previous == "\u200d"
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin tone modifiers
    )


def to_srt(
    transcript: Transcript,
    *,
    line_length: int = SUBTITLE_LINE_LENGTH,
    lines_per_cue: int | None = 2,
) -> str:
    """The transcript as SubRip subtitles: numbered cues, ``HH:MM:SS,mmm`` times.

    Each segment's text is wrapped into lines of at most ``line_length``
    characters; a segment longer than ``lines_per_cue`` lines becomes several
    cues that share its time in proportion to their text (``None``: one cue per
    segment, however many lines). A transcript without segments is one cue over
    its whole duration.
    """
    cues = [
        f"{number}\n{_clock(start, ',')} --> {_clock(end, ',')}\n" + "\n".join(lines)
        for number, (start, end, lines) in enumerate(
            _cues(transcript, line_length, lines_per_cue), 1
        )
    ]
    return "\n\n".join(cues) + "\n" if cues else ""


def to_vtt(
    transcript: Transcript,
    *,
    line_length: int = SUBTITLE_LINE_LENGTH,
    lines_per_cue: int | None = 2,
) -> str:
    """The transcript as WebVTT subtitles: the ``WEBVTT`` header, numbered cues,
    ``HH:MM:SS.mmm`` times, ``&``, ``<`` and ``>`` escaped; cues as in :func:`to_srt`."""
    cues = [
        f"{number}\n{_clock(start, '.')} --> {_clock(end, '.')}\n"
        + "\n".join(_escape_vtt(line) for line in lines)
        for number, (start, end, lines) in enumerate(
            _cues(transcript, line_length, lines_per_cue), 1
        )
    ]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n" if cues else "WEBVTT\n"


def to_txt(transcript: Transcript, *, timestamps: bool = False, pause: float = 2.0) -> str:
    """The transcript as plain text: a new paragraph after each pause of ``pause``
    seconds or more, each starting with ``[HH:MM:SS]`` when ``timestamps``."""
    if not transcript.segments:
        text = transcript.text.strip()
        if not text:
            return ""
        return (f"[{_clock(0.0)}] " if timestamps else "") + text + "\n"
    paragraphs: list[list[Segment]] = []
    previous_end: float | None = None
    for segment in transcript.segments:
        if not segment.text.strip():
            continue
        if previous_end is None or segment.start - previous_end >= pause:
            paragraphs.append([])
        paragraphs[-1].append(segment)
        previous_end = segment.end
    lines = []
    for paragraph in paragraphs:
        text = " ".join(segment.text.strip() for segment in paragraph)
        lines.append(f"[{_clock(paragraph[0].start)}] {text}" if timestamps else text)
    return "\n\n".join(lines) + "\n" if lines else ""


def _cues(
    transcript: Transcript, line_length: int, lines_per_cue: int | None
) -> Iterator[tuple[float, float, list[str]]]:
    if line_length < 1 or (lines_per_cue is not None and lines_per_cue < 1):
        raise ValueError(
            f"line_length and lines_per_cue must be at least 1, "
            f"got {line_length} and {lines_per_cue}"
        )
    segments = transcript.segments or (Segment(0.0, transcript.duration, transcript.text),)
    for segment in segments:
        # Newlines inside a cue's text would end the cue: the text is one run of words.
        words = " ".join(segment.text.split())
        if not words:
            continue
        lines = textwrap.wrap(
            words, width=line_length, break_long_words=True, break_on_hyphens=False
        )
        size = lines_per_cue or len(lines)
        groups = [lines[i : i + size] for i in range(0, len(lines), size)]
        weights = [sum(len(line) for line in group) for group in groups]
        start, span = max(0.0, segment.start), max(0.0, segment.end - segment.start)
        done = 0
        for group, weight in zip(groups, weights, strict=True):
            cue_start = round(start + span * done / sum(weights), 3)
            done += weight
            # A cue must end after it starts: a zero-length segment gets a millisecond.
            cue_end = max(round(start + span * done / sum(weights), 3), cue_start + 0.001)
            yield cue_start, cue_end, group


def _clock(seconds: float, separator: str | None = None) -> str:
    """``HH:MM:SS`` and, with a ``separator``, its milliseconds."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    clock = f"{hours:02d}:{minutes:02d}:{whole:02d}"
    return clock if separator is None else f"{clock}{separator}{millis:03d}"


def _escape_vtt(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
