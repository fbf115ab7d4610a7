"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox).

Pure model (no cdktf): IdMap, Device, IntelGpu/AmdGpu/NvidiaGpu, Hooks, TemplateGids,
HostFacts (recorded node facts), NvidiaImage (distrobuilder definitions).
Constructs: GpuContainer, Template, ProxmoxProvider, HookScript.

Names are imported on first use (PEP 562), so the pure model, the CLI and the
test stand-in provider load without starting cdktf's node process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS = {
    "AmdGpu": "model.gpus",
    "ContainerModel": "model.container",
    "Device": "model.devices",
    "Disk": "model.props",
    "Features": "model.props",
    "GpuContainer": "cdk.container",
    "GpuContainerProps": "model.props",
    "HookScript": "cdk.hookscript",
    "Hooks": "model.hooks",
    "HostFacts": "facts.model",
    "IdMap": "model.idmap",
    "IdMapEntry": "model.idmap",
    "IntelGpu": "model.gpus",
    "Network": "model.props",
    "NvidiaGpu": "model.gpus",
    "NvidiaImage": "image.nvidia",
    "ProxmoxProvider": "cdk.provider",
    "ProxmoxSsh": "cdk.provider",
    "Template": "model.template",
    "TemplateGids": "model.template_gids",
    "ValidationError": "core.errors",
    "build_model": "model.container",
    "read_template_gids": "model.template_gids",
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
    from .cdk.container import GpuContainer
    from .model.devices import Device
    from .core.errors import ValidationError
    from .model.gpus import AmdGpu, IntelGpu, NvidiaGpu
    from .cdk.hookscript import HookScript
    from .model.hooks import Hooks
    from .facts.model import HostFacts
    from .model.idmap import IdMap, IdMapEntry
    from .image.nvidia import NvidiaImage
    from .model.container import ContainerModel, build_model
    from .model.props import Disk, Features, GpuContainerProps, Network
    from .cdk.provider import ProxmoxProvider, ProxmoxSsh
    from .model.template import Template
    from .model.template_gids import TemplateGids, read_template_gids
