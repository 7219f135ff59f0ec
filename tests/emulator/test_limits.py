"""The emulator's flood model, driven by a fake clock.

Two families of properties: nothing gets through faster than the documented
limits allow, and a client that paces itself exactly within them (checked
with exact rational arithmetic, not the model's floats) never sees a 429.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice._exceptions import ConfigError
from sluice.emulator import Limits, Rate
from sluice.emulator._limits import FloodModel

EPS = 1e-6
BOT = 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def model(limits: Limits | None = None) -> tuple[FloodModel, Clock]:
    clock = Clock()
    return FloodModel(limits or Limits(), clock), clock


gaps = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=2.0)), min_size=1, max_size=120
)
speeds = st.sampled_from([1.0, 2.0, 10.0])


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_bot_window_never_exceeded(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed, bot=Rate(5, 1.0)))
    admitted: list[float] = []
    for chat, gap in enumerate(gaps):
        clock.now += gap / 20
        if flood.admit(BOT, 10_000 + chat, private=True).retry_after is None:
            admitted.append(clock.now)
    window = 1.0 / speed
    for first, later in zip(admitted, admitted[5:], strict=False):
        assert later - first >= window - EPS


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_private_chat_never_beats_its_bucket(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed))
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        if flood.admit(BOT, 42, private=True).retry_after is None:
            admitted.append(clock.now)
    rate = 1.0 * speed
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            sent = j - i + 1
            assert sent <= 3 + rate * (admitted[j] - start) + EPS


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_group_window_never_exceeded(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed))
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap * 5
        if flood.admit(BOT, -100, private=False).retry_after is None:
            admitted.append(clock.now)
    for first, later in zip(admitted, admitted[20:], strict=False):
        assert later - first >= 60.0 / speed - EPS


@settings(deadline=None, max_examples=150)
@given(
    wishes=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=150),
    speed=st.sampled_from([Fraction(1), Fraction(10)]),
)
def test_client_pacing_within_the_private_bucket_never_sees_429(
    wishes: list[int], speed: Fraction
) -> None:
    # The client keeps its own exact bucket (burst 3, 1/s) and waits until it allows a send.
    flood, clock = model(Limits(speed=float(speed)))
    rate = speed
    tokens, stamp, now = Fraction(3), Fraction(0), Fraction(0)
    for wish in wishes:
        now += Fraction(wish, 1000)
        tokens = min(Fraction(3), tokens + (now - stamp) * rate)
        stamp = now
        if tokens < 1:
            now += (1 - tokens) / rate  # wait exactly as long as needed, not a moment more
            tokens, stamp = Fraction(1), now
        clock.now = float(now)
        assert flood.admit(BOT, 7, private=True).retry_after is None
        tokens -= 1


@settings(deadline=None, max_examples=150)
@given(
    wishes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=200),
    speed=st.sampled_from([Fraction(1), Fraction(10)]),
)
def test_client_pacing_within_the_bot_window_never_sees_429(
    wishes: list[int], speed: Fraction
) -> None:
    flood, clock = model(Limits(speed=float(speed)))
    window = Fraction(1) / speed
    sent: list[Fraction] = []
    now = Fraction(0)
    for chat, wish in enumerate(wishes):
        now += Fraction(wish, 1000)
        if len(sent) >= 30 and now < sent[-30] + window:
            now = sent[-30] + window  # the 30th-last send leaves the window exactly now
        clock.now = float(now)
        assert flood.admit(BOT, 50_000 + chat, private=True).retry_after is None
        sent.append(now)


@settings(deadline=None, max_examples=100)
@given(wishes=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_client_pacing_within_the_group_window_never_sees_429(wishes: list[int]) -> None:
    flood, clock = model()
    sent: list[Fraction] = []
    now = Fraction(0)
    for wish in wishes:
        now += Fraction(wish, 1000)
        if len(sent) >= 20 and now < sent[-20] + 60:
            now = sent[-20] + 60
        clock.now = float(now)
        assert flood.admit(BOT, -200, private=False).retry_after is None
        sent.append(now)


def test_exact_published_pace_is_admitted() -> None:
    flood, clock = model()
    for k in range(300):  # 30 per second for ten seconds, to distinct chats
        clock.now = k / 30
        assert flood.admit(BOT, 1000 + k, private=True).retry_after is None


def test_retry_after_is_whole_seconds_and_enforced() -> None:
    flood, clock = model(Limits(speed=10))
    for _ in range(3):
        assert flood.admit(BOT, 5, private=True).retry_after is None
    refused = flood.admit(BOT, 5, private=True)
    # The bucket refills in 0.1 s at speed 10, but Telegram answers whole seconds.
    assert refused.retry_after == 1
    assert refused.scope == "chat"
    clock.now = 0.5  # the bucket has a token again, but the 429 closed the chat for 1 s
    again = flood.admit(BOT, 5, private=True)
    assert again.retry_after == 1
    assert flood.admit(BOT, 6, private=True).retry_after is None  # other chats are open
    clock.now = 1.0
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_retry_after_counts_the_real_wait() -> None:
    flood, clock = model()
    for _ in range(20):
        assert flood.admit(BOT, -9, private=False).retry_after is None
        clock.now += 0.5
    verdict = flood.admit(BOT, -9, private=False)
    assert verdict.retry_after == 50  # the first send leaves the window at t=60, now t=10
    clock.now = 60.0
    assert flood.admit(BOT, -9, private=False).retry_after is None


def test_without_enforcement_a_scope_reopens_as_soon_as_the_limit_allows() -> None:
    flood, clock = model(Limits(speed=10, enforce_retry_after=False))
    for _ in range(3):
        flood.admit(BOT, 5, private=True)
    assert flood.admit(BOT, 5, private=True).retry_after == 1
    clock.now = 0.1
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_bot_limit_closes_the_whole_bot() -> None:
    flood, clock = model()
    for chat in range(30):
        assert flood.admit(BOT, chat + 1, private=True).retry_after is None
    verdict = flood.admit(BOT, 999, private=True)
    assert (verdict.retry_after, verdict.scope) == (1, "bot")
    assert flood.admit(2, 999, private=True).retry_after is None  # another bot is unaffected
    clock.now = 1.0
    assert flood.admit(BOT, 999, private=True).retry_after is None


def test_paid_broadcast_uses_its_own_limit() -> None:
    flood, _ = model()
    for chat in range(1000):
        assert flood.admit(BOT, chat + 1, private=True, paid=True).retry_after is None
    assert flood.admit(BOT, 5000, private=True, paid=True).retry_after == 1
    assert flood.admit(BOT, 5001, private=True).retry_after is None  # free limit is separate


def test_chat_limits_are_per_bot() -> None:
    flood, _ = model()
    for _ in range(3):
        assert flood.admit(BOT, 5, private=True).retry_after is None
    assert flood.admit(BOT, 5, private=True).retry_after is not None
    assert flood.admit(2, 5, private=True).retry_after is None


def test_penalty_closes_a_scope_for_its_retry_after() -> None:
    flood, clock = model()
    flood.penalize(BOT, 5, 3)
    assert flood.admit(BOT, 5, private=True).retry_after == 3
    clock.now = 2.5
    assert flood.admit(BOT, 5, private=True).retry_after == 1
    clock.now = 3.0
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_memory_stays_bounded_over_a_long_run() -> None:
    flood, clock = model(Limits(speed=10))
    for k in range(200_000):  # 200k distinct chats, paced at the bot limit
        clock.now = k / 300
        assert flood.admit(BOT, 10**6 + k, private=True).retry_after is None
    # Only chats active within the last refill period (and the bot) remain tracked.
    assert flood.tracked_scopes < 4096 + 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30/1", Rate(30, 1.0)), ("20/60", Rate(20, 60.0)), ("5", Rate(5, 1.0))],
)
def test_rate_parses(text: str, expected: Rate) -> None:
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["", "x/1", "0/1", "1/0", "1/-5", "3/inf"])
def test_bad_rates_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Rate.parse(text)


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="speed"):
        Limits(speed=0)
    with pytest.raises(ConfigError, match="private_burst"):
        Limits(private_burst=0)


# -- a bot in conversation: a user's message earns its answer ------------------------------


@settings(deadline=None, max_examples=100)
@given(
    gaps=st.lists(st.floats(min_value=0.05, max_value=3.0), min_size=1, max_size=80),
    speed=speeds,
)
def test_answer_and_edit_per_user_message_never_see_429(gaps: list[float], speed: float) -> None:
    # The user writes at any pace; the bot answers each message and edits the answer.
    flood, clock = model(Limits(speed=speed))
    for gap in gaps:
        clock.now += gap / speed
        flood.user_wrote(BOT, 42)
        assert flood.admit(BOT, 42, private=True).retry_after is None  # the answer
        assert flood.admit(BOT, 42, private=True).retry_after is None  # its edit


def test_the_reported_conversation_passes_and_a_bot_alone_is_still_held() -> None:
    # Reported: a user typing every ~1.3 s to a bot answering twice each time got a
    # 429 on the 6th message under the old model (burst 3, 1/s, nothing for the user).
    flood, clock = model()
    for _ in range(100):
        clock.now += 1.3
        flood.user_wrote(BOT, 42)
        assert flood.admit(BOT, 42, private=True).retry_after is None
        assert flood.admit(BOT, 42, private=True).retry_after is None
    without, clock = model(Limits(private_reply=0))
    answers = []
    for _ in range(6):
        clock.now += 1.3
        answers += [without.admit(BOT, 42, private=True).retry_after for _ in range(2)]
    assert any(a is not None for a in answers)
    # Unprompted, the bot still gets its burst of 3 and then one message a second.
    alone, clock = model()
    assert [alone.admit(BOT, 7, private=True).retry_after for _ in range(4)] == [None] * 3 + [1]


def test_user_messages_do_not_bank_more_than_the_burst() -> None:
    flood, _clock = model()
    for _ in range(10):
        flood.user_wrote(BOT, 42)
    assert [flood.admit(BOT, 42, private=True).retry_after for _ in range(4)] == [None] * 3 + [1]
    small, _clock = model(Limits(private_burst=1, private_reply=5))
    small.user_wrote(BOT, 42)
    assert [small.admit(BOT, 42, private=True).retry_after for _ in range(2)] == [None, 1]


def test_private_reply_is_validated() -> None:
    with pytest.raises(ConfigError, match="private_reply"):
        Limits(private_reply=-1)


# -- calls that make several messages (albums, forwarding several) -------------------------


def test_several_messages_must_all_fit_the_bot_and_group_windows() -> None:
    flood, clock = model(Limits(bot=Rate(10, 1.0), enforce_retry_after=False))
    assert flood.admit(BOT, -100, private=False, n=8).retry_after is None
    refused = flood.admit(BOT, -101, private=False, n=3)
    assert refused.retry_after == 1
    assert refused.scope == "bot"
    assert flood.admit(BOT, -101, private=False, n=2).retry_after is None
    group, clock = model()
    assert group.admit(BOT, -100, private=False, n=10).retry_after is None
    assert group.admit(BOT, -100, private=False, n=10).retry_after is None
    assert group.admit(BOT, -100, private=False, n=1).scope == "chat"
    clock.now = 60.0
    assert group.admit(BOT, -100, private=False, n=10).retry_after is None


def test_an_album_in_a_private_chat_goes_on_one_token_and_owes_the_rest() -> None:
    flood, clock = model()
    assert flood.admit(BOT, 42, private=True, n=10).retry_after is None
    # 10 messages taken from a bucket of 3: the next waits until 8 more have refilled.
    refused = flood.admit(BOT, 42, private=True)
    assert refused.retry_after == 8
    clock.now = 7.9
    assert flood.admit(BOT, 42, private=True).retry_after is not None
    clock.now = 8.0 + 2 * EPS
    assert flood.admit(BOT, 42, private=True).retry_after is None


async def test_a_conversational_bot_over_http_never_sees_429() -> None:
    # The whole path: /_sim/send earns the bot its answer and edit, sendMessage and
    # editMessageText spend them; time is the test's clock, not the wall's.
    import httpx

    from sluice.emulator import Emulator, EmulatorServer

    clock = Clock()
    token = "1000001:" + "A" * 35
    async with (
        EmulatorServer(emulator=Emulator(clock=clock)) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
    ):
        user = (await http.post("/_sim/users", json={"first_name": "Ana"})).json()
        await http.post("/_sim/start", json={"bot_id": 1000001, "user_id": user["id"]})
        for n in range(30):
            clock.now += 1.3
            said = await http.post(
                "/_sim/send",
                json={"chat_id": user["id"], "from_user_id": user["id"], "text": f"m{n}"},
            )
            assert said.status_code == 200, said.text
            sent = await http.post(
                f"/bot{token}/sendMessage", json={"chat_id": user["id"], "text": "thinking"}
            )
            assert sent.status_code == 200, sent.text
            edited = await http.post(
                f"/bot{token}/editMessageText",
                json={
                    "chat_id": user["id"],
                    "message_id": sent.json()["result"]["message_id"],
                    "text": f"answer {n}",
                },
            )
            assert edited.status_code == 200, edited.text
        stats = (await http.get("/_sim/stats")).json()
        assert stats["totals"]["r429"] == 0
        assert stats["totals"]["sends_accepted"] == 60


async def test_a_bot_editing_its_message_on_every_button_press_never_sees_429() -> None:
    # python-telegram-bot's inlinekeyboard2 and nestedconversationbot: each press is
    # answered by editing the message; a press earns that edit as a message does.
    import httpx

    from sluice.emulator import Emulator, EmulatorServer

    clock = Clock()
    token = "1000001:" + "A" * 35
    async with (
        EmulatorServer(emulator=Emulator(clock=clock)) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
    ):
        user = (await http.post("/_sim/users", json={"first_name": "Ana"})).json()
        await http.post("/_sim/start", json={"bot_id": 1000001, "user_id": user["id"]})
        keyboard = {"inline_keyboard": [[{"text": "next", "callback_data": "n"}]]}
        sent = await http.post(
            f"/bot{token}/sendMessage",
            json={"chat_id": user["id"], "text": "page 0", "reply_markup": keyboard},
        )
        message_id = sent.json()["result"]["message_id"]
        for page in range(1, 40):
            clock.now += 0.05  # a quick thumb
            press = await http.post(
                "/_sim/callback",
                json={
                    "chat_id": user["id"],
                    "from_user_id": user["id"],
                    "message_id": message_id,
                    "data": "n",
                },
            )
            assert press.status_code == 200, press.text
            edited = await http.post(
                f"/bot{token}/editMessageText",
                json={
                    "chat_id": user["id"],
                    "message_id": message_id,
                    "text": f"page {page}",
                    "reply_markup": keyboard,
                },
            )
            assert edited.status_code == 200, edited.text
