"""Read containers out of synthesized Terraform JSON (bpg/proxmox format).

A `proxmox_virtual_environment_container` body gives the idmap and devN
entries; its `hook_script_file_id` names a `proxmox_virtual_environment_file`
whose `source_raw.data` is the hook script, written as a Terraform string
(`$${` stands for a literal `${`, `%%{` for `%{`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from .model import ContainerSpec, HarnessError, PassthroughDevice, ranges_from_entries

CONTAINER = "proxmox_virtual_environment_container"
FILE = "proxmox_virtual_environment_file"
_FILE_REF = re.compile(r"^\$\{" + FILE + r"\.([A-Za-z0-9_-]+)\.id\}$")
# An interpolation or directive that is NOT escaped: Terraform would evaluate it.
_LIVE_TEMPLATE = re.compile(r"[$%]\{")


def load_document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(Path(path).read_text())
    return document


def terraform_literal(text: str) -> str:
    """The string Terraform produces from a template literal with no live interpolations."""
    stripped = text.replace("$${", "").replace("%%{", "")
    if _LIVE_TEMPLATE.search(stripped):
        raise HarnessError(
            "hook script text holds a live Terraform interpolation ('${' or '%{' not doubled); "
            "the harness cannot evaluate it - escape it as '$${' or resolve it before synthesis"
        )
    return text.replace("$${", "${").replace("%%{", "%{")


def containers(doc: Mapping[str, Any]) -> dict[str, ContainerSpec]:
    """Every container resource in a cdk.tf.json document, keyed by resource name."""
    bodies = doc.get("resource", {}).get(CONTAINER, {})
    if not bodies:
        raise HarnessError(f"no {CONTAINER} resource in the document")
    return {name: spec_from_body(name, body, hook_script=hook_script_for(doc, body)) for name, body in bodies.items()}


def hook_script_for(doc: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    ref = body.get("hook_script_file_id")
    if not ref:
        return None
    match = _FILE_REF.match(ref)
    if not match:
        raise HarnessError(
            f"hook_script_file_id {ref!r} does not reference a {FILE} in this document; "
            "the harness can only run hook scripts it can read"
        )
    file_body = doc.get("resource", {}).get(FILE, {}).get(match.group(1))
    if file_body is None:
        raise HarnessError(f"hook_script_file_id references {FILE}.{match.group(1)}, which is not in the document")
    source = file_body.get("source_raw")
    if isinstance(source, list):  # blocks may be synthesized as one-element lists
        source = source[0] if source else None
    if not source or "data" not in source:
        raise HarnessError(f"{FILE}.{match.group(1)} has no source_raw.data to read the hook script from")
    return terraform_literal(source["data"])


def spec_from_body(name: str, body: Mapping[str, Any], hook_script: str | None = None) -> ContainerSpec:
    """A ContainerSpec from one bpg container body (defaults as bpg fills them on read)."""
    vm_id = body.get("vm_id")
    if not isinstance(vm_id, int):
        raise HarnessError(f"container {name!r}: vm_id must be a literal integer for the harness, got {vm_id!r}")
    devices = tuple(
        PassthroughDevice(
            path=d["path"],
            uid=int(d.get("uid", 0)),
            gid=int(d.get("gid", 0)),
            mode=str(d.get("mode", "0660")),
            deny_write=bool(d.get("deny_write", False)),
        )
        for d in body.get("device_passthrough", [])
    )
    return ContainerSpec(
        name=name,
        vm_id=vm_id,
        # bpg's schema default for `unprivileged` is false
        unprivileged=bool(body.get("unprivileged", False)),
        idmap=ranges_from_entries(body.get("idmap", [])),
        devices=devices,
        hook_script=hook_script,
    )


def subid_output(doc: Mapping[str, Any], vm_id: int) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The stack's advice for the node's /etc/subuid and /etc/subgid for CT `vm_id`, if it outputs any.

    Looks for an output whose value is {"subuid": [...], "subgid": [...]} and
    whose description names `CT <vm_id>`.
    """
    for output in doc.get("output", {}).values():
        value = output.get("value")
        if (
            isinstance(value, dict)
            and {"subuid", "subgid"} <= set(value)
            and re.search(rf"\bCT {vm_id}\b", output.get("description", ""))
        ):
            return tuple(value["subuid"]), tuple(value["subgid"])
    return None
