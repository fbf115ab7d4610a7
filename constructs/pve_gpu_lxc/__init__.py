"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox).

Pure model (no cdktf): IdMap, Device, IntelGpu/AmdGpu/NvidiaGpu, Hooks, TemplateGids,
HostFacts (recorded node facts), NvidiaImage (distrobuilder definitions; userspace from
NvidiaRunFile or DebianNvidiaPackages).
Constructs: GpuContainer, Template, ProxmoxProvider, HookScript.

Names are imported on first use (PEP 562), so the pure model, the CLI and the
test stand-in provider load without starting cdktf's node process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS = {
    "AmdGpu": "gpus",
    "ContainerModel": "model",
    "DebianNvidiaPackages": "image",
    "Device": "devices",
    "Disk": "props",
    "Features": "props",
    "GpuContainer": "container",
    "GpuContainerProps": "props",
    "HookScript": "hooks",
    "Hooks": "hookscript",
    "HostFacts": "hostfacts",
    "IdMap": "idmap",
    "IdMapEntry": "idmap",
    "IntelGpu": "gpus",
    "Network": "props",
    "NvidiaGpu": "gpus",
    "NvidiaImage": "image",
    "NvidiaRunFile": "image",
    "ProxmoxProvider": "provider",
    "ProxmoxSsh": "provider",
    "Template": "template",
    "TemplateGids": "template_gids",
    "ValidationError": "errors",
    "build_model": "model",
    "read_template_gids": "template_gids",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pve_gpu_lxc' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .container import GpuContainer
    from .devices import Device
    from .errors import ValidationError
    from .gpus import AmdGpu, IntelGpu, NvidiaGpu
    from .hooks import HookScript
    from .hookscript import Hooks
    from .hostfacts import HostFacts
    from .idmap import IdMap, IdMapEntry
    from .image import DebianNvidiaPackages, NvidiaImage, NvidiaRunFile
    from .model import ContainerModel, build_model
    from .props import Disk, Features, GpuContainerProps, Network
    from .provider import ProxmoxProvider, ProxmoxSsh
    from .template import Template
    from .template_gids import TemplateGids, read_template_gids
