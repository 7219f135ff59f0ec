"""Helpers shared by the tests: fake tokens, real servers, and the emulator's /_sim client."""

from __future__ import annotations

import os

import pytest

from sluice.emulator import Sim

# Obviously fake tokens: shaped like Telegram's, never real.
TOKEN_A = "1000001:" + "A" * 35
TOKEN_B = "1000002:" + "B" * 35
BOT_A = 1000001
BOT_B = 1000002

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# Real servers for the tests that need them; override to point elsewhere.
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "SLUICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def service_unavailable(what: str) -> None:
    """Skip a test whose server is missing, except under CI, where it must fail."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not reachable")
    pytest.skip(f"{what} is not reachable on this machine")


__all__ = ["BOT_A", "BOT_B", "IN_CI", "POSTGRES_URL", "REDIS_URL", "TOKEN_A", "TOKEN_B", "Sim"]
