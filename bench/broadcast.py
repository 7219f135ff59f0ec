"""``sluice bench broadcast``: sluice against the usual ways of sending, side by side.

Every scenario runs every contender against the same emulator (its own
process, loopback only) at the same speed, with the same limits, the same
messages in the same order and the same time cap: five times the permitted
minimum time. What is not delivered by then counts as lost.

The permitted minimum is computed from the limits in force (the emulator's):
the earliest moment the last message could be sent by a perfect scheduler,
given the bot window, each private chat's bucket and each group's window.
``ratio`` is that minimum over the achieved time (the last delivery).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.contenders import CONTENDERS, Run, Work
from bench.harness import BOT_IDS, emulator_process
from sluice.emulator import Sim

SPEED = 10.0
CAP_FACTOR = 5.0


@dataclass(frozen=True)
class Limits:
    """The limits in force at the emulator (at speed 1)."""

    bot: tuple[int, float] = (30, 1.0)
    private_rate: float = 1.0
    private_burst: int = 3
    group: tuple[int, float] = (20, 60.0)

    def flags(self, speed: float) -> list[str]:
        return [
            f"--speed={speed:g}",
            f"--bot-limit={self.bot[0]}/{self.bot[1]:g}",
            f"--private-limit=1/{1 / self.private_rate:g}",
            f"--private-burst={self.private_burst}",
            f"--group-limit={self.group[0]}/{self.group[1]:g}",
        ]


TELEGRAM = Limits()
# Telegram stricter than sluice assumes: two thirds of the bot rate, no burst in
# private chats, half the groups' count.
STRICTER = Limits(bot=(20, 1.0), private_rate=1.0, private_burst=1, group=(10, 60.0))


@dataclass(frozen=True)
class Scenario:
    name: str
    bots: int
    private: int = 0  # private chats per bot
    per_private: int = 1  # messages to each
    chatty: int = 0  # more private chats per bot, each with its own conversation
    per_chatty: int = 0  # messages to each of those
    groups: int = 0
    per_group: int = 0
    pings: bool = False
    limits: Limits = TELEGRAM
    faults: dict[str, float] = field(default_factory=dict)


SCENARIOS = [
    Scenario("one_bot", bots=1, private=3000, pings=True),
    Scenario("three_bots", bots=3, private=1000),
    Scenario("per_chat", bots=1, private=40, per_private=50),
    Scenario("groups", bots=1, groups=6, per_group=80),
    # A broadcast, twenty conversations and two groups, where Telegram is stricter than
    # published: what each kind of scope refuses must be learned, not paid again.
    Scenario(
        "stricter",
        bots=1,
        private=300,
        chatty=20,
        per_chatty=10,
        groups=2,
        per_group=15,
        limits=STRICTER,
    ),
    Scenario(
        "faults",
        bots=1,
        private=500,
        per_private=4,
        faults={
            "p429": 0.05,
            "retry_after_min": 1,
            "retry_after_max": 3,
            "p5xx": 0.02,
            "latency_ms": 10,
            "latency_jitter_ms": 20,
        },
    ),
]


def permitted_minimum(
    limits: Limits, speed: float, per_bot: int, per_private: int, per_group: int
) -> float:
    """The earliest moment the last send could go, for the busiest bot: ``per_private``
    and ``per_group`` are the most messages one private chat or group gets."""
    count, window = limits.bot
    bound = (per_bot - 1) // count * window
    if per_private:
        bound = max(bound, max(0, per_private - limits.private_burst) / limits.private_rate)
    if per_group:
        gcount, gwindow = limits.group
        bound = max(bound, (per_group - 1) // gcount * gwindow)
    return bound / speed


@dataclass
class Outcome:
    ratio: float
    r429: int
    order_violations: int
    lost: int
    calls: int
    ping_p50_ms: float | None
    ping_p99_ms: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "ratio": round(self.ratio, 4),
            "r429": self.r429,
            "r429_share": round(self.r429 / self.calls, 4) if self.calls else 0.0,
            "order_violations": self.order_violations,
            "lost": self.lost,
            "ping_p99_ms": None if self.ping_p99_ms is None else round(self.ping_p99_ms, 1),
        }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _prepare(
    sim: Sim, scenario: Scenario
) -> tuple[list[tuple[int, int, str]], list[int], tuple[int, int] | None]:
    bots = list(BOT_IDS[: scenario.bots])
    per_bot: list[list[tuple[int, int, str]]] = []
    chats: list[int] = []
    for bot_id in bots:
        users = await sim.users(scenario.private, start_bot_id=bot_id, first_name=f"b{bot_id}-")
        chatty = (
            await sim.users(scenario.chatty, start_bot_id=bot_id, first_name=f"c{bot_id}-")
            if scenario.chatty
            else []
        )
        groups = [await sim.group([bot_id], f"group {n}") for n in range(scenario.groups)]
        chats += users + chatty + groups
        # Submission order: round by round across chats, as a broadcast loop would go.
        own: list[tuple[int, int, str]] = []
        rounds = max(scenario.per_private, scenario.per_chatty, scenario.per_group)
        for n in range(rounds):
            own += [(bot_id, u, f"m{n}") for u in users if n < scenario.per_private]
            own += [(bot_id, c, f"m{n}") for c in chatty if n < scenario.per_chatty]
            own += [(bot_id, g, f"m{n}") for g in groups if n < scenario.per_group]
        per_bot.append(own)
    # The bots' broadcasts interleaved: none of them waits for another to be submitted.
    messages = [m for batch in itertools.zip_longest(*per_bot) for m in batch if m is not None]
    pinger = None
    if scenario.pings:
        (ping_chat,) = await sim.users(1, start_bot_id=bots[0], first_name="pinger")
        pinger = (bots[0], ping_chat)
    return messages, chats, pinger


def _order_and_loss(texts: dict[int, list[str]], expected: Counter[int]) -> tuple[int, int]:
    violations = lost = 0
    for chat, sent in texts.items():
        numbers = [int(t[1:]) for t in sent if t.startswith("m") and t[1:].isdigit()]
        violations += sum(1 for a, b in itertools.pairwise(numbers) if b < a)
        lost += max(0, expected[chat] - len(set(numbers)))
    return violations, lost


async def run_scenario(
    scenario: Scenario, contenders: list[str], speed: float, report: Callable[[str], None]
) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    async with (
        emulator_process(*scenario.limits.flags(speed), "--seed=1") as url,
        Sim.connect(url) as sim,
    ):
        for name in contenders:
            await sim.reset()
            messages, chats, pinger = await _prepare(sim, scenario)
            per_bot = max(Counter(b for b, _, _ in messages).values())
            per_private = max(
                scenario.per_private if scenario.private else 0,
                scenario.per_chatty if scenario.chatty else 0,
            )
            minimum = permitted_minimum(
                scenario.limits, speed, per_bot, per_private, scenario.per_group
            )
            work = Work(
                url,
                speed,
                sorted({b for b, _, _ in messages}),
                messages,
                pinger,
                cap=CAP_FACTOR * max(minimum, 1.0),
            )
            if scenario.faults:
                await sim.faults(**scenario.faults)
            report(f"{scenario.name}: {name} ({len(messages)} messages, minimum {minimum:.1f}s)")
            run: Run = await CONTENDERS[name](work, sim)
            await sim.faults(p429=0, p5xx=0, latency_ms=0, latency_jitter_ms=0)
            pings = len(run.pings_answered)
            # Replies to /ping count against the bot too: the minimum grows with them.
            minimum = permitted_minimum(
                scenario.limits, speed, per_bot + pings, per_private, scenario.per_group
            )
            texts = await sim.texts_of(chats)
            violations, lost = _order_and_loss(texts, Counter(c for _, c, _ in messages))
            finished = max(run.done_at) if run.done_at and not lost else run.started + work.cap
            achieved = max(finished - run.started, 1e-9)
            ping_ms = run.ping_ms
            results[name] = Outcome(
                ratio=minimum / achieved,
                r429=await sim.r429(work.bots),
                order_violations=violations,
                lost=lost,
                calls=len(messages) + pings,
                ping_p50_ms=statistics.median(ping_ms) if ping_ms else None,
                ping_p99_ms=_percentile(ping_ms, 0.99) if scenario.pings else None,
            )
    return results


async def run_all(
    scenarios: list[str] | None,
    contenders: list[str] | None,
    speed: float,
    report: Callable[[str], None],
) -> dict[str, dict[str, Outcome]]:
    chosen = [s for s in SCENARIOS if not scenarios or s.name in scenarios]
    names = contenders or list(CONTENDERS)
    return {s.name: await run_scenario(s, names, speed, report) for s in chosen}


def as_json(results: dict[str, dict[str, Outcome]]) -> dict[str, Any]:
    return {
        "scenarios": {
            scenario: {name: outcome.as_json() for name, outcome in by_contender.items()}
            for scenario, by_contender in results.items()
        }
    }


def as_markdown(results: dict[str, dict[str, Outcome]]) -> str:
    lines = [
        "| scenario | contender | ratio | r429 | r429 % of sends | order violations | lost "
        "| ping p50 ms | ping p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}"

    for scenario, by_contender in results.items():
        for name, o in by_contender.items():
            lines.append(
                f"| {scenario} | {name} | {o.ratio:.3f} | {o.r429} "
                f"| {100 * o.r429 / o.calls if o.calls else 0:.1f} | {o.order_violations} "
                f"| {o.lost} | {ms(o.ping_p50_ms)} | {ms(o.ping_p99_ms)} |"
            )
    return "\n".join(lines)


def main(scenarios: list[str] | None = None, contenders: list[str] | None = None) -> None:
    results = asyncio.run(run_all(scenarios, contenders, SPEED, print))
    print(as_markdown(results))
