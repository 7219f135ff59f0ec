"""kill -9 in the middle of a transcription: the next process finishes the job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sluice.emulator import EmulatorServer, make_tone_audio
from sluice.jobs import JobQueue, JobState, open_backend
from support import BOT_A, Sim
from transcribe_support import app_env, bot_texts, eventually, send_voice, stt_stats

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def bot_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "transcribe_worker.py"), json.dumps(env)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_a_job_killed_mid_transcription_resumes_in_the_next_process(
    server: EmulatorServer, sim: Sim, tmp_path: Path
) -> None:
    voice = await make_tone_audio(tmp_path / "voice.ogg", [(0.5, 1.7), (2.5, 3.3)], total=4.0)
    user = int((await sim.started_user(BOT_A))["id"])
    data = tmp_path / "data"
    env = app_env(server, data)
    queue = JobQueue(open_backend(f"sqlite:///{data / 'sluice.db'}"))
    await sim.post("stt/faults", provider="groq", latency_ms=3000)
    try:
        with bot_process(env) as first:
            await send_voice(sim, user, voice)
            (job,) = await eventually(lambda: queue.list_jobs(state=JobState.RUNNING), 30)
            await eventually(lambda: _asked(sim), 30)  # the provider is working on it
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert "tone12 tone8" not in await bot_texts(sim, user)
        with bot_process(env):
            done = await eventually(lambda: _finished(queue, job.id), 60)
            await eventually(lambda: _said(sim, user), 30)
    finally:
        await queue.backend.close()
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)
    assert (await bot_texts(sim, user)).count("tone12 tone8") == 1


async def _asked(sim: Sim) -> bool:
    return (await stt_stats(sim))["groq"]["requests"] >= 1


async def _said(sim: Sim, user: int) -> bool:
    return "tone12 tone8" in await bot_texts(sim, user)


async def _finished(queue: JobQueue, job_id: str) -> object:
    job = await queue.status(job_id)
    return job if job.state.finished else None
