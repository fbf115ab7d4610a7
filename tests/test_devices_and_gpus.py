"""Device validation, GPU preset expansion and device resolution (pure)."""

from __future__ import annotations

import pytest

from pve_gpu_lxc import AmdGpu, Device, IntelGpu, NvidiaGpu, ValidationError
from pve_gpu_lxc.model.devices import ResolvedDevice, group_role, resolve_devices


def nodes(gpu) -> list[tuple]:
    return [(d.path, d.gid, d.group, d.mode) for d in gpu.devices()]


def test_intel_preset_is_card_and_render() -> None:
    assert nodes(IntelGpu()) == [("/dev/dri/card0", None, "video", "0660"), ("/dev/dri/renderD128", None, "render", "0660")]


def test_intel_render_only() -> None:
    assert nodes(IntelGpu(card=None, render=129)) == [("/dev/dri/renderD129", None, "render", "0660")]


def test_amd_rocm_adds_kfd_in_render_group() -> None:
    assert nodes(AmdGpu(card=1, render=129, rocm=True)) == [
        ("/dev/dri/card1", None, "video", "0660"),
        ("/dev/dri/renderD129", None, "render", "0660"),
        ("/dev/kfd", None, "render", "0660"),
    ]
    assert "/dev/kfd" not in [d.path for d in AmdGpu().devices()]


def test_nvidia_preset_exact_nodes() -> None:
    assert nodes(NvidiaGpu(driver_version="575.64.03")) == [
        ("/dev/nvidia0", 0, None, "0666"),
        ("/dev/nvidiactl", 0, None, "0666"),
        ("/dev/nvidia-uvm", 0, None, "0666"),
        ("/dev/nvidia-uvm-tools", 0, None, "0666"),
    ]


def test_nvidia_options_add_modeset_and_cap_files_never_the_folder() -> None:
    paths = [d.path for d in NvidiaGpu(driver_version="575.64.03", index=1, modeset=True, caps=(2, 1)).devices()]
    assert paths == [
        "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset",
        "/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2",
    ]
    assert "/dev/nvidia-caps" not in paths


@pytest.mark.parametrize("version", ["", "latest", "575", "575.64.03 ", "575.64.03\n", "575.64.03; reboot", 575.64])
def test_nvidia_requires_a_pinned_version(version) -> None:
    with pytest.raises(ValidationError) as err:
        NvidiaGpu(driver_version=version)
    assert str(err.value) == (
        f"NvidiaGpu(index=0): driver_version {version!r} is not a driver version; pin the host's exact version "
        "as printed in /proc/driver/nvidia/version, e.g. '575.64.03'"
    )


def test_nvidia_without_version_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError) as err:
        NvidiaGpu()
    assert str(err.value) == (
        "NvidiaGpu(index=0): driver_version is required; pin the host's exact version as printed in "
        "/proc/driver/nvidia/version (e.g. driver_version='575.64.03'): the container's NVIDIA libraries must "
        "match the host kernel module exactly"
    )


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("dev/dri/card0", "must be absolute under /dev/"),
        ("/etc/passwd", "must be absolute under /dev/"),
        ("/dev/dri/../sda", "contains '.' or '..'"),
        ("/dev/./null", "contains '.' or '..'"),
        ("/dev/dri/card0 ", "no whitespace"),
        ("/dev/dri/card0,gid=0", "no whitespace, commas"),
        ("/dev/$(reboot)", "shell metacharacters"),
        ("/dev/null;reboot", "shell metacharacters"),
        ("/dev/dri/", "must be absolute under /dev/"),
        ("/dev/nvidia-caps", "is a directory"),
        ("/dev/dri", "is a directory"),
        ("/dev/dri/by-path/pci-0000-00-02.0-render", "is a udev symlink"),
    ],
)
def test_device_path_rules(path: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        Device(path)
    assert str(err.value).startswith(f"Device {path!r}: device path {path!r}")
    assert fragment in str(err.value)


def test_device_mode_and_ids() -> None:
    with pytest.raises(ValidationError) as err:
        Device("/dev/net/tun", mode="660")
    assert str(err.value) == (
        "Device '/dev/net/tun': mode '660' is not a four-digit octal mode; allowed: '0' then three digits 0-7 "
        "as a string, e.g. '0660' (owner and group read/write) or '0666'"
    )
    with pytest.raises(ValidationError, match=r"gid 65536 is out of range; allowed 0\.\.65535"):
        Device("/dev/net/tun", gid=65536)
    with pytest.raises(ValidationError, match=r"uid must be an integer in 0\.\.65535, got -1|uid -1 is out of range"):
        Device("/dev/net/tun", uid=-1)
    with pytest.raises(ValidationError, match="give either gid=5 or group='render', not both"):
        Device("/dev/kfd", gid=5, group="render")


def test_resolve_gives_roles_numbers_and_dedupes_shared_nodes() -> None:
    a = NvidiaGpu(driver_version="575.64.03", index=0).devices()
    b = NvidiaGpu(driver_version="575.64.03", index=1).devices()
    resolved = resolve_devices([*IntelGpu().devices(), *a, *b], {"render": 993, "video": 44})
    assert [d.path for d in resolved].count("/dev/nvidiactl") == 1
    assert resolved[0] == ResolvedDevice("/dev/dri/card0", 0, 44, "0660", False)
    assert resolved[1] == ResolvedDevice("/dev/dri/renderD128", 0, 993, "0660", False)
    assert Device("/dev/net/tun") and resolve_devices([Device("/dev/net/tun")], {})[0].gid == 0


def test_resolve_refuses_conflicting_duplicates() -> None:
    with pytest.raises(ValidationError) as err:
        resolve_devices([Device("/dev/dri/renderD128", gid=993), Device("/dev/dri/renderD128", gid=104)], {})
    assert str(err.value) == (
        "device /dev/dri/renderD128 is listed twice with different settings: uid=0 gid=993 mode=0660 "
        "deny_write=False and uid=0 gid=104 mode=0660 deny_write=False; keep one"
    )


def test_resolve_refuses_more_than_128_devices() -> None:
    many = [Device(f"/dev/fake{i}") for i in range(129)]
    with pytest.raises(ValidationError, match="129 device nodes requested; bpg/proxmox passes at most 128"):
        resolve_devices(many, {})
    assert len(resolve_devices(many[:128], {})) == 128


@pytest.mark.parametrize("path, group", [("/dev/dri/renderD129", "render"), ("/dev/kfd", "render"),
                                         ("/dev/dri/card1", "video"), ("/dev/nvidia0", None),
                                         ("/dev/cardreader", None), ("/dev/accel/accel0", None)])
def test_the_group_a_gpu_node_belongs_to(path, group) -> None:
    """One rule for the model's presets, check's in-container comparison and the LXC harness."""
    assert group_role(path) == group
