"""The benchmark workload (pure): N GPU containers spread over nodes and stacks.

Both builders (ours and raw cdktf) read the same `ContainerSpec` list, so the
two apps describe the same infrastructure and must synthesize identical JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NODES = ("pve1", "pve2", "pve3", "pve4")
STACK_SIZE = 100  # containers per stack at most
FIRST_VM_ID = 1000
NVIDIA_DRIVER = "575.64.03"
# debian-12-standard 12.2-1: video 44, render 106 inside (in the library's GID table).
DEBIAN_TEMPLATE = "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"
UBUNTU_TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
# container GID -> host GID for the containers with an idmap (video 44 -> 44, render 106 -> 108).
IDMAP_GIDS = {44: 44, 106: 108}

GpuKind = Literal["intel", "amd-rocm", "nvidia"]
GPU_KINDS: tuple[GpuKind, ...] = ("intel", "amd-rocm", "nvidia")


@dataclass(frozen=True)
class ContainerSpec:
    index: int
    stack: str
    node: str
    vm_id: int
    gpu: GpuKind
    idmap: bool  # IdMap.passthrough(gids=IDMAP_GIDS); only on Intel/AMD (debian template)

    @property
    def name(self) -> str:
        """Construct id, hence the Terraform resource name."""
        return f"ct{self.vm_id}"

    @property
    def template(self) -> str:
        return UBUNTU_TEMPLATE if self.gpu == "nvidia" else DEBIAN_TEMPLATE


def stack_name(index: int) -> str:
    return f"gpu-{index // STACK_SIZE:02d}"


def plan(n: int) -> list[ContainerSpec]:
    """N containers: GPU presets in turn, nodes in turn, every 4th Intel/AMD one with an idmap."""
    if n < 1:
        raise ValueError(f"the benchmark needs at least one container, got n={n}")
    specs = []
    for i in range(n):
        gpu = GPU_KINDS[i % len(GPU_KINDS)]
        specs.append(
            ContainerSpec(
                index=i,
                stack=stack_name(i),
                node=NODES[i % len(NODES)],
                vm_id=FIRST_VM_ID + i,
                gpu=gpu,
                idmap=gpu != "nvidia" and i % 4 == 0,
            )
        )
    return specs


def stacks(specs: list[ContainerSpec]) -> dict[str, list[ContainerSpec]]:
    """Stack name -> its containers, in order."""
    grouped: dict[str, list[ContainerSpec]] = {}
    for spec in specs:
        grouped.setdefault(spec.stack, []).append(spec)
    return grouped
