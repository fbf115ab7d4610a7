"""The workload through the pve_gpu_lxc constructs (what a library user writes)."""

from __future__ import annotations

from pve_gpu_lxc.engine import App, TerraformStack

from pve_gpu_lxc import AmdGpu, GpuContainer, IdMap, IntelGpu, Network, NvidiaGpu, ProxmoxProvider, Template

from .workload import IDMAP_GIDS, NVIDIA_DRIVER, ContainerSpec, stacks

_GPUS = {
    "intel": lambda: [IntelGpu()],
    "amd-rocm": lambda: [AmdGpu(rocm=True)],
    "nvidia": lambda: [NvidiaGpu(driver_version=NVIDIA_DRIVER)],
}


def build(app: App, specs: list[ContainerSpec]) -> None:
    for name, members in stacks(specs).items():
        stack = TerraformStack(app, name)
        ProxmoxProvider(stack, "proxmox", environ={})
        for spec in members:
            GpuContainer(
                stack,
                spec.name,
                node_name=spec.node,
                vm_id=spec.vm_id,
                hostname=spec.name,
                template=Template.existing(spec.template),
                gpus=_GPUS[spec.gpu](),
                idmap=IdMap.passthrough(gids=IDMAP_GIDS) if spec.idmap else None,
                network=Network(bridge="vmbr0", ipv4="dhcp"),
                tags=["bench", "gpu"],
                description=f"benchmark container {spec.index}",
            )
