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
