"""Imports every module of MTProto method handlers, which registers them."""

from __future__ import annotations

from sluice.emulator.mtproto import (  # noqa: F401
    _m_core,
    _m_files,
    _m_read,
    _m_send,
    _m_signin,
)

__all__: list[str] = []
