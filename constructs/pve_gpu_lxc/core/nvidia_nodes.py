"""NVIDIA's device nodes, named once (pure).

None of them comes from devtmpfs: NVIDIA's userspace makes them on demand (nvidia-modprobe,
nvidia-smi), so after a reboot they exist only if something the boot runs makes them.  The
model passes them, the host facts record them, `host-setup` makes them at boot and `check`
looks for them: all by these names.
"""

from __future__ import annotations

import re

NVIDIA_CTL = "/dev/nvidiactl"  # 195:255
NVIDIA_UVM = "/dev/nvidia-uvm"  # <nvidia-uvm major>:0 (a dynamic major)
NVIDIA_UVM_TOOLS = "/dev/nvidia-uvm-tools"  # <nvidia-uvm major>:1
NVIDIA_MODESET = "/dev/nvidia-modeset"  # 195:254
# nvidia-capN -> the file nvidia-modprobe -f reads its DeviceFileMinor from (the driver fixes cap1 and cap2)
MIG_CAP_FILES = {1: "/proc/driver/nvidia/capabilities/mig/config", 2: "/proc/driver/nvidia/capabilities/mig/monitor"}
_ON_DEMAND = re.compile(r"/dev/nvidia(?:\d+|ctl|-uvm|-uvm-tools|-modeset|-caps/nvidia-cap\d+)")
_GPU = re.compile(r"/dev/nvidia(\d+)")
_CAP = re.compile(r"/dev/nvidia-caps/nvidia-cap(\d+)")


def nvidia_gpu_node(minor: int) -> str:
    """/dev/nvidiaN of the GPU whose 'Device Minor' is N (195:N)."""
    return f"/dev/nvidia{minor}"


def nvidia_cap_node(cap: int) -> str:
    """/dev/nvidia-caps/nvidia-capN (1: MIG config, 2: MIG monitor, higher: MIG instances)."""
    return f"/dev/nvidia-caps/nvidia-cap{cap}"


def gpu_minor(path: str) -> int | None:
    """N of /dev/nvidiaN, else None."""
    match = _GPU.fullmatch(path)
    return int(match.group(1)) if match else None


def cap_number(path: str) -> int | None:
    """N of /dev/nvidia-caps/nvidia-capN, else None."""
    match = _CAP.fullmatch(path)
    return int(match.group(1)) if match else None


def control_nodes(*, uvm_tools: bool = True, modeset: bool = False) -> tuple[str, ...]:
    """The nodes every NVIDIA GPU shares: nvidiactl and nvidia-uvm, and the optional two."""
    return (NVIDIA_CTL, NVIDIA_UVM, *((NVIDIA_UVM_TOOLS,) if uvm_tools else ()),
            *((NVIDIA_MODESET,) if modeset else ()))


def is_nvidia_on_demand(path: str) -> bool:
    """A node of NVIDIA's driver (gone after every reboot until something makes it)."""
    return _ON_DEMAND.fullmatch(path) is not None
