"""The PostgreSQL and Redis the tests run against, and CI's rule that they must be there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent


async def test_redis_answers(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set("sluice:test:probe", "1", ex=5)
        assert await client.get("sluice:test:probe") == b"1"
    finally:
        await client.aclose()


async def test_postgres_answers(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
    finally:
        await conn.close()


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_server_skips_but_fails_under_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            async def test_needs_redis(redis_url: str) -> None:
                assert redis_url
            """
        )
    )
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    env = {
        **os.environ,
        "CI": ci,
        # Nothing listens on port 1: the server is "missing".
        "SLUICE_TEST_REDIS_URL": "redis://127.0.0.1:1/0",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            str(probe),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    assert (result.returncode != 0) == bool(ci)
    if ci:
        assert "required under CI=true" in result.stdout
