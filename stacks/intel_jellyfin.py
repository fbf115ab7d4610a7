"""Seed 1: an Intel UHD 630 (card0 + renderD128) for Jellyfin in an unprivileged container.

The idmap is the seed's: container video 44 -> host 44, container render 106 ->
host render 108.  It needs `root:44:1` and `root:108:1` in the node's
/etc/subgid (the stack outputs them).  devN alone would need no idmap; the
seed's map is kept so bind mounts made by hand keep working.

The GPU is selected by PCI address through the node's recorded facts
(facts/pve.json), so a renumbered card0/renderD128 shows up in review.
"""

from pathlib import Path

from pve_gpu_lxc import GpuContainer, HostFacts, IdMap, IntelGpu, Network, ProxmoxProvider, Template, configure_backend
from pve_gpu_lxc.engine import Construct, TerraformStack

FACTS = Path(__file__).parent / "facts" / "pve.json"


class IntelJellyfinStack(TerraformStack):
    def __init__(self, scope: Construct, name: str) -> None:
        super().__init__(scope, name)
        configure_backend(self, name)  # local state, or PostgreSQL with PVE_GPU_LXC_BACKEND=pg
        ProxmoxProvider(self, "proxmox")
        GpuContainer(
            self,
            "jellyfin",
            node_name="pve",
            vm_id=210,
            hostname="jellyfin",
            # debian-12-standard 12.2-1 has render = 106 inside, as in the seed.
            template=Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"),
            host_facts=HostFacts.load(FACTS),
            gpus=[IntelGpu(pci="0000:00:02.0")],  # UHD 630 -> card0 + renderD128 on this node
            idmap=IdMap.passthrough(gids={44: 44, 106: 108}),
            cores=4,
            memory_mib=4096,
            network=Network(bridge="vmbr0", ipv4="dhcp"),
            tags=["gpu", "media"],
            description="Jellyfin with Intel Quick Sync (UHD 630)",
        )
