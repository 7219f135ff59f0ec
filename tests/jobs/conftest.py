"""The job suites run on every backend (tests/job_backends.py)."""

from __future__ import annotations

from job_backends import BACKENDS, backend, backend_url, namespace

__all__ = ["BACKENDS", "backend", "backend_url", "namespace"]
