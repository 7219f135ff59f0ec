"""The distribution: a light core that runs a gate on its own, extras named when missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What `pip install sluice-telegram` brings: the gate, limits, accounts and settings.
CORE = {
    "annotated-types",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "python-dotenv",
    "sluice-telegram",
    "typing-extensions",
    "typing-inspection",
}

GATE_RUN = textwrap.dedent(
    """
    import asyncio, sys

    from sluice import MissingExtra
    from sluice.accounts import Account
    from sluice.gate import Gate
    from sluice.limits import TelegramLimits

    async def main() -> None:
        sent = []
        gate = Gate([Account(1)], limits=TelegramLimits(speed=100))

        async def send(n: int) -> int:
            async def call(account: Account) -> int:
                sent.append(n)
                return n
            return await gate.call(call, account=1, chat_id=42, method="sendMessage")

        assert await asyncio.gather(*(send(n) for n in range(10))) == list(range(10))
        assert sent == list(range(10)), sent  # one chat: in order
        assert gate.health()["bot:1"]["successes"] == 10

    asyncio.run(main())
    for module in ("sluice.integrations.aiogram", "sluice.emulator", "sluice.jobs"):
        try:
            __import__(module)
        except MissingExtra as exc:
            print(exc)
        else:
            sys.exit(f"{module} imported without its extra")
    """
)


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check",
         *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_core_alone_runs_a_gate_and_names_missing_extras(tmp_path: Path) -> None:
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = _pip(python, "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = _pip(python, "list", "--format=freeze")
    names = {line.split("==")[0].lower().replace("_", "-") for line in listed.stdout.split()}
    assert names == CORE

    run = subprocess.run(
        [str(python), "-c", GATE_RUN], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "sluice.integrations.aiogram needs aiogram, which is not installed: "
        "pip install 'sluice-telegram[aiogram]'",
        "sluice.emulator needs httpx, which is not installed: "
        "pip install 'sluice-telegram[emulator]'",
        "sluice.jobs needs aiosqlite, which is not installed: pip install 'sluice-telegram[jobs]'",
    ]

    command = venv / "bin" / "sluice"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    assert version.stdout.startswith("sluice-telegram ")
    bare = subprocess.run([str(command), "demo"], capture_output=True, text=True)
    assert bare.returncode == 2
    assert bare.stderr.strip().splitlines() == [
        "error: the sluice command needs rich, which is not installed: "
        "pip install 'sluice-telegram[cli]'"
    ]


def test_every_extra_named_in_the_code_exists() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    named = set()
    for path in (ROOT / "src" / "sluice").rglob("*.py"):
        for line in path.read_text().splitlines():
            if "missing_extra(" in line and line.strip().startswith("raise"):
                named.add(line.split(",")[1].strip().strip("\"'"))
    assert named, "no module names an extra"
    assert named <= set(extras), named - set(extras)
    for extra in ("cli", "aiogram", "ptb", "telethon", "emulator", "jobs", "redis", "postgres"):
        assert extra in extras
    for extra in ("transcribe", "filelink", "worker", "demo", "bench", "all", "test"):
        assert extra in extras


def test_the_readme_installs_with_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```")[0].strip() for b in readme.split("```sh\n")[1:3]]
    demo, tests = blocks
    for command, extra, runs in ((demo, "demo", "sluice demo"), (tests, "test", "pytest")):
        assert "-c constraints.txt" in command
        assert f"'.[{extra}]'" in command
        assert runs in command
    pins = (ROOT / "constraints.txt").read_text()
    for tool in ("ruff", "mypy", "pytest", "pytest-asyncio", "hypothesis", "playwright"):
        assert f"\n{tool}==" in pins
