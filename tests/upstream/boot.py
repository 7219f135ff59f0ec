"""Run one example bot of aiogram or python-telegram-bot, unmodified, against an emulator.

    python tests/upstream/boot.py --lib ptb --api http://127.0.0.1:8081 \\
        --token 7000001:AAAA... path/to/echobot.py [example arguments...]

The example file is not edited: before running it as ``__main__`` (``runpy``), the
library is pointed at the emulator.

- aiogram: ``BOT_TOKEN`` (which aiogram's examples read) is set to the token, and every
  HTTP session created without an ``api`` server (the one ``Bot`` makes for itself,
  and any ``AiohttpSession()`` the example makes) talks to the emulator.
- python-telegram-bot: a placeholder token (``"TOKEN"``, anything not shaped like a
  bot token) becomes the given token, wherever it is passed (``ApplicationBuilder.token``
  or ``Bot(...)``), and the default ``base_url``/``base_file_url`` become the
  emulator's.

As with ``python example.py``, the example's folder is first on ``sys.path`` (so that
multi-file examples import their siblings) and ``sys.argv`` is the example and its
arguments.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import re
import runpy
import sys
from collections.abc import Sequence
from typing import Any

TOKEN_SHAPE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{35}$")
TELEGRAM_API = "https://api.telegram.org"


def point_aiogram(api: str, token: str) -> None:
    """Every aiogram session made without an ``api`` server uses the emulator."""
    os.environ["BOT_TOKEN"] = token
    from aiogram.client.session.base import BaseSession
    from aiogram.client.telegram import PRODUCTION, TelegramAPIServer

    emulator = TelegramAPIServer.from_base(api)
    original = BaseSession.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if not args and kwargs.get("api", PRODUCTION) is PRODUCTION:
            kwargs["api"] = emulator
        original(self, *args, **kwargs)

    BaseSession.__init__ = init  # type: ignore[method-assign]


def point_ptb(api: str, token: str) -> None:
    """Placeholder tokens become ``token``; Telegram's URLs become the emulator's."""
    import telegram
    from telegram.ext import ApplicationBuilder

    def real(value: Any) -> Any:
        return value if isinstance(value, str) and TOKEN_SHAPE.match(value) else token

    original_token = ApplicationBuilder.token

    @functools.wraps(original_token)
    def builder_token(self: Any, value: str) -> Any:
        return original_token(self, real(value))

    ApplicationBuilder.token = builder_token  # type: ignore[method-assign,assignment]

    original_init = telegram.Bot.__init__
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def bot_init(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        values["token"] = real(values["token"])
        for key, path in (("base_url", "/bot"), ("base_file_url", "/file/bot")):
            value = values.get(key)
            if isinstance(value, str) and value.startswith(TELEGRAM_API):
                values[key] = api.rstrip("/") + path
        original_init(*bound.args, **bound.kwargs)

    telegram.Bot.__init__ = bot_init  # type: ignore[method-assign]


def boot(lib: str, api: str, token: str, example: str, args: Sequence[str]) -> None:
    """Point ``lib`` at the emulator, then run ``example`` as ``__main__``."""
    if lib == "aiogram":
        point_aiogram(api, token)
    elif lib == "ptb":
        point_ptb(api, token)
    else:
        raise SystemExit(f"unknown library {lib!r}: aiogram or ptb")
    path = os.path.abspath(example)
    sys.path.insert(0, os.path.dirname(path))
    sys.argv = [path, *args]
    runpy.run_path(path, run_name="__main__")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, choices=["aiogram", "ptb"])
    parser.add_argument("--api", required=True, help="the emulator's base URL")
    parser.add_argument("--token", required=True, help="the bot's token at the emulator")
    parser.add_argument("example", help="the example's .py file")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the example's own arguments")
    ns = parser.parse_args(argv)
    if not TOKEN_SHAPE.match(ns.token):
        parser.error("--token must look like a bot token: <digits>:<35 characters>")
    boot(ns.lib, ns.api, ns.token, ns.example, ns.args)


if __name__ == "__main__":
    main()
