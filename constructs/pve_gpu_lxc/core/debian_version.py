"""Debian package versions compared as dpkg does (pure).

The facts record a package's version from dpkg's status (`lxc-pve 6.0.5-3`); a rule such as
pve-container's `Depends: lxc-pve (>= 6.0.5-3~~)` is decided by dpkg's order, in which `~` sorts
before everything, even the end of a part, and letters before other symbols.  This is
dpkg's lib/dpkg/version.c (`parseversion`, `verrevcmp`, `dpkg_version_compare`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")
_REVISION = re.compile(r"[A-Za-z0-9.+~]*")


class DebianVersion(NamedTuple):
    epoch: int
    upstream: str
    revision: str


def parse(text: str) -> DebianVersion:
    """`[epoch:]upstream[-revision]`; the revision is what follows the last hyphen."""
    text = text.strip()
    epoch = 0
    rest = text
    if ":" in text:
        head, rest = text.split(":", 1)
        if not head.isdigit():
            raise ValueError(f"Debian version {text!r}: epoch {head!r} is not a number")
        epoch = int(head)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if not _UPSTREAM.fullmatch(upstream) or not _REVISION.fullmatch(revision):
        raise ValueError(f"Debian version {text!r} is not [epoch:]upstream[-revision] (upstream starts "
                         "with a digit; letters, digits and . + ~ : - only)")
    return DebianVersion(epoch, upstream, revision)


def _order(char: str) -> int:
    """verrevcmp's `order`: `~` first, then the end of a part, letters, then other symbols."""
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as ``a`` sorts before, with or after ``b`` for dpkg."""
    left, right = parse(a), parse(b)
    if left.epoch != right.epoch:
        return left.epoch - right.epoch
    return _compare_part(left.upstream, right.upstream) or _compare_part(left.revision, right.revision)


def at_least(version: str, minimum: str) -> bool:
    """`dpkg --compare-versions version ge minimum`."""
    return compare(version, minimum) >= 0
