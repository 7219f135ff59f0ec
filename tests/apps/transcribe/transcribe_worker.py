"""A transcription bot process for the crash test: its environment as JSON in argv[1].

Prints ``ready`` once it polls; runs until killed. A short job lease (1 s), so
the next process takes a killed one's job over quickly.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sluice.apps.transcribe import load_provider_settings, open_app
from sluice.config import load_settings


async def main(env: dict[str, str]) -> None:
    settings = load_settings(env, env_file=None)
    providers = load_provider_settings(env, env_file=None)
    async with open_app(settings, providers, lease=1.0) as app:
        print("ready", flush=True)
        await app.run(handle_signals=False, polling_timeout=1)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
