"""boot.py runs example-style bots, unmodified, against the emulator.

The upstream examples are not in this repository (run.py plays them from a checkout);
these two bots of our own are written the way the libraries' examples are: aiogram's
reads ``BOT_TOKEN`` and calls ``dp.start_polling``, PTB's passes the ``"TOKEN"``
placeholder to ``Application.builder()`` and calls ``run_polling``. Each runs in a
subprocess, answers a simulated user's message through the emulator, and stops cleanly
on SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from sluice.emulator import EmulatorServer
from support import BOT_A, TOKEN_A, Sim

HERE = Path(__file__).resolve().parent
BOOT = HERE / "boot.py"
FIXTURES = HERE / "fixtures"
DEADLINE = 20.0  # seconds for a bot to start and answer
STOP_WITHIN = 10.0


async def _answer(sim: Sim, chat_id: int, text: str, proc: asyncio.subprocess.Process) -> None:
    """Wait (bounded) until the bot's message ``text`` is in the chat."""
    deadline = time.monotonic() + DEADLINE
    while text not in await sim.texts(chat_id):
        if proc.returncode is not None:
            pytest.fail(f"the bot exited with status {proc.returncode} before answering")
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} within {DEADLINE:g} s: {await sim.texts(chat_id)}")
        await asyncio.sleep(0.05)


async def _play(
    server: EmulatorServer,
    sim: Sim,
    tmp_path: Path,
    lib: str,
    bot: str,
    args: list[str],
    said: str,
    answer: str,
) -> tuple[str, list[str]]:
    """Boot ``bot`` through boot.py, have a user say ``said``, expect ``answer``; the log
    and the bot's texts in the chat."""
    user = await sim.started_user(BOT_A, first_name="Ana")
    log_path = tmp_path / f"{lib}.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BOOT),
            "--lib",
            lib,
            "--api",
            server.url,
            "--token",
            TOKEN_A,
            str(FIXTURES / bot),
            *args,
            cwd=tmp_path,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await sim.send(user["id"], said, bot_id=BOT_A)
        await _answer(sim, user["id"], answer, proc)
        proc.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(proc.wait(), STOP_WITHIN)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = log_path.read_text(errors="replace")
    assert status == 0, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    return output, await sim.texts(user["id"])


async def test_an_aiogram_example_answers_and_stops(
    server: EmulatorServer, sim: Sim, tmp_path: Path
) -> None:
    _, texts = await _play(
        server,
        sim,
        tmp_path,
        "aiogram",
        "aiogram_echo.py",
        ["--flag", "x"],
        "ping",
        "aiogram heard: ping (--flag x)",
    )
    # Its handler takes every message: the user's /start too, with the example's argv.
    assert sorted(texts) == ["aiogram heard: /start (--flag x)", "aiogram heard: ping (--flag x)"]
    calls = (await sim.stats())["bots"][str(BOT_A)]["calls"]
    assert calls["sendMessage"] == 2


async def test_a_ptb_example_answers_and_stops(
    server: EmulatorServer, sim: Sim, tmp_path: Path
) -> None:
    output, texts = await _play(
        server, sim, tmp_path, "ptb", "ptb_echo.py", [], "pong", "ptb heard: pong"
    )
    assert texts == ["ptb heard: pong"]  # /start is a command: not echoed
    # Its placeholder token became the emulator bot's, and its URLs the emulator's.
    assert f"{server.url}/bot{TOKEN_A}/getMe" in output
    assert "api.telegram.org" not in output
    calls = (await sim.stats())["bots"][str(BOT_A)]["calls"]
    assert calls["sendMessage"] == 1


def test_boot_refuses_a_token_the_emulator_would_not_know() -> None:
    sys.path.insert(0, str(HERE))
    try:
        import boot
    finally:
        sys.path.remove(str(HERE))
    with pytest.raises(SystemExit) as exit_info:
        boot.main(["--lib", "ptb", "--api", "http://127.0.0.1:9", "--token", "TOKEN", "x.py"])
    assert exit_info.value.code == 2
