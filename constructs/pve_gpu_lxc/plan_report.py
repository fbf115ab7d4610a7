"""Summarise `terraform show -json <planfile>` output: plan JSON in, report out.

Pure: no subprocess, no files.  `drift.py` runs Terraform and feeds this module.

Terraform puts sensitive values into the plan JSON in clear text and marks them
in `before_sensitive`/`after_sensitive`; this module replaces every marked
value with ``(sensitive)`` before it reaches a report, so neither the text nor
the JSON report can leak one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# Resources whose replacement or destruction deserves a loud warning: replacing
# a GPU container throws away its root disk and everything installed in it.
DESTRUCTIVE_TYPES = frozenset({"proxmox_virtual_environment_container"})

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
ABSENT = "(absent)"

Mode = Literal["drift", "plan"]

# Exit codes of the `drift` command (documented in docs/drift-and-gitops.md).
EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_DESTRUCTIVE = 3


class _Marker(str):
    """A display placeholder (sensitive/unknown/absent), never a real value."""


_SENSITIVE = _Marker(SENSITIVE)
_UNKNOWN = _Marker(UNKNOWN)
_ABSENT = _Marker(ABSENT)


@dataclass(frozen=True)
class AttributeChange:
    """One leaf that differs: `path` like ``device_passthrough[0].path``."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": _json_value(self.before),
            "after": _json_value(self.after),
            "forces_replacement": self.forces_replacement,
        }


@dataclass(frozen=True)
class ResourceDiff:
    """A resource that drifted (kind "drift") or that the plan changes (kind "change")."""

    address: str
    type: str
    kind: Literal["drift", "change"]
    actions: tuple[str, ...]
    attributes: tuple[AttributeChange, ...] = ()
    reason: str | None = None

    @property
    def action(self) -> str:
        """One word: create, update, delete, replace, read or no-op."""
        acts = set(self.actions)
        if {"create", "delete"} <= acts:
            return "replace"
        return self.actions[0] if self.actions else "no-op"

    @property
    def destructive(self) -> bool:
        """A planned replacement or destruction of a GPU container."""
        return (
            self.kind == "change"
            and self.type in DESTRUCTIVE_TYPES
            and "delete" in self.actions
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "actions": list(self.actions),
            "reason": self.reason,
            "destructive": self.destructive,
            "attributes": [a.to_json() for a in self.attributes],
        }


@dataclass(frozen=True)
class StackReport:
    """What one stack's plan says; `error` set when Terraform could not plan."""

    stack: str
    mode: Mode
    drift: tuple[ResourceDiff, ...] = ()
    changes: tuple[ResourceDiff, ...] = ()
    outputs: tuple[str, ...] = ()
    error: str | None = None
    # Terraform's -detailed-exitcode said 2.  Kept for the record only:
    # Terraform 1.10/1.11 with -refresh-only also says 2 when nothing drifted
    # (its own text reads "No changes"; hashicorp/terraform#36403), so the
    # verdict comes from the itemised drift and changes instead.
    terraform_saw_changes: bool = False
    plan_file: str | None = None
    seconds: float | None = field(default=None, compare=False)

    @property
    def destructive(self) -> tuple[ResourceDiff, ...]:
        return tuple(r for r in self.changes if r.destructive)

    @property
    def has_changes(self) -> bool:
        """Drift mode: something drifted.  Plan mode: an apply would change something."""
        if self.mode == "drift":
            return bool(self.drift)
        return bool(self.changes or self.outputs)

    @property
    def status(self) -> str:
        """error | destructive | drift | changes | clean."""
        if self.error is not None:
            return "error"
        if self.destructive:
            return "destructive"
        if not self.has_changes:
            return "clean"
        return "drift" if self.mode == "drift" else "changes"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "plan_file": self.plan_file,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "drift": [r.to_json() for r in self.drift],
            "changes": [r.to_json() for r in self.changes],
            "outputs": list(self.outputs),
        }


# --------------------------------------------------------------------------
# plan JSON -> report


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
        # an "update" whose every difference is null-versus-empty (see `_same`) is no drift
        drift=tuple(d for d in drift if d.actions != ("no-op",) and (d.attributes or d.actions != ("update",))),
        changes=changes,
        outputs=outputs,
        terraform_saw_changes=terraform_saw_changes,
    )


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
            _collect_sensitive(v, _sub(mask, k), found)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _collect_sensitive(v, _sub(mask, i), found)


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


def diff_values(
    before: Any,
    after: Any,
    *,
    before_sensitive: Any = False,
    after_sensitive: Any = False,
    after_unknown: Any = False,
    replace_paths: Sequence[tuple[Any, ...]] = (),
    secrets: frozenset[str] = frozenset(),
) -> list[AttributeChange]:
    """Leaf-level differences between two attribute trees, lists compared by position.

    The masks have the shape of the values (or are a bare bool for a whole
    subtree), exactly as Terraform writes them.
    """
    out: list[AttributeChange] = []
    _walk((), before, after, before_sensitive, after_sensitive, after_unknown, out)
    replace = [tuple(p) for p in replace_paths]
    return [
        AttributeChange(
            path=_format_path(path),
            before=_redact(b, secrets),
            after=_redact(a, secrets),
            forces_replacement=any(path[: len(p)] == p for p in replace if p),
        )
        for path, b, a in out
    ]


def _walk(
    path: tuple[Any, ...],
    before: Any,
    after: Any,
    bsens: Any,
    asens: Any,
    unknown: Any,
    out: list[tuple[tuple[Any, ...], Any, Any]],
) -> None:
    if unknown is True:
        # "(known after apply)" for something that had no value says nothing
        if before is not _ABSENT and before not in (None, {}, []):
            out.append((path, _display(before, bsens), _UNKNOWN))
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            _walk(
                path + (key,),
                before.get(key, _ABSENT),
                after.get(key, _ABSENT),
                _sub(bsens, key),
                _sub(asens, key),
                _sub(unknown, key),
                out,
            )
        return
    if _is_list(before) and _is_list(after):
        for i in range(max(len(before), len(after))):
            if i >= len(before) or i >= len(after):
                # an element added or removed: report it whole, even if it is null
                b = before[i] if i < len(before) else _ABSENT
                a = after[i] if i < len(after) else _ABSENT
                out.append((path + (i,), _display(b, _sub(bsens, i)), _display(a, _sub(asens, i))))
                continue
            _walk(
                path + (i,),
                before[i],
                after[i],
                _sub(bsens, i),
                _sub(asens, i),
                _sub(unknown, i),
                out,
            )
        return
    if _same(before, after):
        return
    out.append((path, _display(before, bsens), _display(after, asens)))


def _same(before: Any, after: Any) -> bool:
    # Missing, null and an empty list or map are one value to an SDKv2 provider such as bpg
    # (its legacy type system cannot tell them apart): its refresh turns an unset `tags` into
    # `[]`, which Terraform lists as drift although nothing changed on the node.
    return _empty_as_none(before) == _empty_as_none(after)


def _empty_as_none(value: Any) -> Any:
    return None if value is _ABSENT or value == [] or value == {} else value


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _sub(mask: Any, key: Any) -> Any:
    """The part of a sensitivity/unknown mask that covers `key`."""
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return mask.get(key, False)
    if isinstance(mask, list) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return False


def _display(value: Any, sensitive_mask: Any) -> Any:
    """The value with every sensitive part replaced by the (sensitive) marker."""
    if value is _ABSENT:
        return _ABSENT
    if sensitive_mask is True:
        return _SENSITIVE
    if isinstance(value, Mapping):
        return {k: _display(v, _sub(sensitive_mask, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_display(v, _sub(sensitive_mask, i)) for i, v in enumerate(value)]
    return value


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    """Replace strings that contain a known sensitive value (copies Terraform did not mark)."""
    if isinstance(value, _Marker) or not secrets:
        return value
    if isinstance(value, str):
        return _SENSITIVE if any(s in value for s in secrets) else value
    if isinstance(value, Mapping):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _format_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(whole object)"


# --------------------------------------------------------------------------
# report -> text / JSON / exit code


def format_value(value: Any) -> str:
    """How a value reads in the text report: JSON, except the markers."""
    if isinstance(value, _Marker):
        return str(value)
    return json.dumps(_json_value(value), sort_keys=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, _Marker):
        return None if value is _ABSENT else str(value)
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


_ACTION_WORDS = {
    "drift": {
        "update": "changed outside Terraform",
        "delete": "deleted outside Terraform (the next apply re-creates it)",
        "create": "appeared outside Terraform",
    },
    "change": {
        "create": "will be created",
        "update": "will be updated in place",
        "delete": "will be DESTROYED",
        "replace": "will be REPLACED (destroyed and re-created)",
    },
}


def format_stack(report: StackReport) -> str:
    """The human-readable summary of one stack, several lines, no trailing newline."""
    head = f"== {report.stack}: {report.status}"
    if report.error is not None:
        return f"{head}\n  error: {report.error}"
    lines = [head]
    if report.status == "clean":
        lines.append(
            "  no drift: the recorded state matches what the provider reads"
            if report.mode == "drift"
            else "  no changes: infrastructure matches the configuration"
        )
        if report.drift:
            lines.append("  (the drift below touches no configured value, so an apply changes nothing)")
    if report.drift:
        lines.append("  drift (recorded value -> value found):")
        lines.extend(_resource_lines(report.drift))
    if report.changes:
        lines.append("  planned changes (current value -> planned value):")
        lines.extend(_resource_lines(report.changes))
    if report.outputs:
        lines.append("  outputs changed: " + ", ".join(report.outputs))
    for r in report.destructive:
        lines.append(
            f"  !!! DESTRUCTIVE: {r.address} {_ACTION_WORDS['change'][r.action]}"
            " - the container's root disk and everything inside it would be lost."
        )
    return "\n".join(lines)


def _resource_lines(diffs: Iterable[ResourceDiff]) -> list[str]:
    lines: list[str] = []
    for r in diffs:
        words = _ACTION_WORDS[r.kind].get(r.action, r.action)
        lines.append(f"    {r.address}: {words}")
        for a in r.attributes:
            mark = "  (forces replacement)" if a.forces_replacement else ""
            lines.append(
                f"      {a.path}: {format_value(a.before)} -> {format_value(a.after)}{mark}"
            )
    return lines


def overall_exit_code(reports: Iterable[StackReport], *, allow_replace: bool = False) -> int:
    """1 on any error, else 3 for an unapproved destructive plan, else 2 for changes, else 0."""
    reports = list(reports)
    if any(r.status == "error" for r in reports):
        return EXIT_ERROR
    if not allow_replace and any(r.destructive for r in reports):
        return EXIT_DESTRUCTIVE
    if any(r.has_changes for r in reports):
        return EXIT_CHANGES
    return EXIT_CLEAN


def format_footer(reports: Sequence[StackReport], *, allow_replace: bool = False) -> str:
    """One closing line that names the stacks needing attention."""
    code = overall_exit_code(reports, allow_replace=allow_replace)
    by_status: dict[str, list[str]] = {}
    for r in reports:
        by_status.setdefault(r.status, []).append(r.stack)
    parts = [f"{status}: {', '.join(names)}" for status, names in sorted(by_status.items())]
    text = f"{len(reports)} stack(s) checked; " + "; ".join(parts)
    if code == EXIT_DESTRUCTIVE:
        text += " (refusing a destructive plan; re-run with --allow-replace if intended)"
    elif allow_replace and any(r.destructive for r in reports):
        text += " (destructive plan allowed by --allow-replace)"
    return text


def report_document(
    reports: Sequence[StackReport], mode: Mode, *, allow_replace: bool = False
) -> dict[str, Any]:
    """The machine-readable report written by `--json FILE`."""
    return {
        "format_version": 1,
        "mode": mode,
        "exit_code": overall_exit_code(reports, allow_replace=allow_replace),
        "allow_replace": allow_replace,
        "stacks": [r.to_json() for r in reports],
    }
