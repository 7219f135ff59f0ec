"""The benchmarks still run: ``sluice bench`` loads its modules from ``bench/`` at run
time, so nothing else would notice one of them importing a name that moved."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__")


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(ROOT))
    yield
    for name in [n for n in sys.modules if n == "bench" or n.startswith("bench.")]:
        del sys.modules[name]


def load(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


@pytest.mark.usefixtures("bench")
@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name: str) -> None:
    module = load(name)
    assert module.__doc__, f"bench/{name}.py says what it measures"


@pytest.mark.usefixtures("bench")
async def test_overhead_measures_the_memory_and_the_redis_limiter(redis_url: str) -> None:
    overhead = load("overhead")
    rate = await overhead.measure(calls=2000, callers=20, chats=50)
    assert rate > 0
    assert math.isfinite(rate)
    shared, trips = await overhead.measure_redis(redis_url, calls=2000)
    assert shared > 0
    # Admissions go to Redis a batch at a time: far fewer round trips than calls.
    assert 0 < trips < 0.5


@pytest.mark.usefixtures("bench")
def test_the_broadcast_scenarios_add_up() -> None:
    broadcast = load("broadcast")
    names = [s.name for s in broadcast.SCENARIOS]
    assert len(names) == len(set(names))
    stricter = next(s for s in broadcast.SCENARIOS if s.name == "stricter")
    # A wrong burst can only show where private chats get more than one message.
    assert stricter.chatty
    assert stricter.per_chatty > 1
    assert stricter.groups
    # 300 + 200 private sends and 30 to groups, at 20/s, one group 15 at 10 a minute.
    minimum = broadcast.permitted_minimum(stricter.limits, 1.0, 530, 10, 15)
    assert minimum == pytest.approx(60.0)


@pytest.mark.usefixtures("bench")
async def test_the_mtproto_benchmark_downloads_and_checks_the_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mtproto = load("mtproto")
    monkeypatch.setattr(mtproto, "OFF_SIZE", 24 * mtproto.MB)
    result = await mtproto.model_off(lambda text: None)
    assert result["size_mb"] == 24
    assert result["mb_s"] > 0
    assert 0 < result["emulator_cpu_s"] < result["seconds"] * 2  # the emulator's own process
    assert "MB/s" in mtproto.as_markdown(
        {"model_off": result, "model_on": {"sequential_mb_s": 1.0, "parallel4_mb_s": 2.0}}
    )


@pytest.mark.usefixtures("bench")
async def test_the_stream_benchmark_measures_every_figure_against_the_model() -> None:
    stream = load("stream")
    # About 20 s: 31 bots sign in (each phase has its own), each phase runs a second or so.
    plan = stream.Plan(
        ttfb_bots=1, ttfb_samples=1, cold_samples=1, seek_samples=1, seconds=0.8,
        aggregate_streams=4, aggregate_ramp=0.1, aggregate_warmup=0.2,
        rss_bots=1, rss_streams=4, rss_ramp=0.2, soak_seconds=1.5, watch_seconds=(0.5, 1.0),
    )  # fmt: skip
    results = await stream.run_all(plan)
    figures = stream.as_json(results)
    assert list(figures) == [
        "request_latency_ms", "ttfb_ms", "seek_ms_p95", "sequential_mb_s",
        "single_stream_mb_s", "aggregate_mb_s", "rss_mb_per_stream", "soak_rss_growth_pct",
    ]  # fmt: skip
    assert list(figures["ttfb_ms"]) == ["warm_p50", "warm_p95", "cold_p95"]
    assert list(figures["single_stream_mb_s"]) == ["1", "4", "8"]
    assert list(figures["aggregate_mb_s"]) == ["1", "2", "4", "8"]

    # Every request waits the model's latency, and an idle pool adds little to it.
    latency = figures["request_latency_ms"]
    assert latency == plan.model.latency_ms
    for ms in [*figures["ttfb_ms"].values(), figures["seek_ms_p95"]]:
        assert latency <= ms < latency + 400
    # One request after another: a latency and a 1 MiB transfer each, at most.
    pipe = plan.model.bot_mib_s
    sequential = 1 / (latency / 1000 + 1 / pipe)
    assert 0.5 * sequential < figures["sequential_mb_s"] <= 1.05 * sequential
    single = figures["single_stream_mb_s"]
    assert 0 < single["1"] <= 1.05 * pipe  # one bot's pipe caps any engine
    assert single["4"] >= 0.8 * single["1"]
    assert single["8"] >= 0.8 * single["1"]
    for bots, mib_s in figures["aggregate_mb_s"].items():
        assert 0 < mib_s <= 1.05 * pipe * int(bots)
    assert 0 <= figures["rss_mb_per_stream"] < 64
    assert math.isfinite(figures["soak_rss_growth_pct"])
    table = stream.as_markdown(results)
    assert "≤ 16 MiB" in table
    assert "≥ 2.5× contender" in table
