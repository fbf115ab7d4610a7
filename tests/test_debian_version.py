"""core/debian_version.py orders Debian versions as dpkg does: every pair is also asked of the
real `dpkg --compare-versions` (Debian's own program; present on every machine this suite runs on)."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from pve_gpu_lxc.core import debian_version

VERSIONS = ["6.0.5-3", "6.0.5-3~~", "6.0.5-3~bpo1", "6.0.5-2", "6.0.5-10", "6.0.5", "6.0.5+pve1-1", "6.0.0-1",
            "6.0.4-1", "1:5.0.2-1+deb12u2", "1:7.0~", "1:7.0.0-1", "7.0.0-1", "6.0.5a-1", "6.0.5.1-1",
            "1.0~rc1-1", "1.0-1", "1.0-1.1", "1.0-0", "2:0.1", "6.00.5-3", "10-1"]
# dpkg's order, spelled out for machines without dpkg: each sorts strictly before the next
# (`~` before the end of a part, the end before a letter, letters before other symbols)
ORDERED = ["1.0~rc1-1", "1.0-0", "1.0-1", "1.0-1.1", "6.0.0-1", "6.0.4-1", "6.0.5", "6.0.5-2", "6.0.5-3~~",
           "6.0.5-3~bpo1", "6.0.5-3", "6.0.5-10", "6.0.5a-1", "6.0.5+pve1-1", "6.0.5.1-1", "7.0.0-1", "10-1",
           "1:5.0.2-1+deb12u2", "1:7.0~", "1:7.0.0-1", "2:0.1"]


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def test_the_written_order() -> None:
    for before, after in itertools.pairwise(ORDERED):
        assert debian_version.compare(before, after) < 0, (before, after)
        assert debian_version.compare(after, before) > 0, (after, before)
    assert debian_version.compare("6.00.5-3", "6.0.5-3") == 0  # leading zeros do not count


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
def test_every_pair_as_dpkg_orders_it() -> None:
    for a, b in itertools.product(VERSIONS, repeat=2):
        dpkg = next(s for op, s in (("lt", -1), ("eq", 0), ("gt", 1))
                    if subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0)
        assert sign(debian_version.compare(a, b)) == dpkg, (a, b)


@pytest.mark.parametrize("text", ["", "a1.0", "x:1.0", "1.0-r_1", "1.0 -1"])
def test_what_is_no_debian_version(text: str) -> None:
    with pytest.raises(ValueError, match="Debian version"):
        debian_version.parse(text)


def test_at_least() -> None:
    assert debian_version.at_least("6.0.5-3", "6.0.5-3~~")
    assert not debian_version.at_least("6.0.0-1", "6.0.5-3~~")
