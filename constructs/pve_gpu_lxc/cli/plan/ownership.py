"""Ownership in a plan: vm_id collisions the guard reported and orphaned containers (pure).

From `terraform show -json` of the plan the drift command already makes:

* **collisions**: the guard (a precondition on each container resource, README "What is
  guarded") failed.  In a refresh-only plan Terraform reports a failed precondition as a warning
  and records it under `checks` (status `fail`, the error message as the problem); a normal plan
  stops with the error instead, which the drift command reports (`precondition_messages`).
* **orphans**: the guard's listing (`data.proxmox_virtual_environment_containers`, read into
  `prior_state`) holds a container with an ownership tag of this stack whose vm_id no container
  resource in the state has: left in no state by an interrupted apply, a `terraform state rm`
  or a lost state file.  When the configuration has a container with that vm_id, the next apply
  adopts it (bpg's create treats "already exists" as done): that is how an interrupted apply
  finishes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ...model.ownership import Listed, orphans
from ...pve.synthesized import CONTAINER_TYPE, vmid_of
from ...pve.synthesized import CONTAINERS_DATA_TYPE as LISTING_TYPE
from ..check.ownership import ORPHAN_CAUSES, orphan_head, orphan_removal


@dataclass(frozen=True)
class OwnershipFinding:
    """A collision (the guard stopped, or would stop, a container's plan) or an orphan."""

    kind: Literal["collision", "orphan"]
    problem: str
    fix: str
    address: str | None = None  # the container resource the guard stopped (collision)
    vmid: int | None = None
    node: str | None = None
    name: str | None = None  # the listed container's host name (orphan)

    def line(self) -> str:
        return f"{self.problem} Fix: {self.fix}" if self.fix else self.problem

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "vmid": self.vmid, "node": self.node,
                "name": self.name, "problem": self.problem, "fix": self.fix}


def ownership_findings(stack: str, plan: Mapping[str, Any]) -> tuple[OwnershipFinding, ...]:
    """Every collision and orphan the plan shows for `stack` (the stack's name: its tags' middle part)."""
    vmids = _configured_vmids(plan)
    return (*_collisions(plan, vmids), *_orphans(stack, plan, vmids))


def _collisions(plan: Mapping[str, Any], vmids: Mapping[str, int]) -> Iterator[OwnershipFinding]:
    for check in plan.get("checks") or ():
        address = check.get("address") or {}
        if address.get("kind") != "resource" or address.get("type") != CONTAINER_TYPE:
            continue
        for instance in check.get("instances") or ():
            if instance.get("status") != "fail":
                continue
            where = str((instance.get("address") or {}).get("to_display") or address.get("to_display") or "?")
            for problem in instance.get("problems") or ():
                message = " ".join(str(problem.get("message", "")).split())
                text, _, fix = message.partition(" Fix: ")
                yield OwnershipFinding("collision", text, fix, address=where, vmid=vmids.get(where))


def _orphans(stack: str, plan: Mapping[str, Any], vmids: Mapping[str, int]) -> Iterator[OwnershipFinding]:
    resources = list(_state_resources(plan))
    listed = [c for r in resources if r.get("mode") == "data" and r.get("type") == LISTING_TYPE
              for c in _listed((r.get("values") or {}).get("containers"))]
    if not listed:
        return
    in_state = {vmid for r in resources if r.get("mode") == "managed" and r.get("type") == CONTAINER_TYPE
                if (vmid := _int((r.get("values") or {}).get("vm_id"))) is not None}
    configured = {vmid: address for address, vmid in vmids.items()}
    seen: set[tuple[int, str]] = set()
    for c in orphans(listed, stack, in_state):
        if (c.vmid, c.node) in seen:  # one listing per stack; the same container twice would be a bug upstream
            continue
        seen.add((c.vmid, c.node))
        problem = orphan_head(c, stack, "in the state")
        if c.vmid in configured:
            yield OwnershipFinding(
                "orphan", f"{problem}: created by an apply that did not finish (or removed from the state).",
                f"the next deploy adopts it as {configured[c.vmid]} (bpg's create finds it: 'already exists') and "
                "completes it.", vmid=c.vmid, node=c.node, name=c.name)
        else:
            yield OwnershipFinding(
                "orphan", f"{problem} and no container of the configuration has it: an orphan {ORPHAN_CAUSES}.",
                f"{orphan_removal(c)}.", vmid=c.vmid, node=c.node, name=c.name)


def _state_resources(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The root module's resources and data sources as the plan read them (prior_state, else planned_values)."""
    for key in ("prior_state", "planned_values"):
        values = plan.get(key) or {}
        module = (values.get("values") if key == "prior_state" else values) or {}
        found = (module.get("root_module") or {}).get("resources")
        if found:
            yield from found
            return


def _configured_vmids(plan: Mapping[str, Any]) -> dict[str, int]:
    """Container address -> its literal vm_id in the configuration."""
    found = {}
    for r in ((plan.get("configuration") or {}).get("root_module") or {}).get("resources") or ():
        if r.get("mode") == "managed" and r.get("type") == CONTAINER_TYPE:
            vmid = _int(((r.get("expressions") or {}).get("vm_id") or {}).get("constant_value"))
            if vmid is not None:
                found[str(r.get("address"))] = vmid
    return found


def _listed(containers: Any) -> Iterator[Listed]:
    for c in containers if isinstance(containers, list) else ():
        vmid = _int(c.get("vm_id")) if isinstance(c, Mapping) else None
        if vmid is None:
            continue
        tags = c.get("tags")
        yield Listed(vmid=vmid, node=str(c.get("node_name") or "?"), name=str(c.get("name") or f"CT{vmid}"),
                     tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ())


def _int(value: Any) -> int | None:
    """A vm_id in the plan's JSON: a literal one (`vmid_of`), or a float with no fraction."""
    return vmid_of(int(value) if isinstance(value, float) and value.is_integer() else value)


_DIAGNOSTIC = re.compile(r"^[\s│╷╵]*(Error|Warning): ", re.M)


def precondition_messages(output: str) -> list[str]:
    """The error messages of failed preconditions in Terraform's (or OpenTofu's) plan output, one line each."""
    messages = []
    starts = [m.start() for m in _DIAGNOSTIC.finditer(output)] + [len(output)]
    for begin, end in itertools.pairwise(starts):
        block = output[begin:end]
        if "Resource precondition failed" not in block.strip().splitlines()[0]:
            continue
        lines = [ln.strip().lstrip("│╷╵").strip() for ln in block.splitlines()]
        paragraphs = [" ".join(p.split()) for p in "\n".join(lines).split("\n\n") if p.strip()]
        # "Error: ...", then "on <file> line N, in <address>: <source> <values>", then the message
        where = next((i for i, p in enumerate(paragraphs) if p.startswith("on ") and " line " in p), None)
        if where is not None and where + 1 < len(paragraphs):
            messages.append(paragraphs[where + 1])
    return messages
