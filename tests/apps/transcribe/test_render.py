"""Transcripts as Telegram messages and as SRT, WebVTT and plain-text files."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.apps.transcribe._model import Segment, Transcript
from sluice.apps.transcribe._render import (
    SUBTITLE_LINE_LENGTH,
    TELEGRAM_MESSAGE_LIMIT,
    split_message,
    to_srt,
    to_txt,
    to_vtt,
    utf16_length,
)

SHOW = Transcript(
    text="unused: the segments are rendered",
    segments=(
        Segment(0.0, 2.5, " Hello, and welcome to the show."),
        Segment(
            2.5,
            12.5,
            " Today we talk about chunking long recordings at silences, adding offsets,"
            " and dropping overlaps.",
        ),
        Segment(3725.25, 3727.0, "Fish & <chips> -> 1 hour in."),
    ),
    language="en",
    duration=3730.0,
)


def rejoins(parts: list[str], text: str) -> bool:
    """``parts`` are ``text`` in order, with nothing but whitespace left out around them."""
    position = 0
    for part in parts:
        while position < len(text) and text[position].isspace():
            position += 1
        if not text.startswith(part, position):
            return False
        position += len(part)
    return not text[position:].strip()


# -- counting as Telegram counts ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("a", 1),
        ("é", 1),
        ("€", 1),  # in the Basic Multilingual Plane: one unit
        ("\u2764\ufe0f", 2),  # red heart: a BMP symbol and a variation selector
        ("😀", 2),  # astral: a surrogate pair
        ("👍🏽", 4),  # thumbs up and a skin tone, both astral
        ("🇺🇦", 4),  # a flag is two astral regional indicators
        ("👨‍👩‍👧", 8),  # three astral people joined by two zero-width joiners
    ],
)
def test_length_is_counted_in_utf16_code_units(text: str, units: int) -> None:
    assert utf16_length(text) == units == len(text.encode("utf-16-le")) // 2


def test_a_message_that_fits_is_one_part_and_whitespace_is_none() -> None:
    assert split_message("  Hello there.\n") == ["Hello there."]
    assert split_message("x" * TELEGRAM_MESSAGE_LIMIT) == ["x" * TELEGRAM_MESSAGE_LIMIT]
    assert split_message("") == []
    assert split_message(" \n\t ") == []
    with pytest.raises(ValueError, match="limit must be at least 2"):
        split_message("text", limit=1)


def test_cuts_prefer_paragraphs_then_lines_then_sentences_then_spaces() -> None:
    assert split_message("First sentence here. Second one is a bit longer. Third.", 40) == [
        "First sentence here.",
        "Second one is a bit longer. Third.",
    ]
    # A paragraph break wins over a later sentence end, if it leaves the part half full.
    assert split_message("One two three four.\n\nFive six. Seven eight nine ten", 35) == [
        "One two three four.",
        "Five six. Seven eight nine ten",
    ]
    # A sentence end that would leave the part less than half full is passed over.
    assert split_message("Hi. Then a long run of words without an end", 30) == [
        "Hi. Then a long run of words",
        "without an end",
    ]
    assert split_message("«Quoted?» he asked. Then «yes!» came back", 25) == [
        "«Quoted?» he asked.",
        "Then «yes!» came back",
    ]
    assert split_message("第一句话。第二句话。第三句话。", 12) == [
        "第一句话。第二句话。",
        "第三句话。",
    ]


def test_unbroken_runs_are_cut_hard_but_not_inside_a_character() -> None:
    assert split_message("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    # Two units each: three units hold one emoji, never half of one.
    assert split_message("😀" * 5, 3) == ["😀"] * 5
    assert split_message("😀" * 5, 4) == ["😀😀", "😀😀", "😀"]
    # An accent stays with its letter; a joined emoji sequence stays whole.
    assert split_message("ab\u0301c", 2) == ["a", "b\u0301", "c"]
    family = "👨\u200d👩\u200d👧"
    assert split_message("x" + family, 8) == ["x", family]


words = st.text(alphabet=st.sampled_from("abcdeé€😀👍🏽中.!?,\u0301"), min_size=1, max_size=30)
texts = st.lists(
    st.tuples(words, st.sampled_from([" ", "  ", "\n", "\n\n", "\t", ". ", "! ", "。"])),
    max_size=60,
).map(lambda pairs: "".join(word + gap for word, gap in pairs))


@settings(max_examples=400, deadline=None)
@given(texts, st.integers(min_value=2, max_value=120))
def test_parts_fit_are_never_empty_and_rejoin_to_the_text(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(part and part == part.strip() for part in parts)
    assert all(utf16_length(part) <= limit for part in parts)
    assert rejoins(parts, text)
    if text.strip() and utf16_length(text.strip()) <= limit:
        assert parts == [text.strip()]


sentences = st.lists(
    st.text(alphabet="abcdefghij", min_size=1, max_size=9), min_size=1, max_size=8
).map(lambda ws: " ".join(ws).capitalize() + ".")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=40, max_value=200), st.data())
def test_text_with_frequent_sentence_ends_is_cut_only_at_them(
    limit: int, data: st.DataObject
) -> None:
    short = sentences.filter(lambda s: len(s) < limit // 2)
    text = " ".join(data.draw(st.lists(short, min_size=1, max_size=40)))
    parts = split_message(text, limit)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == text


# -- subtitles and text ---------------------------------------------------------------


def test_srt_golden() -> None:
    assert to_srt(SHOW) == (
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Hello, and welcome to the show.\n"
        "\n"
        "2\n"
        "00:00:02,500 --> 00:00:10,160\n"
        "Today we talk about chunking long\n"
        "recordings at silences, adding offsets,\n"
        "\n"
        "3\n"
        "00:00:10,160 --> 00:00:12,500\n"
        "and dropping overlaps.\n"
        "\n"
        "4\n"
        "01:02:05,250 --> 01:02:07,000\n"
        "Fish & <chips> -> 1 hour in.\n"
    )


def test_vtt_golden() -> None:
    # The three-line segment shares its 10 s as 72 to 22 characters: 7.66 s and 2.34 s.
    assert to_vtt(SHOW) == (
        "WEBVTT\n"
        "\n"
        "1\n"
        "00:00:00.000 --> 00:00:02.500\n"
        "Hello, and welcome to the show.\n"
        "\n"
        "2\n"
        "00:00:02.500 --> 00:00:10.160\n"
        "Today we talk about chunking long\n"
        "recordings at silences, adding offsets,\n"
        "\n"
        "3\n"
        "00:00:10.160 --> 00:00:12.500\n"
        "and dropping overlaps.\n"
        "\n"
        "4\n"
        "01:02:05.250 --> 01:02:07.000\n"
        "Fish &amp; &lt;chips&gt; -&gt; 1 hour in.\n"
    )


def test_one_cue_per_segment_when_asked_and_untimed_or_empty_transcripts() -> None:
    assert to_srt(SHOW, lines_per_cue=None).split("\n\n")[1] == (
        "2\n"
        "00:00:02,500 --> 00:00:12,500\n"
        "Today we talk about chunking long\n"
        "recordings at silences, adding offsets,\n"
        "and dropping overlaps."
    )
    untimed = Transcript(text="Just\ntext, no times.", duration=61.5)
    assert to_srt(untimed) == "1\n00:00:00,000 --> 00:01:01,500\nJust text, no times.\n"
    assert to_vtt(untimed) == "WEBVTT\n\n1\n00:00:00.000 --> 00:01:01.500\nJust text, no times.\n"
    assert to_srt(Transcript(text="")) == ""
    assert to_vtt(Transcript(text=" ")) == "WEBVTT\n"
    # A segment of no length still ends after it starts; blank segments make no cue.
    instant = Transcript("x", (Segment(5.0, 5.0, "Blip."), Segment(6.0, 7.0, "  ")))
    assert to_srt(instant) == "1\n00:00:05,000 --> 00:00:05,001\nBlip.\n"
    with pytest.raises(ValueError, match="line_length and lines_per_cue must be at least 1"):
        to_srt(SHOW, line_length=0)


CUE = re.compile(
    r"(\d+)\n(\d\d):(\d\d):(\d\d)([,.])(\d{3}) --> (\d\d):(\d\d):(\d\d)\5(\d{3})\n((?:.+\n?)+)"
)


def cue_seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=30.0),
            st.floats(min_value=0.0, max_value=20.0),
            st.text(alphabet=st.sampled_from("ab cd\nxyz-é"), min_size=1, max_size=300),
        ),
        max_size=8,
    )
)
def test_subtitles_are_numbered_cues_of_short_lines_in_time_order(
    pieces: list[tuple[float, float, str]],
) -> None:
    segments: list[Segment] = []
    position = 0.0
    for gap, length, text in pieces:
        segments.append(Segment(position + gap, position + gap + length, text))
        position += gap + length
    transcript = Transcript(" ".join(t for *_, t in pieces), tuple(segments))
    srt, vtt = to_srt(transcript), to_vtt(transcript)
    assert vtt.startswith("WEBVTT\n")
    for body in (srt, vtt.removeprefix("WEBVTT\n")):
        blocks = [block.strip("\n") for block in body.split("\n\n") if block.strip()]
        cues = [CUE.fullmatch(block) for block in blocks]
        assert all(cues), blocks
        starts = []
        for number, cue in enumerate(cues, 1):
            assert cue is not None
            assert int(cue.group(1)) == number
            start = cue_seconds(*cue.group(2, 3, 4, 6))
            end = cue_seconds(*cue.group(7, 8, 9, 10))
            assert end > start
            starts.append(start)
            lines = cue.group(11).rstrip("\n").split("\n")
            assert 1 <= len(lines) <= 2
            assert all(0 < len(line) <= SUBTITLE_LINE_LENGTH for line in lines)
        assert starts == sorted(starts)
        words = " ".join(" ".join(t.split()) for *_, t in pieces if t.strip())
        if body is srt:
            texts = [cue.group(11).rstrip("\n").replace("\n", " ") for cue in cues if cue]
            assert " ".join(texts).replace(" ", "") == words.replace(" ", "")


def test_text_has_a_paragraph_after_each_long_pause() -> None:
    assert to_txt(SHOW) == (
        "Hello, and welcome to the show. Today we talk about chunking long recordings at "
        "silences, adding offsets, and dropping overlaps.\n"
        "\n"
        "Fish & <chips> -> 1 hour in.\n"
    )
    assert (
        to_txt(SHOW, timestamps=True).splitlines()[2] == "[01:02:05] Fish & <chips> -> 1 hour in."
    )
    assert to_txt(SHOW, pause=0.0).count("\n\n") == 2
    assert to_txt(Transcript(" Untimed words. ")) == "Untimed words.\n"
    assert to_txt(Transcript("")) == ""
