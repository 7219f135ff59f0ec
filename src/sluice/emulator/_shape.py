"""Readers of the JSON objects inside Bot API parameters, refusing them in tdlib's words."""

from __future__ import annotations

import re
from typing import Any

__all__: list[str] = []


class Shape(Exception):
    """A JSON object that is not what Telegram expects; the caller prefixes where it was."""


def read_string(obj: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise Shape(f'Can\'t find field "{name}"')
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Shape(f'Field "{name}" must be of type String')
    return str(value)


def read_number(obj: dict[str, Any], name: str, *, required: bool = True) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise Shape(f'Can\'t find field "{name}"')
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise Shape(f'Field "{name}" must be of type Number') from None


def read_integer(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if value is None:
        raise Shape(f'Can\'t find field "{name}"')
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise Shape(f'Field "{name}" must be of type Number')


def read_object(obj: dict[str, Any], name: str, *, required: bool = False) -> dict[str, Any] | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise Shape(f'Can\'t find field "{name}"')
        return None
    if not isinstance(value, dict):
        raise Shape(f'Field "{name}" must be of type Object')
    return value


def https_problem(url: str) -> str | None:
    """Why a Web App URL is refused, in tdlib's words; None if it is a usable https URL."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() not in {"http", "https"}:
        return "Unsupported URL protocol"
    if not sep or scheme.lower() != "https":
        return "Only HTTPS links are allowed"
    if not rest.split("/", 1)[0].split("?", 1)[0]:
        return "URL host is empty"
    return None
