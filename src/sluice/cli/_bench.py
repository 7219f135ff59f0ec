"""``sluice bench``: the benchmarks, whose code lives in ``bench/`` of a source checkout.

Benchmarks compare sluice with other libraries and need their own extras
(``pip install -c constraints.txt -e '.[bench]'``); they are not part of the installed package,
so this command finds ``bench/`` next to ``src/`` and says so if it cannot.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.console import Console

from sluice.cli._app import app

bench_app = typer.Typer(
    help="Measure sluice against the alternatives (needs a source checkout).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(bench_app, name="bench")
_progress = Console(stderr=True, highlight=False)


def _load(name: str) -> ModuleType:
    root = Path(__file__).resolve().parents[3]
    if not (root / "bench" / "__init__.py").is_file():
        _progress.print(
            "[bold red]error:[/] sluice bench runs from a source checkout: "
            f"no bench/ directory next to {root / 'src'}"
        )
        raise typer.Exit(2)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"bench.{name}")


def _emit(result: dict[str, Any], as_json: bool, table: str) -> None:
    sys.stdout.write((json.dumps(result) if as_json else table) + "\n")


JsonFlag = Annotated[bool, typer.Option("--json", help="Print only the JSON result.")]


@bench_app.command("broadcast")
def broadcast(
    as_json: JsonFlag = False,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Run only this scenario (repeatable).")
    ] = None,
    contender: Annotated[
        list[str] | None, typer.Option(help="Run only this contender (repeatable).")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="The emulator's speed: 1 is Telegram's own pace.", min=1)
    ] = 10.0,
) -> None:
    """sluice vs python-telegram-bot vs the common aiogram recipes, scenario by scenario."""
    import asyncio

    module = _load("broadcast")
    known = [s.name for s in module.SCENARIOS]
    for name in scenario or []:
        if name not in known:
            _progress.print(f"[bold red]error:[/] no scenario {name!r}; known: {', '.join(known)}")
            raise typer.Exit(2)
    with _progress.status("starting") as status:
        results = asyncio.run(
            module.run_all(scenario, contender, speed, lambda text: status.update(text))
        )
    _emit(module.as_json(results), as_json, module.as_markdown(results))


@bench_app.command("overhead")
def overhead(
    as_json: JsonFlag = False,
    redis: Annotated[
        str | None, typer.Option(help="Also measure the gate on a RedisLimiter at this URL.")
    ] = None,
) -> None:
    """The gate alone: calls per second with a null transport and no limits."""
    module = _load("overhead")
    with _progress.status("measuring the gate's own cost per call"):
        result = module.run(redis)
    lines = [f"gate overhead, memory limiter: {result['calls_per_s']:,.0f} calls/s on one core"]
    if "redis" in result:
        shared = result["redis"]
        lines.append(
            f"gate overhead, Redis limiter: {shared['calls_per_s']:,.0f} calls/s, "
            f"{shared['round_trips_per_call']:.3f} round trips a call"
        )
    _emit(result, as_json, "\n".join(lines))


@bench_app.command("jobs")
def jobs(as_json: JsonFlag = False) -> None:
    """No-op jobs enqueued and completed per second by one worker, SQLite and Redis."""
    module = _load("jobs")
    with _progress.status("running 10,000 no-op jobs on SQLite, then on Redis"):
        result = module.run()
    table = "\n".join(
        ["| backend | jobs/s |", "|---|---:|"]
        + [f"| {name} | {row['jobs_per_s']:,.0f} |" for name, row in result.items()]
    )
    _emit(result, as_json, table)


@bench_app.command("transcribe")
def transcribe(
    as_json: JsonFlag = False,
    provider: Annotated[
        str,
        typer.Option(
            help="emulated: the bot's own time beyond an emulated provider's; local: "
            "Whisper on this machine (real-time factor, memory, load time).",
        ),
    ] = "emulated",
) -> None:
    """The transcription bot's own time beyond the provider's, and a cache hit's latency."""
    import asyncio

    if provider not in ("emulated", "local"):
        _progress.print(f"[bold red]error:[/] --provider is emulated or local, not {provider!r}")
        raise typer.Exit(2)
    module = _load("transcribe" if provider == "emulated" else "local_stt")
    with _progress.status("starting") as status:
        results = asyncio.run(module.run_all(lambda text: status.update(text)))
    _emit(results, as_json, module.as_markdown(results))


@bench_app.command("distributed")
def distributed(
    as_json: JsonFlag = False,
    speed: Annotated[
        float, typer.Option(help="The emulator's speed: 1 is Telegram's own pace.", min=1)
    ] = 1.0,
    users: Annotated[int, typer.Option(help="Users of each of the three bots.", min=30)] = 600,
) -> None:
    """The same broadcast by 1, 2 and 4 worker processes sharing limits through Redis."""
    import asyncio

    module = _load("distributed")
    with _progress.status("starting") as status:
        results = asyncio.run(
            module.run_all(lambda text: status.update(text), speed=speed, users=users)
        )
    _emit(results, as_json, module.as_markdown(results))


@bench_app.command("mtproto")
def mtproto(as_json: JsonFlag = False) -> None:
    """The emulator's MTProto downloads: MB/s and CPU with the model off, and per account on."""
    import asyncio

    module = _load("mtproto")
    with _progress.status("starting") as status:
        results = asyncio.run(module.run_all(lambda text: status.update(text)))
    _emit(results, as_json, module.as_markdown(results))


@bench_app.command("stream")
def stream(
    as_json: JsonFlag = False,
    soak_seconds: Annotated[
        float,
        typer.Option(help="How long 200 viewers stream in the memory soak (seconds).", min=1),
    ] = 600.0,
) -> None:
    """The file-to-link engine against a sequential 1 MiB downloader: time to first byte,
    seeks, MB/s over 1-8 bots, memory per stream and over a soak."""
    import asyncio

    module = _load("stream")
    plan = module.Plan(soak_seconds=soak_seconds)
    with _progress.status("starting") as status:
        results = asyncio.run(module.run_all(plan, lambda text: status.update(text)))
    if as_json:
        _emit(module.as_json(results), as_json=True, table="")
        return
    console = Console(highlight=False)
    if not console.is_terminal:  # a file or a pipe: no terminal width to fit
        console.width = 120
    console.print(module.as_table(results))
