"""Per-task context the integrations read: the priority and flow of calls made here."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from contextvars import ContextVar

from sluice.gate._call import Priority

__all__ = ["current_flow", "current_priority", "sending_as"]

_priority: ContextVar[Priority] = ContextVar("sluice_priority", default=Priority.DEFAULT)
_flow: ContextVar[Hashable] = ContextVar("sluice_flow", default=None)


def current_priority() -> Priority:
    """The priority of calls made here (``DEFAULT`` outside :func:`sending_as`)."""
    return _priority.get()


def current_flow() -> Hashable:
    """The flow calls made here belong to (None outside :func:`sending_as`)."""
    return _flow.get()


@contextlib.contextmanager
def sending_as(priority: Priority, flow: Hashable = None) -> Iterator[None]:
    """Calls made inside this block (and tasks it starts) get this priority and flow."""
    priority_token = _priority.set(priority)
    flow_token = _flow.set(flow)
    try:
        yield
    finally:
        _flow.reset(flow_token)
        _priority.reset(priority_token)
