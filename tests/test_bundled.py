"""Assembling a model from chunk packages: verified per part and whole, atomic, clear errors."""

import hashlib
import os
import sys

import pytest

import cli
from llm.bundled import QWEN_0_5B, BundledModel, ModelFileError, assemble, verify
from llm.service import resolve_model
from settings import Settings


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A three-part model in real (throwaway) packages importable from sys.path."""
    site = tmp_path / "site"
    chunks = [bytes([i]) * (3 << 20) for i in range(1, 4)]
    prefix = f"fakemodel_{tmp_path.name.replace('-', '_')}_part"
    for index, chunk in enumerate(chunks, start=1):
        data = site / f"{prefix}{index}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{index:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    model = BundledModel(
        name="fake",
        filename="fake.gguf",
        package_prefix=prefix.replace("_", "-"),
        version="1.0",
        size=sum(map(len, chunks)),
        sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
        part_sha256=tuple(hashlib.sha256(c).hexdigest() for c in chunks),
    )
    yield model, site, prefix
    for name in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[name]


def test_assembles_once_and_verifies(fake_model, tmp_path):
    model, _site, _prefix = fake_model
    path = assemble(model, tmp_path / "models")
    assert path.stat().st_size == model.size
    verify(path, model.sha256)
    mtime = path.stat().st_mtime_ns
    assert assemble(model, tmp_path / "models").stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake.gguf"]


def test_a_missing_part_names_its_package(fake_model, tmp_path):
    model, site, prefix = fake_model
    (site / f"{prefix}2" / "__init__.py").unlink()
    (site / f"{prefix}2" / "data" / "part02.bin").unlink()
    (site / f"{prefix}2" / "data").rmdir()
    (site / f"{prefix}2").rmdir()
    with pytest.raises(ModelFileError, match=f"{model.package_prefix}2 is not installed"):
        assemble(model, tmp_path / "models")


def test_a_corrupt_part_is_named_and_nothing_is_left_behind(fake_model, tmp_path):
    model, site, prefix = fake_model
    (site / f"{prefix}3" / "data" / "part03.bin").write_bytes(b"\x00" * (3 << 20))
    with pytest.raises(ModelFileError, match=f"package {model.package_prefix}3 holds a part"):
        assemble(model, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_corrupted_model_file_is_refused_with_the_mismatch(fake_model, tmp_path):
    model, _site, _prefix = fake_model
    path = assemble(model, tmp_path / "models")
    with path.open("r+b") as file:
        file.seek(5 << 20)
        file.write(b"\xff")
    with pytest.raises(ModelFileError, match=f"does not match the expected {model.sha256}"):
        verify(path, model.sha256)


def test_the_small_bundled_model_assembles_to_its_published_hash(small_model_path):
    verify(small_model_path, QWEN_0_5B.sha256)


def test_resolve_model_takes_bundled_names_and_verified_paths(small_model_path, tmp_path):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    os.link(small_model_path, models / QWEN_0_5B.filename)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", llm_model=QWEN_0_5B.name)
    assert resolve_model(settings) == models / QWEN_0_5B.filename

    by_path = settings.model_copy(
        update={"llm_model": str(small_model_path), "llm_model_sha256": "0" * 64}
    )
    with pytest.raises(ModelFileError, match="does not match the expected 0000"):
        resolve_model(by_path)
    with pytest.raises(ModelFileError, match="neither a bundled model"):
        resolve_model(settings.model_copy(update={"llm_model": "gpt-5"}))


def test_models_command_lists_paths_sizes_and_hashes(app_env, small_model_path, tmp_path, capsys):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    os.link(small_model_path, models / QWEN_0_5B.filename)
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    small = out[out.index("qwen2.5-coder-0.5b") :]
    assert f"path:   {models / QWEN_0_5B.filename}" in small
    assert f"sha256: {QWEN_0_5B.sha256}" in small and "ok, sha256 verified" in small
    assert "qwen2.5-coder-1.5b\n" in out and "not assembled yet" in out
