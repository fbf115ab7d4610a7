"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox).

Pure model (no cdktf): IdMap, Device, IntelGpu/AmdGpu/NvidiaGpu, Hooks, Template,
GpuContainerProps, TemplateGids, HostFacts (recorded node facts), NvidiaImage
(distrobuilder definitions; userspace from NvidiaRunFile or DebianNvidiaPackages), ProxmoxSsh.
Constructs: GpuContainer, ProxmoxProvider, HookScript, configure_backend.

Every name loads on first use (PEP 562): the CLI imports only what its command needs, and
the model, the CLI and the test tooling run without starting cdktf's node process.  Type
checkers see every name as an explicit re-export.  Layers: docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every name is loaded on first use at run time: see __getattr__
    from .cdk.backend import configure_backend as configure_backend
    from .cdk.container import GpuContainer as GpuContainer
    from .cdk.hookscript import HookScript as HookScript
    from .cdk.provider import ProxmoxProvider as ProxmoxProvider
    from .core.errors import ValidationError as ValidationError
    from .facts.model import HostFacts as HostFacts
    from .image.nvidia import DebianNvidiaPackages as DebianNvidiaPackages
    from .image.nvidia import NvidiaImage as NvidiaImage
    from .image.nvidia import NvidiaRunFile as NvidiaRunFile
    from .model.container import ContainerModel as ContainerModel
    from .model.container import build_model as build_model
    from .model.devices import Device as Device
    from .model.gpus import AmdGpu as AmdGpu
    from .model.gpus import IntelGpu as IntelGpu
    from .model.gpus import NvidiaGpu as NvidiaGpu
    from .model.hooks import Hooks as Hooks
    from .model.idmap import IdMap as IdMap
    from .model.idmap import IdMapEntry as IdMapEntry
    from .model.props import Disk as Disk
    from .model.props import Features as Features
    from .model.props import GpuContainerProps as GpuContainerProps
    from .model.props import Network as Network
    from .model.provider import ProxmoxSsh as ProxmoxSsh
    from .model.template import Template as Template
    from .model.template_gids import TemplateGids as TemplateGids
    from .model.template_gids import read_template_gids as read_template_gids

__all__ = [
    "AmdGpu",
    "ContainerModel",
    "DebianNvidiaPackages",
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
    "NvidiaGpu",
    "NvidiaImage",
    "NvidiaRunFile",
    "ProxmoxProvider",
    "ProxmoxSsh",
    "Template",
    "TemplateGids",
    "ValidationError",
    "build_model",
    "configure_backend",
    "read_template_gids",
]

# every public name -> its module, imported on first use (PEP 562): `import pve_gpu_lxc.cli`
# (the `pve-gpu-lxc` command, which runs in every pipeline) then loads only what the command
# needs, and the constructs never start cdktf's node process before one is used
_LAZY = {
    "ValidationError": ".core.errors",
    "HostFacts": ".facts.model",
    "DebianNvidiaPackages": ".image.nvidia",
    "NvidiaImage": ".image.nvidia",
    "NvidiaRunFile": ".image.nvidia",
    "ContainerModel": ".model.container",
    "build_model": ".model.container",
    "Device": ".model.devices",
    "AmdGpu": ".model.gpus",
    "IntelGpu": ".model.gpus",
    "NvidiaGpu": ".model.gpus",
    "Hooks": ".model.hooks",
    "IdMap": ".model.idmap",
    "IdMapEntry": ".model.idmap",
    "Disk": ".model.props",
    "Features": ".model.props",
    "GpuContainerProps": ".model.props",
    "Network": ".model.props",
    "ProxmoxSsh": ".model.provider",
    "Template": ".model.template",
    "TemplateGids": ".model.template_gids",
    "read_template_gids": ".model.template_gids",
    "GpuContainer": ".cdk.container",
    "HookScript": ".cdk.hookscript",
    "ProxmoxProvider": ".cdk.provider",
    "configure_backend": ".cdk.backend",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pve_gpu_lxc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
