from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli._demo import run_demo
from support import TOKEN_A

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output
    assert "emulator" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "speed must be a positive number"),
        (["--bot-limit", "fast"], "is not a rate"),
        (["--p429", "1.5"], "p429 must be within [0, 1]"),
        (["--retry-after", "3-1"], "retry_after range"),
    ],
)
def test_bad_flags_are_clear_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["emulator", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_malformed_token_is_named_but_never_echoed() -> None:
    secret = "123:this-looks-secret-but-is-malformed"
    result = runner.invoke(app, ["emulator", "--bots", f"{TOKEN_A},{secret}"])
    assert result.exit_code == 2
    assert "--bots entry 2 is not a bot token" in result.output
    assert "this-looks-secret" not in result.output
    assert TOKEN_A.split(":")[1] not in result.output


def _start_emulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice.cli", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server prints its URL (or dies)
    assert "listening on http://127.0.0.1:" in line, line
    return proc, line.rsplit(" ", 1)[1].strip()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_emulator_command_serves_until_signalled(sig: signal.Signals) -> None:
    proc, url = _start_emulator("--speed", "10")
    try:
        me = httpx.get(f"{url}/bot{TOKEN_A}/getMe", timeout=10).json()
        assert me["ok"] is True
        assert me["result"]["id"] == 1000001
        config = httpx.get(f"{url}/_sim/config", timeout=10).json()
        assert config["limits"]["speed"] == 10
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "emulator stopped" in out
    assert TOKEN_A not in out


def test_emulator_command_restricts_bots() -> None:
    other = "1000002:" + "B" * 35
    proc, url = _start_emulator("--bots", TOKEN_A)
    try:
        assert httpx.get(f"{url}/bot{TOKEN_A}/getMe", timeout=10).status_code == 200
        refused = httpx.get(f"{url}/bot{other}/getMe", timeout=10)
        assert refused.status_code == 401
        assert refused.json()["description"] == "Unauthorized"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


async def test_demo_broadcasts_through_a_storm_and_loses_nothing() -> None:
    # The demo itself, smaller and ten times faster: the same code, the same checks.
    console = Console(record=True, width=120)
    report = await run_demo(console, users_per_bot=60, digest_readers=10, speed=10)
    output = console.export_text()
    assert report.ok, output
    assert report.messages == 3 * 60 + 3 * 10 * 3
    assert (report.lost, report.order_violations, report.r429_limit) == (0, 0, 0)
    assert report.r429_injected > 0  # the storm happened, and sluice rode it out
    assert report.ping_ms, "the /ping user was answered during the broadcast"
    assert "sluice demo report" in output
    assert "messages lost" in output
    for label in ("bot:4201", "bot:4202", "bot:4203"):
        assert label in output  # the account-health table
