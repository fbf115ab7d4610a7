"""pve_gpu_lxc_testing.lxc.template: PVE's template extraction command and the template probe (pure parts).

The real extraction and boot run in tests/image/test_image_boot.py (the NVIDIA images).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc_testing.lxc import HarnessError, plan, stand_in_rdev
from pve_gpu_lxc_testing.lxc import template as tpl
from pve_gpu_lxc_testing.lxc.model import ContainerSpec, PassthroughDevice

from .lxc_cases import seed_plan

PVE_FLAGS = ["--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
             "--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored",
             "--warning=no-xattr-write"]


def test_the_restore_command_is_pves_with_the_containers_map() -> None:
    p = seed_plan()  # the seed's six gid lines and one uid line
    command = tpl.restore_command(p.idmap, "/var/lib/vz/template/cache/x_amd64.tar.xz", Path("/r"))
    assert command == [
        "lxc-usernsexec", "-m", "u:0:100000:65536", "-m", "g:0:100000:44", "-m", "g:44:44:1",
        "-m", "g:45:100045:61", "-m", "g:106:108:1", "-m", "g:107:100107:65429", "--",
        "tar", "xpf", "-", "-J", "--totals", *PVE_FLAGS, "-C", "/r", "--skip-old-files", "--anchored",
        "--exclude", "./dev/*"]


def test_an_unprivileged_container_without_idmap_gets_pves_default_map_and_a_privileged_one_none() -> None:
    unpriv = plan(ContainerSpec("u", 300, unprivileged=True), stand_in_rdev)
    assert tpl.userns_command(unpriv.idmap) == ["lxc-usernsexec", "-m", "u:0:100000:65536", "-m",
                                                "g:0:100000:65536", "--"]
    priv = plan(ContainerSpec("p", 301, unprivileged=False), stand_in_rdev)
    assert tpl.restore_command(priv.idmap, "a.tar.zst", Path("/r"))[:5] == ["tar", "xpf", "-", "--zstd", "--totals"]


@pytest.mark.parametrize(("name", "option"), [("a.tar.gz", "-z"), ("a.tar.xz", "-J"), ("a.tar.zst", "--zstd"),
                                              ("a.tar.bz2", "-j"), ("a.tar.lzo", "--lzop"), ("a.tar", None)])
def test_compression_is_chosen_by_file_name_as_pve_does(name: str, option: str | None) -> None:
    assert tpl.compression_option(name) == option


@pytest.mark.parametrize(("name", "message"), [("a.tar.lz4", "unrecognized compression format: .lz4"),
                                               ("a.img", "does not look like a template archive")])
def test_other_archives_are_refused_with_pves_words(name: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        tpl.compression_option(name)


def test_the_check_script_is_valid_sh_and_its_report_parses() -> None:
    spec = ContainerSpec("c", 300, devices=(PassthroughDevice("/dev/dri/renderD129", gid=993, mode="0660"),))
    p = plan(spec, stand_in_rdev)
    checks = tpl.TemplateChecks(patterns=("/usr/lib/*/libnvidia-ml.so.*",),
                                commands=(("smi", ("nvidia-smi", "--query-gpu=driver_version")),),
                                identities=(tpl.Identity("render-member", 65534, 65534, (993,)),
                                            tpl.Identity("outsider", 65534, 65534)))
    script = tpl.check_script(p, checks)
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    assert "setpriv --reuid=65534 --regid=65534 --groups=993 -- /bin/sh -c ': < /dev/dri/renderD129'" in script
    assert "setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c ': > /dev/dri/renderD129'" in script
    report = tpl.parse_report(
        "BEGIN\nMAP u 0 100000 65536\nMAP g 0 100000 65536\nGROUP video 44\nGROUP render 993\n"
        "NODE /dev/dri/renderD129 0 993 21b0 1 3\nNODEGROUP /dev/dri/renderD129 render\n"
        "FILE /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.261.03\nRUN smi 17\n"
        "OUT smi Failed to initialize NVML: GPU access blocked by the operating system\n"
        "OPEN render-member /dev/dri/renderD129 w OK\nOPEN outsider /dev/dri/renderD129 r DENIED\nEND\n")
    assert report.groups == {"video": 44, "render": 993}
    assert report.node_groups == {"/dev/dri/renderD129": "render"}
    assert report.files == ["/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.261.03"]
    assert report.runs == {"smi": (17, ["Failed to initialize NVML: GPU access blocked by the operating system"])}
    assert report.opens == {("render-member", "/dev/dri/renderD129", "w"): True,
                            ("outsider", "/dev/dri/renderD129", "r"): False}
    assert report.observed.complete and report.observed.nodes["/dev/dri/renderD129"] == (0, 993, 0o20660, 1, 3)


@pytest.mark.parametrize("pattern", ["/usr/lib/$(reboot)", "/a b", "/x;y"])
def test_patterns_are_plain_globs(pattern: str) -> None:
    with pytest.raises(HarnessError, match="only plain path globs"):
        tpl.check_script(plan(ContainerSpec("c", 300), stand_in_rdev), tpl.TemplateChecks(patterns=(pattern,)))
