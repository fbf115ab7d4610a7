"""One node's recorded facts as data, with the plain questions they answer (pure).

`NodeFacts` holds what the collector recorded and answers what needs no other module (a
device at a path, a major, a group's GID, the driver version, a template, the subuid/subgid
ranges, the nodes a reboot makes).  `io`, `selection` and `verify` work on it; `model.HostFacts`
(the public class) adds their entry points, so this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..core.errors import ValidationError
from ..core.nvidia_nodes import nvidia_gpu_node
from .boot import BootFacts, BootNodes, nodes_at_boot
from .parsers import normalize_pci, parse_nvidia_version
from .records import (
    VENDOR_LABELS,
    DeviceNode,
    IdRange,
    NvidiaGpuInfo,
    NvidiaRuntimeFacts,
    NvidiaVersion,
    ProcDevices,
    TemplateFacts,
    Vendor,
)


@dataclass(frozen=True)
class DrmMinor:
    """``/sys/class/drm/<name>``: a DRM node and the bus device behind it."""

    name: str  # card0, renderD128, controlD64
    dev: str | None = None  # "226:0" from sysfs
    bus_id: str | None = None  # "0000:00:02.0" for PCI GPUs, "simple-framebuffer.0" for simpledrm
    subsystem: str | None = None  # "pci", "platform"
    vendor_id: int | None = None
    device_id: int | None = None
    driver: str | None = None

    @property
    def pci(self) -> str | None:
        if self.bus_id is None or self.subsystem not in (None, "pci"):
            return None
        try:
            return normalize_pci(self.bus_id)
        except ValidationError:
            return None


@dataclass(frozen=True)
class GpuFacts:
    """One PCI GPU as the facts describe it, with its canonical node paths."""

    pci: str
    vendor: Vendor | None
    vendor_id: int | None
    device_id: int | None
    driver: str | None
    card: str | None  # /dev/dri/cardN
    render: str | None  # /dev/dri/renderDNNN
    nvidia_minor: int | None = None
    model: str | None = None

    @property
    def nvidia_node(self) -> str | None:
        return None if self.nvidia_minor is None else nvidia_gpu_node(self.nvidia_minor)

    def describe(self) -> str:
        ids = (f"{self.vendor_id:04x}:{self.device_id:04x}" if self.vendor_id is not None and self.device_id is not None
               else "ids unknown")
        label = VENDOR_LABELS.get(self.vendor or "", "unknown vendor")
        nodes = [p.rsplit("/", 1)[1] for p in (self.card, self.render, self.nvidia_node) if p]
        extra = f" {self.model}" if self.model else ""
        driver = f" ({self.driver})" if self.driver else ""
        return f"{self.pci} {label} {ids}{driver}{extra}: {' '.join(nodes) or 'no device nodes'}"


@dataclass(frozen=True)
class NvidiaFacts:
    version_file: str
    module_version: str | None = None
    gpus: tuple[NvidiaGpuInfo, ...] = ()

    @property
    def device_minors(self) -> tuple[int, ...]:
        """The 'Device Minor' of every GPU that prints one (/dev/nvidiaN), in the recorded order."""
        return tuple(g.device_minor for g in self.gpus if g.device_minor is not None)

    @property
    def parsed(self) -> NvidiaVersion:
        return parse_nvidia_version(self.version_file)

    @property
    def driver_version(self) -> str:
        return self.parsed.version

    @property
    def loaded_version(self) -> str | None:
        """The version the generated pre-start hook compares (model/hooks.py `require_nvidia_driver`):
        the loaded module's own, /sys/module/nvidia/version, else the version file's; None when
        neither can be read."""
        if self.module_version and self.module_version.strip():
            return self.module_version.strip()
        try:
            return self.driver_version
        except ValidationError:
            return None


@dataclass(frozen=True)
class NodeFacts:
    """Everything recorded about one node (the public `HostFacts` adds loading, selection and checks)."""

    hostname: str
    devices: tuple[DeviceNode, ...] = ()
    dri_by_path: tuple[tuple[str, str], ...] = ()  # (link, target as readlink prints it)
    drm: tuple[DrmMinor, ...] = ()
    proc_devices: ProcDevices = field(default_factory=ProcDevices)
    nvidia: NvidiaFacts | None = None
    nvidia_modprobe: str | None = None  # its path on the node; None = absent (or not recorded)
    tools_recorded: bool = False  # whether the collector looked for nvidia-modprobe
    # nvidia-container-cli, LXC's nvidia hook and the LXC package; None: not recorded (an older collector)
    nvidia_runtime: NvidiaRuntimeFacts | None = None
    groups: tuple[tuple[str, int], ...] = ()
    subuid: tuple[IdRange, ...] | None = None  # None: not recorded (pasted facts without the file)
    subgid: tuple[IdRange, ...] | None = None
    # the node's template caches; None: not recorded (a document from before the collector read them)
    templates: tuple[TemplateFacts, ...] | None = None
    # the boot configuration that makes NVIDIA's on-demand nodes; None: not recorded (an older collector)
    boot: BootFacts | None = None
    kernel: str | None = None
    pve_version: str | None = None
    collected_at: str | None = None
    source: str = field(default="(in memory)", compare=False)  # where the facts came from, for messages

    # ---------------------------------------------------------------- queries

    @property
    def label(self) -> str:
        return f"host facts for node {self.hostname!r} ({self.source})"

    def node(self, path: str) -> DeviceNode | None:
        return next((n for n in self.devices if n.path == path), None)

    def char_major(self, name: str) -> int | None:
        return self.proc_devices.char_major(name)

    def group_gid(self, name: str) -> int | None:
        return dict(self.groups).get(name)

    @property
    def nvidia_driver_version(self) -> str | None:
        return None if self.nvidia is None else self.nvidia.driver_version

    def nodes_at_boot(self) -> BootNodes | None:
        """The NVIDIA nodes a reboot of the node recreates before pve-guests starts the onboot guests
        (None when the boot configuration was not recorded)."""
        if self.boot is None:
            return None
        minors = self.nvidia.device_minors if self.nvidia else ()
        return nodes_at_boot(self.boot, driver_installed=self.nvidia is not None, gpu_minors=minors)

    def template(self, volid: str) -> TemplateFacts | None:
        """The recorded template with this volume id (``local:vztmpl/<file>``), or None."""
        return next((t for t in self.templates or () if t.volid == volid), None)

    def subids(self, kind: Literal["u", "g"]) -> tuple[IdRange, ...] | None:
        return self.subuid if kind == "u" else self.subgid
