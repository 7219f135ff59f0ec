"""Run aiogram's and python-telegram-bot's example bots against the emulator.

    python tests/upstream/run.py --aiogram ~/src/aiogram/examples \\
        --ptb ~/src/python-telegram-bot/examples [--only NAME] [--json FILE]

Starts an emulator in this process, then for every example of ``scenarios.EXAMPLES``
found in the given folders: runs it in a subprocess through ``boot.py`` (unmodified,
pointed at the emulator), plays its scenario, stops it (SIGINT, then kill after a
bound) and prints one row: pass, or fail with the first unmet expectation, the Bot API
calls the emulator refused, and the tail of the example's traceback. Exit status 0
only if every example played passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import EXAMPLES, EXCLUDED, Call, Ctx, Example, Expectation  # noqa: E402

from sluice.emulator import EmulatorConfig, EmulatorServer, Limits, Sim  # noqa: E402
from sluice.emulator._errors import ApiError  # noqa: E402

BOOT = HERE / "boot.py"
FIRST_BOT_ID = 7100001
READY_TIMEOUT = 30.0  # an example's start: imports, getMe, first getUpdates
SCENARIO_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0  # after SIGINT, before SIGKILL


def token_of(bot_id: int) -> str:
    return f"{bot_id}:" + ("Ex" * 18)[:35]


@dataclass
class Result:
    example: str
    passed: bool
    detail: str = ""
    methods: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Recorder:
    """Every Bot API call the emulator answers, with its refusal if any."""

    def __init__(self, server: EmulatorServer) -> None:
        self.calls: list[Call] = []
        emu = server.emulator
        original = emu.call

        async def call(token: str, method_name: str, params: Any) -> Any:
            bot_id = _bot_id(token)
            values = dict(getattr(params, "_values", {}))
            files = list(getattr(params, "_files", {}))
            record = Call(bot_id, _canonical(method_name), values | dict.fromkeys(files, "<file>"))
            self.calls.append(record)
            try:
                return await original(token, method_name, params)
            except ApiError as exc:
                record.error = f"{exc.error_code} {exc.description}"
                raise

        emu.call = call  # type: ignore[method-assign]


def _brief(params: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(params, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _bot_id(token: str) -> int:
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


def _canonical(method_name: str) -> str:
    from sluice.emulator._core import _HANDLERS

    entry = _HANDLERS.get(method_name.lower())
    return entry[0] if entry else method_name


class Launcher:
    """The example's process: started through boot.py, stopped by SIGINT (then killed)."""

    def __init__(
        self, example: Example, path: Path, api: str, token: str, workdir: Path, extra: list[str]
    ) -> None:
        self.example = example
        self.path = path
        self.api = api
        self.token = token
        self.workdir = workdir
        self.extra = extra
        self.args: list[str] = []
        self.env: dict[str, str] = dict(example.env)
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = workdir / "example.log"
        self.calls: list[Call] = []
        self.bot_id = _bot_id(token)
        self._stopped_by_us = False

    async def launch(self, args: list[str], env: dict[str, str], ready: bool) -> None:
        self.args, self.env = args, {**self.example.env, **env}
        started = len(self.calls)
        # Loopback only: no proxy may stand between an example and the emulator.
        environ = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        environ |= self.env
        environ["PYTHONUNBUFFERED"] = "1"
        environ["NO_PROXY"] = "127.0.0.1,localhost"
        paths = [*self.extra, environ.get("PYTHONPATH", "")]
        environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        log = self.log_path.open("ab")
        cmd = [sys.executable, str(BOOT), "--lib", self.example.lib, "--api", self.api]
        cmd += ["--token", self.token, str(self.path), *args]
        self._stopped_by_us = False
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=self.workdir, env=environ, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        log.close()
        if not ready:
            return
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(
            c.bot_id == self.bot_id and c.method in ("getUpdates", "setWebhook")
            for c in self.calls[started:]
        ):
            if self.died():
                raise Expectation(f"the example exited while starting ({self.status()})")
            if time.monotonic() > deadline:
                raise Expectation(
                    f"the example did not poll nor set a webhook in {READY_TIMEOUT:g} s"
                )
            await asyncio.sleep(0.05)

    def died(self) -> bool:
        return (
            self.proc is not None and self.proc.returncode is not None and not self._stopped_by_us
        )

    def status(self) -> str:
        code = self.proc.returncode if self.proc is not None else None
        return f"exit status {code}"

    async def wait_exit(self, within: float) -> int:
        if self.proc is None:
            raise Expectation("the example was not started")
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            raise Expectation(f"the example did not end within {within:g} s") from None
        self._stopped_by_us = True  # ended as expected: not a death
        return code

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._stopped_by_us = True
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def traceback_tail(log: str) -> str:
    """The exception line of the last traceback in the example's output, if any."""
    start = log.rfind("Traceback (most recent call last)")
    if start < 0:
        return ""
    lines = log[start:].splitlines()[1:]
    for index, line in enumerate(lines):
        if line.strip() and not line.startswith((" ", "\t")):
            where = next(
                (x.strip() for x in reversed(lines[:index]) if x.strip().startswith("File ")), ""
            )
            return f"{line.strip()} ({where})" if where else line.strip()
    return ""


def _keep_log(folder: Path, example: Example, log: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (example.name.replace("/", "__") + ".log")).write_text(log)


def _is_file(path: Path) -> bool:
    return path.is_file()


def _example_path(folder: str, example: Example) -> Path:
    return Path(folder).expanduser().resolve() / example.file


async def play(
    example: Example,
    path: Path,
    server: EmulatorServer,
    sim: Sim,
    recorder: Recorder,
    bot_id: int,
    extra: list[str],
    keep_logs: Path | None,
) -> Result:
    token = token_of(bot_id)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="examples-") as tmp:
        workdir = Path(tmp)
        launcher = Launcher(example, path, server.url, token, workdir, extra)
        launcher.calls = recorder.calls
        ctx = Ctx(
            sim,
            bot_id=bot_id,
            token=token,
            api=server.url,
            calls=recorder.calls,
            launcher=launcher,
            workdir=workdir,
        )
        detail, passed = "", False
        try:
            if example.launch:
                await ctx.launch()
            await asyncio.wait_for(example.play(ctx), SCENARIO_TIMEOUT)
            if launcher.died():
                raise Expectation(f"the example exited ({launcher.status()})")
            passed = True
        except Expectation as exc:
            detail = str(exc)
        except TimeoutError:
            detail = f"the scenario took more than {SCENARIO_TIMEOUT:g} s"
        except Exception as exc:  # a harness bug must not hide the other examples
            detail = f"harness error: {exc!r} at {traceback.format_exc().splitlines()[-3].strip()}"
        finally:
            await launcher.stop()
        log = launcher.log_text()
        if keep_logs is not None:
            _keep_log(keep_logs, example, log)
    mine = [c for c in recorder.calls if c.bot_id == bot_id]
    refused = []
    for call in mine:
        if call.error and not call.error.startswith("409"):  # 409: a poll ended by SIGINT
            refused.append(f"{call.method} {_brief(call.params)} -> {call.error}")
    if not passed and not detail.startswith(("/_sim/", "sluice.emulator.Sim has no")):
        tail = traceback_tail(log)
        if tail:
            detail += f" [traceback: {tail}]"
    methods = sorted({c.method for c in mine})
    return Result(
        example.name,
        passed,
        detail,
        methods,
        list(dict.fromkeys(refused)),
        ctx.notes,
        time.monotonic() - began,
    )


async def run(ns: argparse.Namespace) -> list[Result]:
    folders = {"aiogram": ns.aiogram, "ptb": ns.ptb}
    chosen = [e for e in EXAMPLES if folders[e.lib] is not None]
    if ns.only:
        wanted = {w for item in ns.only for w in item.split(",")}
        chosen = [e for e in chosen if any(w in e.name for w in wanted)]
    results: list[Result] = []
    config = EmulatorConfig(seed=1, limits=Limits(speed=ns.speed))
    async with EmulatorServer(config) as server, Sim.connect(server.url) as sim:
        recorder = Recorder(server)
        for index, example in enumerate(EXAMPLES):
            if example not in chosen:
                continue
            path = _example_path(folders[example.lib], example)
            if not _is_file(path):
                results.append(Result(example.name, False, f"not found: {path}"))
                continue
            result = await play(
                example,
                path,
                server,
                sim,
                recorder,
                FIRST_BOT_ID + index,
                ns.extra_path,
                Path(ns.logs) if ns.logs else None,
            )
            results.append(result)
            mark = "pass" if result.passed else "FAIL"
            print(f"  {mark} {example.name} ({result.seconds:.1f} s)", file=sys.stderr, flush=True)
        if ns.calls:
            _dump_calls(Path(ns.calls), recorder.calls)
    return results


def _dump_calls(path: Path, calls: list[Call]) -> None:
    with path.open("w") as out:
        for call in calls:
            row = {"bot_id": call.bot_id, "method": call.method, "error": call.error}
            out.write(json.dumps(row | {"params": call.params}, default=str) + "\n")


def table(results: list[Result]) -> str:
    width = max([len(r.example) for r in results] + [7])
    lines = [f"{'example':<{width}}  result", f"{'-' * width}  ------"]
    for r in results:
        if r.passed:
            notes = f" (note: {'; '.join(r.notes)})" if r.notes else ""
            lines.append(f"{r.example:<{width}}  pass{notes}")
            continue
        lines.append(f"{r.example:<{width}}  fail: {r.detail}")
        if r.refused:
            for refusal in r.refused[:3]:
                lines.append(f"{'':<{width}}        emulator refused: {refusal}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aiogram", help="aiogram's examples/ folder")
    parser.add_argument("--ptb", help="python-telegram-bot's examples/ folder")
    parser.add_argument("--only", action="append", help="run examples whose name contains this")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--logs", help="keep each example's output in this folder")
    parser.add_argument("--calls", help="write every Bot API call the examples made (JSON lines)")
    parser.add_argument(
        "--extra-path",
        action="append",
        default=[],
        help="a folder added to the examples' PYTHONPATH (e.g. with APScheduler for timerbot)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run the emulator's flood limits K times faster (default 1: Telegram's own)",
    )
    ns = parser.parse_args(argv)
    if ns.aiogram is None and ns.ptb is None:
        parser.error("give --aiogram DIR and/or --ptb DIR")
    results = asyncio.run(run(ns))
    if not results:
        print("no example matched", file=sys.stderr)
        return 1
    print(table(results))
    excluded = [
        (name, why)
        for name, why in EXCLUDED.items()
        if {"aiogram": ns.aiogram, "ptb": ns.ptb}[name.split("/")[0]] is not None
    ]
    if excluded and not ns.only:
        print("\nnot played:")
        for name, why in excluded:
            print(f"  {name}: {why}")
    passed = sum(r.passed for r in results)
    print(f"\n{passed} passed, {len(results) - passed} failed")
    if ns.json:
        Path(ns.json).write_text(
            json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False)
        )
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
