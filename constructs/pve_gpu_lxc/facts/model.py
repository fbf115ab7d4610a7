"""Recorded host facts: what a Proxmox node's GPUs look like (pure; no cdktf import).

Facts are files committed next to the stacks (``stacks/facts/<node>.json``), written by the
collector shipped in this folder (``collect-host-facts.sh``) run on the node.  They can also
be built from pasted ``ls -l /dev/dri`` / ``ls -l /dev/nvidia*``, ``/proc/devices`` and
``/proc/driver/nvidia/version`` text (`HostFacts.from_listings`).  `HostFacts` answers the
questions the model asks at synth time: which ``cardN``/``renderDNNN``/``nvidiaN`` belongs to a
PCI address (`selection`), whether a path is a char device on the node, which driver version
the node runs and whether root's subuid/subgid allow an idmap's host ranges (`verify`).
Nothing here reads the host; ``HostFacts.load`` reads one facts file (`io`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..core.errors import ValidationError
from .boot import BootFacts, BootNodes, nodes_at_boot
from .parsers import normalize_pci, parse_nvidia_version
from .records import (
    VENDOR_LABELS,
    DeviceNode,
    IdRange,
    NvidiaGpuInfo,
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
        return None if self.nvidia_minor is None else f"/dev/nvidia{self.nvidia_minor}"

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
    def parsed(self) -> NvidiaVersion:
        return parse_nvidia_version(self.version_file)

    @property
    def driver_version(self) -> str:
        return self.parsed.version


@dataclass(frozen=True)
class HostFacts:
    """Everything recorded about one node.  Build with `load`, `from_json` or `from_listings`."""

    hostname: str
    devices: tuple[DeviceNode, ...] = ()
    dri_by_path: tuple[tuple[str, str], ...] = ()  # (link, target as readlink prints it)
    drm: tuple[DrmMinor, ...] = ()
    proc_devices: ProcDevices = field(default_factory=ProcDevices)
    nvidia: NvidiaFacts | None = None
    nvidia_modprobe: str | None = None  # its path on the node; None = absent (or not recorded)
    tools_recorded: bool = False  # whether the collector looked for nvidia-modprobe
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

    # ---------------------------------------------------------------- construction (io.py)

    @classmethod
    def load(cls, path: str | Path) -> HostFacts:
        """Read a facts file written by the collector (``stacks/facts/<node>.json``)."""
        from .io import load

        return load(path)

    @classmethod
    def from_json(cls, data: Mapping[str, object], source: str = "(in memory)") -> HostFacts:
        from .io import from_json

        return from_json(data, source)

    @classmethod
    def from_listings(
        cls,
        hostname: str,
        *,
        ls: Iterable[str | tuple[str, str]] = (),
        proc_devices: str | None = None,
        nvidia_version: str | None = None,
        nvidia_information: Mapping[str, str] | None = None,
        group_file: str | None = None,
        subuid: str | None = None,
        subgid: str | None = None,
    ) -> HostFacts:
        """Facts from pasted command output, when the collector cannot be run.

        ``ls`` items are ``ls -l`` texts, or ``(text, base_directory)`` pairs.  Listings of
        ``/dev/dri/by-path`` give the PCI mapping; there are no sysfs vendor ids then.
        """
        from .io import from_listings

        return from_listings(
            hostname, ls=ls, proc_devices=proc_devices, nvidia_version=nvidia_version,
            nvidia_information=nvidia_information, group_file=group_file, subuid=subuid, subgid=subgid,
        )

    def to_json(self) -> dict[str, object]:
        """The collector's document shape (so pasted facts can be saved as a facts file)."""
        from .io import to_json

        return to_json(self)

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
        minors = [g.device_minor for g in self.nvidia.gpus if g.device_minor is not None] if self.nvidia else []
        return nodes_at_boot(self.boot, driver_installed=self.nvidia is not None, gpu_minors=minors)

    def template(self, volid: str) -> TemplateFacts | None:
        """The recorded template with this volume id (``local:vztmpl/<file>``), or None."""
        return next((t for t in self.templates or () if t.volid == volid), None)

    def subids(self, kind: Literal["u", "g"]) -> tuple[IdRange, ...] | None:
        return self.subuid if kind == "u" else self.subgid

    # ---------------------------------------------------------------- GPU selection (selection.py)

    def gpus(self) -> tuple[GpuFacts, ...]:
        """PCI GPUs from sysfs DRM entries, by-path links and NVIDIA's proc files, by address."""
        from .selection import gpus

        return gpus(self)

    def describe_gpus(self) -> str:
        from .selection import describe_gpus

        return describe_gpus(self)

    def select_gpu(
        self,
        vendor: Vendor,
        *,
        pci: str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
    ) -> GpuFacts:
        """The one GPU of ``vendor`` matching every given filter (Incus' pci/vendorid/productid).

        No filter selects the vendor's only GPU; several matches are an error, as is none.
        """
        from .selection import select_gpu

        return select_gpu(self, vendor, pci=pci, vendor_id=vendor_id, product_id=product_id)

    # ---------------------------------------------------------------- checks (verify.py)

    def require_char_device(self, path: str, why: str = "") -> DeviceNode:
        """The node at ``path``, which must be a char device on the node."""
        from .verify import require_char_device

        return require_char_device(self, path, why)

    def missing_nvidia_control_nodes(self) -> tuple[str, ...]:
        """Control nodes userspace creates on demand (nvidia-modprobe) that the node lacks."""
        from .verify import missing_nvidia_control_nodes

        return missing_nvidia_control_nodes(self)

    def uncovered_subids(self, kind: Literal["u", "g"], ranges: Iterable[tuple[int, int]]) -> tuple[IdRange, ...]:
        """Parts of host ranges ``(start, count)`` root may not map per the recorded subuid/subgid."""
        from .verify import uncovered_subids

        return uncovered_subids(self, kind, ranges)

    def verify_container(
        self,
        *,
        node_name: str,
        device_paths: Iterable[str] = (),
        own_boot_nodes: Iterable[str] = (),
        nvidia_driver: str | None = None,
        idmap: Iterable[tuple[Literal["u", "g"], int, int]] = (),
    ) -> None:
        """Raise one ValidationError listing every way a container would not fit this node (verify.py)."""
        from .verify import verify_container

        verify_container(self, node_name=node_name, device_paths=device_paths, own_boot_nodes=own_boot_nodes,
                         nvidia_driver=nvidia_driver, idmap=idmap)
