"""Fault injection as docs/emulator.md describes it: 5xx, drops, spurious 429s, latency, seeds."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sluice._exceptions import ConfigError
from sluice.emulator import EmulatorConfig, EmulatorServer, Faults, Limits, Rate
from support import BOT_A, TOKEN_A, Sim

BROKEN = (httpx.RemoteProtocolError, httpx.ReadError)  # what a dropped answer looks like
# Limits no test sequence comes near, and no scope closed after a 429: outcomes then
# depend on the seed and the order of calls only, never on timing.
UNLIMITED = Limits(
    bot=Rate(100_000, 1.0),
    private=Rate(100_000, 1.0),
    private_burst=100_000,
    enforce_retry_after=False,
)


@asynccontextmanager
async def emulator(
    faults: Faults | None = None, *, seed: int = 1, limits: Limits = UNLIMITED
) -> AsyncIterator[tuple[httpx.AsyncClient, Sim]]:
    config = EmulatorConfig(seed=seed, faults=faults or Faults(), limits=limits)
    async with (
        EmulatorServer(config) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10.0) as client,
    ):
        yield client, Sim(client)


def api(method: str) -> str:
    return f"/bot{TOKEN_A}/{method}"


def assert_error(response: httpx.Response, status: int, description: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert (body["ok"], body["error_code"], body["description"]) == (False, status, description)
    return body


async def outcome(client: httpx.AsyncClient, method: str, payload: dict[str, Any]) -> str:
    """One call's outcome: "200", "500", "429:<retry_after>", "drop", ..."""
    try:
        response = await client.post(api(method), json=payload)
    except BROKEN:
        return "drop"
    if response.status_code == 429:
        return f"429:{response.json()['parameters']['retry_after']}"
    return str(response.status_code)


async def sent_texts(sim: Sim, user_id: int) -> list[str]:
    return [m["text"] for m in await sim.messages(user_id, BOT_A)]


async def test_5xx_faults_every_method_but_get_updates() -> None:
    async with emulator(Faults(p5xx=1.0)) as (client, sim):
        user = await sim.started_user(BOT_A)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("getMe", {}),
            ("sendMessage", {"chat_id": user["id"], "text": "hi"}),
            ("getChat", {"chat_id": user["id"]}),
            ("setMyCommands", {"commands": [{"command": "go", "description": "Go"}]}),
            ("sendChatAction", {"chat_id": user["id"], "action": "typing"}),
            ("deleteMessage", {"chat_id": user["id"], "message_id": 1}),
        ]
        statuses: list[int] = []
        for method, payload in calls * 3:
            response = await client.post(api(method), json=payload)
            description = {500: "Internal Server Error", 502: "Bad Gateway"}[response.status_code]
            assert_error(response, response.status_code, description)
            statuses.append(response.status_code)
        assert set(statuses) == {500, 502}
        for _ in range(5):
            polled = await client.post(api("getUpdates"), json={"timeout": 0})
            assert polled.status_code == 200
            assert [u["message"]["text"] for u in polled.json()["result"]] == ["/start"]
        # Token and method are checked first: those answers are never faulted.
        assert_error(await client.get("/bot1:short/getMe"), 401, "Unauthorized")
        assert_error(await client.get(api("noSuchMethod")), 404, "Not Found")
        stats = (await sim.stats())["bots"][str(BOT_A)]
        assert stats["faults"] == {"500": statuses.count(500), "502": statuses.count(502)}
        assert stats["sends_accepted"] == 0
        # Nothing was performed: no message sent or deleted, no commands set.
        log = await sim.messages(user["id"], BOT_A)
        assert [(m["text"], m["deleted"]) for m in log] == [("/start", False)]
        await sim.post("faults", p5xx=0.0)
        commands = await client.post(api("getMyCommands"), json={})
        assert commands.json() == {"ok": True, "result": []}


async def test_dropped_answers_are_broken_and_not_performed() -> None:
    async with emulator(Faults(pdrop=1.0)) as (client, sim):
        user = await sim.started_user(BOT_A)
        for method in ["sendMessage", "getMe", "getChat"]:
            with pytest.raises(BROKEN):
                await client.post(api(method), json={"chat_id": user["id"], "text": "hi"})
        polled = await client.post(api("getUpdates"), json={})
        assert polled.json()["result"][0]["message"]["text"] == "/start"
        stats = (await sim.stats())["bots"][str(BOT_A)]
        assert (stats["faults"], stats["sends_accepted"]) == ({"drop": 3}, 0)
        assert await sent_texts(sim, user["id"]) == ["/start"]


async def test_spurious_429s_are_counted_as_injected() -> None:
    async with emulator(Faults(p429=1.0, retry_after_min=2, retry_after_max=5)) as (client, sim):
        users = [await sim.started_user(BOT_A, first_name=f"U{n}") for n in range(8)]
        seen: list[int] = []
        for user in users:  # one call per chat: each is one the limits would perform
            response = await client.post(
                api("sendMessage"), json={"chat_id": user["id"], "text": "x"}
            )
            retry_after = response.json()["parameters"]["retry_after"]
            assert_error(response, 429, f"Too Many Requests: retry after {retry_after}")
            assert 2 <= retry_after <= 5
            seen.append(retry_after)
        assert len(set(seen)) > 1  # drawn, not a constant
        assert (await client.get(api("getMe"))).status_code == 200  # not send-like: no 429
        stats = (await sim.stats())["bots"][str(BOT_A)]
        assert stats["r429"] == {"limit": 0, "injected": 8, "total": 8}
        assert stats["sends_accepted"] == 0
        for user in users:
            assert await sent_texts(sim, user["id"]) == ["/start"]


async def test_spurious_429s_never_hide_the_real_limit() -> None:
    # "applies to send-like calls that would otherwise be performed": a call the limits
    # refuse gets the real retry_after, and a chat closed by an injected 429 stays closed.
    limits = Limits(private=Rate(1, 60.0), private_burst=1)
    async with emulator(limits=limits) as (client, sim):
        first, second = [await sim.started_user(BOT_A, first_name=n) for n in ("A", "B")]
        ok = await client.post(api("sendMessage"), json={"chat_id": first["id"], "text": "1"})
        assert ok.status_code == 200
        await sim.post("faults", p429=1.0, retry_after_min=7, retry_after_max=7)
        over = await client.post(api("sendMessage"), json={"chat_id": first["id"], "text": "2"})
        assert assert_error(over, 429, "Too Many Requests: retry after 60")["parameters"] == {
            "retry_after": 60
        }
        fresh = await client.post(api("sendMessage"), json={"chat_id": second["id"], "text": "1"})
        assert_error(fresh, 429, "Too Many Requests: retry after 7")
        again = await client.post(api("sendMessage"), json={"chat_id": second["id"], "text": "2"})
        retry_after = again.json()["parameters"]["retry_after"]
        assert_error(again, 429, f"Too Many Requests: retry after {retry_after}")
        assert retry_after in (6, 7)  # the remaining whole seconds of the closed chat
        stats = (await sim.stats())["bots"][str(BOT_A)]
        assert stats["r429"] == {"limit": 2, "injected": 1, "total": 3}
        assert stats["sends_accepted"] == 1


async def test_latency_delays_every_call() -> None:
    async with emulator(Faults(latency_ms=150, latency_jitter_ms=20)) as (client, sim):
        user = await sim.started_user(BOT_A)
        for method, payload in [
            ("getMe", {}),
            ("sendMessage", {"chat_id": user["id"], "text": "x"}),
        ]:
            started = time.monotonic()
            response = await client.post(api(method), json=payload)
            assert time.monotonic() - started >= 0.150
            assert response.status_code == 200
        assert await sent_texts(sim, user["id"]) == ["/start", "x"]


async def test_no_delay_unless_injected(server: EmulatorServer, http: httpx.AsyncClient) -> None:
    # An answer goes out as two writes (headers, body): without TCP_NODELAY on the server's
    # side each one waited ~40 ms for the client's delayed ACK.
    assert (await http.get(api("getMe"))).status_code == 200
    assert server._server is not None
    connections = server._server.server_state.connections
    sockets = [c.transport.get_extra_info("socket") for c in connections]
    assert sockets
    assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)


async def run_sequence(seed: int) -> list[str]:
    faults = Faults(
        p429=0.3, retry_after_min=1, retry_after_max=9, p5xx=0.2, pdrop=0.1, latency_jitter_ms=1
    )
    async with emulator(faults, seed=seed) as (client, sim):
        user = await sim.started_user(BOT_A)
        calls = [
            ("getMe", {}),
            ("sendMessage", {"chat_id": user["id"], "text": "x"}),
            ("getChat", {"chat_id": user["id"]}),
            ("sendChatAction", {"chat_id": user["id"], "action": "typing"}),
            ("getUpdates", {"offset": -1}),
        ]
        return [await outcome(client, method, payload) for method, payload in calls * 16]


async def test_same_seed_same_faults_other_seed_other_faults() -> None:
    first, again, other = await run_sequence(7), await run_sequence(7), await run_sequence(8)
    assert first == again
    assert first != other
    kinds = {o.split(":")[0] for o in first}
    assert {"200", "429", "drop"} <= kinds
    assert kinds & {"500", "502"}
    assert set(first[4::5]) == {"200"}  # getUpdates is never faulted


async def test_faults_change_at_run_time() -> None:
    async with emulator() as (client, sim):
        config = (await client.get("/_sim/config")).json()
        assert config["faults"] == {
            "p429": 0.0, "retry_after_min": 1, "retry_after_max": 3, "p5xx": 0.0, "pdrop": 0.0,
            "latency_ms": 0.0, "latency_jitter_ms": 0.0,
        }  # fmt: skip
        assert (await client.get(api("getMe"))).status_code == 200
        answer = await sim.post("faults", p5xx=1.0, retry_after_max=4)
        assert answer["p5xx"] == 1.0
        assert answer["retry_after_max"] == 4
        assert (await client.get("/_sim/config")).json()["faults"] == answer
        assert (await client.get(api("getMe"))).status_code in (500, 502)
        later = await sim.post("faults", p5xx=0)  # a partial update keeps the rest
        assert later == answer | {"p5xx": 0.0}
        assert (await client.get("/_sim/config")).json()["faults"] == later
        assert (await client.get(api("getMe"))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"p429": 2}',
        b'{"p5xx": -0.1}',
        b'{"pdrop": "often"}',
        b'{"p429": true}',
        b'{"p429": NaN}',
        b'{"retry_after_min": 5, "retry_after_max": 2}',
        b'{"retry_after_min": 0}',
        b'{"retry_after_min": 1.5}',
        b'{"latency_ms": -1}',
        b'{"latency_ms": NaN}',
        b'{"latency_jitter_ms": Infinity}',
        b'{"p5xx": 1.0, "latency_ms": -5}',
    ],
)
async def test_invalid_fault_values_change_nothing(body: bytes) -> None:
    async with emulator(Faults(p429=0.25)) as (client, _):
        before = (await client.get("/_sim/config")).json()
        headers = {"content-type": "application/json"}
        response = await client.post("/_sim/faults", content=body, headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()
        assert (error["ok"], error["error_code"]) == (False, 400)
        assert error["description"].startswith("Bad Request: ")
        assert (await client.get("/_sim/config")).json() == before
        assert (await client.get(api("getMe"))).status_code == 200  # answered, not held


@pytest.mark.parametrize(
    "bad",
    [
        {"latency_ms": float("nan")},
        {"latency_jitter_ms": float("inf")},
        {"p5xx": float("nan")},
        {"retry_after_min": 3, "retry_after_max": 2},
    ],
)
def test_faults_refuse_bad_values_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Faults(**bad)
