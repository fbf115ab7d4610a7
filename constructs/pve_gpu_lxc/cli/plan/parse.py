"""`terraform show -json <planfile>` output -> a StackReport (pure: no subprocess, no files).

Terraform puts sensitive values into the plan JSON in clear text and marks them in
`before_sensitive`/`after_sensitive`; every marked value, and every copy of one Terraform did
not mark, is replaced with ``(sensitive)`` before it reaches a report, so neither the text
nor the JSON report can leak one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .diff import diff_values, sub_mask
from .ownership import ownership_findings
from .report import AttributeChange, Mode, ResourceDiff, StackReport


def summarise_plan(
    stack: str,
    plan: Mapping[str, Any],
    mode: Mode,
    *,
    terraform_saw_changes: bool = False,
) -> StackReport:
    """Build a StackReport from the parsed output of `terraform show -json`."""
    secrets = sensitive_strings(plan)
    drift = tuple(
        _resource_diff(rc, "drift", secrets) for rc in plan.get("resource_drift") or ()
    )
    changes: tuple[ResourceDiff, ...] = ()
    if mode == "plan":
        changes = tuple(
            _resource_diff(rc, "change", secrets)
            for rc in plan.get("resource_changes") or ()
            if _actions(rc) not in (("no-op",), ("read",))
        )
    # Outputs only in plan mode: in a refresh-only plan an output that was never
    # applied shows as "create", which is configuration, not drift; an output
    # that follows a drifted attribute comes with that resource's drift anyway.
    outputs: tuple[str, ...] = ()
    if mode == "plan":
        outputs = tuple(
            sorted(
                name
                for name, oc in (plan.get("output_changes") or {}).items()
                if tuple(oc.get("actions") or ()) != ("no-op",)
            )
        )
    return StackReport(
        stack=stack,
        mode=mode,
        tainted=tainted_addresses(plan),
        # an "update" whose every difference is null-versus-empty (see diff._same) is no drift
        drift=tuple(d for d in drift if d.actions != ("no-op",) and (d.attributes or d.actions != ("update",))),
        changes=changes,
        outputs=outputs,
        terraform_saw_changes=terraform_saw_changes,
        ownership=ownership_findings(stack, plan),
    )


def tainted_addresses(plan: Mapping[str, Any]) -> tuple[str, ...]:
    """Resources the state marks tainted: an apply created them, then failed (Terraform then
    replaces them at the next apply).  From the plan's `prior_state`, modules included."""
    found: list[str] = []
    todo = [((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}]
    while todo:
        module = todo.pop()
        found += [str(r.get("address")) for r in module.get("resources") or () if r.get("tainted")]
        todo += list(module.get("child_modules") or ())
    return tuple(sorted(found))


def _actions(rc: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple((rc.get("change") or {}).get("actions") or ())


def sensitive_strings(plan: Mapping[str, Any]) -> frozenset[str]:
    """Every string value the plan marks sensitive anywhere.

    Terraform does not always carry the mark along when a value is copied into
    another attribute (terraform_data's `output` is one case), so the report
    also hides any copy of a marked value wherever it shows up.
    """
    found: set[str] = set()
    entries = [*(plan.get("resource_drift") or ()), *(plan.get("resource_changes") or ())]
    changes = [rc.get("change") or {} for rc in entries]
    changes += list((plan.get("output_changes") or {}).values())
    for change in changes:
        for side in ("before", "after"):
            _collect_sensitive(change.get(side), change.get(f"{side}_sensitive", False), found)
    return frozenset(s for s in found if s)


def _collect_sensitive(value: Any, mask: Any, found: set[str]) -> None:
    if mask is True:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                _collect_sensitive(v, True, found)
        elif isinstance(value, list):
            for v in value:
                _collect_sensitive(v, True, found)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _collect_sensitive(v, sub_mask(mask, k), found)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _collect_sensitive(v, sub_mask(mask, i), found)


def _resource_diff(
    rc: Mapping[str, Any], kind: Literal["drift", "change"], secrets: frozenset[str] = frozenset()
) -> ResourceDiff:
    change = rc.get("change") or {}
    actions = _actions(rc)
    replace_paths = [tuple(p) for p in change.get("replace_paths") or ()]
    attributes: tuple[AttributeChange, ...] = ()
    # A whole object appearing or vanishing is said by the action; listing
    # every attribute of it would bury the interesting lines.
    if change.get("before") is not None and change.get("after") is not None:
        attributes = tuple(
            diff_values(
                change.get("before"),
                change.get("after"),
                before_sensitive=change.get("before_sensitive", False),
                after_sensitive=change.get("after_sensitive", False),
                after_unknown=change.get("after_unknown", False),
                replace_paths=replace_paths,
                secrets=secrets,
            )
        )
    return ResourceDiff(
        address=str(rc.get("address", "?")),
        type=str(rc.get("type", "?")),
        kind=kind,
        actions=actions,
        attributes=attributes,
        reason=rc.get("action_reason"),
    )
