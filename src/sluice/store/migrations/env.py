"""Alembic's entry point for the store's migrations: see :mod:`sluice.store._migrate`."""

from __future__ import annotations

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from sluice.store._migrate import run_env

# alembic.context is a module that stands for the EnvironmentContext of the run.
run_env(cast(EnvironmentContext, context))
