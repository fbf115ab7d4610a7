"""Build a fake Proxmox node sysroot that `collect-host-facts.sh ROOT` can read.

It mirrors the example node "pve": an Intel UHD 630 (0000:00:02.0, card0 + renderD128)
and an RTX 5090 on the open 575.64.03 module (0000:01:00.0, card1 + renderD129,
nvidia0), with REAL char devices made by mknod (needs root), sysfs-style relative
symlinks, /proc text files, /etc/group with render 108 and root's subgid holes for
the seed's idmap.  Values are the ones committed in stacks/facts/pve.json.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pve_gpu_lxc.hostsetup import ENABLE_LINK, UNIT_PATH, NvidiaBootSetup

from ..templates import build_template

# what the collector prints for this node (tests/test_hostfacts_collector.py keeps them equal)
COMMITTED_FACTS = Path(__file__).resolve().parents[3] / "stacks" / "facts" / "pve.json"
NVIDIA_VERSION = "575.64.03"
NVIDIA_VERSION_FILE = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.64.03  Release Build  "
    "(dvs-builder@U22-I3-AE18-23-3)  Wed Jun 25 18:40:52 UTC 2025\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n"
)
PVEVERSION = "pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: 6.8.12-11-pve)"
KERNEL = "6.8.12-11-pve"
LXC_PVE_VERSION = "6.0.0-1"


@dataclass(frozen=True)
class Node:
    path: str  # under /dev
    major: int
    minor: int
    uid: int
    gid: int
    mode: int


VIDEO_GID, RENDER_GID = 44, 108
NVIDIA_UVM_MAJOR, NVIDIA_CAPS_MAJOR = 511, 235

NODES = (
    Node("dev/dri/card0", 226, 0, 0, VIDEO_GID, 0o660),
    Node("dev/dri/renderD128", 226, 128, 0, RENDER_GID, 0o660),
    Node("dev/dri/card1", 226, 1, 0, VIDEO_GID, 0o660),
    Node("dev/dri/renderD129", 226, 129, 0, RENDER_GID, 0o660),
    Node("dev/nvidia0", 195, 0, 0, 0, 0o666),
    Node("dev/nvidiactl", 195, 255, 0, 0, 0o666),
    Node("dev/nvidia-modeset", 195, 254, 0, 0, 0o666),
    Node("dev/nvidia-uvm", NVIDIA_UVM_MAJOR, 0, 0, 0, 0o666),
    Node("dev/nvidia-uvm-tools", NVIDIA_UVM_MAJOR, 1, 0, 0, 0o666),
    Node("dev/nvidia-caps/nvidia-cap1", NVIDIA_CAPS_MAJOR, 1, 0, 0, 0o400),
    Node("dev/nvidia-caps/nvidia-cap2", NVIDIA_CAPS_MAJOR, 2, 0, 0, 0o444),
)

BY_PATH = {
    "pci-0000:00:02.0-card": "../card0",
    "pci-0000:00:02.0-render": "../renderD128",
    "pci-0000:01:00.0-card": "../card1",
    "pci-0000:01:00.0-render": "../renderD129",
}

# (sysfs device dir under sys/devices, vendor, device, driver, drm names)
PCI_GPUS = (
    ("pci0000:00/0000:00:02.0", "0x8086", "0x3e92", "i915", ("card0", "renderD128")),
    ("pci0000:00/0000:00:01.0/0000:01:00.0", "0x10de", "0x2b85", "nvidia", ("card1", "renderD129")),
)

PROC_DEVICES = """Character devices:
  1 mem
  4 /dev/vc/0
  4 tty
  4 ttyS
  5 /dev/tty
  5 /dev/console
  5 /dev/ptmx
  5 ttyprintk
  7 vcs
 10 misc
 13 input
 21 sg
 29 fb
 89 i2c
116 alsa
128 ptm
136 pts
180 usb
189 usb_device
195 nvidia
195 nvidiactl
202 cpu/msr
203 cpu/cpuid
226 drm
234 nvidia-caps-imex-channels
235 nvidia-caps
236 nvidia-nvswitch
237 nvidia-nvlink
238 hidraw
239 ttyDBC
240 vfio
241 bsg
242 watchdog
243 ptp
244 pps
245 cec
246 lirc
247 rtc
248 dax
249 dimmctl
250 ndctl
251 tpm
252 gpiochip
261 accel
511 nvidia-uvm

Block devices:
  7 loop
  8 sd
  9 md
 65 sd
 66 sd
 67 sd
 68 sd
 69 sd
 70 sd
 71 sd
128 sd
129 sd
130 sd
131 sd
132 sd
133 sd
134 sd
135 sd
230 zvol
253 device-mapper
254 mdp
259 blkext
"""

NVIDIA_INFORMATION = """Model: \t\t NVIDIA GeForce RTX 5090
IRQ:   \t\t 185
GPU UUID: \t GPU-5f2c8a41-9e3d-7b16-c0a4-3d8e91f27b65
Video BIOS: \t 98.02.2e.00.9c
Bus Type: \t PCIe
DMA Size: \t 52 bits
DMA Mask: \t 0xfffffffffffff
Bus Location: \t 0000:01:00.0
Device Minor: \t 0
GPU Firmware: \t 575.64.03
GPU Excluded:\t No
"""

ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\ndaemon:x:1:\ntty:x:5:\ndisk:x:6:\nvideo:x:44:\nsgx:x:102:\nkvm:x:103:\n"
                 "www-data:x:33:\nrender:x:108:\nnogroup:x:65534:\n",
    "etc/subuid": "root:100000:65536\n",
    "etc/subgid": "root:100000:65536\nroot:44:1\nroot:108:1\n",
    "proc/sys/kernel/hostname": "pve\n",
    "proc/sys/kernel/osrelease": KERNEL + "\n",
    "proc/devices": PROC_DEVICES,
    "proc/driver/nvidia/version": NVIDIA_VERSION_FILE,
    "proc/driver/nvidia/gpus/0000:01:00.0/information": NVIDIA_INFORMATION,
    "sys/module/nvidia/version": NVIDIA_VERSION + "\n",
    # dpkg's record of the LXC package (PVE 8.4 ships lxc-pve 6.0.0-1; its hooks include nvidia)
    "var/lib/dpkg/status": "Package: lxc-pve\nStatus: install ok installed\nArchitecture: amd64\n"
                           f"Version: {LXC_PVE_VERSION}\nDescription: Linux containers userspace tools\n\n",
    # LXC's nvidia mount hook (a stand-in: the collector only checks that it is executable)
    "usr/share/lxc/hooks/nvidia": "#!/bin/sh\nexit 0\n",
}


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _symlink(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def make_char(path: Path, major: int, minor: int, mode: int = 0o660, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
    os.chown(path, uid, gid)
    os.chmod(path, mode)  # mknod honours the umask


def _sysfs(root: Path) -> None:
    (root / "sys/bus/pci/drivers").mkdir(parents=True, exist_ok=True)
    for device_dir, vendor, device, driver, names in PCI_GPUS:
        base = f"sys/devices/{device_dir}"
        depth = base.count("/")
        up = "../" * depth
        _write(root, f"{base}/vendor", vendor + "\n")
        _write(root, f"{base}/device", device + "\n")
        (root / "sys/bus/pci/drivers" / driver).mkdir(parents=True, exist_ok=True)
        _symlink(root, f"{base}/driver", f"{up}bus/pci/drivers/{driver}")
        _symlink(root, f"{base}/subsystem", f"{up}bus/pci")
        for name in names:
            node = next(n for n in NODES if n.path == f"dev/dri/{name}")
            _write(root, f"{base}/drm/{name}/dev", f"{node.major}:{node.minor}\n")
            _symlink(root, f"{base}/drm/{name}/device", f"../../../{device_dir.rsplit('/', 1)[1]}")
            _symlink(root, f"sys/class/drm/{name}", f"../../devices/{device_dir}/drm/{name}")
    # a connector and the class-level version file: the collector must skip both
    _write(root, "sys/devices/pci0000:00/0000:00:02.0/drm/card0/card0-HDMI-A-1/status", "connected\n")
    _symlink(root, "sys/class/drm/card0-HDMI-A-1", "../../devices/pci0000:00/0000:00:02.0/drm/card0/card0-HDMI-A-1")
    _write(root, "sys/class/drm/version", "drm 1.1.0 20060810\n")


# The example stacks' templates in `local`'s cache, real tarballs holding the /etc/group the
# observed builds have (video 44; render 106 in Debian 12.2-1, 993 in Ubuntu 24.04-2).
TEMPLATES = {
    "debian-12-standard_12.2-1_amd64.tar.zst": "root:x:0:\nvideo:x:44:\n_ssh:x:104:\nrender:x:106:\n",
    "ubuntu-24.04-standard_24.04-2_amd64.tar.zst": "root:x:0:\nvideo:x:44:\n_ssh:x:101:\nrender:x:993:\n",
}
STORAGE_CFG = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n\nlvmthin: local-lvm\n" \
    "\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n"


def _templates(root: Path) -> None:
    _write(root, "etc/pve/storage.cfg", STORAGE_CFG)
    for name, group in TEMPLATES.items():
        build_template(root / "var/lib/vz/template/cache" / name, etc_group=group, filler_bytes=4096)


def build_pve_node(root: Path, *, boot_setup: bool = True) -> Path:
    """Populate ``root`` (an empty directory) as the Intel + NVIDIA node "pve" (without
    `pve-gpu-lxc host-setup`'s files when ``boot_setup`` is False)."""
    for rel, text in ETC.items():
        _write(root, rel, text)
    (root / "usr/share/lxc/hooks/nvidia").chmod(0o755)
    for node in NODES:
        make_char(root / node.path, node.major, node.minor, node.mode, node.uid, node.gid)
    for link, target in BY_PATH.items():
        _symlink(root, f"dev/dri/by-path/{link}", target)
    _sysfs(root)
    _templates(root)
    tool = root / "usr/bin/nvidia-modprobe"  # installed by the NVIDIA .run driver on the host
    _write(root, "usr/bin/nvidia-modprobe", "#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    if boot_setup:
        _boot_setup(root)
    return root


def _boot_setup(root: Path) -> None:
    """What `pve-gpu-lxc host-setup --apply` leaves on this node: its files and the enabling link
    (the apply script itself runs over SSH against the simulated node in tests/e2e)."""
    setup = NvidiaBootSetup(gpu_minors=[0])  # `host-setup --apply` without options
    for f in setup.files():
        _write(root, f.path.lstrip("/"), f.text)
        (root / f.path.lstrip("/")).chmod(int(f.mode, 8))
    _symlink(root, ENABLE_LINK.lstrip("/"), UNIT_PATH)


def fake_pveversion(bin_dir: Path, output: str = PVEVERSION) -> Path:
    """A `pveversion` stand-in for PATH (the collector runs it from PATH, not from ROOT)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "pveversion"
    script.write_text(f"#!/bin/sh\necho '{output}'\n", encoding="utf-8")
    script.chmod(0o755)
    return bin_dir
