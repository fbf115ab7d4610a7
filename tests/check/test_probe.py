"""check.probe: the static script, its validated input, its output parser (and the script run by sh)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pve_gpu_lxc.cli.check import probe as pr
from pve_gpu_lxc.core import names

HOSTILE_PATHS = ["/dev/x;reboot", "/dev/$(id)", "/dev/`id`", "/dev/a b", "/dev/../etc/shadow", "/dev/./x",
                 "/dev/x\nct 1", "/etc/shadow", "dev/x", "/dev/", "/dev//x", "/dev/x'", '/dev/x"', "/dev/x\\"]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_device_paths_are_never_sent(path) -> None:
    assert not names.is_device_path(path)
    with pytest.raises(pr.UnsafeValue):
        pr.build_input(pr.ProbeRequest(devices=[path]))
    with pytest.raises(pr.UnsafeValue):
        pr.build_input(pr.ProbeRequest(containers=[(210, [path])]))


@pytest.mark.parametrize("vmid", ["210; id", "99", "0210", "1" * 10, "$(id)"])
def test_hostile_vmids_are_never_sent(vmid) -> None:
    with pytest.raises(pr.UnsafeValue):
        pr.build_input(pr.ProbeRequest(containers=[(vmid, [])]))  # type: ignore[list-item]


@pytest.mark.parametrize("storage, snippet", [("local$(id)", "x.sh"), ("local", "../x.sh"), ("local", "a b"),
                                              ("local", "x'.sh"), ("-rf", "x.sh"), ("local", "-")])
def test_hostile_snippets_are_never_sent(storage, snippet) -> None:
    with pytest.raises(pr.UnsafeValue):
        pr.build_input(pr.ProbeRequest(hooks=[(storage, snippet)]))


def test_the_input_is_the_static_script_then_a_quoted_here_document() -> None:
    request = pr.ProbeRequest(devices=["/dev/dri/card0", "/dev/nvidia-caps/nvidia-cap1"],
                              hooks=[("local", "pve-gpu-lxc-220.sh")],
                              containers=[(210, ["/dev/dri/renderD128"])])
    text = pr.build_input(request)
    assert text.startswith(pr.SCRIPT)
    assert text[len(pr.SCRIPT):] == (
        "probe_main <<'PVE_GPU_LXC_PROBE_DATA'\n"
        "dev /dev/dri/card0\ndev /dev/nvidia-caps/nvidia-cap1\nhook local pve-gpu-lxc-220.sh\n"
        "ct 210\nctdev 210 /dev/dri/renderD128\n"
        "PVE_GPU_LXC_PROBE_DATA\n")


def test_the_script_is_valid_posix_sh() -> None:
    text = pr.build_input(pr.ProbeRequest(devices=["/dev/null"]))
    for shell in ("sh", "bash"):
        assert subprocess.run([shell, "-n"], input=text, text=True, capture_output=True).returncode == 0
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", "-s", "sh", "-"], input=pr.SCRIPT, text=True, capture_output=True)
        assert result.returncode == 0, result.stdout


def test_the_probe_run_by_sh_reads_this_machine() -> None:
    """Run here: /dev/null is a char device 1:3, a missing path is missing, an unknown CT not running."""
    request = pr.ProbeRequest(devices=["/dev/null", "/dev/pve-gpu-lxc-no-such-node"],
                              hooks=[("pve-gpu-lxc-no-storage", "x.sh")], containers=[(999999999, ["/dev/null"])])
    proc = subprocess.run(["sh", "-s"], input=pr.build_input(request), text=True, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = pr.parse_output(proc.stdout)
    assert result.complete and result.version == "1"
    null = result.devices["/dev/null"]
    assert isinstance(null, pr.Stat) and (null.kind, null.rdev, null.mode) == ("char", "1:3", "0666")
    assert result.devices["/dev/pve-gpu-lxc-no-such-node"] == "missing"
    assert result.hooks[("pve-gpu-lxc-no-storage", "x.sh")].status == "nostorage"
    ct = result.containers[999999999]
    assert not ct.running and ct.devices == {}
    if shutil.which("lxc-config") and shutil.which("lxc-info"):
        # LXC's monitor sockets say it is not running: no lxc-info call for it (PVE's own shortcut)
        assert ct.detail == "no LXC monitor socket"


SAMPLE = """\
pve-gpu-lxc-probe\t1
subuid\troot:100000:65536
subgid\troot:100000:65536
subgid\troot:108:1
nvidia\tsys\t575.64.03
bypath\tpci-0000:00:02.0-card\t../card0
dev\t/dev/dri/card0\tstat\t21b0 e2 0 0 44
dev\t/dev/nvidia-uvm\tmissing
hook\tlocal\tpve-gpu-lxc-220.sh\tfile\t/var/lib/vz/snippets/pve-gpu-lxc-220.sh\t81c0 0 0 0 0\tf0cb6d
hook\tlocal\tgone.sh\tmissing\t/var/lib/vz/snippets/gone.sh
hook\tlocal-lvm\tx.sh\tunsupported\tlvmthin
ct\t210\tstate\tRUNNING\t19304
ct\t210\tuidmap\t         0     100000      65536
ct\t210\tgidmap\t         0     100000         44
ct\t210\tgidmap\t       106        108          1
ct\t210\tgroupfile\tok
ct\t210\tgroup\tvideo:x:44:in-video
ct\t210\tgroup\trender:x:106:in-render
ct\t210\tdev\t/dev/dri/card0\tstat\t21b0 1 3 100000 44
ct\t210\tdev\t/dev/dri/nope\tmissing
ct\t220\tstate\tSTOPPED\t-\t220 doesn't exist
end
"""


def test_output_records() -> None:
    result = pr.parse_output(SAMPLE)
    assert result.complete and result.subuid == ["root:100000:65536"]
    assert result.subgid == ["root:100000:65536", "root:108:1"]
    assert result.nvidia_version == "575.64.03" and result.by_path == {"pci-0000:00:02.0-card": "../card0"}
    assert result.devices["/dev/dri/card0"] == pr.Stat("char", 226, 0, 0o660, 0, 44)
    assert result.devices["/dev/nvidia-uvm"] == "missing"
    hook = result.hooks[("local", "pve-gpu-lxc-220.sh")]
    assert (hook.status, hook.path, hook.sha256, hook.stat.mode, hook.stat.executable) == (
        "file", "/var/lib/vz/snippets/pve-gpu-lxc-220.sh", "f0cb6d", "0700", True)
    assert result.hooks[("local", "gone.sh")].status == "missing"
    assert result.hooks[("local-lvm", "x.sh")] == pr.HookFile("unsupported", detail="lvmthin")
    ct = result.containers[210]
    assert ct.running and ct.pid == 19304 and ct.groups == {"video": 44, "render": 106}
    assert ct.gid_map == [(0, 100000, 44), (106, 108, 1)]
    assert ct.devices["/dev/dri/nope"] == "missing"
    stopped = result.containers[220]
    assert (stopped.running, stopped.state, stopped.detail) == (False, "STOPPED", "220 doesn't exist")
    assert not pr.parse_output(SAMPLE.replace("end\n", "")).complete


def test_host_ids_map_back_into_the_container() -> None:
    gid_map = [(0, 100000, 44), (44, 44, 1), (106, 108, 1)]
    assert [pr.map_to_container(gid_map, h) for h in (100000, 100043, 44, 108, 100044, 5)] == [0, 43, 44, 106, None, None]
