"""``sluice emulator``: a local Telegram on loopback, until Ctrl-C."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from sluice._exceptions import ConfigError
from sluice._extras import missing_extra
from sluice.cli._app import app, console, listen_error

if TYPE_CHECKING:
    from sluice.emulator import EmulatorConfig

__all__ = ["emulator"]


def _tokens(raw: str | None) -> tuple[str, ...] | None:
    if not raw:
        return None
    return tuple(t.strip() for t in raw.split(",") if t.strip())


def _retry_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ConfigError(f"--retry-after {text!r} is not a range: expected e.g. '1-3'") from None


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to bind (0 picks a free one).", min=0, max=65535)
    ] = 8081,
    speed: Annotated[float, typer.Option(help="Multiply every rate by this factor.")] = 1.0,
    local: Annotated[
        bool, typer.Option("--local", help="Behave like telegram-bot-api --local.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for deterministic faults.")] = None,
    bots: Annotated[
        str | None,
        typer.Option(
            envvar="SLUICE_EMULATOR_BOTS",
            help="Comma-separated tokens; only these bots exist (default: any well-formed token).",
            show_default=False,
        ),
    ] = None,
    bot_limit: Annotated[
        str, typer.Option(help="Send-like calls per bot: count/seconds.")
    ] = "30/1",
    private_limit: Annotated[str, typer.Option(help="Per private chat: count/seconds.")] = "1/1",
    private_burst: Annotated[int, typer.Option(help="Burst allowed in a private chat.")] = 3,
    private_reply: Annotated[
        int,
        typer.Option(help="Messages a user's message in a private chat lets the bot send."),
    ] = 2,
    group_limit: Annotated[
        str, typer.Option(help="Per group or channel: count/seconds.")
    ] = "20/60",
    paid_limit: Annotated[
        str, typer.Option(help="Per bot with allow_paid_broadcast: count/seconds.")
    ] = "1000/1",
    enforce_retry_after: Annotated[
        bool, typer.Option(help="Keep a scope closed until its retry_after has passed.")
    ] = True,
    p429: Annotated[float, typer.Option(help="Probability of a spurious 429 on sends.")] = 0.0,
    retry_after: Annotated[
        str, typer.Option(help="Range of retry_after for spurious 429s, e.g. 1-3.")
    ] = "1-3",
    p5xx: Annotated[float, typer.Option(help="Probability of a 500/502 answer.")] = 0.0,
    pdrop: Annotated[float, typer.Option(help="Probability of a dropped connection.")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="Added latency per call (ms).")] = 0.0,
    latency_jitter_ms: Annotated[
        float, typer.Option(help="Extra random latency per call, up to this (ms).")
    ] = 0.0,
    data_dir: Annotated[
        str | None,
        typer.Option(
            help="Where uploaded files and the MTProto RSA key are kept (default: a temp "
            "dir for files, ~/.local/share/sluice/emulator for the key)."
        ),
    ] = None,
    mtproto: Annotated[
        bool, typer.Option(help="Serve MTProto (Telethon clients) on two DC ports.")
    ] = True,
    mtproto_port: Annotated[
        int,
        typer.Option(
            help="DC 1's MTProto port; DC 2 takes the next (0 picks free ones).", min=0, max=65534
        ),
    ] = 0,
    download_latency_ms: Annotated[
        float, typer.Option(help="MTProto: time each upload.getFile takes (ms).")
    ] = 50.0,
    download_mb_s: Annotated[
        float, typer.Option(help="MTProto: MB/s an account downloads at most (0: unlimited).")
    ] = 20.0,
    download_requests: Annotated[
        str,
        typer.Option(help="MTProto: upload.getFile per account before FLOOD_WAIT: count/seconds."),
    ] = "30/1",
    download_model: Annotated[
        bool, typer.Option(help="MTProto: apply the three download limits above.")
    ] = True,
    file_reference_ttl: Annotated[
        float, typer.Option(help="MTProto: seconds a file_reference stays valid.")
    ] = 7200.0,
    bot_logins: Annotated[
        str, typer.Option(help="MTProto: bot sign-ins per bot before FLOOD_WAIT: count/seconds.")
    ] = "5/3600",
    peer_flood: Annotated[
        int,
        typer.Option(
            help="MTProto: users who never wrote to it a user account may write to "
            "before PEER_FLOOD.",
            min=0,
        ),
    ] = 20,
) -> None:
    """Serve a local Telegram Bot API that enforces Telegram's limits, until Ctrl-C."""
    try:
        from sluice.emulator import EmulatorConfig, Faults, Limits, MtprotoConfig, Rate
    except ImportError as error:
        raise missing_extra("sluice emulator", "emulator", error) from None

    low, high = _retry_range(retry_after)
    config = EmulatorConfig(
        limits=Limits(
            bot=Rate.parse(bot_limit),
            private=Rate.parse(private_limit),
            private_burst=private_burst,
            private_reply=private_reply,
            group=Rate.parse(group_limit),
            paid=Rate.parse(paid_limit),
            speed=speed,
            enforce_retry_after=enforce_retry_after,
        ),
        faults=Faults(
            p429=p429,
            retry_after_min=low,
            retry_after_max=high,
            p5xx=p5xx,
            pdrop=pdrop,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
        ),
        local=local,
        seed=seed,
        bots=_tokens(bots),
        data_dir=data_dir,
        mtproto=MtprotoConfig(
            enabled=mtproto,
            file_reference_ttl=file_reference_ttl,
            download_latency_ms=download_latency_ms,
            download_bytes_per_s=download_mb_s * 1024 * 1024,
            download_requests=Rate.parse(download_requests),
            download_model=download_model,
            bot_logins=Rate.parse(bot_logins),
            peer_flood=peer_flood,
        ),
    )
    try:
        asyncio.run(_serve(config, host, port, mtproto_port))
    except OSError as exc:
        raise listen_error(host, port, exc) from None


async def _serve(config: EmulatorConfig, host: str, port: int, mtproto_port: int) -> None:
    from sluice.emulator import EmulatorServer

    server = EmulatorServer(config, host=host, port=port, mtproto_port=mtproto_port)
    await server.start(handle_signals=True)
    lim = config.limits
    console.print(f"sluice emulator listening on {server.url}", soft_wrap=True)
    console.print(
        f"limits per bot: {lim.bot} sends, private {lim.private} (burst {lim.private_burst}, "
        f"+{lim.private_reply} a user's message), "
        f"groups {lim.group}, speed x{lim.speed:g}; local mode {'on' if config.local else 'off'}",
        style="dim",
    )
    console.print(
        f"aiogram: TelegramAPIServer.from_base({server.url!r})\n"
        f"python-telegram-bot: base_url={server.url + '/bot'!r}, "
        f"base_file_url={server.url + '/file/bot'!r}",
        style="dim",
    )
    if server.mtproto is not None:
        dcs = ", ".join(f"DC {dc.id} {dc.host}:{dc.port}" for dc in server.mtproto.mt.dcs.values())
        mt = config.mtproto
        model = (
            f"{mt.download_latency_ms:g} ms a request, {mt.download_bytes_per_s / 2**20:g} MB/s, "
            f"{mt.download_requests} requests per account"
            if mt.download_model
            else "off"
        )
        console.print(f"MTProto: {dcs}", soft_wrap=True)
        console.print(
            f"Telethon: the RSA key and DCs at {server.url}/_sim/mtproto (see docs/emulator.md, "
            f"MTProto); downloads: {model}",
            style="dim",
            soft_wrap=True,
        )
    console.print("Ctrl-C stops it.", style="dim")
    try:
        await server.wait_closed()
    finally:
        await server.stop()
        console.print("emulator stopped")
