"""Method parameters as Telegram reads them.

Telegram accepts the same parameter as a query string value, a form field, a
multipart part or a JSON value; objects arrive JSON-encoded inside form fields.
Every accessor turns a wrong type into a 400 answer, never an exception, and a
JSON-valued parameter is measured before it is decoded (see ``MAX_JSON_PARAM``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._errors import bad_request

__all__ = ["MAX_JSON_PARAM", "Params"]

# A JSON-valued parameter (reply_markup, entities, media, ...) is at most this many
# characters of JSON, however it arrives. Far above anything legal (100 keyboard
# buttons, the entities of a 4096-character message) and small enough that decoding and
# checking it takes milliseconds: the bound is checked before json.loads.
MAX_JSON_PARAM = 64 * 1024

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """Typed access to one call's parameters."""

    __slots__ = ("_files", "_values")

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, UploadFile] | None = None):
        self._values = dict(values)
        self._files = dict(files or {})

    def has(self, name: str) -> bool:
        return name in self._values or name in self._files

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def text(self, name: str, *, empty_error: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            if empty_error is not None:
                raise bad_request(empty_error)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise bad_request(f'field "{name}" must be of type String')
        text = str(value)
        if empty_error is not None and not text.strip():
            raise bad_request(empty_error)
        return text

    def integer(self, name: str, *, empty_error: str | None = None) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            if empty_error is not None:
                raise bad_request(empty_error)
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        number: int | None = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = int(value.strip())
        # Telegram's integers are 64-bit; anything wider is not a number it knows.
        if number is None or not _INT64_MIN <= number <= _INT64_MAX:
            raise bad_request(f'field "{name}" must be of type Integer')
        return number

    def flag(self, name: str) -> bool:
        value = self._values.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad_request(f'field "{name}" must be of type Boolean')

    def json(self, name: str, what: str, *, limit: int = MAX_JSON_PARAM) -> Any:
        """A JSON-valued parameter; ``what`` names it in the error, as Telegram does.

        ``limit``: its most characters of JSON, checked before decoding."""
        value = self._values.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            if len(value) > limit:
                raise _json_too_long(what)
            try:
                return json.loads(value)
            except (ValueError, RecursionError):  # RecursionError: nested too deep
                raise bad_request(f"can't parse {what} JSON object") from None
        # Already decoded, inside a JSON body: measured the same way.
        if isinstance(value, list | dict) and _json_length(value) > limit:
            raise _json_too_long(what)
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self._values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        if isinstance(value, bool):
            raise bad_request("chat not found")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("@") and len(text) > 1:
                return text
            try:
                number = int(text)
            except ValueError:
                raise bad_request("chat not found") from None
        else:
            raise bad_request("chat not found")
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise bad_request("chat not found")
        return number

    def upload(self, name: str) -> UploadFile | str | None:
        """A file parameter: an uploaded part, or a string (file_id, URL, attach://)."""
        if name in self._files:
            return self._files[name]
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = self._files.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file attached as {value!r} was not found in the request")
            return attached
        if value is None or isinstance(value, str):
            return value
        raise bad_request(f'field "{name}" must be a file or a String')


def _json_too_long(what: str) -> Exception:
    # Telegram's words for JSON it cannot take: clients match on them.
    return bad_request(f"can't parse {what} JSON object")


def _json_length(value: list[Any] | dict[str, Any]) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), default=str))
    except (TypeError, ValueError, RecursionError):  # not from the wire: nothing to bound
        return 0
