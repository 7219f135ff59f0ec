"""Optional dependencies: one clear error, naming the extra, when one is missing.

A package that needs an extra imports its third-party modules first, inside
``try``; on :class:`ImportError` it raises :func:`missing_extra`, so that
``import sluice.emulator`` without the ``emulator`` extra says what to
install instead of failing deep inside with a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from sluice._exceptions import MissingExtra

__all__ = ["missing_extra"]


def missing_extra(feature: str, extra: str, error: ImportError) -> MissingExtra:
    """The error to raise when ``feature`` could not import what ``extra`` installs."""
    return MissingExtra(feature, extra, [error.name or str(error)])
