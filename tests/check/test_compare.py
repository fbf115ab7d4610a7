"""check.compare: each finding the issue lists, its wording and its fix (pure)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from pve_gpu_lxc.cli.check import compare
from pve_gpu_lxc.cli.check import probe as pr
from pve_gpu_lxc.cli.check.nodeconf import parse_config
from pve_gpu_lxc.facts.boot import BootFacts, BootFile
from pve_gpu_lxc.facts.model import HostFacts
from pve_gpu_lxc.facts.records import IdRange, NvidiaRuntimeFacts
from pve_gpu_lxc.pve.synthesized import ExpectedContainer, ExpectedDevice, ExpectedHook

FACTS = HostFacts.load(Path(__file__).resolve().parents[2] / "stacks" / "facts" / "pve.json")
CTX = compare.Context(stack="intel-jellyfin", stack_dir="cdktf.out/stacks/intel-jellyfin",
                      facts_file="stacks/facts/pve.json")
IDMAP = ("u 0 100000 65536", "g 0 100000 44", "g 44 44 1", "g 45 100045 61", "g 106 108 1", "g 107 100107 65429")
INTEL = ExpectedContainer(
    stack="intel-jellyfin", name="jellyfin", node="pve", vmid=210, unprivileged=True, idmap=IDMAP,
    devices=(ExpectedDevice(0, "/dev/dri/card0", 0, 44, "0660"), ExpectedDevice(1, "/dev/dri/renderD128", 0, 106, "0660")))
HOOK_TEXT = "#!/bin/sh\nrequire_nvidia_driver 575.64.03\n"
NVIDIA = ExpectedContainer(
    stack="nvidia-ollama", name="ollama", node="pve", vmid=220, unprivileged=True,
    devices=tuple(ExpectedDevice(i, p, 0, 0, "0666") for i, p in enumerate(
        ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"))),
    hook=ExpectedHook("local:snippets/pve-gpu-lxc-220.sh", HOOK_TEXT, "proxmox_virtual_environment_file.ollama_Hook",
                      "0700"),
    nvidia_driver="575.64.03")
SNIPPET = "/var/lib/vz/snippets/pve-gpu-lxc-220.sh"


def api_config(ct: ExpectedContainer) -> dict:
    data: dict = {f"dev{d.index}": f"deny-write=0,path={d.path},uid={d.uid},gid={d.gid},mode={d.mode}"
                  for d in ct.devices}
    data["unprivileged"] = 1
    if ct.idmap:
        data["lxc"] = [["lxc.idmap", line] for line in ct.idmap]
    if ct.hook:
        data["hookscript"] = ct.hook.volid
    return data


def char(major: int, minor: int, gid: int = 0, perm: int = 0o660, uid: int = 0) -> pr.Stat:
    return pr.Stat("char", major, minor, perm, uid, gid)


def node_probe(running: bool = False) -> pr.NodeProbe:
    """What a clean node answers: devices as in the facts, subids from the facts, the snippet intact."""
    node = pr.NodeProbe(version="2", complete=True, subuid=(IdRange(100000, 65536),),
                        subgid=(IdRange(100000, 65536), IdRange(44, 1), IdRange(108, 1)), nvidia=FACTS.nvidia,
                        by_path=dict((link.rsplit("/", 1)[1], target) for link, target in FACTS.dri_by_path),
                        boot=FACTS.boot)
    for d in FACTS.devices:
        if d.type == "c":
            node.devices[d.path] = char(d.major, d.minor, d.gid or 0, d.mode or 0o660)
    node.hooks[("local", "pve-gpu-lxc-220.sh")] = pr.HookFile(
        "file", SNIPPET, pr.Stat("file", 0, 0, 0o700, 0, 0), hashlib.sha256(HOOK_TEXT.encode()).hexdigest())
    node.containers[210] = pr.ContainerProbe(state="STOPPED", detail="210 doesn't exist")
    node.containers[220] = pr.ContainerProbe(state="STOPPED")
    if running:
        node.containers[210] = pr.ContainerProbe(
            state="RUNNING", pid=4242, uid_map=[(0, 100000, 65536)],
            gid_map=[(0, 100000, 44), (44, 44, 1), (45, 100045, 61), (106, 108, 1), (107, 100107, 65429)],
            group_file="ok", groups={"video": 44, "render": 106},
            devices={"/dev/dri/card0": char(1, 3, 44, uid=100000),  # host-side owners, as stat shows them
                     "/dev/dri/renderD128": char(1, 3, 108, uid=100000)})
    return node


def check(exp=INTEL, data=None, node=None, facts=FACTS, ctx=CTX):
    conf = parse_config(api_config(exp) if data is None else data)
    return compare.check_container(exp, conf, node if node is not None else node_probe(), facts, ctx)


def lines(report) -> list[str]:
    return [f.line() for f in report.findings]


# --- clean ------------------------------------------------------------------------------------


def test_a_clean_node_reports_nothing() -> None:
    report = check()
    assert report.findings == [] and report.errors == [] and report.status == "clean"
    assert report.checked == ["devices", "idmap", "subids", "hookscript", "host-devices"]
    assert report.running is False
    assert report.notes == ["in-container: not running: skipped (210 doesn't exist)"]
    running = check(node=node_probe(running=True))
    assert running.findings == [] and running.running is True and "in-container" in running.checked
    nvidia = check(NVIDIA)
    assert nvidia.findings == [] and nvidia.checked[-1] == "nvidia"


# --- [1] devN ---------------------------------------------------------------------------------


def test_all_devn_removed() -> None:
    data = api_config(INTEL)
    del data["dev0"], data["dev1"]
    (finding,) = check(data=data).findings
    assert finding.line() == (
        "devices: no devN line on the node; expected 2 (/dev/dri/card0, /dev/dri/renderD128). bpg keeps its old "
        "list when Proxmox reports none, so Terraform shows no drift and the container has no GPU. Fix: on pve: "
        "`pct set 210 --dev0 'path=/dev/dri/card0,uid=0,gid=44,mode=0660' "
        "--dev1 'path=/dev/dri/renderD128,uid=0,gid=106,mode=0660'` (a deploy does not restore it).")


def test_extra_trailing_devn() -> None:
    data = {**api_config(INTEL), "dev2": "deny-write=0,path=/dev/dri/card1,uid=0,gid=44,mode=0660"}
    (finding,) = check(data=data).findings
    assert finding.subject == "dev2"
    assert finding.line() == (
        "devices: dev2 (/dev/dri/card1) is on the node but not in the configuration: an extra trailing devN that "
        "bpg never deletes when the device list shrinks, so the device stays passed through and every plan wants "
        "to change it. Fix: on pve: `pct set 210 --delete dev2`.")


def test_devn_edited_and_missing() -> None:
    data = api_config(INTEL)
    data["dev0"] = data["dev0"].replace("gid=44", "gid=45").replace("mode=0660", "mode=0666")
    del data["dev1"]
    first, second = check(data=data).findings
    assert first.line() == (
        "devices: dev0 (/dev/dri/card0) differs: gid is 45, expected 44; mode is 0666, expected 0660. Fix: "
        "`cdktf deploy intel-jellyfin` restores it (Terraform sees this), or on pve: "
        "`pct set 210 --dev0 'path=/dev/dri/card0,uid=0,gid=44,mode=0660'`.")
    assert second.subject == "dev1" and second.problem.startswith("dev1 (/dev/dri/renderD128) is missing on the node")


# --- [2] idmap and subids ---------------------------------------------------------------------


def test_idmap_line_changed() -> None:
    data = api_config(INTEL)
    data["lxc"] = [["lxc.idmap", line.replace("g 106 108 1", "g 106 100106 1")] for line in IDMAP]
    (finding,) = check(data=data).findings
    assert finding.line() == (
        "idmap: the raw lxc.idmap lines differ: expected 6, found 6; missing 'g 106 108 1'; not in the "
        "configuration 'g 106 100106 1' (the container starts with the wrong owners, or not at all). Fix: "
        "`cdktf deploy intel-jellyfin` rewrites every lxc.idmap line (bpg, over SSH); it takes effect at the next "
        "start.")


def test_subgid_does_not_allow_the_map() -> None:
    node = node_probe()
    node.subgid = (IdRange(100000, 65536), IdRange(44, 1))
    (finding,) = check(node=node).findings
    assert finding.line() == (
        "subids: /etc/subgid on pve does not let root map host gids 108-108 for 'lxc.idmap: g 106 108 1' "
        "(newuidmap/newgidmap refuse: the container fails to start). Fix: on pve add 'root:108:1' to "
        "/etc/subgid (e.g. `echo root:108:1 >> /etc/subgid`).")
    assert finding.found == ["root:100000:65536", "root:44:1"]  # root's ranges, as the collector's reader gives them
    node.subuid = None  # no /etc/subuid at all; PVE's default map needs 100000-165535
    findings = check(NVIDIA, node=node).findings
    assert [f.problem.split(" (")[0] for f in findings] == [
        "/etc/subuid on pve is missing host uids 100000-165535 for 'lxc.idmap: u 0 100000 65536'"]


# --- [3] hookscript ---------------------------------------------------------------------------


def test_hookscript_edited_on_the_node() -> None:
    node = node_probe()
    node.hooks[("local", "pve-gpu-lxc-220.sh")] = dataclasses.replace(
        node.hooks[("local", "pve-gpu-lxc-220.sh")], sha256="0" * 64)
    (finding,) = check(NVIDIA, node=node, ctx=dataclasses.replace(CTX, stack="nvidia-ollama",
                                                                   stack_dir="cdktf.out/stacks/nvidia-ollama")).findings
    assert finding.line() == (
        f"hookscript: snippet {SNIPPET} was changed on the node: sha256 000000000000…, expected "
        f"{NVIDIA.hook.sha256[:12]}… (Terraform compares no content, so it shows no drift). Fix: "
        "`terraform -chdir=cdktf.out/stacks/nvidia-ollama apply -replace=proxmox_virtual_environment_file.ollama_Hook` "
        "uploads the generated script again (the container is not touched).")


def test_hookscript_not_executable_or_missing_or_repointed() -> None:
    node = node_probe()
    key = ("local", "pve-gpu-lxc-220.sh")
    node.hooks[key] = dataclasses.replace(node.hooks[key], stat=pr.Stat("file", 0, 0, 0o600, 0, 0))
    (finding,) = check(NVIDIA, node=node).findings
    assert finding.problem == (f"snippet {SNIPPET} has mode 0600: not executable (PVE refuses the next start; "
                               "Terraform shows no drift).")
    assert finding.fix.startswith(f"on pve: `chmod 0700 {SNIPPET}`")
    node.hooks[key] = pr.HookFile("missing", SNIPPET)
    (finding,) = check(NVIDIA, node=node).findings
    assert "is missing on pve" in finding.problem and "uploads it again" in finding.fix
    data = {**api_config(NVIDIA), "hookscript": "local:snippets/other.sh"}
    (finding,) = check(NVIDIA, data=data).findings
    assert finding.problem == ("hookscript is local:snippets/other.sh on the node, expected "
                               "local:snippets/pve-gpu-lxc-220.sh (the NVIDIA pre-start checks do not run).")


# --- [4] devices on the host ------------------------------------------------------------------


def test_device_missing_on_the_host() -> None:
    node = node_probe()
    node.devices["/dev/nvidia-uvm"] = "missing"
    (finding,) = check(NVIDIA, node=node).findings
    assert finding.line() == (
        "host-devices: /dev/nvidia-uvm does not exist on pve (PVE refuses to start the container: 'Device "
        "/dev/nvidia-uvm does not exist'). Fix: `pve-gpu-lxc host-setup --node pve --ssh root@pve --apply` makes "
        "the NVIDIA nodes now and at every boot before pve-guests.service (a unit running nvidia-modprobe; "
        "`modprobe nvidia` first if the driver is not loaded).")


# --- boot: NVIDIA's on-demand nodes are made again before pve-guests -----------------------------


def test_nodes_the_boot_makes_give_no_finding() -> None:
    report = check(NVIDIA, node=node_probe())
    assert "boot" in report.checked and not [f for f in report.findings if f.item == "boot"]


def test_nodes_no_boot_step_makes_are_findings_with_the_host_setup_command() -> None:
    node = dataclasses.replace(node_probe(), boot=BootFacts())
    findings = [f for f in check(NVIDIA, node=node).findings if f.item == "boot"]
    assert [f.subject for f in findings] == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    assert findings[2].line() == (
        "boot: nothing pve runs at boot before pve-guests.service makes /dev/nvidia-uvm (NVIDIA makes its nodes on "
        "demand): after the next reboot PVE refuses to start CT 220 ('Device /dev/nvidia-uvm does not exist'), "
        "before any hookscript runs. Fix: `pve-gpu-lxc host-setup --node pve --ssh root@pve --apply` once for the node.")


def test_a_unit_enabled_for_the_boot_but_not_before_pve_guests_does_not_count() -> None:
    unit = next(f for f in FACTS.boot.files if f.path.endswith(".service"))
    late = BootFile(unit.path, unit.text.replace("Before=pve-guests.service\n", ""))
    boot = BootFacts(tuple(late if f.path == unit.path else f for f in FACTS.boot.files), FACTS.boot.enabled)
    findings = [f for f in check(NVIDIA, node=dataclasses.replace(node_probe(), boot=boot)).findings if f.item == "boot"]
    assert len(findings) == 4


def test_without_the_driver_nothing_is_made_at_boot() -> None:
    node = dataclasses.replace(node_probe(), nvidia=None)
    assert len([f for f in check(NVIDIA, node=node).findings if f.item == "boot"]) == 4


def test_an_unread_boot_configuration_is_a_note_not_a_finding() -> None:
    report = check(NVIDIA, node=dataclasses.replace(node_probe(), boot=None, boot_error="ValueError: x"))
    assert not [f for f in report.findings if f.item == "boot"]
    assert "boot: the node's boot configuration was unreadable (ValueError: x): not checked" in report.notes


def test_intel_only_containers_skip_the_boot_item() -> None:
    assert "boot" not in check(node=node_probe()).checked


def test_renumbered_device_against_the_facts() -> None:
    node = node_probe()
    node.devices["/dev/dri/card0"] = char(226, 1, 44)
    (finding,) = check(node=node).findings
    assert finding.problem == (
        "/dev/dri/card0 is 226:1 on pve, but the host facts (" + FACTS.source + ") record 226:0: renumbered after "
        "a kernel or driver update, so the container would get another device.")
    assert finding.fix.startswith("re-record the host facts (`pve-gpu-lxc facts --node pve --ssh root@pve`), ")


def test_renumbered_gpu_by_pci_address() -> None:
    node = node_probe()
    node.by_path["pci-0000:00:02.0-card"] = "../card1"
    node.by_path["pci-0000:01:00.0-card"] = "../card0"
    (finding,) = check(node=node).findings
    assert finding.problem.startswith("the GPU at PCI 0000:00:02.0 is /dev/dri/card1 on pve now, but the host "
                                      "facts and this container use /dev/dri/card0")


def test_not_a_character_device_and_no_facts() -> None:
    node = node_probe()
    node.devices["/dev/dri/renderD128"] = pr.Stat("file", 0, 0, 0o644, 0, 0)
    report = check(node=node, facts=None)
    (finding,) = report.findings
    assert finding.problem == "/dev/dri/renderD128 on pve is a file, not a character device (devN needs a device node)."
    assert any(n.startswith("host-devices: no host facts for node pve") for n in report.notes)


# --- [5] inside a running container, NVIDIA -----------------------------------------------------


def test_wrong_render_gid_inside_the_container() -> None:
    node = node_probe(running=True)
    node.containers[210].groups["render"] = 107
    (finding,) = check(node=node).findings
    assert finding.line() == (
        "in-container: 'render' is gid 107 in the container's /etc/group, but /dev/dri/renderD128 is given gid "
        "106: members of render cannot open it (VA-API: 'No VA display', transcoding silently falls back to the "
        "CPU). Fix: declare the template's GID, `Template.existing(..., render_gid=107)`, and "
        "`cdktf deploy intel-jellyfin` (devN then carries gid 107); or inside CT 210: `groupmod -g 106 render`.")


def test_nodes_inside_the_container() -> None:
    node = node_probe(running=True)
    ct = node.containers[210]
    ct.devices["/dev/dri/renderD128"] = char(1, 3, 50000, 0o600, uid=100000)
    ct.devices["/dev/dri/card0"] = "missing"
    del ct.groups["video"]
    findings = check(node=node).findings
    assert [f.problem for f in findings] == [
        "the container's /etc/group has no 'video' group, but /dev/dri/card0 is given gid 44 (VA-API: 'No VA "
        "display', transcoding silently falls back to the CPU).",
        "/dev/dri/card0 is missing inside the running container (it started without it).",
        "/dev/dri/renderD128 inside the container has group unmapped (host gid 50000: nogroup inside), "
        "expected 106; mode 0600, expected 0660.",
    ]
    assert findings[1].fix == "`pct reboot 210` (PVE creates the passed nodes at every start)."


def test_nvidia_driver_against_the_pin() -> None:
    node = node_probe()
    assert node.nvidia is not None and node.nvidia.module_version == "575.64.03"
    node.nvidia = dataclasses.replace(node.nvidia, module_version="580.65.06")
    (finding,) = check(NVIDIA, node=node).findings
    assert finding.line() == (
        "nvidia: the host NVIDIA driver is 580.65.06, but the container is pinned to 575.64.03 (the pre-start hook "
        "refuses the next start; a running container gets NVML 'Driver/library version mismatch'). Fix: install "
        "driver 575.64.03 on pve, or rebuild the image for 580.65.06, set "
        "`NvidiaGpu(driver_version=\"580.65.06\")` and `cdktf deploy intel-jellyfin`.")
    (finding,) = [f for f in check(NVIDIA, node=dataclasses.replace(node, nvidia=None)).findings
                  if f.item == "nvidia"]
    assert finding.problem.startswith("the NVIDIA kernel module is not loaded on pve")
    # a module without /sys/module/nvidia/version: the proc file (575.64.03), as the hook
    assert check(NVIDIA, node=dataclasses.replace(node, nvidia=dataclasses.replace(
        node.nvidia, module_version=None))).findings == []
    # the loaded module's own version (580.65.06) wins over the proc file's, as in the hook
    assert [f.found for f in check(NVIDIA, node=node).findings] == ["580.65.06"]


RUNTIME_HOOK = "#!/bin/sh\npve_gpu_lxc_nvidia_runtime compute,utility\n"
NVIDIA_APP = dataclasses.replace(
    NVIDIA, name="app", nvidia_driver=None, nvidia_runtime="compute,utility",
    hook=ExpectedHook("local:snippets/pve-gpu-lxc-220.sh", RUNTIME_HOOK, "proxmox_virtual_environment_file.app_Hook",
                      "0700"))
RUNTIME_READY = NvidiaRuntimeFacts(cli="/usr/bin/nvidia-container-cli", cli_version="cli-version: 1.17.8",
                                   lxc_hook=True, lxc_package="lxc-pve", lxc_version="6.0.5-3")


def runtime_node(runtime: NvidiaRuntimeFacts | None) -> pr.NodeProbe:
    node = node_probe()
    node.hooks[("local", "pve-gpu-lxc-220.sh")] = pr.HookFile(
        "file", SNIPPET, pr.Stat("file", 0, 0, 0o700, 0, 0), hashlib.sha256(RUNTIME_HOOK.encode()).hexdigest())
    node.nvidia_runtime = runtime
    return node


def test_nvidia_runtime_what_the_node_needs() -> None:
    assert check(NVIDIA_APP, node=runtime_node(RUNTIME_READY)).findings == []
    upgraded_away = dataclasses.replace(RUNTIME_READY, cli=None, lxc_version="6.0.0-1")
    cli, lxc = check(NVIDIA_APP, node=runtime_node(upgraded_away)).findings
    assert cli.line() == (
        "nvidia: NvidiaGpu(runtime='host') has LXC's nvidia hook run nvidia-container-cli at every start, and on pve "
        "nvidia-container-cli is not installed on the node. Fix: on pve: install NVIDIA's libnvidia-container-tools "
        "(NVIDIA's apt repository).")
    assert lxc.problem.endswith("`lxc.environment.hooks`, which lxc-pve 6.0.0-1 does not know (LXC refuses the "
                                "container's config).")
    assert lxc.fix == "on pve: upgrade to lxc-pve >= 6.0.5-3 (PVE 9.1 or later)."
    assert lxc.found["lxc_version"] == "6.0.0-1"


def test_nvidia_runtime_not_read_is_a_note_not_a_finding() -> None:
    report = check(NVIDIA_APP, node=runtime_node(None))
    assert [f for f in report.findings if f.item == "nvidia"] == []
    assert "nvidia: NVIDIA's container runtime on pve could not be read: not compared" in report.notes


# --- whole-container outcomes -----------------------------------------------------------------


def test_container_missing_errors_and_no_ssh() -> None:
    report = compare.check_container(INTEL, None, node_probe(), FACTS, CTX)
    (finding,) = report.findings
    assert finding.line() == ("container: CT 210 does not exist on node pve (no /etc/pve/lxc/210.conf). Fix: "
                              "`cdktf deploy intel-jellyfin` creates it (Terraform sees this).")
    report = compare.check_container(INTEL, None, None, FACTS, CTX, api_error="HTTP 401 x")
    assert report.errors == ["Proxmox API: HTTP 401 x"] and report.status == "error"
    report = compare.check_container(INTEL, parse_config(api_config(INTEL)), None, FACTS, CTX, ssh_error="refused")
    assert report.errors == ["SSH: refused"] and report.checked == ["devices", "idmap"]


def test_a_half_created_container_locked_create_is_one_finding_naming_pct_unlock_and_destroy() -> None:
    # what a create task whose worker died leaves (pvesim faults.py kill_worker): `lock: create` alone
    report = check(data={"lock": "create", "digest": "0" * 40})
    assert lines(report) == [
        "container: CT 210 is locked (create): a create task that never finished (its worker died) left a container "
        "without the stack's configuration; PVE refuses to change, start or destroy it, and no deploy completes "
        "while it is there. Fix: unless a create of CT 210 is still running (the node's task list), on node pve: "
        "`pct unlock 210 && pct destroy 210 --destroy-unreferenced-disks 1`, then `cdktf deploy intel-jellyfin`."]
    assert report.checked == ["container"] and report.findings[0].found == "lock: create"


def test_another_lock_is_a_finding_beside_the_usual_checks() -> None:
    report = check(data={**api_config(INTEL), "lock": "backup"})
    assert lines(report) == [
        "container: CT 210 is locked (backup): PVE refuses config changes and starts until the task holding the "
        "lock ends, so a deploy fails or waits. Fix: wait for that task (the node's task list); if none runs any "
        "more, `pct unlock 210` on node pve."]
    assert report.checked[:3] == ["container", "devices", "idmap"]


def test_running_without_a_readable_root_is_a_note_not_a_finding() -> None:
    node = node_probe()
    node.containers[210] = pr.ContainerProbe(state="RUNNING", pid=None)
    report = check(node=node)
    assert report.findings == [] and report.running is True and "in-container" not in report.checked
    assert "in-container: skipped: running, but lxc-info gave no pid whose root is readable" in report.notes


# --- ownership: the vm_id another's, orphans (cli/check/ownership.py) -----------------------------


def test_a_vm_id_anothers_container_holds_is_one_ownership_finding_and_nothing_else_is_compared() -> None:
    from pve_gpu_lxc.model.ownership import Listed

    ct = dataclasses.replace(INTEL, hostname="jellyfin", tags=("gpu", "media", "pve-gpu-lxc.intel-jellyfin.jellyfin"))
    other = Listed(210, "pve", "postgres-prod")
    report = compare.check_container(ct, None, node_probe(), FACTS, CTX, blocking=[other])
    assert report.checked == ["ownership"] and [f.item for f in report.findings] == ["ownership"]
    (finding,) = report.findings
    assert finding.line() == (
        "ownership: vm_id 210 is taken by container 'postgres-prod' on node pve (tags: none), which this stack did "
        "not create (it carries no pve-gpu-lxc.intel-jellyfin.* tag): the plan stops at the guard (`cdktf deploy "
        "intel-jellyfin` would otherwise adopt it, write this container's settings into it, and a destroy would "
        "delete it with its disk). Fix: give proxmox_virtual_environment_container.jellyfin a vm_id no container "
        "or VM on the cluster uses (`pvesh get /cluster/nextid`); if CT 210 is this stack's own container whose tag "
        "pve-gpu-lxc.intel-jellyfin.jellyfin was lost, put it back on pve: `pct set 210 --tags "
        "'gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin'`; to take over a container made outside the stack, declare "
        "it with GpuContainer(..., import_existing=True).")
    assert finding.found == [{"node": "pve", "name": "postgres-prod", "tags": []}]
    # the stack's own container: listed, no finding, the other items run
    clean = compare.check_container(ct, parse_config(api_config(ct)), node_probe(), FACTS, CTX, blocking=[])
    assert clean.checked[:2] == ["ownership", "devices"] and clean.findings == []
    imported = compare.check_container(dataclasses.replace(ct, imported=True), None, None, FACTS, CTX, blocking=[other])
    assert imported.findings[0].problem.startswith(
        "vm_id 210 is container 'postgres-prod' on node pve (tags: none), not host 'jellyfin' as declared for the import")


def test_a_dead_create_at_the_vm_id_is_the_lock_finding_not_a_collision() -> None:
    """PVE's listing has the lock (vmstatus); a create whose worker died left `lock: create` alone."""
    from pve_gpu_lxc.model.ownership import Listed

    dead = Listed(210, "pve", "CT210", lock="create")
    report = compare.check_container(INTEL, None, node_probe(), FACTS, CTX, blocking=[dead])
    (finding,) = report.findings
    assert finding.line().startswith("container: CT 210 is locked (create): a create task that never finished")
    assert "`pct unlock 210 && pct destroy 210 --destroy-unreferenced-disks 1`" in finding.fix
    # a tagged container or another lock is not a dead create: the collision stands
    for other in (Listed(210, "pve", "db", ("prod",), lock="create"), Listed(210, "pve", "CT210", lock="backup")):
        report = compare.check_container(INTEL, None, node_probe(), FACTS, CTX, blocking=[other])
        assert [f.item for f in report.findings] == ["ownership"], other


def test_orphans_are_the_stacks_tagged_containers_at_vm_ids_it_does_not_have() -> None:
    from pve_gpu_lxc.cli.check import ownership
    from pve_gpu_lxc.model.ownership import Listed

    listed = [Listed(210, "pve", "jellyfin", ("pve-gpu-lxc.intel-jellyfin.jellyfin",)),
              Listed(212, "pve", "old-jellyfin", ("pve-gpu-lxc.intel-jellyfin.old-jellyfin",)),
              Listed(300, "pve", "postgres-prod")]
    (finding,) = ownership.orphans("intel-jellyfin", listed, {210}, CTX.deploy())
    assert (finding.item, finding.subject) == ("ownership", "CT 212 on pve")
    assert finding.problem.startswith("CT 212 ('old-jellyfin') on node pve carries this stack's tag "
                                      "pve-gpu-lxc.intel-jellyfin.old-jellyfin, but no container of stack "
                                      "intel-jellyfin has vm_id 212")
    assert "`pct destroy 212`" in finding.fix and "import_existing=True" in finding.fix
