"""GPU presets: each expands to the exact device nodes a vendor's stack needs (pure).

Sources: gpu-facts §1 (nodes and majors), §3 (groups), §4 (selection), §7
(NVIDIA userspace).  Majors are never emitted: Proxmox `devN` stat()s the node
at every start, which is what makes dynamic majors (nvidia-uvm, kfd) safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from ..core.errors import ValidationError
from ..core.nvidia_nodes import control_nodes, nvidia_cap_node, nvidia_gpu_node
from ..core.rules import driver_version, got, require_bool, require_int
from ..facts import VENDOR_LABELS, HostFacts, Vendor, normalize_pci, record_command
from . import validation
from .devices import KFD, Device, group_role

# what LXC's nvidia hook passes to nvidia-container-cli (hooks/nvidia: NVIDIA_DRIVER_CAPABILITIES)
NVIDIA_CAPABILITIES = ("compute", "compat32", "display", "graphics", "utility", "video", "all")
NVIDIA_DEVICE_MODE = "0666"  # the NVIDIA driver's default node mode (NVreg_DeviceFileMode)
MAX_DRM_MINOR = 1 << 20


class Gpu(Protocol):
    """What GpuContainer needs from a GPU preset."""

    def devices(self) -> tuple[Device, ...]: ...


class _Selectable(Protocol):
    @property
    def pci(self) -> str | None: ...

    @property
    def product_id(self) -> int | None: ...


def _drm_index(value: object, what: str, low: int) -> int:
    return require_int(value, what, low, MAX_DRM_MINOR - 1)


@dataclass(frozen=True, kw_only=True)
class IntelGpu:
    """An Intel iGPU/dGPU for VA-API, QSV or OpenCL.

    card: N of /dev/dri/cardN (owned by `video`), or None to pass only the render
      node (VA-API and compute need only render).
    render: N of /dev/dri/renderDN (owned by the container's `render` group).
    pci, product_id: select the GPU through host facts instead (`GpuContainer(...,
      host_facts=...)`): pci="0000:00:02.0", or the PCI device id (0x3e92).  The facts
      give the canonical cardN/renderDN; `card=None` still means "render node only".
    """

    card: int | None = 0
    render: int = 128
    mode: str = "0660"
    pci: str | None = None
    product_id: int | None = None

    def __post_init__(self) -> None:
        _validate_drm(type(self).__name__, self.card, self.render, self.mode)
        _validate_selector(self)

    def devices(self) -> tuple[Device, ...]:
        _require_resolved(self)
        return _drm_devices(self.card, self.render, self.mode)

    def resolve(self, facts: HostFacts) -> IntelGpu:
        """This preset with the node numbers the facts record for the selected GPU."""
        return _resolve_drm(self, "intel", facts)


@dataclass(frozen=True, kw_only=True)
class AmdGpu:
    """An AMD GPU: DRM nodes, plus /dev/kfd for ROCm compute (`rocm=True`).

    /dev/kfd gets the `render` group too; with PVE's default gid 0 it would be
    usable by root only (hal0 #1953).
    """

    card: int | None = 0
    render: int = 128
    rocm: bool = False
    mode: str = "0660"
    pci: str | None = None
    product_id: int | None = None

    def __post_init__(self) -> None:
        _validate_drm(type(self).__name__, self.card, self.render, self.mode)
        if not isinstance(self.rocm, bool):
            raise ValidationError(f"AmdGpu: rocm must be True or False, got {got(self.rocm)}")
        _validate_selector(self)

    def resolve(self, facts: HostFacts) -> AmdGpu:
        """This preset with the node numbers the facts record for the selected GPU."""
        return _resolve_drm(self, "amd", facts)

    def devices(self) -> tuple[Device, ...]:
        _require_resolved(self)
        nodes = _drm_devices(self.card, self.render, self.mode)
        if self.rocm:
            nodes += (Device(KFD, group=group_role(KFD), mode=self.mode),)
        return nodes


def _validate_drm(kind: str, card: object, render: object, mode: object) -> None:
    try:
        if card is not None:
            _drm_index(card, "card", 0)
        _drm_index(render, "render", 128)
        validation.mode(mode)
    except ValidationError as err:
        raise ValidationError(f"{kind}: {err}") from None


def _drm_devices(card: int | None, render: int, mode: str) -> tuple[Device, ...]:
    paths = ([f"/dev/dri/card{card}"] if card is not None else []) + [f"/dev/dri/renderD{render}"]
    return tuple(Device(p, group=group_role(p), mode=mode) for p in paths)


@dataclass(frozen=True, kw_only=True)
class NvidiaGpu:
    """An NVIDIA GPU, with the userspace pinned to the host's exact driver version, or taken
    from the host at every start (`runtime="host"`).

    index: N of /dev/nvidiaN (the GPU's `Device Minor`).
    driver_version: the host kernel module's version, e.g. "575.64.03"; the
      container's libraries must match it exactly (NVML "Driver/library version
      mismatch" otherwise), and the pre-start hook refuses to start on a mismatch.
    runtime: "host" injects the host's NVIDIA userspace at every start instead (LXC's nvidia
      hook and NVIDIA's nvidia-container-cli on the node, as Incus' nvidia.runtime): for
      application images, which carry none; no driver_version then.  Needs an unprivileged
      container and PVE >= 9.1 (lxc-pve >= 6.0.5-3).
    capabilities: with runtime="host", what nvidia-container-cli mounts
      (NVIDIA_DRIVER_CAPABILITIES): "compute,utility" (CUDA, nvidia-smi), add "video" for
      NVENC/NVDEC, "graphics", "display", "compat32", or "all".
    uvm_tools: pass /dev/nvidia-uvm-tools (profilers, CUDA debuggers).
    modeset: pass /dev/nvidia-modeset (display/NVENC on some setups).
    caps: N of /dev/nvidia-caps/nvidia-capN files to pass (1 = MIG config,
      2 = MIG monitor, higher = MIG instances); each is a node, never the folder.
    ensure_nodes: with host facts, require that a reboot of the node makes these
      nodes again before pve-guests starts the onboot guests (NVIDIA makes them on
      demand, and Proxmox refuses to start a container whose devN path is missing):
      `pve-gpu-lxc host-setup` installs what does it.  False: the node makes them
      its own way, and synthesis only checks that they exist now.
    """

    driver_version: str | None = None
    index: int = 0
    uvm_tools: bool = True
    modeset: bool = False
    caps: tuple[int, ...] = ()
    ensure_nodes: bool = True
    pci: str | None = None
    product_id: int | None = None
    runtime: Literal["host"] | None = None
    capabilities: str = "compute,utility"

    def __post_init__(self) -> None:
        where = f"NvidiaGpu(index={self.index!r})"
        if self.runtime is not None:
            self._check_host_runtime(where)
        elif self.driver_version is None:
            raise ValidationError(
                f"{where}: driver_version is required; pin the host's exact version as printed in "
                "/proc/driver/nvidia/version (e.g. driver_version='575.64.03'): the container's NVIDIA "
                "libraries must match the host kernel module exactly"
            )
        else:
            driver_version(self.driver_version, f"{where}: driver_version",
                           "pin the host's exact version as printed in /proc/driver/nvidia/version, e.g. '575.64.03'")
        require_int(self.index, f"{where}: index", 0, 254, "It is the GPU's 'Device Minor'")
        if not isinstance(self.caps, (list, tuple)):
            raise ValidationError(
                f"{where}: caps must be a tuple of nvidia-capN numbers like (1, 2), got {got(self.caps)}"
            )
        for cap in self.caps:
            require_int(cap, f"{where}: caps entry", 1, 1 << 20)
        object.__setattr__(self, "caps", tuple(self.caps))
        for flag in ("uvm_tools", "modeset", "ensure_nodes"):
            require_bool(getattr(self, flag), f"{where}: {flag}")
        _validate_selector(self)

    def _check_host_runtime(self, where: str) -> None:
        if self.runtime != "host":
            raise ValidationError(
                f"{where}: runtime {got(self.runtime)} is not 'host' (or None: the template's userspace)")
        if self.driver_version is not None:
            raise ValidationError(
                f"{where}: runtime='host' takes the host's NVIDIA userspace at every start, so there is no "
                f"driver_version to pin; remove driver_version={self.driver_version!r}")
        parts = self.capabilities.split(",") if isinstance(self.capabilities, str) else []
        if not parts or any(p not in NVIDIA_CAPABILITIES for p in parts):
            raise ValidationError(
                f"{where}: capabilities {got(self.capabilities)} must be a comma-separated list of "
                f"{', '.join(NVIDIA_CAPABILITIES)} (NVIDIA_DRIVER_CAPABILITIES), e.g. 'compute,utility,video'")

    def resolve(self, facts: HostFacts) -> NvidiaGpu:
        """This preset with `index` = the selected GPU's `Device Minor` from the facts."""
        if self.pci is None and self.product_id is None:
            minors = {g.nvidia_minor: g for g in facts.gpus() if g.nvidia_minor is not None}
            if minors and self.index not in minors:
                raise ValidationError(
                    f"NvidiaGpu(index={self.index}): {facts.label} has no {nvidia_gpu_node(self.index)}. "
                    f"{facts.describe_gpus()}. Select the GPU by pci='<address>'"
                )
            return self
        gpu = facts.select_gpu("nvidia", pci=self.pci, product_id=self.product_id)
        if gpu.nvidia_minor is None:
            raise ValidationError(
                f"NvidiaGpu(pci={gpu.pci!r}): {facts.label} has no 'Device Minor' for this GPU "
                "(/proc/driver/nvidia/gpus/<pci>/information); give index= explicitly"
            )
        return dataclasses.replace(self, index=gpu.nvidia_minor, pci=None, product_id=None)

    def control_nodes(self) -> tuple[str, ...]:
        """Nodes shared by all NVIDIA GPUs and created on demand by userspace."""
        return control_nodes(uvm_tools=self.uvm_tools, modeset=self.modeset)

    def devices(self) -> tuple[Device, ...]:
        _require_resolved(self)
        paths = (nvidia_gpu_node(self.index), *self.control_nodes())
        nodes = [Device(p, gid=0, mode=NVIDIA_DEVICE_MODE) for p in paths]
        # nvidia-cap1 (MIG config) is root-only on the host; the others are world-readable.
        nodes += [
            Device(nvidia_cap_node(c), gid=0, mode="0400" if c == 1 else "0444")
            for c in sorted(set(self.caps))
        ]
        return tuple(nodes)


def nvidia_driver_version(gpus: Iterable[object]) -> str | None:
    """The one driver version all NvidiaGpu presets of a container pin (None without a pinned one)."""
    gpus = list(gpus)
    runtimes = {g.runtime for g in gpus if isinstance(g, NvidiaGpu)}
    if len(runtimes) > 1:
        raise ValidationError(
            "NVIDIA GPUs of one container mix runtime='host' and a pinned driver_version; the container has one "
            "NVIDIA userspace: give every NvidiaGpu runtime='host', or none")
    versions = sorted({str(g.driver_version) for g in gpus if isinstance(g, NvidiaGpu) and g.runtime is None})
    if len(versions) > 1:
        raise ValidationError(
            f"NVIDIA GPUs pin different driver versions {', '.join(versions)}; one host runs one "
            "kernel module, so pin the same version on every NvidiaGpu"
        )
    return versions[0] if versions else None


def nvidia_host_runtime(gpus: Iterable[object]) -> str | None:
    """The NVIDIA_DRIVER_CAPABILITIES of a container whose NvidiaGpu presets take the host's
    userspace (runtime="host"), the union of theirs; None when none does."""
    wanted = {c for g in gpus if isinstance(g, NvidiaGpu) and g.runtime == "host" for c in g.capabilities.split(",")}
    if not wanted:
        return None
    return "all" if "all" in wanted else ",".join(c for c in NVIDIA_CAPABILITIES if c in wanted)


# --------------------------------------------------------------------------- selection through host facts


def _validate_selector(gpu: _Selectable) -> None:
    """Normalise `pci`; `product_id` is a 16-bit PCI device id; not both (pci names one GPU)."""
    kind = type(gpu).__name__
    if gpu.pci is not None:
        object.__setattr__(gpu, "pci", normalize_pci(gpu.pci, f"{kind}: pci"))
    if gpu.product_id is not None:
        require_int(gpu.product_id, f"{kind}: product_id", 0, 0xFFFF,
                    "It is the PCI device id, e.g. 0x3e92 (lspci -nn shows [vendor:device])")
    if gpu.pci is not None and gpu.product_id is not None:
        raise ValidationError(f"{kind}: give pci= or product_id=, not both (pci already names one GPU)")


def _require_resolved(gpu: _Selectable) -> None:
    if gpu.pci is not None or gpu.product_id is not None:
        selector = f"pci={gpu.pci!r}" if gpu.pci is not None else f"product_id=0x{gpu.product_id:04x}"
        raise ValidationError(
            f"{type(gpu).__name__}({selector}) selects the GPU through host facts: pass "
            "host_facts=HostFacts.load('stacks/facts/<node>.json') to GpuContainer (record them with "
            f"`{record_command()}`), or give the node numbers (card=, render=, index=)"
        )


def _node_number(path: str | None, prefix: str) -> int | None:
    return None if path is None else int(path.removeprefix(prefix))


_Drm = TypeVar("_Drm", "IntelGpu", "AmdGpu")


def _resolve_drm(gpu: _Drm, vendor: Vendor, facts: HostFacts) -> _Drm:
    kind = type(gpu).__name__
    if gpu.pci is None and gpu.product_id is None:
        _check_drm_owner(gpu, vendor, facts)
        return gpu
    found = facts.select_gpu(vendor, pci=gpu.pci, product_id=gpu.product_id)
    render = _node_number(found.render, "/dev/dri/renderD")
    if render is None or (gpu.card is not None and found.card is None):
        missing = "render" if found.render is None else "card"
        raise ValidationError(
            f"{kind}: {facts.label} records no {missing} node for {found.describe()}; "
            + ("pass card=None to use the render node only" if missing == "card" else "re-record the facts")
        )
    return dataclasses.replace(
        gpu, pci=None, product_id=None,
        card=None if gpu.card is None else _node_number(found.card, "/dev/dri/card"),
        render=render,
    )


def _check_drm_owner(gpu: IntelGpu | AmdGpu, vendor: Vendor, facts: HostFacts) -> None:
    """Plain numbers: refuse nodes the facts attribute to another vendor's GPU (indexes shift, gpu-facts §4)."""
    wanted = {f"/dev/dri/renderD{gpu.render}"} | ({f"/dev/dri/card{gpu.card}"} if gpu.card is not None else set())
    for found in facts.gpus():
        if found.vendor in (None, vendor):
            continue
        clash = sorted(wanted & {found.card, found.render})
        if clash:
            mine = [g.pci for g in facts.gpus() if g.vendor == vendor]
            hint = f"select it by pci={mine[0]!r}" if len(mine) == 1 else "select the GPU by pci='<address>'"
            raise ValidationError(
                f"{type(gpu).__name__}(card={gpu.card}, render={gpu.render}): {', '.join(clash)} on "
                f"node {facts.hostname!r} belongs to {found.describe()}, not to a {VENDOR_LABELS[vendor]} GPU; {hint}"
            )


def resolve_gpus(gpus: Iterable[Gpu], facts: HostFacts | None) -> tuple[Gpu, ...]:
    """Every preset with facts-selected numbers filled in (unchanged without facts)."""
    if facts is None:
        return tuple(gpus)
    return tuple(g.resolve(facts) if isinstance(g, (IntelGpu, AmdGpu, NvidiaGpu)) else g for g in gpus)
