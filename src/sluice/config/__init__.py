"""sluice's settings, read once at start from the environment and a ``.env`` file."""

from __future__ import annotations

from sluice.config._settings import ExplicitSettings, Settings, load_settings, read_environment

__all__ = ["ExplicitSettings", "Settings", "load_settings", "read_environment"]
