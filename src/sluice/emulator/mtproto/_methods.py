"""Imports every module of MTProto method handlers, which registers them."""

from __future__ import annotations

from sluice.emulator.mtproto import _m_core  # noqa: F401

__all__: list[str] = []
