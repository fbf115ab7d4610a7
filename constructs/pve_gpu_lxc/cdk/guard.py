"""The guard's listing: one `proxmox_virtual_environment_containers` data source per stack.

bpg reads it on every plan (`GET /nodes`, then `GET /nodes/{node}/lxc` per node: no
`node_name`, so every node of the cluster is listed, since a vm_id is unique per cluster and
PVE refuses a create whose vm_id any node uses).  Each GpuContainer's precondition
(`ContainerModel.guard`, the rule in `model/ownership.py`) reads its `containers`.  This
module only creates the data source the first time and hands out its address afterwards.
"""

from __future__ import annotations

from ..engine import TerraformStack
from ..l1.generated import DataVirtualEnvironmentContainers
from .app_state import AppState

LISTING_ID = "pve_gpu_lxc_guard"  # data.proxmox_virtual_environment_containers.pve_gpu_lxc_guard


def guard_listing(state: AppState, stack: TerraformStack, stack_key: str) -> str:
    """The address of the stack's listing (`data.<type>.<name>`, a token cdktf resolves at synth),
    kept once made: reading `fqn` is a call into jsii, on the path of every container."""
    address = state.listings.get(stack_key)
    if address is None:
        address = DataVirtualEnvironmentContainers(stack, LISTING_ID).fqn
        state.listings[stack_key] = address
    return address
