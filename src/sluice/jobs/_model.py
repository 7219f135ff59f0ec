"""What a job is: its state, its policy, and what a backend stores of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sluice._exceptions import ConfigError

__all__ = ["Job", "JobPolicy", "JobState", "NewJob"]


class JobState(StrEnum):
    """queued → running → succeeded | failed | cancelled (running → queued on retry)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """How jobs of one kind run.

    Parameters:
        running_cap: at most this many running at once per user (None: no cap).
        queued_cap: at most this many waiting per user; one more is refused
            with :class:`~sluice.jobs.QueueFull` (None: no cap).
        timeout: seconds a run may take before it fails with the reason.
        max_attempts: runs before a retryable failure (or a lost worker) is final.
        backoff_base, backoff_cap: retry delay, full jitter in
            ``[0, min(cap, base * 2**(attempt - 1))]`` seconds.
    """

    running_cap: int | None = None
    queued_cap: int | None = None
    timeout: float = 300.0
    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 300.0

    def __post_init__(self) -> None:
        for name in ("running_cap", "queued_cap"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ConfigError("backoff needs 0 < backoff_base <= backoff_cap")


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job as enqueued; the backend assigns its id."""

    kind: str
    payload: dict[str, Any]
    user_id: int | None = None
    priority: int = 0  # lower runs first
    dedupe_key: str | None = None
    max_attempts: int = 3
    timeout: float = 300.0
    run_after: float = 0.0  # epoch seconds; 0: at once


@dataclass(slots=True)
class Job:
    """A job as stored. Times are epoch seconds."""

    id: str
    kind: str
    payload: dict[str, Any]
    state: JobState
    user_id: int | None = None
    priority: int = 0
    dedupe_key: str | None = None
    attempts: int = 0
    max_attempts: int = 3
    timeout: float = 300.0
    run_after: float = 0.0
    progress: float = 0.0
    progress_text: str = ""
    result: Any = None
    error: str | None = None
    cancel_requested: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
