"""Durable broadcasts run on every job backend (tests/job_backends.py)."""

from __future__ import annotations

from job_backends import BACKENDS, backend, backend_url, namespace

__all__ = ["BACKENDS", "backend", "backend_url", "namespace"]
