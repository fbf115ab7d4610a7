"""collect-host-facts.sh: one valid JSON document, here and on a fake Intel+NVIDIA node sysroot."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pve_gpu_lxc.facts import HostFacts, collector_script, parse_proc_devices, readers
from pve_gpu_lxc_testing.hostfacts import fakenode

COLLECTOR = Path(__file__).parents[1] / "constructs" / "pve_gpu_lxc" / "facts" / "collect-host-facts.sh"
COMMITTED = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of real char devices needs root")


def collect(*args: str, env: dict[str, str] | None = None, shell: str = "sh") -> dict:
    result = subprocess.run([shell, str(COLLECTOR), *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def node_root(tmp_path_factory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("mknod of real char devices needs root")
    return fakenode.build_pve_node(tmp_path_factory.mktemp("pve") / "root")


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory) -> Path:
    return fakenode.fake_pveversion(tmp_path_factory.mktemp("bin"))


def with_path(bin_dir: Path) -> dict[str, str]:
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_the_package_ships_the_collector():
    assert collector_script() == COLLECTOR and COLLECTOR.read_text().startswith("#!/bin/sh\n")


def test_runs_on_this_machine_without_a_gpu():
    doc = collect()
    facts = HostFacts.from_json(doc, source="this machine")
    assert facts.hostname == Path("/proc/sys/kernel/hostname").read_text().strip().split(".")[0]
    assert facts.kernel == os.uname().release
    assert facts.proc_devices == parse_proc_devices(Path("/proc/devices").read_text())
    if not Path("/dev/dri").exists() and not list(Path("/dev").glob("nvidia*")):
        assert doc["devices"] == [] and doc["drm"] == [] and doc["nvidia"] is None
    if shutil.which("pveversion") is None:
        assert doc["pve_version"] is None


@needs_root
def test_fake_node_devices_are_decimal_and_match_stat(node_root, fake_bin):
    doc = collect(str(node_root), env=with_path(fake_bin))
    devices = {d["path"]: d for d in doc["devices"]}
    for node in fakenode.NODES:
        entry = devices["/" + node.path]
        st = os.stat(node_root / node.path)
        assert (entry["type"], entry["major"], entry["minor"]) == ("c", os.major(st.st_rdev), os.minor(st.st_rdev))
        assert (entry["uid"], entry["gid"], entry["mode"]) == (node.uid, node.gid, f"{node.mode:04o}")
    assert devices["/dev/nvidia-uvm"]["major"] == 511  # stat %t would say 1ff
    assert devices["/dev/dri/renderD128"]["group"] == "render" and devices["/dev/dri/card0"]["group"] == "video"
    assert devices["/dev/nvidia-caps"]["type"] == "d"
    assert doc["pve_version"] == fakenode.PVEVERSION


@needs_root
def test_fake_node_gives_the_committed_facts(node_root, fake_bin):
    """stacks/facts/pve.json is exactly what the collector prints for the fake node (time aside)."""
    doc = collect(str(node_root), env=with_path(fake_bin))
    committed = json.loads(COMMITTED.read_text())
    doc["collected_at"] = committed["collected_at"]
    assert doc == committed


@needs_root
def test_fake_node_gpus_resolve_through_the_parser(node_root, fake_bin):
    facts = HostFacts.from_json(collect(str(node_root), env=with_path(fake_bin)))
    intel, nvidia = facts.gpus()
    assert (intel.pci, intel.vendor, intel.card, intel.render) == (
        "0000:00:02.0", "intel", "/dev/dri/card0", "/dev/dri/renderD128")
    assert (nvidia.pci, nvidia.vendor, nvidia.nvidia_node, nvidia.render) == (
        "0000:01:00.0", "nvidia", "/dev/nvidia0", "/dev/dri/renderD129")
    assert [m.name for m in facts.drm] == ["card0", "card1", "renderD128", "renderD129"]  # no connector, no version
    assert facts.nvidia_driver_version == fakenode.NVIDIA_VERSION == facts.nvidia.module_version
    assert facts.char_major("nvidia-caps") == 235
    assert [(r.start, r.count) for r in facts.subgid] == [(100000, 65536), (44, 1), (108, 1)]


def test_hostname_is_the_pve_node_name(tmp_path):
    """PVE's node name is the host name up to the first dot; /etc/hostname serves where /proc is absent."""
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/hostname").write_text("pve1.example.com\n")
    assert collect(str(tmp_path))["hostname"] == "pve1"
    (tmp_path / "proc/sys/kernel/hostname").unlink()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("pve2\n")
    assert collect(str(tmp_path))["hostname"] == "pve2"


@needs_root
def test_root_prefix_from_the_environment(node_root):
    doc = collect(env={"HOSTFACTS_ROOT": str(node_root)})
    assert doc["hostname"] == "pve" and len(doc["devices"]) == 13


@needs_root
def test_busybox_gives_the_same_document(node_root, fake_bin, tmp_path):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (scripts/system-packages.txt lists it)")
    applets = tmp_path / "busybox-bin"
    applets.mkdir()
    for applet in ("sh", "awk", "sed", "stat", "readlink", "cat", "date", "uname", "printf", "tar", "grep"):
        (applets / applet).symlink_to(busybox)
    (applets / "zstd").symlink_to(shutil.which("zstd") or "/usr/bin/zstd")  # busybox has no zstd applet
    env = {"PATH": f"{applets}:{fake_bin}"}
    result = subprocess.run([str(applets / "sh"), str(COLLECTOR), str(node_root)], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    coreutils = collect(str(node_root), env=with_path(fake_bin))
    busybox_doc = json.loads(result.stdout)
    busybox_doc["collected_at"] = coreutils["collected_at"]
    assert busybox_doc == coreutils


@needs_root
def test_any_file_name_is_escaped(tmp_path):
    root = tmp_path / "root"
    weird = 'we"ird\\name\n\ttab é {x} \x01end\n'
    fakenode.make_char(root / "dev" / "dri" / weird, 226, 130)
    (root / "dev" / "dri" / "by-path").mkdir()
    (root / "dev" / "dri" / "by-path" / "pci-0000:00:02.0-render").symlink_to(f"../{weird}")
    doc = collect(str(root))
    assert [d["path"] for d in doc["devices"]] == ["/dev/dri/by-path", f"/dev/dri/{weird}"]
    assert doc["dri_by_path"] == [{"link": "/dev/dri/by-path/pci-0000:00:02.0-render", "target": f"../{weird}"}]
    assert doc["devices"][1]["minor"] == 130


@needs_root
def test_collector_changes_nothing(node_root, fake_bin):
    def snapshot() -> dict:
        state = {}
        for path in sorted(node_root.rglob("*")):
            st = os.lstat(path)
            state[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_size)
        return state

    before = snapshot()
    collect(str(node_root), env=with_path(fake_bin))
    assert snapshot() == before


@needs_root
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1,
                    max_size=16).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200))
def test_escaping_round_trips_any_name(tmp_path, name):
    root = tmp_path / uuid.uuid4().hex  # examples share tmp_path and may repeat a name
    fakenode.make_char(root / "dev" / "dri" / name, 226, 131)
    doc = collect(str(root))
    assert [d["path"] for d in doc["devices"]] == [f"/dev/dri/{name}"]


def test_json_str_quotes_plain_text_without_awk_and_escapes_the_rest():
    """The shortcut for plain text (no awk) and the escaping path give the same JSON strings."""
    texts = ["", "/dev/dri/card0", "pci-0000:00:02.0-card", "../renderD128", "a+b@c,d=e_f.g-h", "-n", "%s",
             "two words", 'say "hi"', "back\\slash", "line\nbreak\n", "tab\there", "é", "\x01"]
    script = "NL='\n'\n" + readers.shell("json_str") + "".join(
        f"json_str {shlex.quote(t)}; echo\n" for t in texts)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=True).stdout
    assert [json.loads(line) for line in out.splitlines()] == texts
