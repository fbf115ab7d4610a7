"""The one exit policy of `pve-gpu-lxc`, for every command, usage errors included.

    0  ok: nothing drifted, nothing pending, the command did what it was asked
    1  error, with its cause on one line; a usage error too (argparse's own 2 would read as
       "drift" in a pipeline that fails on 2)
    2  a finding: drift, or with `drift --plan` configuration changes not applied yet; a vm_id
       another's container holds, or an orphaned container of the stack (README "What is guarded")
    3  destructive: a plan would replace or destroy a GPU container (`drift --plan` without
       `--allow-replace`)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = EXIT_ERROR
EXIT_FINDING = 2
EXIT_DESTRUCTIVE = 3


class Verdict(Protocol):
    """What the policy needs to know about one checked stack (a `plan.StackReport`)."""

    @property
    def status(self) -> str: ...

    @property
    def has_changes(self) -> bool: ...

    @property
    def destructive(self) -> tuple[object, ...]: ...

    @property
    def ownership(self) -> tuple[object, ...]: ...


def combine(*codes: int) -> int:
    """One code for several runs (`drift --live`: the refresh and the live check): an error (1)
    beats a destructive plan (3), which beats changes or findings (2), which beat clean (0)."""
    if EXIT_ERROR in codes:
        return EXIT_ERROR
    return max(codes, default=EXIT_OK)


def overall_exit_code(reports: Iterable[Verdict], *, allow_replace: bool = False) -> int:
    """1 on any error, else 3 for an unapproved destructive plan, else 2 for changes or ownership findings, else 0."""
    reports = list(reports)
    if any(r.status == "error" for r in reports):
        return EXIT_ERROR
    if not allow_replace and any(r.destructive for r in reports):
        return EXIT_DESTRUCTIVE
    if any(r.has_changes or r.ownership for r in reports):
        return EXIT_FINDING
    return EXIT_OK
