"""The stand-in NVIDIA .run installer: the interface the image definition relies on.

Run on the host under a throw-away root (the PVE_GPU_LXC_FAKE_ROOT seam), no chroot needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from pve_gpu_lxc.image.nvidia import RUN_FILE_OPTIONS
from pve_gpu_lxc_testing.image.fake_run import fake_run_file_bytes, run_file_name, write_fake_run_file

VERSION = "575.64.03"
LIBDIR = "usr/lib/x86_64-linux-gnu"


@pytest.fixture
def installer(tmp_path):
    run_file = write_fake_run_file(tmp_path / "dl", VERSION)
    root = tmp_path / "root"
    root.mkdir()

    def run(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(run_file), *options], capture_output=True, text=True, cwd=tmp_path,
                              env={"PATH": os.environ["PATH"], "PVE_GPU_LXC_FAKE_ROOT": str(root)}, timeout=60)

    return run, root


def test_the_definitions_options_install_the_userspace_of_exactly_that_version(installer) -> None:
    run, root = installer
    result = run(*RUN_FILE_OPTIONS)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # silent
    lib = root / LIBDIR
    assert (lib / f"libcuda.so.{VERSION}").is_file() and (lib / f"libnvidia-ml.so.{VERSION}").is_file()
    assert os.readlink(lib / "libcuda.so.1") == f"libcuda.so.{VERSION}"
    assert os.readlink(lib / "libcuda.so") == "libcuda.so.1"
    assert os.readlink(lib / "libnvidia-ml.so.1") == f"libnvidia-ml.so.{VERSION}"
    assert os.access(root / "usr/bin/nvidia-smi", os.X_OK)
    assert not (root / "usr/lib/systemd").exists()  # --no-systemd reached the installer
    assert not (root / "usr/lib/i386-linux-gnu").exists()
    log = (root / "var/log/nvidia-installer.log").read_text()
    assert f"command line: nvidia-installer {' '.join(RUN_FILE_OPTIONS)}" in log


def test_without_no_kernel_modules_it_wants_the_kernel_source_like_nvidia_installer(installer) -> None:
    run, root = installer
    result = run("-s", "--no-systemd")
    assert result.returncode == 1
    assert "ERROR: Unable to find the kernel source tree for the currently running kernel." in result.stderr
    assert not (root / "usr").exists()


def test_the_older_option_name_is_accepted_too(installer) -> None:
    run, root = installer
    assert run("--no-kernel-module", "--silent").returncode == 0
    assert (root / "usr/lib/systemd/system/nvidia-suspend.service").exists()  # no --no-systemd: units installed


def test_unknown_options_fail_as_in_nvidia_installer(installer) -> None:
    run, root = installer
    result = run("--no-kernel-modules", "-s", "--no-x-check-please")
    assert result.returncode == 1
    assert 'nvidia-installer: unrecognized option: "--no-x-check-please"' in result.stderr
    assert "ERROR: Invalid commandline, please run `nvidia-installer --help`" in result.stderr
    assert not (root / "usr").exists()


def test_it_needs_silent_mode_without_a_terminal(installer) -> None:
    run, _ = installer
    result = run("--no-kernel-modules")
    assert result.returncode == 1 and "--silent" in result.stderr


def test_compat32_options(installer) -> None:
    run, root = installer
    assert run("--no-kernel-modules", "-s", "--install-compat32-libs").returncode == 0
    assert (root / f"usr/lib/i386-linux-gnu/libcuda.so.{VERSION}").is_file()
    assert run("--no-kernel-modules", "-s", "--no-install-compat32-libs").returncode == 0


def test_extract_only_unpacks_the_makeself_payload(tmp_path) -> None:
    run_file = write_fake_run_file(tmp_path, VERSION)
    result = subprocess.run(["sh", str(run_file), "-x"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    extracted = tmp_path / run_file_name(VERSION).removesuffix(".run")
    assert sorted(p.name for p in extracted.iterdir()) == ["libcuda.so", "libnvidia-ml.so", "nvidia-installer",
                                                          "nvidia-smi"]


def test_the_archive_is_reproducible_and_versioned() -> None:
    one, two = fake_run_file_bytes(VERSION), fake_run_file_bytes(VERSION)
    assert hashlib.sha256(one).digest() == hashlib.sha256(two).digest()
    assert fake_run_file_bytes("570.148.08") != one
    assert one.startswith(b"#!/bin/sh\n")
    with pytest.raises(ValueError, match="not an NVIDIA driver version"):
        fake_run_file_bytes("575.64.03; reboot")


@pytest.fixture
def smi(installer):
    run, root = installer
    assert run(*RUN_FILE_OPTIONS).returncode == 0

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(root / "usr/bin/nvidia-smi"), *args], capture_output=True, text=True, timeout=30,
                              env={"PATH": os.environ["PATH"], "PVE_GPU_LXC_FAKE_ROOT": str(root)})

    return call, root


def test_nvidia_smi_needs_the_control_node(smi) -> None:
    call, _ = smi
    result = call()
    assert result.returncode == 9
    assert "couldn't communicate with the NVIDIA driver" in result.stdout


def test_nvidia_smi_reports_its_version(smi) -> None:
    call, root = smi
    (root / "dev").mkdir()
    (root / "dev/nvidiactl").symlink_to("/dev/null")  # any character device
    assert call("--query-gpu=driver_version", "--format=csv,noheader").stdout == f"{VERSION}\n"
    assert call("--query-gpu=driver_version", "--format=csv").stdout == f"driver_version\n{VERSION}\n"
    table = call().stdout
    assert f"| NVIDIA-SMI {VERSION}" in table and f"Driver Version: {VERSION}" in table and "CUDA Version: 12.9" in table
    assert "DRIVER version      : 575.64.03" in call("--version").stdout
    assert call("--bogus").returncode == 2


def test_nvidia_smi_refuses_a_kernel_module_of_another_version(smi) -> None:
    call, root = smi
    (root / "dev").mkdir()
    (root / "dev/nvidiactl").symlink_to("/dev/null")
    version = root / "proc/driver/nvidia/version"
    version.parent.mkdir(parents=True)
    version.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n")
    result = call("--query-gpu=driver_version", "--format=csv,noheader")
    assert result.returncode == 18
    assert "Failed to initialize NVML: Driver/library version mismatch" in result.stdout
    version.write_text(f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {VERSION}  Release Build\n")
    assert call("--query-gpu=driver_version", "--format=csv,noheader").stdout == f"{VERSION}\n"
