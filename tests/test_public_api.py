from __future__ import annotations

import importlib
import inspect

import pytest


@pytest.mark.parametrize(
    "module_name",
    [
        "sluice",
        "sluice.accounts",
        "sluice.broadcasts",
        "sluice.cache",
        "sluice.cli",
        "sluice.config",
        "sluice.emulator",
        "sluice.gate",
        "sluice.jobs",
        "sluice.limits",
        "sluice.runtime",
        "sluice.store",
    ],
)
def test_all_is_sorted_and_complete(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    # As ruff (RUF022) sorts them: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in {"annotations"}
    }
    assert public <= set(exported) | {"__version__"}
    for name in exported:
        assert hasattr(module, name)
