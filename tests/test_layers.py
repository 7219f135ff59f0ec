"""The layers of DESIGN.md hold: each package imports only the ones below it, and
no package imports another package's private module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "sluice"

# Bottom to top; a package may import its own layer's root helpers and anything lower.
LAYERS = [
    {"sluice._exceptions", "sluice._redact", "sluice._extras", "sluice._coalesce"},
    {"sluice._ffmpeg", "sluice._redis"},
    {"sluice.accounts"},
    {"sluice.config"},
    {"sluice.limits"},
    {"sluice.gate"},
    {"sluice.integrations"},
    {"sluice.store"},
    {"sluice.jobs"},
    {"sluice.cache"},
    {"sluice.broadcasts"},
    {"sluice.runtime"},
    {"sluice.apps"},
    {"sluice.cli", "sluice.web"},
]
# Beside the stack: the emulator imports nothing of it but the root helpers.
BESIDE = {"sluice.emulator": LAYERS[0] | LAYERS[1] | {"sluice"}}
ROOT_HELPERS = LAYERS[0] | LAYERS[1]
DRIVE_THE_EMULATOR = {"sluice.cli"}  # `sluice emulator`, `sluice demo`


def _package_of(module: str) -> str:
    """``sluice.gate._lanes`` -> ``sluice.gate``; root helpers stand for themselves."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1].startswith("_"):
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _layer(package: str) -> int:
    for index, members in enumerate(LAYERS):
        if package in members:
            return index
    raise AssertionError(f"{package} is in no layer of DESIGN.md")


def _imports() -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every ``sluice`` import in src/."""
    found = []
    for path in SRC.rglob("*.py"):
        module = "sluice." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [
                    f"{node.module}.{a.name}" for a in node.names if not a.name.startswith("__")
                ]
                targets = [n for n in names if n.startswith("sluice")]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("sluice")]
            else:
                continue
            found += [(module, target, node.lineno) for target in targets]
    return found


def test_no_package_imports_another_packages_private_module() -> None:
    bad = []
    for module, target, line in _imports():
        parts = target.split(".")
        private = [n for n, part in enumerate(parts) if part.startswith("_") and n >= 2]
        if not private or _package_of(target) in ROOT_HELPERS:
            continue
        owner = ".".join(parts[: private[0]])
        if not (module == owner or module.startswith(owner + ".")):
            bad.append(f"{module}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_module_imports_another_modules_private_names() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sluice"):
                for alias in node.names:
                    name = alias.name
                    if name.startswith("_") and not name.startswith("__"):
                        target = f"{node.module}.{name}"
                        if (
                            not (SRC / Path(*target.split(".")[1:])).exists()
                            and not (SRC / Path(*target.split(".")[1:])).with_suffix(".py").exists()
                        ):
                            bad.append(f"{path.relative_to(SRC)} imports {target}")
    assert not bad, "\n".join(bad)


def test_each_package_imports_only_layers_below_it() -> None:
    bad = []
    for module, target, line in _imports():
        here, there = _package_of(module), _package_of(target)
        if here == there or there == "sluice":
            continue
        if here == "sluice":  # the package's own __init__ re-exports root helpers
            if there not in ROOT_HELPERS:
                bad.append(f"sluice:{line} imports {target}: the root exports root helpers only")
            continue
        if here in BESIDE:
            if there not in BESIDE[here]:
                bad.append(f"{module}:{line} imports {target}: the emulator stands beside")
            continue
        if there in BESIDE:
            if here not in DRIVE_THE_EMULATOR:
                bad.append(f"{module}:{line} imports {target}: only the CLI drives the emulator")
            continue
        if _layer(there) >= _layer(here) and not {here, there} <= ROOT_HELPERS:
            bad.append(f"{module}:{line} ({here}) imports {target} ({there}), not below it")
    assert not bad, "\n".join(bad)
