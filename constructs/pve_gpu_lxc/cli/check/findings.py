"""Findings, per-container reports, the text and JSON output and the exit code (pure).

A finding is one line a person can act on: what differs (expected against found), why it
matters, and the fix.  Errors (the node could not be asked) are not findings: they exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..exit_codes import EXIT_ERROR, EXIT_FINDING, EXIT_OK

FORMAT_VERSION = 1

# The checked items, in report order; the numbering in brackets.
Item = Literal[
    "ownership",     # the vm_id is not taken by another's container; no container of the stack's is orphaned
    "container",     # the container exists on the node
    "devices",       # [1] devN lines against device_passthrough
    "idmap",         # [2] raw lxc.idmap lines against the idmap blocks
    "subids",        # [2] /etc/subuid and /etc/subgid allow the map
    "hookscript",    # [3] snippet content (sha256) and mode
    "host-devices",  # [4] passed nodes on the host, against the host facts
    "boot",          # NVIDIA's on-demand nodes are made again at boot, before pve-guests starts guests
    "in-container",  # [5] render/video GIDs and the nodes inside a running container
    "nvidia",        # [5] host driver against the pinned version
]
ITEMS: tuple[Item, ...] = ("ownership", "container", "devices", "idmap", "subids", "hookscript", "host-devices", "boot",
                           "in-container", "nvidia")


@dataclass(frozen=True)
class Finding:
    item: Item
    subject: str  # what it is about: "dev2", "/dev/dri/card0", "render", "lxc.idmap" ...
    problem: str  # one sentence: expected against found, and why it matters
    fix: str  # what to do
    expected: Any = None
    found: Any = None

    def line(self) -> str:
        return f"{self.item}: {self.problem} Fix: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item, "subject": self.subject, "problem": self.problem, "fix": self.fix,
                "expected": self.expected, "found": self.found}


@dataclass
class ContainerReport:
    stack: str
    address: str
    node: str
    vmid: int
    running: bool | None = None  # None: unknown (not probed)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped items and why; not findings
    errors: list[str] = field(default_factory=list)
    checked: list[Item] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"CT {self.vmid} on {self.node}"

    @property
    def status(self) -> Literal["clean", "findings", "error"]:
        if self.errors:
            return "error"
        return "findings" if self.findings else "clean"

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "node": self.node, "vmid": self.vmid, "running": self.running,
                "status": self.status, "checked": list(self.checked),
                "findings": [f.to_json() for f in self.findings], "notes": list(self.notes),
                "errors": list(self.errors)}


@dataclass
class StackResult:
    stack: str
    containers: list[ContainerReport] = field(default_factory=list)
    error: str | None = None
    orphans: list[Finding] = field(default_factory=list)  # containers with the stack's tag it does not have

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.containers for f in c.findings] + self.orphans

    @property
    def status(self) -> Literal["clean", "findings", "error"]:
        if self.error or any(c.status == "error" for c in self.containers):
            return "error"
        return "findings" if self.findings else "clean"

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "status": self.status, "error": self.error,
                "containers": [c.to_json() for c in self.containers],
                "orphans": [f.to_json() for f in self.orphans]}


@dataclass
class Cost:
    api_requests: int = 0
    api_logins: int = 0
    ssh_sessions: int = 0
    seconds: float = 0.0
    api_seconds: float = 0.0  # of which: the login, the container listings and the config reads
    ssh_seconds: float = 0.0  # of which: the SSH sessions (connect, probe, output)
    api_listings: int = 0  # of the API requests: `GET /nodes/{node}/lxc`, one per node

    def line(self) -> str:
        parts = [f"{self.api_logins} login"] if self.api_logins else []
        parts += [f"{self.api_listings} node listing"] if self.api_listings else []
        of_which = f" ({', '.join(parts)})" if parts else ""
        return (f"cost: {self.api_requests} API request(s){of_which}, {self.ssh_sessions} SSH session(s), "
                f"{self.seconds:.1f} s")

    def to_json(self) -> dict[str, Any]:
        return {"api_requests": self.api_requests, "api_logins": self.api_logins,
                "api_listings": self.api_listings, "ssh_sessions": self.ssh_sessions,
                "seconds": round(self.seconds, 3), "api_seconds": round(self.api_seconds, 3),
                "ssh_seconds": round(self.ssh_seconds, 3)}


def exit_code(results: Sequence[StackResult], error: str | None = None) -> int:
    """1 if anything could not be checked, else 2 if anything was found, else 0."""
    if error is not None or any(r.status == "error" for r in results):
        return EXIT_ERROR
    if any(r.status == "findings" for r in results):
        return EXIT_FINDING
    return EXIT_OK


def format_stack(result: StackResult) -> str:
    count = len(result.findings)
    head = {"clean": "clean", "findings": f"{count} finding(s)", "error": "error"}[result.status]
    if result.status == "error" and count:
        head = f"error, {count} finding(s)"
    lines = [f"== {result.stack}: {head}"]
    if result.error:
        lines.append(f"  error: {result.error}")
    if not result.containers and not result.error:
        lines.append("  no GPU containers (none with device_passthrough)")
    for ct in result.containers:
        state = {True: "running", False: "not running", None: "state unknown"}[ct.running]
        lines.append(f"  {ct.label} ({ct.address}, {state}): "
                     + ("clean" if ct.status == "clean" else f"{len(ct.findings)} finding(s)"))
        for error in ct.errors:
            lines.append(f"    ERROR: {error}")
        for finding in ct.findings:
            lines.append(f"    {finding.line()}")
        for note in ct.notes:
            lines.append(f"    note: {note}")
    for finding in result.orphans:
        lines.append(f"  orphan {finding.subject}: {finding.line()}")
    return "\n".join(lines)


def format_footer(results: Sequence[StackResult], cost: Cost | None = None) -> str:
    by_status: dict[str, list[str]] = {"clean": [], "findings": [], "error": []}
    for r in results:
        by_status[r.status].append(r.stack)
    containers = sum(len(r.containers) for r in results)
    parts = [f"{len(results)} stack(s), {containers} GPU container(s) checked"]
    parts += [f"{status}: {', '.join(names)}" for status, names in by_status.items() if names]
    text = "; ".join(parts)
    if cost is not None:
        text += "\n" + cost.line()
    return text


def finding_lines(results: Iterable[StackResult]) -> list[str]:
    """Every finding as one self-contained line: `<stack>: CT <vmid> on <node>: <item>: ... Fix: ...`."""
    return [f"{r.stack}: {c.label}: {f.line()}" for r in results for c in r.containers for f in c.findings] + [
        f"{r.stack}: orphan {f.subject}: {f.line()}" for r in results for f in r.orphans]


def report_document(results: Sequence[StackResult], cost: Cost | None = None,
                    error: str | None = None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "mode": "check",
        "exit_code": exit_code(results, error),
        "error": error,
        "stacks": [r.to_json() for r in results],
        "cost": cost.to_json() if cost else None,
    }
