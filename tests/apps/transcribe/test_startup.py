"""``sluice run transcribe`` when Telegram is not there yet: it waits, says so, then serves."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import BOT_A, TOKEN_A, Sim
from transcribe_support import bot_texts, eventually


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> str:
    while True:
        raw = await stream.readline()
        assert raw, "the bot exited: " + "".join(seen)
        line = raw.decode()
        seen.append(line)
        if text in line:
            return line


async def test_the_bot_waits_for_an_unreachable_telegram_then_serves(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens here yet: Telegram is unreachable
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "TELEGRAM_"))},
        "TELEGRAM_BOT_TOKEN": TOKEN_A,
        "TELEGRAM_API_SERVER": base,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "GROQ_API_KEY": "gsk_fake_test_key_0000",
        "GROQ_BASE_URL": f"{base}/groq/openai/v1",
        "COLUMNS": "200",
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sluice.cli", "run", "transcribe",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert bot.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            waiting = await _line_with(bot.stderr, "Telegram is unreachable", seen)
        assert f"127.0.0.1:{port}" in waiting
        assert "trying again in" in waiting
        assert bot.returncode is None  # still running: it did not die
        async with (
            EmulatorServer(EmulatorConfig(seed=1), port=port) as server,
            httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
        ):
            sim = Sim(http)
            user = int((await sim.started_user(BOT_A))["id"])
            await eventually(lambda: bot_texts(sim, user), within=60)
    finally:
        if bot.returncode is None:
            bot.terminate()
        rest = await bot.stderr.read()
        await bot.wait()
    log = "".join(seen) + rest.decode()
    assert "Traceback" not in log
    assert TOKEN_A.split(":")[1] not in log
    # Libraries' INFO lines stay out of the terminal: alembic's, aiogram's.
    assert "Context impl" not in log
    assert "Start polling" not in log
