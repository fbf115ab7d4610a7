"""scripts/install-distrobuilder.sh, as `make system-deps` ran it on this machine.

On Debian 12 it adds a trixie source pinned at priority 1 and installs only distrobuilder and
distrobuilder-images from trixie; these tests check the result on the machine (they run after
`make system-deps`, which `make test` runs first) and that a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.image

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-distrobuilder.sh"
PREFERENCES = Path("/etc/apt/preferences.d/pve-gpu-lxc-trixie.pref")
SOURCES = Path("/etc/apt/sources.list.d/pve-gpu-lxc-trixie.sources")


def debian_release() -> str:
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    return f"{fields.get('ID')}:{fields.get('VERSION_ID', '').strip(chr(34))}"


def test_the_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run `make system-deps` (Debian package shellcheck)")
    for script in (SCRIPT, REPO / "scripts" / "install-system-deps.sh"):
        proc = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


def test_distrobuilder_is_installed_and_prints_3_2() -> None:
    if shutil.which("distrobuilder") is None:
        pytest.fail(f"distrobuilder is missing: run `make system-deps` (or `bash {SCRIPT}` as root)")
    version = subprocess.run(["distrobuilder", "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == "3.2"


def test_a_second_run_is_a_no_op() -> None:
    watched = [p for p in (PREFERENCES, SOURCES) if p.exists()]
    before = {p: p.stat().st_mtime_ns for p in watched}
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert {p: p.stat().st_mtime_ns for p in watched} == before


@pytest.mark.skipif(debian_release() != "debian:12", reason="the trixie pin is for Debian 12 only")
def test_on_debian_12_trixie_is_pinned_at_1_and_gives_only_the_two_packages() -> None:
    assert "Pin: release n=trixie\nPin-Priority: 1\n" in PREFERENCES.read_text()
    assert "Suites: trixie\n" in SOURCES.read_text()
    policy = subprocess.run(["apt-cache", "policy", "distrobuilder", "debootstrap"], capture_output=True, text=True,
                            check=True, env={**os.environ, "LC_ALL": "C"}).stdout
    # distrobuilder from trixie, its dependency debootstrap from bookworm
    assert "Installed: 3.2-" in policy.split("debootstrap:")[0]
    assert "+deb12" in policy.split("debootstrap:")[1].split("Candidate:")[0]
    # nothing else would move to trixie on an upgrade
    upgrade = subprocess.run(["apt-get", "-s", "dist-upgrade"], capture_output=True, text=True, check=True,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    assert [line for line in upgrade.splitlines() if line.startswith("Inst") and "trixie" in line] == []
