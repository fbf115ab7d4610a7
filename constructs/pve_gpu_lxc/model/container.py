"""The resolved container: props + template GIDs -> everything Terraform will carry (pure).

GpuContainer turns a `ContainerModel` into bpg resources one to one, and the
LXC test harness can consume it directly.  All arithmetic and every rule that
needs more than one prop lives here, so it is testable without cdktf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .devices import ResolvedDevice, resolve_devices
from ..core.errors import ValidationError
from .gpus import NvidiaGpu, nvidia_driver_version
from .hooks import HookCommand, NvidiaGuard, render_hookscript
from .props import GpuContainerProps
from .template_gids import TemplateGids


@dataclass(frozen=True)
class ContainerModel:
    props: GpuContainerProps
    devices: tuple[ResolvedDevice, ...]
    nvidia: NvidiaGuard | None
    hook_commands: tuple[HookCommand, ...]

    @property
    def hookscript(self) -> str | None:
        """The hookscript text, or None when the container needs none."""
        if self.nvidia is None and not self.hook_commands:
            return None
        return render_hookscript(
            vmid=self.props.vm_id, hostname=self.props.hostname, nvidia=self.nvidia, commands=self.hook_commands
        )

    @property
    def hook_file_name(self) -> str:
        return f"pve-gpu-lxc-{self.props.vm_id}.sh"


def _nvidia_guard(gpus: Sequence[object], devices: tuple[ResolvedDevice, ...]) -> NvidiaGuard | None:
    version = nvidia_driver_version(gpus)
    nvidia = [g for g in gpus if isinstance(g, NvidiaGpu)]
    if version is None or not any(g.ensure_nodes for g in nvidia):
        return None
    indexes = tuple(sorted({g.index for g in nvidia}))
    if len(indexes) != len(nvidia):
        raise ValidationError(f"NvidiaGpu index listed twice: {[g.index for g in nvidia]}")
    nodes = tuple(d.path for d in devices if d.path.startswith("/dev/nvidia"))
    return NvidiaGuard(version, indexes, any(g.modeset for g in nvidia), nodes)


def build_model(props: GpuContainerProps, gids: TemplateGids | None, template_name: str) -> ContainerModel:
    """Resolve GPU presets and devices against the template's GIDs and build the hook."""
    wanted = [d for gpu in props.gpus for d in gpu.devices()] + list(props.devices)
    roles = {d.group for d in wanted if d.group}
    group_gids = {"render": gids.render if gids else None, "video": gids.video if gids else None}
    for role in sorted(roles):
        if group_gids[role] is None:
            raise ValidationError(_unknown_gid_message(role, template_name, gids, [d.path for d in wanted if d.group == role]))
    devices = resolve_devices(wanted, group_gids)
    nvidia = _nvidia_guard(props.gpus, devices)
    commands = props.hooks.commands if props.hooks else ()
    return ContainerModel(props, devices, nvidia, commands)


def _unknown_gid_message(role: str, template_name: str, gids: TemplateGids | None, paths: list[str]) -> str:
    from .template_gids import predicted_gids  # local: only for the message

    hint = ""
    predicted = predicted_gids(template_name)
    if predicted and getattr(predicted, role) is not None:
        hint = f" (an emulated build predicts {getattr(predicted, role)}, unverified)"
    missing = "has no" if gids is not None else "has no known"
    return (
        f"template {template_name!r} {missing} '{role}' GID, and {', '.join(paths)} must belong to the "
        f"container's '{role}' group{hint}. Read it from the template "
        f"(tar -xOf <template> ./etc/group | grep '^{role}:') and pass "
        f"Template.existing(..., {role}_gid=N) — or create the group with a fixed GID in your image. "
        "Never use the host's GID: inside the container that number names another group"
    )
