"""Containers to boot, from synthesized Terraform JSON (bpg/proxmox format).

The document is read by the product's one reader, `pve_gpu_lxc.pve.synthesized` (the type
names, bpg's defaults, the idmap and devN blocks, the hookscript's file reference and
Terraform's template escapes); this module only turns what it reads into `ContainerSpec`s.
A container body gives the idmap and devN entries; its `hook_script_file_id` names a file
resource whose `source_raw.data` is the hook script.
"""

from __future__ import annotations

from typing import Any, Mapping

from pve_gpu_lxc.pve import synthesized

from .model import ContainerSpec, HarnessError, PassthroughDevice
from .pvenode import parse_idmap

_CANNOT_RUN = "the harness can only run hook scripts it can read"


def containers(doc: Mapping[str, Any]) -> dict[str, ContainerSpec]:
    """Every container resource in a cdk.tf.json document, keyed by resource name."""
    try:
        bodies = synthesized.resources(doc, synthesized.CONTAINER_TYPE)
        files = synthesized.resources(doc, synthesized.FILE_TYPE)
    except synthesized.ExpectedError as err:
        raise HarnessError(str(err)) from None
    if not bodies:
        raise HarnessError(f"no {synthesized.CONTAINER_TYPE} resource in the document")
    return {name: spec_from_body(name, body, hook_script=hook_script_for(name, body, files))
            for name, body in bodies.items()}


def hook_script_for(name: str, body: Mapping[str, Any], files: Mapping[str, Any]) -> str | None:
    """The text of the hook script `body` names (Terraform's escapes undone); `files`: the
    document's file resources by name."""
    value = body.get("hook_script_file_id")
    try:
        hook = synthesized.hook(f"container {name!r}", value, files)
    except synthesized.ExpectedError as err:
        raise HarnessError(f"{err}; {_CANNOT_RUN}") from None
    if hook is None:
        return None
    if hook.content is None:
        raise HarnessError(f"container {name!r}: hook_script_file_id {value!r}: {hook.note}; {_CANNOT_RUN}")
    return hook.content


def spec_from_body(name: str, body: Mapping[str, Any], hook_script: str | None = None) -> ContainerSpec:
    """A ContainerSpec from one bpg container body (defaults as bpg fills them on read)."""
    vm_id = body.get("vm_id")
    if not isinstance(vm_id, int):
        raise HarnessError(f"container {name!r}: vm_id must be a literal integer for the harness, got {vm_id!r}")
    where = f"container {name!r}"
    try:
        devices = tuple(
            PassthroughDevice(path=d.path, uid=d.uid, gid=d.gid, mode=d.mode or "0660", deny_write=d.deny_write)
            for d in synthesized.devices(where, body)
        )
        idmap = tuple(parse_idmap(line) for line in synthesized.idmap_lines(where, body))
    except synthesized.ExpectedError as err:
        raise HarnessError(str(err)) from None
    return ContainerSpec(
        name=name,
        vm_id=vm_id,
        unprivileged=synthesized.unprivileged(body),
        idmap=idmap,
        devices=devices,
        hook_script=hook_script,
    )
