"""Template GID table and reading /etc/group from template tarballs (pure)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pve_gpu_lxc import TemplateGids, ValidationError, read_template_gids
from pve_gpu_lxc.model.template_gids import gids_from_group_file as parse_group_file
from pve_gpu_lxc.model.template_gids import known_gids, template_key


@pytest.mark.parametrize(
    ("name", "video", "render"),
    [
        ("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", 44, 993),
        ("debian-13-standard_13.1-2_amd64.tar.zst", 44, 992),
        ("debian-12-standard_12.2-1_amd64.tar.zst", 44, 106),
        ("ubuntu-22.04-standard_22.04-1_amd64.tar.zst", 44, 108),
        ("fedora-41-default_20241101_amd64.tar.xz", 39, 105),
    ],
)
def test_known_templates(name: str, video: int, render: int) -> None:
    gids = known_gids(name)
    assert gids is not None and (gids.video, gids.render) == (video, render)


@pytest.mark.parametrize(
    "name",
    ["debian-12-standard_12.7-1_amd64.tar.zst", "ubuntu-24.04-standard_24.04-1_amd64.tar.zst", "fedora-34-default_x.tar.xz", "my-image.tar.gz"],
)
def test_unknown_builds_have_no_gids(name: str) -> None:
    assert known_gids(name) is None


def test_template_key_strips_storage_and_compression() -> None:
    assert template_key("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst") == "debian-13-standard_13.1-2_amd64"


GROUP = "root:x:0:\nvideo:x:44:\n_ssh:x:104:\nrender:x:993:\n"


def test_parse_group_file() -> None:
    assert parse_group_file(GROUP) == TemplateGids(44, 993, "/etc/group")
    assert parse_group_file("video:x:27:root\n") == TemplateGids(27, None, "/etc/group")


def _tarball(path: Path, mode: str, group: str) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in (("./etc/appliance.info", b"Name: test\n"), ("./etc/group", group.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(("suffix", "mode"), [(".tar.gz", "w:gz"), (".tar.xz", "w:xz"), (".tar", "w")])
def test_read_template_gids_from_tarball(tmp_path: Path, suffix: str, mode: str) -> None:
    path = _tarball(tmp_path / f"custom-image{suffix}", mode, GROUP)
    gids = read_template_gids(path)
    assert (gids.video, gids.render) == (44, 993)


def test_read_template_gids_without_group_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(ValidationError, match="has no ./etc/group member; is it an LXC template"):
        read_template_gids(path)
