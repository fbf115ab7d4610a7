"""The same workload in hand-written raw cdktf: no library, attribute dicts written out.

This is what a user writes without pve_gpu_lxc (and without `cdktf get`
bindings, which need the Terraform registry): `TerraformResource` /
`TerraformProvider` with the bpg type names and literal attribute dicts.  The
construct tree (ids, nesting) mirrors the library's, so resource names and
metadata paths are the same and the JSON must be identical.

Two honest ways to hand cdktf the attributes are provided; `STYLE` picks the
one the benchmark reports (the faster on this machine, see docs/benchmarks.md):
  - "callback": a subclass whose `_synthesize_attributes` returns the dict
    (cdktf calls it back once per resource at synth);
  - "override": a plain `TerraformResource` plus one `add_override` per
    top-level attribute (no callback, more calls at construction).

Input data that a raw user would keep in files (the NVIDIA hookscript text, the ownership
tag and the vm_id guard's precondition text) is prepared by `prepare()` before the clock
starts.  The engine's classes come through
`pve_gpu_lxc.engine` (no construct of the library), so the comparison runs under
cdktf or cdktn, whichever the library synthesizes with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pve_gpu_lxc.engine import (
    App,
    Precondition,
    TerraformDataSource,
    TerraformOutput,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformResourceLifecycle,
    TerraformStack,
)
from pve_gpu_lxc.engine import Construct

from .workload import NVIDIA_DRIVER, ContainerSpec, stacks

Style = Literal["callback", "override"]
STYLE: Style = "callback"

CONTAINER = "proxmox_virtual_environment_container"
FILE = "proxmox_virtual_environment_file"
LISTING_TYPE = "proxmox_virtual_environment_containers"
LISTING = f"data.{LISTING_TYPE}.pve_gpu_lxc_guard"
METADATA = TerraformProviderGeneratorMetadata(provider_name="proxmox", provider_version_constraint="~> 0.111")

# Device nodes per preset, resolved by hand for the debian-12 / ubuntu-24.04 templates
# (video 44, render 106 inside).  NVIDIA nodes are root-owned and world-usable.
_DRI = [
    {"deny_write": False, "gid": 44, "mode": "0660", "path": "/dev/dri/card0", "uid": 0},
    {"deny_write": False, "gid": 106, "mode": "0660", "path": "/dev/dri/renderD128", "uid": 0},
]
DEVICES: dict[str, list[dict[str, Any]]] = {
    "intel": _DRI,
    "amd-rocm": _DRI + [{"deny_write": False, "gid": 106, "mode": "0660", "path": "/dev/kfd", "uid": 0}],
    "nvidia": [
        {"deny_write": False, "gid": 0, "mode": "0666", "path": p, "uid": 0}
        for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
    ],
}
# lxc.idmap for gids {44: 44, 106: 108}: identity holes in the default 100000+65536 range.
IDMAP = [
    {"container_id": 0, "host_id": 100000, "size": 65536, "type": "uid"},
    {"container_id": 0, "host_id": 100000, "size": 44, "type": "gid"},
    {"container_id": 44, "host_id": 44, "size": 1, "type": "gid"},
    {"container_id": 45, "host_id": 100045, "size": 61, "type": "gid"},
    {"container_id": 106, "host_id": 108, "size": 1, "type": "gid"},
    {"container_id": 107, "host_id": 100107, "size": 65429, "type": "gid"},
]
SUBID_LINES = {"subuid": [], "subgid": ["root:44:1", "root:108:1"]}


class _Resource(TerraformResource):
    """A resource whose attributes are a plain dict (the "callback" style)."""

    def __init__(self, scope: Construct, id: str, tf_type: str, attributes: dict[str, Any],
                 lifecycle: TerraformResourceLifecycle | None = None) -> None:
        super().__init__(scope, id, terraform_resource_type=tf_type, terraform_generator_metadata=METADATA,
                         lifecycle=lifecycle)
        self._attributes = attributes

    def _synthesize_attributes(self) -> dict[str, Any]:
        return self._attributes


class _Provider(TerraformProvider):
    def __init__(self, scope: Construct, id: str, attributes: dict[str, Any]) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type="proxmox",
            terraform_generator_metadata=METADATA,
            terraform_provider_source="bpg/proxmox",
        )
        self._attributes = attributes

    def _synthesize_attributes(self) -> dict[str, Any]:
        return self._attributes


def _resource(scope: Construct, tf_type: str, attributes: dict[str, Any], style: Style,
              lifecycle: TerraformResourceLifecycle | None = None) -> TerraformResource:
    if style == "callback":
        return _Resource(scope, "Default", tf_type, attributes, lifecycle)
    resource = TerraformResource(scope, "Default", terraform_resource_type=tf_type, terraform_generator_metadata=METADATA,
                                 lifecycle=lifecycle)
    for key, value in attributes.items():
        resource.add_override(key, value)
    return resource


@dataclass(frozen=True)
class Prepared:
    """Input data by vm_id: hookscript texts (escaped for Terraform JSON), tags, guard preconditions."""

    hookscripts: dict[int, str]
    tags: dict[int, list[str]]
    guards: dict[int, tuple[str, str]]  # (condition, error_message)


def prepare(specs: list[ContainerSpec]) -> Prepared:
    """The texts a raw user would keep in files; untimed."""
    from pve_gpu_lxc.pve.synthesized import escape_literal
    from pve_gpu_lxc.model.hooks import NvidiaGuard, render_hookscript
    from pve_gpu_lxc.model.ownership import Owner, guard

    nvidia = NvidiaGuard(NVIDIA_DRIVER)
    hookscripts = {
        s.vm_id: escape_literal(render_hookscript(vmid=s.vm_id, hostname=s.name, nvidia=nvidia))
        for s in specs
        if s.gpu == "nvidia"
    }
    tags: dict[int, list[str]] = {}
    guards: dict[int, tuple[str, str]] = {}
    for stack, members in stacks(specs).items():
        for s in members:
            owner = Owner(stack, s.name)
            tags[s.vm_id] = sorted(["bench", "gpu", owner.tag])
            g = guard(LISTING, owner=owner, vm_id=s.vm_id, hostname=s.name, tags=tags[s.vm_id], imported=False)
            guards[s.vm_id] = (g.condition, g.error_message)
    return Prepared(hookscripts, tags, guards)


def _container_attributes(spec: ContainerSpec, hook_ref: str | None, tags: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "node_name": spec.node,
        "vm_id": spec.vm_id,
        "unprivileged": True,
        "started": True,
        "start_on_boot": True,
        "description": f"benchmark container {spec.index}",
        "tags": tags,
        "cpu": {"cores": 2},
        "memory": {"dedicated": 2048, "swap": 512},
        "disk": {"datastore_id": "local-lvm", "size": 8},
        "features": {"nesting": True},
        "initialization": {"hostname": spec.name, "ip_config": [{"ipv4": {"address": "dhcp"}}]},
        "network_interface": [{"bridge": "vmbr0", "name": "eth0"}],
        "operating_system": {
            "template_file_id": spec.template,
            "type": "ubuntu" if spec.gpu == "nvidia" else "debian",
        },
        "device_passthrough": DEVICES[spec.gpu],
    }
    if spec.idmap:
        attributes["idmap"] = IDMAP
    if hook_ref is not None:
        attributes["hook_script_file_id"] = hook_ref
    return attributes


def build(app: App, specs: list[ContainerSpec], prepared: Prepared, style: Style = STYLE) -> None:
    hookscripts = prepared.hookscripts
    for name, members in stacks(specs).items():
        stack = TerraformStack(app, name)
        _Provider(Construct(stack, "proxmox"), "Default", {"ssh": {"agent": True, "username": "root"}})
        TerraformDataSource(stack, "pve_gpu_lxc_guard", terraform_resource_type=LISTING_TYPE,
                            terraform_generator_metadata=METADATA)
        for spec in members:
            scope = Construct(stack, spec.name)
            hook_ref = None
            if spec.vm_id in hookscripts:
                hook = _resource(
                    Construct(scope, "HookScript"),
                    FILE,
                    {
                        "node_name": spec.node,
                        "datastore_id": "local",
                        "content_type": "snippets",
                        "file_mode": "0700",
                        "source_raw": {"data": hookscripts[spec.vm_id], "file_name": f"pve-gpu-lxc-{spec.vm_id}.sh"},
                    },
                    style,
                )
                hook_ref = hook.get_string_attribute("id")
            condition, message = prepared.guards[spec.vm_id]
            lifecycle = TerraformResourceLifecycle(precondition=[Precondition(condition=condition, error_message=message)])
            _resource(scope, CONTAINER, _container_attributes(spec, hook_ref, prepared.tags[spec.vm_id]), style, lifecycle)
            if spec.idmap:
                TerraformOutput(
                    scope,
                    "host_subid_lines",
                    value=SUBID_LINES,
                    description=f"lines node {spec.node} needs in /etc/subuid and /etc/subgid for CT {spec.vm_id}",
                ).override_logical_id(f"{spec.name}_host_subid_lines")
