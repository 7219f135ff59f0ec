"""Where to cut a long recording: in a silence near every chunk length, never inside a word.

The rule, for a range ``[start, end)`` and a chunk length ``L``:

* while more than ``L`` seconds remain after the current chunk start ``s``, look
  for a silence in the window ``[s + L - W, s + L]``, where ``W = min(L / 4, 60 s)``;
* a silence offers its middle when the middle lies in the window; a long
  silence that only reaches into the window offers the point of the window
  nearest its middle, at least 0.1 s from the sound on either side;
* the latest point offered wins (the longest chunk), and the next chunk starts there;
* with no silence in the window (one sound runs through it), the cut falls at
  ``s + L`` and the next chunk starts ``overlap`` seconds earlier (1 s, at most
  ``L / 4``), so a word the cut splits is heard whole by one of the two chunks;
* the rest becomes the last chunk, which may run up to 2 % past ``L`` rather
  than leave a sliver of a few seconds (a request of its own, often silent).

So every chunk but the last is at most ``L`` seconds long (the overlap is taken
from the next chunk) and at least ``3L/4``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LAST_SLACK", "MAX_WINDOW", "OVERLAP_SECONDS", "Piece", "plan_pieces", "silences"]

MAX_WINDOW = 60.0
OVERLAP_SECONDS = 1.0
LAST_SLACK = 0.02
# A cut in a long silence keeps this far from the sound on either side: codecs let
# a sound ring on for a few milliseconds, and a cut right at its edge would clip it.
_EDGE = 0.1


@dataclass(frozen=True, slots=True)
class Piece:
    """Seconds ``[start, end)`` of a recording to cut out; ``overlap`` of them repeat the
    end of the previous piece (0 when the cut between them lies in a silence)."""

    start: float
    end: float
    overlap: float = 0.0

    @property
    def length(self) -> float:
        return self.end - self.start


def silences(spans: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The ``(start, end)`` stretches of ``[0, duration]`` that lie between the sound ``spans``."""
    found: list[tuple[float, float]] = []
    position = 0.0
    for start, end in spans:
        if start > position:
            found.append((position, start))
        position = max(position, end)
    if position < duration:
        found.append((position, duration))
    return found


def plan_pieces(
    spans: Sequence[tuple[float, float]],
    duration: float,
    *,
    chunk_seconds: float,
    start: float = 0.0,
    end: float | None = None,
    overlap: float = OVERLAP_SECONDS,
) -> list[Piece]:
    """Cut ``[start, end)`` (all of a ``duration``-second recording by default) into pieces
    of at most ``chunk_seconds``, at silences between the sound ``spans`` when there are
    any nearby; see the module docstring for the exact rule."""
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be a positive number of seconds, got {chunk_seconds}")
    stop = duration if end is None else end
    window = min(chunk_seconds / 4, MAX_WINDOW)
    overlap = min(overlap, chunk_seconds / 4)
    quiet = silences(spans, duration)
    pieces: list[Piece] = []
    position, shared = start, 0.0
    while stop - position > chunk_seconds * (1 + LAST_SLACK):
        target = position + chunk_seconds
        cut = _cut_in(quiet, target - window, target)
        if cut is None:
            pieces.append(Piece(position, target, shared))
            position, shared = target - overlap, overlap
        else:
            pieces.append(Piece(position, cut, shared))
            position, shared = cut, 0.0
    pieces.append(Piece(position, stop, shared))
    return pieces


def _cut_in(quiet: Sequence[tuple[float, float]], low: float, high: float) -> float | None:
    best: float | None = None
    for silence_start, silence_end in quiet:
        if silence_end <= low:
            continue
        if silence_start >= high:
            break
        middle = (silence_start + silence_end) / 2
        edge = min(_EDGE, (silence_end - silence_start) / 2)
        point = min(max(middle, low), high)
        point = min(max(point, silence_start + edge), silence_end - edge)
        if low <= point <= high and (best is None or point > best):
            best = point
    return None if best is None else round(best, 3)
