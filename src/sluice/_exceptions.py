"""The exceptions sluice raises.

Every error sluice raises derives from one base, so ``except SluiceError``
catches all of them::

    SluiceError
     └── ConfigError      a setting, flag or environment variable is invalid

Messages say what happened and what to do about it, and never contain a secret.
"""

from __future__ import annotations

__all__ = ["ConfigError", "SluiceError"]


class SluiceError(Exception):
    """Base class of every error sluice raises."""


class ConfigError(SluiceError, ValueError):
    """A setting, flag or environment variable is invalid."""
