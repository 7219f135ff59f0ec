"""Per-task context the integrations read: the priority and flow of calls made here."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from contextvars import ContextVar

from sluice.gate._lanes import Priority

__all__ = ["current_flow", "current_priority", "sending_as"]

current_priority: ContextVar[Priority] = ContextVar("sluice_priority", default=Priority.DEFAULT)
current_flow: ContextVar[Hashable] = ContextVar("sluice_flow", default=None)


@contextlib.contextmanager
def sending_as(priority: Priority, flow: Hashable = None) -> Iterator[None]:
    """Calls made inside this block (and tasks it starts) get this priority and flow."""
    priority_token = current_priority.set(priority)
    flow_token = current_flow.set(flow)
    try:
        yield
    finally:
        current_flow.reset(flow_token)
        current_priority.reset(priority_token)
