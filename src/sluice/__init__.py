"""sluice: run Telegram bots at the full speed Telegram permits."""

from __future__ import annotations

from sluice._exceptions import ConfigError, SluiceError

__version__ = "0.1.0"

__all__ = ["ConfigError", "SluiceError", "__version__"]
