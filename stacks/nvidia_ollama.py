"""Seed 2: an NVIDIA RTX 5090 for an Ollama-style container on Ubuntu 24.04.

Driver 575.64.03 is pinned: the container's userspace must match the host's
kernel module exactly, and the generated pre-start hook refuses to start the
container when the host runs another version.  With the node's recorded facts,
synthesis also fails when the node runs another driver, and when nothing on the
node makes NVIDIA's on-demand device nodes at boot before Proxmox starts its
guests (`pve-gpu-lxc host-setup` installs what does; the facts record it).
"""

from pathlib import Path

from pve_gpu_lxc import Disk, GpuContainer, HostFacts, Network, NvidiaGpu, ProxmoxProvider, Template, configure_backend
from pve_gpu_lxc.engine import Construct, TerraformStack

FACTS = Path(__file__).parent / "facts" / "pve.json"


class NvidiaOllamaStack(TerraformStack):
    def __init__(self, scope: Construct, name: str) -> None:
        super().__init__(scope, name)
        configure_backend(self, name)  # local state, or PostgreSQL with PVE_GPU_LXC_BACKEND=pg
        ProxmoxProvider(self, "proxmox")
        GpuContainer(
            self,
            "ollama",
            node_name="pve",
            vm_id=220,
            hostname="ollama",
            template=Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
            host_facts=HostFacts.load(FACTS),
            gpus=[NvidiaGpu(pci="0000:01:00.0", driver_version="575.64.03")],  # RTX 5090 -> /dev/nvidia0
            cores=8,
            memory_mib=16384,
            disk=Disk(datastore_id="local-lvm", size_gib=64),
            network=Network(bridge="vmbr0", ipv4="dhcp"),
            tags=["gpu", "llm"],
            description="Ollama on an RTX 5090 (NVIDIA 575.64.03)",
        )
