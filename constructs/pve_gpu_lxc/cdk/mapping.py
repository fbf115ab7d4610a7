"""The one mapping from a resolved `ContainerModel` to L1 resources (no rules here).

Everything decided is in the model; this function only says which bpg attribute each part
of it becomes: the container resource (`Default`, so it carries the construct's id) with
the guard as its precondition and, for an imported container, its `import` block and the
attributes Terraform ignores; its hookscript snippet when it has one, and the output with
the host's subuid/subgid lines when its idmap needs some.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import Construct, Precondition, TerraformOutput, TerraformResourceLifecycle
from ..l1.generated import (
    ContainerConsole,
    ContainerCpu,
    ContainerDevicePassthrough,
    ContainerDisk,
    ContainerFeatures,
    ContainerIdmap,
    ContainerInitialization,
    ContainerInitializationIpConfig,
    ContainerInitializationIpConfigIpv4,
    ContainerInitializationUserAccount,
    ContainerMemory,
    ContainerNetworkInterface,
    ContainerOperatingSystem,
    VirtualEnvironmentContainer,
)
from ..model.container import ContainerModel
from ..model.props import Features, Network
from ..pve.synthesized import escape_literal
from .hookscript import HookScript


@dataclass(frozen=True)
class ContainerResources:
    resource: VirtualEnvironmentContainer
    hook_script: HookScript | None
    host_subid_output: TerraformOutput | None


def container_resources(
    container: Construct, construct_id: str, model: ContainerModel, template_file_id: str, listing: str
) -> ContainerResources:
    """Emit `model` under `container` (whose id is `construct_id`); the template is already on the node.

    listing: the address of the stack's containers data source, which the guard reads.
    """
    p = model.props
    hook_text = model.hookscript
    hook_script = None
    if hook_text is not None:
        hook_script = HookScript(
            container,
            "HookScript",
            node_name=p.node_name,
            datastore_id=p.snippets_datastore_id,
            file_name=model.hook_file_name,
            content=hook_text,
        )
    network = p.network
    resource = VirtualEnvironmentContainer(
        container,
        "Default",
        node_name=p.node_name,
        vm_id=p.vm_id,
        unprivileged=p.unprivileged,
        started=p.started,
        start_on_boot=p.start_on_boot,
        description=escape_literal(p.description) if p.description else None,
        tags=model.tags or None,
        cpu=ContainerCpu(cores=p.cores),
        memory=ContainerMemory(dedicated=p.memory_mib, swap=p.swap_mib),
        disk=ContainerDisk(datastore_id=p.disk.datastore_id, size=p.disk.size_gib),
        features=_features(model.features),
        initialization=ContainerInitialization(
            hostname=p.hostname,
            entrypoint=escape_literal(p.entrypoint) if p.entrypoint is not None else None,
            ip_config=[_ip_config(network)] if network is not None else None,
            user_account=(
                ContainerInitializationUserAccount(keys=[k.strip() for k in p.ssh_keys]) if p.ssh_keys else None
            ),
        ),
        network_interface=[_nic(network, p.host_managed_network)] if network is not None else None,
        environment_variables={k: escape_literal(v) for k, v in p.env.items()} or None,
        # an app's entrypoint runs on the console (PVE writes `cmode: console`); bpg reads cmode back
        console=ContainerConsole(type="console") if model.is_app else None,
        operating_system=ContainerOperatingSystem(template_file_id=template_file_id, type=model.operating_system_type),
        device_passthrough=[
            ContainerDevicePassthrough(path=d.path, uid=d.uid, gid=d.gid, mode=d.mode, deny_write=d.deny_write)
            for d in model.devices
        ]
        or None,
        idmap=[
            ContainerIdmap(type=e.bpg_type, container_id=e.container_id, host_id=e.host_id, size=e.size)
            for e in model.idmap_entries
        ]
        if p.idmap is not None
        else None,
        hook_script_file_id=hook_script.file_id if hook_script is not None else None,
        lifecycle=_lifecycle(model, listing),
    )
    if model.import_id is not None:
        resource.import_from(model.import_id)
    output = None
    lines = model.host_subid_lines
    if lines is not None:
        output = TerraformOutput(
            container,
            "host_subid_lines",
            value=lines,
            description=f"lines node {p.node_name} needs in /etc/subuid and /etc/subgid for CT {p.vm_id}",
        )
        output.override_logical_id(f"{construct_id}_host_subid_lines")
    return ContainerResources(resource, hook_script, output)


def _lifecycle(model: ContainerModel, listing: str) -> TerraformResourceLifecycle | None:
    guard = model.guard(listing)
    if guard is None and not model.ignored_changes:
        return None
    return TerraformResourceLifecycle(
        precondition=[Precondition(condition=guard.condition, error_message=guard.error_message)] if guard else None,
        ignore_changes=list(model.ignored_changes) or None,
    )


def _features(f: Features) -> ContainerFeatures | None:
    if not (f.nesting or f.keyctl or f.fuse or f.mknod or f.mount):
        return None
    return ContainerFeatures(
        nesting=f.nesting or None,
        keyctl=f.keyctl or None,
        fuse=f.fuse or None,
        mknod=f.mknod or None,
        mount=list(f.mount) or None,
    )


def _nic(n: Network, host_managed: bool) -> ContainerNetworkInterface:
    return ContainerNetworkInterface(name=n.name, bridge=n.bridge, vlan_id=n.vlan_id, firewall=n.firewall or None,
                                     host_managed=host_managed or None)


def _ip_config(n: Network) -> ContainerInitializationIpConfig:
    return ContainerInitializationIpConfig(ipv4=ContainerInitializationIpConfigIpv4(address=n.ipv4, gateway=n.gateway))
