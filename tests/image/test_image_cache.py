"""The image cache (pve_gpu_lxc_testing.image.cache): keys, warm runs, atomic entries.

distrobuilder is replaced by a stand-in `build` here, so these run anywhere and fast; the real
builds go through the same code in the session fixture (tests/image/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pve_gpu_lxc.image import BuildFailure, ImageBuildFailed, NvidiaImage, NvidiaRunFile
from pve_gpu_lxc_testing.image import cache as image_cache
from pve_gpu_lxc_testing.image.cache import CachedFile, ensure_image, image_key, key_of


def inputs(tmp_path: Path) -> tuple[NvidiaImage, list[CachedFile]]:
    base = tmp_path / "in" / "rootfs.tar.zst"
    run = tmp_path / "in" / "NVIDIA-Linux-x86_64-575.64.03.run"
    base.parent.mkdir(parents=True, exist_ok=True)
    base.write_bytes(b"base")
    run.write_bytes(b"run")
    image = NvidiaImage(nvidia_driver="575.64.03", source_url=f"file://{base}", distribution="debian",
                        release="bookworm", packages=(), userspace=NvidiaRunFile(url=f"file://{run}"))
    return image, [CachedFile(base, "b" * 64, False, 0.0), CachedFile(run, "r" * 64, False, 0.0)]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace distrobuilder: each build writes the files build() writes, and is recorded."""
    calls: list[Path] = []

    def fake_build(image: NvidiaImage, out_dir: Path, **_: object) -> Path:
        calls.append(out_dir)
        out_dir.mkdir(parents=True)
        (out_dir / f"{image.name}.yaml").write_text(image.to_yaml())
        (out_dir / "meta.tar.xz").write_bytes(b"meta")
        (out_dir / image.template_file_name).write_bytes(f"image {len(calls)}".encode())
        return out_dir / image.template_file_name

    monkeypatch.setattr(image_cache, "build", fake_build)
    monkeypatch.setattr(image_cache, "distrobuilder_version", lambda: "3.2")
    return calls


def test_a_warm_run_builds_nothing_and_returns_the_same_file(tmp_path: Path, builds: list[Path]) -> None:
    image, files = inputs(tmp_path)
    cold = ensure_image(image, files, cache=tmp_path / "cache")
    warm = ensure_image(image, files, cache=tmp_path / "cache")
    assert len(builds) == 1 and (cold.built, warm.built) == (True, False)
    assert warm.path == cold.path and warm.sha256 == cold.sha256 and warm.path.read_bytes() == b"image 1"
    entry = cold.path.parent
    assert sorted(p.name for p in entry.iterdir()) == sorted(
        ["SHA256SUMS", "inputs.json", "meta.tar.xz", f"{image.name}.yaml", image.template_file_name])
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_the_key_changes_with_the_definition_the_inputs_bytes_the_tool_and_its_arguments(tmp_path: Path) -> None:
    image, files = inputs(tmp_path)
    key = image_key(image, files, "3.2", ("--compression", "xz-0"))
    assert key == image_key(image, files, "3.2", ("--compression", "xz-0"))
    other_gid = NvidiaImage(**{**image.__dict__, "render_gid": 990})
    other_run = [files[0], CachedFile(files[1].path, "s" * 64, False, 0.0)]
    assert len({key, image_key(other_gid, files, "3.2", ("--compression", "xz-0")),
                image_key(image, other_run, "3.2", ("--compression", "xz-0")),
                image_key(image, files, "3.3", ("--compression", "xz-0")),
                image_key(image, files, "3.2", ("--compression", "xz-9"))}) == 5
    assert key_of([("a", "bc")]) != key_of([("ab", "c")])


def test_an_interrupted_build_leaves_nothing_a_later_run_takes_as_finished(
        tmp_path: Path, builds: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    image, files = inputs(tmp_path)
    cache = tmp_path / "cache"

    def interrupted(image: NvidiaImage, out_dir: Path, **_: object) -> Path:
        out_dir.mkdir(parents=True)
        (out_dir / image.template_file_name).write_bytes(b"half an image")
        raise KeyboardInterrupt

    real = image_cache.build
    monkeypatch.setattr(image_cache, "build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_image(image, files, cache=cache)
    assert not (cache / "images").exists() and not list((cache / "tmp").iterdir())
    monkeypatch.setattr(image_cache, "build", real)
    again = ensure_image(image, files, cache=cache)
    assert again.built and again.path.read_bytes() == b"image 1"


def test_work_left_by_a_killed_process_is_removed_not_used(tmp_path: Path, builds: list[Path]) -> None:
    image, files = inputs(tmp_path)
    cache = tmp_path / "cache"
    key = image_key(image, files, "3.2", image_cache.BUILD_ARGS)
    dead = 2 ** 22 + 12345  # above pid_max's default: no such process
    left = cache / "tmp" / f"{dead}-{key}-1"
    left.mkdir(parents=True)
    (left / image.template_file_name).write_bytes(b"from a killed build")
    mine = cache / "tmp" / f"{os.getpid()}-other-1"  # this process's own work in progress stays
    mine.mkdir()
    result = ensure_image(image, files, cache=cache)
    assert result.built and result.path.read_bytes() == b"image 1"
    assert not left.exists() and mine.exists()


def test_a_damaged_cached_image_is_rebuilt(tmp_path: Path, builds: list[Path]) -> None:
    image, files = inputs(tmp_path)
    first = ensure_image(image, files, cache=tmp_path / "cache")
    first.path.write_bytes(b"bit rot")
    second = ensure_image(image, files, cache=tmp_path / "cache")
    assert second.built and second.path.read_bytes() == b"image 2" and len(builds) == 2


def test_a_failed_build_keeps_its_log_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image, files = inputs(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setattr(image_cache, "distrobuilder_version", lambda: "3.2")

    def failing(image: NvidiaImage, out_dir: Path, **_: object) -> Path:
        out_dir.mkdir(parents=True)
        log = out_dir / f"{image.name}.build.log"
        log.write_text("E: something\n")
        raise ImageBuildFailed(BuildFailure("packages", "it broke.", "fix it"), log, 1)

    monkeypatch.setattr(image_cache, "build", failing)
    with pytest.raises(ImageBuildFailed) as err:
        ensure_image(image, files, cache=cache)
    key = image_key(image, files, "3.2", image_cache.BUILD_ARGS)
    saved = cache / "failed" / f"{key}.build.log"
    assert err.value.log_path == saved and saved.read_text() == "E: something\n"
    assert str(err.value) == f"image build failed at step 'packages': it broke. Fix: fix it. Full log: {saved}."
    assert not (cache / "images").exists() and not list((cache / "tmp").iterdir())
