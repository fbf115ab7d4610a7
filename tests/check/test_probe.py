"""check.probe: the static script, its validated input, its output parser (and the script run by sh)."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc.cli.check import probe as pr
from pve_gpu_lxc.core import names
from pve_gpu_lxc.facts import HostFacts, collector_script, readers
from pve_gpu_lxc.facts.records import IdRange
from pve_gpu_lxc_testing.hostfacts import fakenode

PROBE_SOURCE = Path(pr.__file__)

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
    assert result.complete and result.version == pr.PROBE_VERSION == "3"
    null = result.devices["/dev/null"]
    assert isinstance(null, pr.Stat) and (null.kind, null.rdev, null.mode) == ("char", "1:3", "0666")
    assert result.devices["/dev/pve-gpu-lxc-no-such-node"] == "missing"
    assert result.hooks[("pve-gpu-lxc-no-storage", "x.sh")].status == "nostorage"
    ct = result.containers[999999999]
    assert not ct.running and ct.devices == {}
    if shutil.which("lxc-config") and shutil.which("lxc-info"):
        # LXC's monitor sockets say it is not running: no lxc-info call for it (PVE's own shortcut)
        assert ct.detail == "no LXC monitor socket"


NODE = ('{"path": "/dev/dri/card0", "type": "c", "major": 226, "minor": 0, "uid": 0, "owner": "root", '
        '"gid": 44, "group": "video", "mode": "0660"}')
SNIPPET_NODE = ('{"path": "/var/lib/vz/snippets/pve-gpu-lxc-220.sh", "type": "f", "major": null, "minor": null, '
                '"uid": 0, "owner": "root", "gid": 0, "group": "root", "mode": "0700"}')
IN_CT_NODE = ('{"path": "/proc/19304/root/dev/dri/card0", "type": "c", "major": 1, "minor": 3, "uid": 100000, '
              '"owner": null, "gid": 44, "group": "video", "mode": "0660"}')
NVIDIA_JSON = ('{"version_file": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.64.03  Wed Jun 25 2025\\n", '
               '"module_version": "575.64.03", "gpus": [      {"pci": "0000:01:00.0", "device_minor": 0, '
               '"model": "NVIDIA GeForce RTX 5090", "uuid": null}]}')
SAMPLE = f"""\
pve-gpu-lxc-probe\t2
subuid\t[{{"start": 100000, "count": 65536}}]
subgid\t[{{"start": 100000, "count": 65536}}, {{"start": 108, "count": 1}}]
nvidia\t{NVIDIA_JSON}
bypath\t[    {{"link": "/dev/dri/by-path/pci-0000:00:02.0-card", "target": "../card0"}}]
boot\t{{"files": [], "enabled": []}}
dev\t/dev/dri/card0\tnode\t{NODE}
dev\t/dev/nvidia-uvm\tmissing
dev\t/dev/dri/renderD128\tnode\t
hook\tlocal\tpve-gpu-lxc-220.sh\tfile\t/var/lib/vz/snippets/pve-gpu-lxc-220.sh\t{SNIPPET_NODE}\tf0cb6d
hook\tlocal\tgone.sh\tmissing\t/var/lib/vz/snippets/gone.sh
hook\tlocal-lvm\tx.sh\tunsupported\tlvmthin
ct\t210\tstate\tRUNNING\t19304
ct\t210\tuidmap\t         0     100000      65536
ct\t210\tgidmap\t         0     100000         44
ct\t210\tgidmap\t       106        108          1
ct\t210\tgroupfile\tok
ct\t210\tgroup\tvideo:x:44:in-video
ct\t210\tgroup\trender:x:106:in-render
ct\t210\tdev\t/dev/dri/card0\tnode\t{IN_CT_NODE}
ct\t210\tdev\t/dev/dri/nope\tmissing
ct\t220\tstate\tSTOPPED\t-\t220 doesn't exist
end
"""


def test_output_records() -> None:
    result = pr.parse_output(SAMPLE)
    assert result.complete and result.subuid == (IdRange(100000, 65536),)
    assert result.subgid == (IdRange(100000, 65536), IdRange(108, 1))
    assert result.nvidia_version == "575.64.03" and result.by_path == {"pci-0000:00:02.0-card": "../card0"}
    assert result.nvidia is not None and result.nvidia.driver_version == "575.64.03"
    assert [g.device_minor for g in result.nvidia.gpus] == [0]
    assert result.boot is not None and result.boot.files == ()
    assert result.devices["/dev/dri/card0"] == pr.Stat("char", 226, 0, 0o660, 0, 44)
    assert result.devices["/dev/nvidia-uvm"] == "missing"
    assert result.devices["/dev/dri/renderD128"] == "unreadable"  # stat printed nothing
    hook = result.hooks[("local", "pve-gpu-lxc-220.sh")]
    assert (hook.status, hook.path, hook.sha256, hook.stat.kind, hook.stat.mode, hook.stat.executable) == (
        "file", "/var/lib/vz/snippets/pve-gpu-lxc-220.sh", "f0cb6d", "file", "0700", True)
    assert result.hooks[("local", "gone.sh")].status == "missing"
    assert result.hooks[("local-lvm", "x.sh")] == pr.HookFile("unsupported", detail="lvmthin")
    ct = result.containers[210]
    assert ct.running and ct.pid == 19304 and ct.groups == {"video": 44, "render": 106}
    assert ct.gid_map == [(0, 100000, 44), (106, 108, 1)]
    assert ct.devices["/dev/dri/card0"] == pr.Stat("char", 1, 3, 0o660, 100000, 44)
    assert ct.devices["/dev/dri/nope"] == "missing"
    stopped = result.containers[220]
    assert (stopped.running, stopped.state, stopped.detail) == (False, "STOPPED", "220 doesn't exist")
    assert not pr.parse_output(SAMPLE.replace("end\n", "")).complete


def test_missing_subid_files_and_no_driver() -> None:
    """subid_json prints the null the probe passes for a missing file; nvidia_json null without the driver."""
    result = pr.parse_output("subuid\tnull\nsubgid\t[]\nnvidia\tnull\nbypath\t[]\nend\n")
    assert (result.subuid, result.subgid, result.nvidia, result.nvidia_version, result.by_path) == (
        None, (), None, None, {})


def test_a_malformed_shared_record_is_as_if_not_read() -> None:
    result = pr.parse_output("boot\t{\"files\": 3}\nnvidia\t{\ndev\t/dev/x\tnode\t{\"type\": \"?\"}\nend\n")
    assert result.boot is None and result.boot_error is not None
    assert result.nvidia is None and result.devices == {"/dev/x": "unreadable"}


# --------------------------------------------------------------------------------------------
# one reader per fact: the probe reads what the collector reads with the collector's functions


def _own_script() -> str:
    """The probe's own shell: SCRIPT without the collector functions appended to it."""
    own = pr.SCRIPT
    for name, text in readers.functions().items():
        if text in own:
            own = own.replace(text, f"<collector function {name}>\n")
    return own


def test_the_probe_carries_the_collectors_readers_verbatim() -> None:
    for fact in readers.SHARED:
        assert readers.collector_functions(fact.function) in pr.SCRIPT, fact.function
    # and every function those call, so the script runs on its own
    assert readers.shell(*(fact.function for fact in readers.SHARED)) in pr.SCRIPT
    own = _own_script()
    assert "<collector function node_json>" in own and "<collector function json_str>" in own
    # what remains is the probe's own: none of its functions is named as one of the collector's
    defined = set(re.findall(r"^(\w+)\(\) \{", own, re.MULTILINE))
    assert {"probe_host", "probe_dev", "probe_ct"} <= defined and not defined & set(readers.functions())


def test_the_probe_has_no_reader_or_parser_of_its_own_for_a_shared_fact() -> None:
    own = _own_script()
    for token in ("stat ", "stat -", "readlink", "NVRM", "/sys/module", "/proc/driver", "/dev/dri", "%t", "%f"):
        assert token not in own, token
    subid_lines = [line.strip() for line in own.splitlines() if "/etc/sub" in line]
    assert subid_lines == ['rec subuid "$(subid_json "$ROOT/etc/subuid" null)"',
                           'rec subgid "$(subid_json "$ROOT/etc/subgid" null)"']
    # the Python side: no regex, no stat module, no text parser of facts; the readers' parsers only
    for module in (PROBE_SOURCE, PROBE_SOURCE.with_name("compare.py")):
        tree = ast.parse(module.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names}
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {"re", "stat"} & imported, module.name
        assert "facts.parsers" not in {m.removeprefix("...") for m in modules if m}, module.name
        assert not any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int"
                       and len(node.args) == 2 for node in ast.walk(tree)), f"{module.name} parses hex itself"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of real char devices needs root")


def _probe_under(root: Path, request: pr.ProbeRequest) -> pr.NodeProbe:
    """The probe run by sh with the collector's ROOT pointed at a fake node (set after the script)."""
    data = pr.build_input(request)[len(pr.SCRIPT):]
    proc = subprocess.run(["sh", "-s"], input=pr.SCRIPT + f"ROOT={shlex.quote(str(root))}\n" + data, text=True,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return pr.parse_output(proc.stdout)


@needs_root
def test_the_probe_and_the_collector_read_the_same_facts(tmp_path: Path) -> None:
    """On the fake node: every shared fact the probe reads equals what the collector records."""
    root = fakenode.build_pve_node(tmp_path / "root")
    doc = subprocess.run(["sh", str(collector_script()), str(root)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    facts = HostFacts.from_json(json.loads(doc))
    (root / "dev/gpu0").symlink_to("dri/card0")  # a link to a node (by-path's names have a ':', never sent)
    paths = [n.path for n in facts.devices if n.type == "c"]
    node = _probe_under(root, pr.ProbeRequest(devices=[*paths, "/dev/gpu0", "/dev/dri/by-path", "/dev/nvidia9"]))
    assert node.complete and node.subuid == facts.subuid and node.subgid == facts.subgid
    assert node.nvidia == facts.nvidia and node.nvidia_version == fakenode.NVIDIA_VERSION
    assert node.boot == facts.boot and node.boot is not None and node.boot.files
    assert node.nvidia_runtime == facts.nvidia_runtime and node.nvidia_runtime is not None
    assert (node.nvidia_runtime.lxc_hook, node.nvidia_runtime.lxc_version) == (True, fakenode.LXC_PVE_VERSION)
    assert node.by_path == {link.rsplit("/", 1)[1]: target for link, target in facts.dri_by_path} == fakenode.BY_PATH
    for path in paths:
        recorded = facts.node(path)
        assert node.devices[path] == pr.Stat("char", recorded.major, recorded.minor, recorded.mode, recorded.uid,
                                             recorded.gid), path
    assert node.devices["/dev/gpu0"] == node.devices["/dev/dri/card0"]  # followed, as PVE stats a devN path
    assert isinstance(node.devices["/dev/dri/by-path"], pr.Stat) and node.devices["/dev/dri/by-path"].kind == "dir"
    assert node.devices["/dev/nvidia9"] == "missing"
    # a node without the files: the collector records [] (root may map nothing), the probe says missing
    (root / "etc/subuid").unlink()
    assert _probe_under(root, pr.ProbeRequest()).subuid is None
    assert json.loads(subprocess.run(["sh", str(collector_script()), str(root)], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)["subuid"] == []


def test_host_ids_map_back_into_the_container() -> None:
    gid_map = [(0, 100000, 44), (44, 44, 1), (106, 108, 1)]
    assert [pr.map_to_container(gid_map, h) for h in (100000, 100043, 44, 108, 100044, 5)] == [0, 43, 44, 106, None, None]
