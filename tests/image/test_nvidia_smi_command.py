"""scripts/nvidia-smi-in-ct.sh: the one command that runs nvidia-smi in an NVIDIA container on a real GPU host.

No GPU and no Proxmox VE here: `pct` is a stand-in on PATH that records its calls and runs the
container's commands in a directory laid out like the container (the fake .run installed into it,
with the PVE_GPU_LXC_FAKE_ROOT seam of its nvidia-smi), and the host's /sys and /proc come from
the PVE_GPU_LXC_SYSROOT seam.  What is tested: the checks, their messages, the arguments, and that
the command really reaches nvidia-smi (the stand-in prints the version the real one would).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc.image.nvidia import MARKER_FILE, RUN_FILE_OPTIONS
from pve_gpu_lxc_testing.image.fake_run import write_fake_run_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "nvidia-smi-in-ct.sh"
VERSION = "575.64.03"

PCT = """#!/bin/sh
# pct stand-in: records its arguments; `exec VMID -- CMD...` runs CMD in the container directory
echo "$*" >> "$PCT_CALLS"
case "$1" in
    status)
        [ "$2" = "$PCT_VMID" ] || { echo "Configuration file 'nodes/pve/lxc/$2.conf' does not exist"; exit 2; }
        echo "status: $PCT_STATUS" ;;
    exec)
        shift 3
        case "$1" in
            nvidia-smi) shift; PVE_GPU_LXC_FAKE_ROOT="$PCT_ROOT" exec "$PCT_ROOT/usr/bin/nvidia-smi" "$@" ;;
            cat) exec cat "$PCT_ROOT$2" ;;
            *) echo "pct stand-in: unexpected command $*" >&2; exit 99 ;;
        esac ;;
esac
"""


@dataclass
class Node:
    root: Path
    env: dict[str, str]
    calls: Path

    def run(self, *args: str, stdin_script: bool = False) -> subprocess.CompletedProcess[str]:
        if stdin_script:  # as documented: ssh root@pve sh -s -- VMID < scripts/nvidia-smi-in-ct.sh
            return subprocess.run(["sh", "-s", "--", *args], stdin=SCRIPT.open(), capture_output=True, text=True,
                                  env=self.env, timeout=30)
        return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, env=self.env, timeout=30)

    def pct_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """A node running driver VERSION with CT 220 running, built from the fake .run of the same version."""
    ct = tmp_path / "ct"
    run_file = write_fake_run_file(tmp_path / "dl", VERSION)
    subprocess.run(["sh", str(run_file), *RUN_FILE_OPTIONS], cwd=tmp_path, check=True, timeout=60,
                   env={"PATH": os.environ["PATH"], "PVE_GPU_LXC_FAKE_ROOT": str(ct)})
    marker = ct / MARKER_FILE.lstrip("/")
    marker.parent.mkdir(parents=True)
    marker.write_text(f"{VERSION}\n")
    (ct / "dev").mkdir()
    (ct / "dev/nvidiactl").symlink_to("/dev/null")  # a char device, as devN gives the container
    sysroot = tmp_path / "host"
    (sysroot / "sys/module/nvidia").mkdir(parents=True)
    (sysroot / "sys/module/nvidia/version").write_text(f"{VERSION}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pct").write_text(PCT)
    (bin_dir / "pct").chmod(0o755)
    calls = tmp_path / "pct.calls"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PVE_GPU_LXC_SYSROOT": str(sysroot), "PCT_CALLS": str(calls),
           "PCT_ROOT": str(ct), "PCT_VMID": "220", "PCT_STATUS": "running"}
    return Node(tmp_path, env, calls)


def test_the_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run `make system-deps` (Debian package shellcheck)")
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("stdin_script", [False, True], ids=["on-the-node", "over-ssh-stdin"])
def test_it_runs_nvidia_smi_in_the_container_after_the_checks(node: Node, stdin_script: bool) -> None:
    result = node.run("220", "--query-gpu=driver_version", "--format=csv,noheader", stdin_script=stdin_script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{VERSION}\n"
    assert result.stderr == (f"nvidia-smi-in-ct: host NVIDIA driver {VERSION}, CT 220 userspace {VERSION}: "
                             "pct exec 220 -- nvidia-smi --query-gpu=driver_version --format=csv,noheader\n")
    assert node.pct_calls() == ["status 220", f"exec 220 -- cat {MARKER_FILE}",
                                "exec 220 -- nvidia-smi --query-gpu=driver_version --format=csv,noheader"]


def test_without_options_it_prints_nvidia_smis_table(node: Node) -> None:
    result = node.run("220")
    assert result.returncode == 0 and f"Driver Version: {VERSION}" in result.stdout


def test_the_host_driver_is_read_from_proc_when_sysfs_has_none(node: Node) -> None:
    sysroot = Path(node.env["PVE_GPU_LXC_SYSROOT"])
    (sysroot / "sys/module/nvidia/version").unlink()
    (sysroot / "proc/driver/nvidia").mkdir(parents=True)
    (sysroot / "proc/driver/nvidia/version").write_text(
        f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {VERSION}  Release Build  (dvs-builder@U22)\n")
    assert node.run("220").returncode == 0


def test_a_userspace_of_another_version_is_refused_before_nvidia_smi_runs(node: Node) -> None:
    (Path(node.env["PVE_GPU_LXC_SYSROOT"]) / "sys/module/nvidia/version").write_text("580.65.06\n")
    result = node.run("220")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"nvidia-smi-in-ct: CT 220 has NVIDIA userspace {VERSION} but the host driver is 580.65.06: nvidia-smi would "
        "fail with 'Driver/library version mismatch'. Build the image for 580.65.06")
    assert not any("nvidia-smi" in call for call in node.pct_calls())


@pytest.mark.parametrize(("change", "message"), [
    ("unload", "the NVIDIA kernel module is not loaded on this host"),
    ("stop", "CT 220 is not running (status: stopped): pct start 220"),
    ("other-ct", "CT 220: Configuration file 'nodes/pve/lxc/220.conf' does not exist"),
])
def test_each_failed_check_names_itself_and_the_fix(node: Node, change: str, message: str) -> None:
    if change == "unload":
        (Path(node.env["PVE_GPU_LXC_SYSROOT"]) / "sys/module/nvidia/version").unlink()
    elif change == "stop":
        node.env["PCT_STATUS"] = "stopped"
    else:
        node.env["PCT_VMID"] = "221"
    result = node.run("220")
    assert result.returncode == 1 and result.stderr.startswith(f"nvidia-smi-in-ct: {message}"), result.stderr
    assert not any("nvidia-smi" in call for call in node.pct_calls())


def test_a_container_not_built_from_nvidiaimage_is_said_so_and_still_run(node: Node) -> None:
    (Path(node.env["PCT_ROOT"]) / MARKER_FILE.lstrip("/")).unlink()
    result = node.run("220", "--version")
    assert result.returncode == 0 and f"DRIVER version      : {VERSION}" in result.stdout
    assert "CT 220 has no /etc/pve-gpu-lxc/nvidia-driver-version (not built with pve-gpu-lxc's NvidiaImage)" \
           in result.stderr


@pytest.mark.parametrize("args", [[], ["220;reboot"], ["0220"], ["99"], ["1000000000"], ["$(id)"],
                                  ["220", "--format=csv;reboot"], ["220", "a b"], ["220", "$(id)"], ["220", ""]])
def test_bad_arguments_exit_2_and_nothing_runs(node: Node, args: list[str]) -> None:
    result = node.run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("usage: nvidia-smi-in-ct.sh VMID") and "\nerror: " in result.stderr
    assert node.pct_calls() == []


def test_off_a_pve_node_it_says_where_to_run_it(node: Node) -> None:
    node.env["PATH"] = "/usr/bin:/bin"
    result = node.run("220")
    assert result.returncode == 1
    assert "pct not found: run this on the Proxmox VE node that hosts CT 220 (ssh root@<node> sh -s -- 220 < " \
           "scripts/nvidia-smi-in-ct.sh)" in result.stderr
