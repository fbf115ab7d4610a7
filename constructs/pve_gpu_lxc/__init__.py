"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox).

Pure model (no cdktf): IdMap, Device, IntelGpu/AmdGpu/NvidiaGpu, Hooks, TemplateGids,
HostFacts (recorded node facts), NvidiaImage (distrobuilder definitions).
Constructs: GpuContainer, Template, ProxmoxProvider, HookScript.
"""

from .container import GpuContainer
from .devices import Device
from .errors import ValidationError
from .gpus import AmdGpu, IntelGpu, NvidiaGpu
from .hooks import HookScript
from .hookscript import Hooks
from .hostfacts import HostFacts
from .idmap import IdMap, IdMapEntry
from .image import NvidiaImage
from .model import ContainerModel, build_model
from .props import Disk, Features, GpuContainerProps, Network
from .provider import ProxmoxProvider, ProxmoxSsh
from .template import Template
from .template_gids import TemplateGids, read_template_gids

__all__ = [
    "AmdGpu",
    "ContainerModel",
    "Device",
    "Disk",
    "Features",
    "GpuContainer",
    "GpuContainerProps",
    "HookScript",
    "Hooks",
    "HostFacts",
    "IdMap",
    "IdMapEntry",
    "IntelGpu",
    "Network",
    "NvidiaImage",
    "NvidiaGpu",
    "ProxmoxProvider",
    "ProxmoxSsh",
    "Template",
    "TemplateGids",
    "ValidationError",
    "build_model",
    "read_template_gids",
]
