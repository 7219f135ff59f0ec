from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from sluice import MissingExtra, __version__
from sluice.cli._demo import run_demo
from sluice.cli._jobs import JOB_STATES
from sluice.jobs import JobState
from support import TOKEN_A


def sluice(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (its own process, its own exit code)."""
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = sluice("--help")
    assert result.returncode == 0
    for command in ("demo", "emulator", "jobs", "run", "bench"):
        assert command in result.stdout


def test_version() -> None:
    result = sluice("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"sluice-telegram {__version__}")


def test_no_command_shows_the_help() -> None:
    result = sluice()
    assert result.returncode == 0
    assert "Usage: sluice" in result.stdout


def test_flags_show_no_type_and_choices_are_not_wrapped_mid_word() -> None:
    emulator = sluice("emulator", "--help").stdout
    assert "<bool>" not in emulator
    local = next(line for line in emulator.splitlines() if line.strip().startswith("--local"))
    assert local.split()[1] == "Behave"  # the flag, then its help: no type between
    listing = sluice("jobs", "list", "--help").stdout
    assert "<queued|running|succeeded|failed|cancelled>" in listing


def test_the_state_choices_are_the_job_states() -> None:
    assert tuple(state.value for state in JobState) == JOB_STATES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # one per kind of option: int with a range, float, flag, choice, text parsed
        # by sluice, repeatable list, argument, unknown option
        (["emulator", "--port", "99999"], "Invalid value for '--port'"),
        (["emulator", "--port", "eighty"], "Invalid value for '--port'"),
        (["emulator", "--speed", "fast"], "Invalid value for '--speed'"),
        (["emulator", "--speed", "0"], "speed must be a positive number"),
        (["emulator", "--local=yes"], "Option '--local' does not take a value"),
        (["jobs", "list", "--state", "lost"], "Invalid value for '--state'"),
        (["emulator", "--bot-limit", "fast"], "is not a rate"),
        (["emulator", "--p429", "1.5"], "p429 must be within [0, 1]"),
        (["emulator", "--retry-after", "3-1"], "retry_after range"),
        (["bench", "distributed", "--users", "5"], "Invalid value for '--users'"),
        (["jobs", "show"], "Missing argument"),
        (["emulator", "--prot", "1"], "No such option: --prot"),
        (["run", "worker", "--concurrency", "0"], "Invalid value for '--concurrency'"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = sluice(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_debug_adds_the_traceback() -> None:
    quiet = sluice("emulator", "--speed", "0")
    loud = sluice("--debug", "emulator", "--speed", "0")
    by_env = sluice("emulator", "--speed", "0", env={"SLUICE_LOG_LEVEL": "debug"})
    assert "Traceback" not in quiet.stderr
    for result in (loud, by_env):
        assert result.returncode == 2
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: speed must be")


def test_a_malformed_token_is_named_but_never_echoed() -> None:
    secret = "123:this-looks-secret-but-is-malformed"
    result = sluice("emulator", "--bots", f"{TOKEN_A},{secret}")
    assert result.returncode == 2
    assert "bots entry 2 is not a bot token" in result.stderr
    assert "this-looks-secret" not in result.stderr + result.stdout
    assert TOKEN_A.split(":")[1] not in result.stderr + result.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line(busy_port: int) -> None:
    result = sluice("emulator", "--port", str(busy_port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    )


def test_transcribe_lists_everything_missing_at_once(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_TOKEN")) and not name.startswith(("SLUICE_", "TELE"))
    }
    env["LOCAL_WHISPER_DEVICE"] = "tpu"
    env["GROQ_RATE_LIMIT"] = "often"
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "run", "transcribe"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,  # no .env file here
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no bot token: set TELEGRAM_BOT_TOKEN" in line
    assert "LOCAL_WHISPER_DEVICE is not a device" in line
    assert "GROQ_RATE_LIMIT is not a rate limit" in line
    assert "INFO" not in result.stderr
    # No key is not a problem any more: the local model is the provider.
    assert "speech-to-text provider" not in line


def test_filelink_refuses_to_start_without_a_secret_and_says_everything_missing(
    tmp_path: Path,
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_TOKEN", "_SECRET", "_CHANNEL", "_URL"))
        and not name.startswith(("SLUICE_", "TELE"))
    }
    env["BOT_TOKEN"] = "1000001:" + "A" * 35
    env["LINK_SECRET"] = "too-short-secret"
    env["BIN_CHANNEL"] = "@files"
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "run", "filelink"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "LINK_SECRET is too short" in line
    assert "BIN_CHANNEL is not a channel id" in line
    assert "PUBLIC_URL is not set" in line
    for secret in ("too-short-secret", "A" * 35):
        assert secret not in result.stderr


def test_a_missing_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if aiogram were not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "aiogram", None)
    monkeypatch.delitem(sys.modules, "sluice.integrations.aiogram", raising=False)
    with pytest.raises(MissingExtra) as caught:
        importlib.import_module("sluice.integrations.aiogram")
    assert str(caught.value) == (
        "sluice.integrations.aiogram needs aiogram, which is not installed: "
        "pip install 'sluice-telegram[aiogram]'"
    )
    assert isinstance(caught.value, ImportError)


def test_the_command_line_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As if the local-stt extra were missing: the demo's module cannot be imported.
    from sluice.cli import main

    monkeypatch.setitem(sys.modules, "sluice.cli._demo_transcribe", None)
    with pytest.raises(SystemExit) as exited:
        main(["demo", "transcribe"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    # The brackets are text, not markup that the console would swallow.
    assert "pip install 'sluice-telegram[local-stt]'" in err, err


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


def _two_free_ports() -> int:
    """A port p with p + 1 free too (DC 1 and DC 2)."""
    import socket

    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return int(port)
    raise AssertionError("no two consecutive free ports")


def test_emulator_command_serves_mtproto_on_the_named_ports() -> None:
    port = _two_free_ports()
    proc, url = _start_emulator("--mtproto-port", str(port), "--download-latency-ms", "5")
    try:
        info = httpx.get(f"{url}/_sim/mtproto", timeout=10).json()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert [(d["id"], d["port"]) for d in info["dcs"]] == [(1, port), (2, port + 1)]
    assert f"DC 1 127.0.0.1:{port}, DC 2 127.0.0.1:{port + 1}" in out
    assert "5 ms a request" in out


def test_emulator_command_can_leave_mtproto_off() -> None:
    proc, url = _start_emulator("--no-mtproto")
    try:
        assert httpx.get(f"{url}/_sim/mtproto", timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert "MTProto:" not in out


async def test_demo_broadcasts_through_a_storm_and_loses_nothing() -> None:
    # The demo itself, smaller and ten times faster: the same code, the same checks.
    console = Console(record=True, width=120)
    report = await run_demo(console, users_per_bot=60, digest_readers=10, speed=10)
    output = console.export_text()
    assert report.ok, output
    assert (report.broadcast, report.digests) == (3 * 60, 3 * 10 * 3)
    assert report.pongs == len(report.ping_ms) > 0  # answered during the broadcast
    # The report's total is what the bots sent, by the gate's own count.
    assert report.messages == report.broadcast + report.digests + report.pongs
    assert report.messages == sum(run.sent for run in report.bots.values())
    assert (report.lost, report.order_violations, report.r429_limit) == (0, 0, 0)
    assert report.r429_injected > 0  # the storm happened, and sluice rode it out
    last = max(report.bots.values(), key=lambda run: run.finished)
    assert last.finished >= last.minimum
    assert "sluice demo report" in output
    total = re.search(r"sent in all \(the health table's total\) *│ *([0-9,]+)", output)
    assert total is not None, output
    assert int(total.group(1).replace(",", "")) == report.messages
    assert "Where the time went: bot" in output
    for label in ("bot:4201", "bot:4202", "bot:4203"):
        assert label in output  # the account-health table


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "SLUICE_DATABASE_URL=postgresql://sluice@127.0.0.1:{port}/test",
            "cannot reach the database",
        ),
        ("SLUICE_DATA_DIR={file}/data", "cannot create the data directory"),
    ],
)
def test_a_bot_that_cannot_start_says_why_in_one_line(
    setting: str, message: str, busy_port: int, tmp_path: Path
) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a directory")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    name, _, value = setting.format(port=port, file=file).partition("=")
    env = {
        "PATH": os.environ["PATH"],
        "TELEGRAM_BOT_TOKEN": TOKEN_A,
        "GROQ_API_KEY": "gsk_fake_test_key_0000",
        "TELEGRAM_API_SERVER": f"http://127.0.0.1:{busy_port}",
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        name: value,
    }
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "run", "transcribe"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}")
