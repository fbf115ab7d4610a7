"""A report as text for people and as the `--json` document for pipelines (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..exit_codes import EXIT_DESTRUCTIVE, overall_exit_code
from .report import Marker, Mode, ResourceDiff, StackReport, json_value


def format_value(value: Any) -> str:
    """How a value reads in the text report: JSON, except the markers."""
    if isinstance(value, Marker):
        return str(value)
    return json.dumps(json_value(value), sort_keys=True)


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
    if report.status in ("clean", "ownership"):
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
    for address in report.tainted:
        lines.append(
            f"  tainted: {address}: an apply created it, then failed (e.g. bpg's idmap over SSH or the first "
            "reboot), so the next deploy REPLACES it; to keep it, run `terraform untaint "
            f"{address}` in the stack's directory (cdktf.out/stacks/{report.stack}), then deploy: an update "
            "in place"
        )
    if report.ownership:
        lines.append("  ownership (the guard's listing of the cluster's containers):")
        for f in report.ownership:
            where = f" {f.address}:" if f.kind == "collision" and f.address else ""
            lines.append(f"    {f.kind}:{where} {f.line()}")
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
