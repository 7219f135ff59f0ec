"""Keeping secrets out of logs, error messages and tracebacks.

Bot tokens sit in every Bot API URL (``https://api.telegram.org/bot<token>/<method>``
and ``/file/bot<token>/<path>``), and aiohttp puts that URL into its errors;
MTProto libraries can echo api_hashes and session strings. :func:`redact`
replaces anything shaped like a bot token with ``<bot id>:***`` (the id is
public and useful when debugging) and every value given to
:func:`register_secret` with ``***``.

:func:`install_log_redaction` applies it to every log record, through
:func:`logging.setLogRecordFactory` rather than a filter or a handler:

- a filter added to a logger does not see records that its child loggers
  propagate (a filter on ``aiogram`` misses ``aiogram.event``), and there is
  no logger every library logs through;
- a filter on a handler only covers the handlers present when it was added,
  and users and frameworks (uvicorn, pytest) add their own later;
- the factory is the one place every record passes through, whatever logger
  made it and whatever handler later writes it.

The installed factory formats ``msg % args`` once and stores the redacted text
as ``msg`` with no ``args``; for a record carrying an exception, it scrubs the
exception in place (:func:`redact_exception`, so handlers that render
``exc_info`` themselves, such as Rich's, and a later ``raise`` show no secret
either) and precomputes the redacted ``exc_text`` that
:class:`logging.Formatter` prints instead of formatting the traceback again
(so a formatter's own ``formatException`` is not used for such records).

Not covered: attributes given with ``extra=`` (set after the factory ran),
records rebuilt by :func:`logging.makeLogRecord`, and the half of a bot token
after the colon when it appears alone.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

__all__ = ["install_log_redaction", "redact", "redact_exception", "register_secret"]

_E = TypeVar("_E", bound=BaseException)

# What Telegram issues is stricter (see sluice.accounts.BotToken); redaction
# is deliberately looser, so that a near-token is hidden rather than shown.
# A longer run after the colon is hidden whole, not cut after 35 characters.
_BOT_TOKEN = re.compile(r"(\d{1,20})(?::|%3[Aa])[A-Za-z0-9_-]{35,}")

_MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words and numbers


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation of ``words``, factored by common prefixes.

    ``re`` tries the branches of a flat alternation one after another at each
    position; a trie tries each distinct next character once, which keeps a
    registry of dozens of secrets cheap enough to run on every log record.
    Greedy ``?`` makes the longest registered secret win at any position.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if ends_here else group

    return emit(trie)


class _Registry:
    """The process-wide set of secrets, and one compiled pattern matching them all."""

    __slots__ = ("_lock", "_pattern", "_stale", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def add(self, value: str) -> None:
        variants = {value, urllib.parse.quote(value, safe="")}
        with self._lock:
            if not variants <= self._values:  # registering twice must not recompile
                self._values |= variants
                self._stale = True

    def pattern(self) -> re.Pattern[str] | None:
        # Compiled on first use after a change, not on every add: loading forty
        # credentials would otherwise compile forty ever larger patterns.
        if self._stale:
            with self._lock:
                if self._stale:
                    # The lookahead makes matches zero-width, so finditer reports
                    # a match at every position where some secret starts, even
                    # inside another one: overlapping secrets become one span.
                    self._pattern = re.compile(f"(?=({_trie_pattern(self._values)}))")
                    self._stale = False
        return self._pattern


_registry = _Registry()


def register_secret(value: str) -> None:
    """Have :func:`redact` (and so every log record) replace ``value`` with ``***``.

    Registering a value again is harmless. Values shorter than 8 characters are
    ignored, since hiding them would mangle ordinary text. Bot tokens need no
    registering: anything shaped like one is always redacted.
    """
    if len(value) < _MIN_SECRET_LENGTH or _BOT_TOKEN.fullmatch(value):
        return
    _registry.add(value)


def redact(text: str) -> str:
    """``text`` with every bot token and every registered secret hidden.

    A bot token, also URL-encoded (``%3A`` for ``:``), becomes ``<bot id>:***``;
    a registered secret becomes ``***``. Text holding neither is returned as is.
    """
    spans: list[tuple[int, int, int]] = []  # (start, end, end of the text kept verbatim)
    # A cheap substring test spares the regex scan for most log messages.
    if ":" in text or "%3" in text:
        spans.extend((m.start(), m.end(), m.end(1)) for m in _BOT_TOKEN.finditer(text))
    pattern = _registry.pattern()
    if pattern is not None:
        spans.extend(
            (m.start(), m.start() + len(m.group(1)), m.start()) for m in pattern.finditer(text)
        )
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    position = 0
    start, end, keep = spans[0]
    for next_start, next_end, next_keep in spans[1:]:
        if next_start < end:  # overlapping matches are hidden as one span
            end = max(end, next_end)
            # A secret starting inside a token's id digits: show none of it.
            keep = min(keep, next_start)
            continue
        pieces.append(text[position:start] + _mask(text, start, keep))
        position = end
        start, end, keep = next_start, next_end, next_keep
    pieces.append(text[position:start] + _mask(text, start, keep))
    pieces.append(text[end:])
    return "".join(pieces)


def _mask(text: str, start: int, keep: int) -> str:
    return f"{text[start:keep]}:***" if keep > start else "***"


_URL_TYPE_NAMES = frozenset({"URL"})  # yarl.URL (aiohttp), httpx.URL: both rebuild from a str


def _scrub(value: object, depth: int = 0) -> object:
    """``value`` with secrets hidden, or ``value`` itself when it held none."""
    if isinstance(value, str):
        redacted = redact(value)
        return value if redacted == value else redacted
    if depth > 3:
        return value
    if isinstance(value, tuple):
        items = [_scrub(item, depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        fields = getattr(value, "_fields", None)
        if fields is not None:  # a namedtuple, such as aiohttp's RequestInfo
            changes = {
                name: new
                for name, new, old in zip(fields, items, value, strict=False)
                if new is not old
            }
            return value._replace(**changes)  # type: ignore[attr-defined]
        return tuple(items)
    if isinstance(value, list):
        items = [_scrub(item, depth + 1) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            value[:] = items  # in place: exception notes are this list
        return value
    if type(value).__name__ in _URL_TYPE_NAMES:
        text = str(value)
        redacted = redact(text)
        if redacted != text:
            url_type = cast("Callable[[str], object]", type(value))
            try:
                return url_type(redacted)
            except Exception:  # an unknown URL type: keep it rather than fail
                return value
    return value


def redact_exception(exc: _E) -> _E:
    """Hide secrets in ``exc`` and its ``__cause__``/``__context__`` chain, in place.

    Scrubs ``args``, every string, URL or tuple attribute of the instance
    (aiogram's ``message``, aiohttp's ``message`` and ``request_info``, any
    ``url``), ``OSError`` file names, notes, and the members of an exception
    group. Returns ``exc`` itself, so ``raise redact_exception(exc)`` keeps its
    type and traceback.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return exc


def _scrub_one(exc: BaseException) -> None:
    args = _scrub(exc.args)
    if args is not exc.args:
        exc.args = args  # type: ignore[assignment]
    # Through the instance dict, not setattr: properties of the same name are
    # not stored there, so nothing but plain attributes is touched.
    attributes = getattr(exc, "__dict__", None)
    if attributes is not None:
        for name, value in list(attributes.items()):
            scrubbed = _scrub(value)
            if scrubbed is not value:
                attributes[name] = scrubbed
    if isinstance(exc, OSError):
        # C-level fields that str(OSError) reads instead of args.
        for name in ("strerror", "filename", "filename2"):
            value = getattr(exc, name)
            if isinstance(value, str) and redact(value) != value:
                setattr(exc, name, redact(value))


_TRACEBACK_FORMATTER = logging.Formatter()


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break the logging call
        return f"<unprintable {type(value).__name__}>"


def _redact_args(args: object) -> object:
    if isinstance(args, Mapping):
        return {key: redact(_safe_str(value)) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(redact(_safe_str(value)) for value in args)
    return args


def _redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, dict) and not record.args:
        # An event dict (structlog's stdlib integration) must stay a dict for
        # its formatter; hide secrets in its string values.
        record.msg = {
            key: redact(value) if isinstance(value, str) else value
            for key, value in record.msg.items()
        }
    else:
        try:
            message = record.getMessage()
        except Exception:  # a bad logging call is the handler's to report
            # The handler will fail the same way and print msg and args to
            # stderr (Handler.handleError): make what it prints safe too.
            record.msg = redact(_safe_str(record.msg))
            record.args = _redact_args(record.args)  # type: ignore[assignment]
        else:
            record.msg = redact(message)
            record.args = ()
    if record.exc_info and record.exc_info[1] is not None:
        try:
            redact_exception(record.exc_info[1])
            if not record.exc_text:
                # Also covers what redact_exception cannot reach: an exception
                # whose __str__ reads a secret from some object it holds.
                record.exc_text = redact(_TRACEBACK_FORMATTER.formatException(record.exc_info))
        except Exception:  # fail closed: never the raw traceback, never a raising log call
            record.exc_text = "<traceback withheld: it could not be redacted>"
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class _RedactingRecordFactory:
    """Wraps the previous record factory; every record it returns is redacted."""

    __slots__ = ("previous",)

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        _redact_record(record)
        return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record it sees (attach it to one logger
    whose lines carry secrets, where :func:`install_log_redaction` is too broad)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every log record from every logger, in this process, from now on.

    Idempotent: calling it again while its factory is the current one does
    nothing. A record factory installed earlier still runs (it is chained);
    one installed later by someone else should chain to this one likewise.
    """
    with _install_lock:
        current = logging.getLogRecordFactory()
        if isinstance(current, _RedactingRecordFactory):
            return
        logging.setLogRecordFactory(_RedactingRecordFactory(current))
