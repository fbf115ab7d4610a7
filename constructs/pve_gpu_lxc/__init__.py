"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox).

Pure model (no cdktf): IdMap, Device, IntelGpu/AmdGpu/NvidiaGpu, Hooks, TemplateGids.
Constructs: GpuContainer, Template, ProxmoxProvider, HookScript.
"""

from .container import GpuContainer
from .devices import Device
from .errors import ValidationError
from .gpus import AmdGpu, IntelGpu, NvidiaGpu
from .hooks import HookScript
from .hookscript import Hooks
from .idmap import IdMap, IdMapEntry
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
    "IdMap",
    "IdMapEntry",
    "IntelGpu",
    "Network",
    "NvidiaGpu",
    "ProxmoxProvider",
    "ProxmoxSsh",
    "Template",
    "TemplateGids",
    "ValidationError",
    "build_model",
    "read_template_gids",
]
