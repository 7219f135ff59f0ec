"""The gate's behaviour suite runs on both limiters: every test gets an ``env``
(see tests/gate_env.py); Redis is mandatory under CI."""

from __future__ import annotations

import pytest

from gate_env import Env


@pytest.fixture(params=["memory", "redis"])
def env(request: pytest.FixtureRequest) -> Env:
    if request.param == "memory":
        return Env("memory")
    return Env("redis", slack=0.25, redis_url=request.getfixturevalue("redis_url"))
