"""What every benchmark shares: an emulator in its own process (driven with the public
:class:`sluice.emulator.Sim` client).

The emulator runs as a separate ``sluice emulator`` process so that it does
not share a core or an event loop with the contender being measured: every
contender faces the same Telegram, on loopback only, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator


# Obviously fake tokens: the emulator accepts any well-formed one.
def fake_token(bot_id: int) -> str:
    return f"{bot_id}:" + f"bench-token-not-a-secret-{bot_id}".ljust(35, "x")[:35]


BOT_IDS = (7000001, 7000002, 7000003)
_URL = re.compile(r"listening on (http://\S+)")


@contextlib.asynccontextmanager
async def emulator_process(*flags: str) -> AsyncIterator[str]:
    """Start ``sluice emulator --port 0 <flags>`` and yield its base URL; stop it after."""
    env = {**os.environ, "COLUMNS": "250"}
    # Popen only starts the process; its output is read in an executor below.
    proc = subprocess.Popen(  # noqa: ASYNC220, S603
        [sys.executable, "-m", "sluice.cli", "emulator", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(30):
            while url is None:
                line = await loop.run_in_executor(None, proc.stdout.readline)
                if not line:
                    raise RuntimeError("the emulator exited before it listened")
                if match := _URL.search(line):
                    url = match.group(1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()  # else left for the garbage collector: a ResourceWarning
