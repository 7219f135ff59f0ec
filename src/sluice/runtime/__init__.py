"""The one composition root: from settings, the store, job backend, cache, limiter,
gate and aiogram session that the CLI, the worker and every app stand on."""

from __future__ import annotations

from sluice.runtime._open import (
    Runtime,
    aiogram_session,
    jobs_url,
    open_gate,
    open_runtime,
    sql_url,
)

__all__ = ["Runtime", "aiogram_session", "jobs_url", "open_gate", "open_runtime", "sql_url"]
