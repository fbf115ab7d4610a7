"""Expected against found, item by item, with the fix for each difference (pure).

`check_container` takes what the stack synthesized (`pve.synthesized.ExpectedContainer`), what the
API returned (`nodeconf.FoundConfig`, None when the container does not exist), what the
node's probe printed (`probe.NodeProbe`, None when SSH failed) and the node's recorded host
facts (None when there are none), and returns a `ContainerReport`.  No I/O here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...core.nvidia_nodes import gpu_minor, is_nvidia_on_demand
from ...facts.boot import nodes_at_boot
from ...facts.io import host_setup_command
from ...facts.model import HostFacts
from ...facts.records import uncovered
from ...facts.verify import NVIDIA_RUNTIME_NEED, nvidia_runtime_problems
from ...model.devices import group_role
from ...model.ownership import Listed
from ...pve.synthesized import ExpectedContainer, ExpectedDevice
from . import ownership
from . import probe as pr
from .findings import ContainerReport, Finding, Item
from .nodeconf import FoundConfig, FoundDevice

_WHY_VAAPI = "VA-API: 'No VA display', transcoding silently falls back to the CPU"


@dataclass(frozen=True)
class Context:
    """Names the fix texts use."""

    stack: str
    stack_dir: str = "cdktf.out/stacks/<stack>"  # for `terraform -chdir=...`
    facts_file: str | None = None  # where this node's facts came from

    def deploy(self) -> str:
        return f"`cdktf deploy {self.stack}`"

    def refacts(self, node: str) -> str:
        default = f"stacks/facts/{node}.json"  # what `facts` writes without --out (relative to the project)
        out = f" --out {self.facts_file}" if self.facts_file and not self.facts_file.endswith(default) else ""
        return (f"re-record the host facts (`pve-gpu-lxc facts --node {node} --ssh root@{node}{out}`), "
                f"synthesize and {self.deploy()}: the GPU is selected by PCI address, so devN follows it")


def check_container(
    exp: ExpectedContainer,
    conf: FoundConfig | None,
    node: pr.NodeProbe | None,
    facts: HostFacts | None,
    ctx: Context,
    *,
    api_error: str | None = None,
    ssh_error: str | None = None,
    blocking: Sequence[Listed] | None = None,
) -> ContainerReport:
    """blocking: the containers the node lists at this vm_id that are not the stack's (None: not listed)."""
    report = ContainerReport(stack=exp.stack, address=exp.address, node=exp.node, vmid=exp.vmid)
    if api_error is not None:
        report.errors.append(f"Proxmox API: {api_error}")
        return report
    if blocking is not None:
        report.checked.append("ownership")
        if blocking and all(b.dead_create and b.node == exp.node for b in blocking):
            # a create that died holds the vm_id: the guard cannot tell it from another's (bpg's listing
            # has no lock), the node's listing can; its finding names the way out
            report.checked.append("container")
            report.findings.append(lock_finding(exp, "create", ctx))
            report.notes.append("the guard stops the next plan at this vm_id until the half-created container is gone")
            return report
        if blocking:  # another's container: nothing of it is compared with this one
            report.findings.append(ownership.collision(exp, blocking, ctx.deploy()))
            report.notes.append("the other items were not checked: the container at this vm_id is not this stack's")
            return report
    if conf is None:
        report.findings.append(Finding(
            "container", f"CT {exp.vmid}",
            f"CT {exp.vmid} does not exist on node {exp.node} (no /etc/pve/lxc/{exp.vmid}.conf).",
            f"{ctx.deploy()} creates it (Terraform sees this).",
            expected="exists", found="absent"))
        report.checked.append("container")
        return report

    def run(item: Item, findings: Iterable[Finding]) -> None:
        report.findings.extend(findings)
        report.checked.append(item)

    if conf.lock is not None:
        run("container", [lock_finding(exp, conf.lock, ctx)])
        if conf.lock == "create":  # a container PVE never finished creating: nothing of the stack's is in it
            return report
    run("devices", compare_devices(exp, conf, ctx))
    run("idmap", compare_idmap(exp, conf, ctx))
    if node is None:
        report.errors.append(f"SSH: {ssh_error or 'no probe output'}")
        report.notes.append("subids, hookscript, host-devices, in-container and nvidia not checked (no SSH probe)")
        return report
    if exp.effective_idmap:
        run("subids", compare_subids(exp, node))
    else:
        report.notes.append("subids: a privileged container without lxc.idmap needs none")
    hook_findings, hook_notes = compare_hookscript(exp, conf, node, ctx)
    run("hookscript", hook_findings)
    report.notes.extend(hook_notes)
    host_findings, host_notes = compare_host_devices(exp, conf, node, facts, ctx)
    run("host-devices", host_findings)
    report.notes.extend(host_notes)
    if any(is_nvidia_on_demand(path) for path in _passed_paths(exp, conf)):
        boot_findings, boot_notes = compare_boot(exp, conf, node, facts)
        run("boot", boot_findings)
        report.notes.extend(boot_notes)
    ct = node.containers.get(exp.vmid)
    report.running = ct.state == "RUNNING" if ct is not None and ct.state != "UNKNOWN" else None
    if ct is not None and ct.running:
        run("in-container", compare_in_container(exp, ct, ctx))
    elif ct is not None and ct.state == "RUNNING":
        report.notes.append("in-container: skipped: running, but lxc-info gave no pid whose root is readable")
    else:
        why = (ct.detail or ct.state) if ct is not None else "not probed"
        report.notes.append(f"in-container: not running: skipped ({why})")
    if exp.is_nvidia or exp.nvidia_driver or exp.nvidia_runtime:
        nvidia_findings, nvidia_notes = compare_nvidia(exp, node, ctx)
        run("nvidia", nvidia_findings)
        report.notes.extend(nvidia_notes)
    return report


def lock_finding(exp: ExpectedContainer, lock: str, ctx: Context) -> Finding:
    """A `lock:` in the config (pve-guest-common AbstractConfig.pm check_lock: PVE refuses config
    changes, starts and destroy with "CT is locked (<lock>)" until the task holding it removes it).
    `create` is written by create_and_lock_config before the create task runs and removed when it
    ends; a create task that died leaves it, on a config without the stack's options."""
    vmid = exp.vmid
    if lock == "create":
        return Finding(
            "container", f"CT {vmid}",
            f"CT {vmid} is locked (create): a create task that never finished (its worker died) left a container "
            "without the stack's configuration; PVE refuses to change, start or destroy it, and no deploy "
            "completes while it is there.",
            f"unless a create of CT {vmid} is still running (the node's task list), on node {exp.node}: "
            f"`pct unlock {vmid} && pct destroy {vmid} --destroy-unreferenced-disks 1`, then {ctx.deploy()}.",
            expected="unlocked", found=f"lock: {lock}")
    return Finding(
        "container", f"CT {vmid}",
        f"CT {vmid} is locked ({lock}): PVE refuses config changes and starts until the task holding the lock "
        "ends, so a deploy fails or waits.",
        f"wait for that task (the node's task list); if none runs any more, `pct unlock {vmid}` on node {exp.node}.",
        expected="unlocked", found=f"lock: {lock}")


# --------------------------------------------------------------------------------------------
# [1] devN


def _pct_set(exp: ExpectedContainer, devices: Sequence[ExpectedDevice]) -> str:
    args = " ".join(f"--dev{d.index} '{d.pve_value()}'" for d in devices)
    return f"on {exp.node}: `pct set {exp.vmid} {args}`"


def device_differences(e: ExpectedDevice, f: FoundDevice) -> list[str]:
    """`field is <found>, expected <expected>` for each field that differs (PVE defaults applied)."""
    diffs = []
    if f.path != e.path:
        diffs.append(f"path is {f.path}, expected {e.path}")
    for name, found, expected in (("uid", f.uid if f.uid is not None else 0, e.uid),
                                  ("gid", f.gid if f.gid is not None else 0, e.gid)):
        if found != expected:
            diffs.append(f"{name} is {found}, expected {expected}")
    if e.mode is not None and f.mode != e.mode:
        diffs.append(f"mode is {f.mode or 'unset (the mode of the host node)'}, expected {e.mode}")
    if f.deny_write != e.deny_write:
        diffs.append(f"deny-write is {int(f.deny_write)}, expected {int(e.deny_write)}")
    return diffs


def compare_devices(exp: ExpectedContainer, conf: FoundConfig, ctx: Context) -> list[Finding]:
    found = conf.devices
    expected = list(exp.devices)
    if expected and not found:
        paths = ", ".join(d.path for d in expected)
        return [Finding(
            "devices", "devN",
            f"no devN line on the node; expected {len(expected)} ({paths}). bpg keeps its old list "
            "when Proxmox reports none, so Terraform shows no drift and the container has no GPU.",
            _pct_set(exp, expected) + " (a deploy does not restore it).",
            expected=[d.pve_value() for d in expected], found=[])]
    findings = []
    for e in expected:
        f = found.get(e.index)
        if f is None:
            findings.append(Finding(
                "devices", f"dev{e.index}",
                f"dev{e.index} ({e.path}) is missing on the node; expected '{e.pve_value()}'.",
                f"{ctx.deploy()} restores it (Terraform sees this), or {_pct_set(exp, [e])}.",
                expected=e.pve_value(), found=None))
            continue
        diffs = device_differences(e, f)
        if diffs:
            findings.append(Finding(
                "devices", f"dev{e.index}",
                f"dev{e.index} ({e.path}) differs: {'; '.join(diffs)}.",
                f"{ctx.deploy()} restores it (Terraform sees this), or {_pct_set(exp, [e])}.",
                expected=e.pve_value(), found=f.raw))
    for index, f in found.items():
        if index >= len(expected):
            findings.append(Finding(
                "devices", f"dev{index}",
                f"dev{index} ({f.path}) is on the node but not in the configuration: an extra trailing "
                "devN that bpg never deletes when the device list shrinks, so the device stays passed "
                "through and every plan wants to change it.",
                f"on {exp.node}: `pct set {exp.vmid} --delete dev{index}`.",
                expected=None, found=f.raw))
    return findings


# --------------------------------------------------------------------------------------------
# [2] lxc.idmap and subuid/subgid


def compare_idmap(exp: ExpectedContainer, conf: FoundConfig, ctx: Context) -> list[Finding]:
    if list(conf.idmap) == list(exp.idmap):
        return []
    missing = [line for line in exp.idmap if line not in conf.idmap]
    extra = [line for line in conf.idmap if line not in exp.idmap]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(f"'{m}'" for m in missing))
    if extra:
        parts.append("not in the configuration " + ", ".join(f"'{x}'" for x in extra))
    if not parts:
        parts.append("the same lines in another order")
    return [Finding(
        "idmap", "lxc.idmap",
        f"the raw lxc.idmap lines differ: expected {len(exp.idmap)}, found {len(conf.idmap)}; "
        f"{'; '.join(parts)} (the container starts with the wrong owners, or not at all).",
        f"{ctx.deploy()} rewrites every lxc.idmap line (bpg, over SSH); it takes effect at the next start.",
        expected=list(exp.idmap), found=list(conf.idmap))]


def compare_subids(exp: ExpectedContainer, node: pr.NodeProbe) -> list[Finding]:
    findings = []
    for kind, name in (("u", "subuid"), ("g", "subgid")):
        lines = [line for line in exp.effective_idmap if line.split()[0] == kind]
        if not lines:
            continue
        allowed = node.subuid if kind == "u" else node.subgid
        for line in lines:
            _, _ct, host, size = line.split()
            gaps = uncovered(allowed or (), int(host), int(size))
            if not gaps:
                continue
            add = [f"root:{g.start}:{g.count}" for g in gaps]
            where = "is missing" if allowed is None else "does not let root map"
            findings.append(Finding(
                "subids", f"/etc/{name}",
                f"/etc/{name} on {exp.node} {where} host {name[3:]}s "
                + ", ".join(f"{g.start}-{g.end - 1}" for g in gaps)
                + f" for 'lxc.idmap: {line}' (newuidmap/newgidmap refuse: the container fails to start).",
                f"on {exp.node} add {', '.join(repr(a) for a in add)} to /etc/{name}"
                f" (e.g. `echo {add[0]} >> /etc/{name}`).",
                expected=add, found=None if allowed is None else [f"root:{r.start}:{r.count}" for r in allowed]))
    return findings


# --------------------------------------------------------------------------------------------
# [3] hookscript


def _split_volid(volid: str) -> tuple[str, str] | None:
    storage, sep, rest = volid.partition(":")
    if not sep or not rest.startswith("snippets/"):
        return None
    name = rest[len("snippets/"):]
    return (storage, name) if name and "/" not in name else None


def compare_hookscript(exp: ExpectedContainer, conf: FoundConfig, node: pr.NodeProbe,
                       ctx: Context) -> tuple[list[Finding], list[str]]:
    hook = exp.hook
    found = conf.hookscript
    if hook is None:
        if found is None:
            return [], []
        return [Finding(
            "hookscript", "hookscript",
            f"hookscript is {found} on the node, but the configuration has none.",
            f"{ctx.deploy()} removes it (Terraform sees this), or on {exp.node}: "
            f"`pct set {exp.vmid} --delete hookscript`.",
            expected=None, found=found)], []
    findings: list[Finding] = []
    notes: list[str] = []
    if found != hook.volid:
        findings.append(Finding(
            "hookscript", "hookscript",
            f"hookscript is {found or 'not set'} on the node, expected {hook.volid}"
            + (" (the NVIDIA pre-start checks do not run)." if exp.nvidia_driver else "."),
            f"{ctx.deploy()} sets it again (Terraform sees this).",
            expected=hook.volid, found=found))
    key = _split_volid(hook.volid)
    if key is None:
        notes.append(f"hookscript: {hook.volid} is not a '<storage>:snippets/<file>' volume: not probed")
        return findings, notes
    snippet = node.hooks.get(key)
    replace = (f"`terraform -chdir={ctx.stack_dir} apply -replace={hook.file_address}` uploads the generated "
               "script again (the container is not touched)") if hook.file_address else f"{ctx.deploy()}"
    if snippet is None:
        notes.append(f"hookscript: {hook.volid} was not probed")
    elif snippet.status == "nostorage":
        findings.append(Finding(
            "hookscript", hook.volid,
            f"storage '{key[0]}' of {hook.volid} is not in /etc/pve/storage.cfg on {exp.node} "
            "(PVE refuses to start the container).",
            f"add a snippets storage '{key[0]}' on {exp.node}, or give the stack's hookscript one that exists.",
            expected=hook.volid, found=None))
    elif snippet.status == "unsupported":
        notes.append(f"hookscript: storage '{key[0]}' is of type {snippet.detail}, which has no directory: "
                     "snippet not checked")
    elif snippet.status in ("missing", "notfile"):
        what = "is missing" if snippet.status == "missing" else "is not a regular file"
        findings.append(Finding(
            "hookscript", snippet.path or hook.volid,
            f"snippet {snippet.path} ({hook.volid}) {what} on {exp.node} "
            "(PVE refuses to start the container: the hookscript does not exist).",
            f"{ctx.deploy()} uploads it again (Terraform sees this).",
            expected=hook.sha256, found=None))
    else:
        if hook.sha256 is None:
            notes.append(f"hookscript: {hook.note or 'content not known from the configuration'}; "
                         "only existence and mode checked")
        elif snippet.sha256 != hook.sha256:
            findings.append(Finding(
                "hookscript", snippet.path or hook.volid,
                f"snippet {snippet.path} was changed on the node: sha256 {str(snippet.sha256)[:12]}…, "
                f"expected {hook.sha256[:12]}… (Terraform compares no content, so it shows no drift).",
                replace + ".",
                expected=hook.sha256, found=snippet.sha256))
        if snippet.stat is not None and not snippet.stat.executable:
            mode = hook.file_mode or "0700"
            findings.append(Finding(
                "hookscript", snippet.path or hook.volid,
                f"snippet {snippet.path} has mode {snippet.stat.mode}: not executable "
                "(PVE refuses the next start; Terraform shows no drift).",
                f"on {exp.node}: `chmod {mode} {snippet.path}`, or {replace}.",
                expected=mode, found=snippet.stat.mode))
    return findings, notes


# --------------------------------------------------------------------------------------------
# [4] devices on the host


def _passed_paths(exp: ExpectedContainer, conf: FoundConfig | None) -> list[str]:
    paths = [d.path for d in exp.devices]
    for f in (conf.devices.values() if conf else ()):
        if f.path and f.path not in paths:
            paths.append(f.path)
    return paths


def _host_setup(node: str, path: str) -> str:
    return f"`{host_setup_command(node, node, [path])}`"


def _missing_fix(exp: ExpectedContainer, path: str, ctx: Context, running: bool) -> str:
    if is_nvidia_on_demand(path):
        fix = (f"{_host_setup(exp.node, path)} makes the NVIDIA nodes now and at every boot before pve-guests.service "
               "(a unit running nvidia-modprobe; `modprobe nvidia` first if the driver is not loaded)")
        return fix + (f", then `pct reboot {exp.vmid}`." if running else ".")
    if path.startswith("/dev/dri/"):
        return (f"a kernel or driver update renumbered or removed it (see `ls -l /dev/dri/by-path` on "
                f"{exp.node}): {ctx.refacts(exp.node)}.")
    return f"create {path} on {exp.node} (load its driver), or remove the device from the stack."


def compare_host_devices(exp: ExpectedContainer, conf: FoundConfig | None, node: pr.NodeProbe,
                         facts: HostFacts | None, ctx: Context) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    notes: list[str] = []
    running = bool(node.containers.get(exp.vmid) and node.containers[exp.vmid].running)
    if facts is None:
        notes.append(f"host-devices: no host facts for node {exp.node}: major:minor not compared "
                     f"(record stacks/facts/{exp.node}.json or pass --facts {exp.node}=FILE)")
    for path in _passed_paths(exp, conf):
        st = node.devices.get(path)
        if st is None:
            notes.append(f"host-devices: {path} was not probed (its name has characters the check never "
                         "sends to a node)")
            continue
        if st == "missing":
            findings.append(Finding(
                "host-devices", path,
                f"{path} does not exist on {exp.node} (PVE refuses to start the container: "
                f"'Device {path} does not exist').",
                _missing_fix(exp, path, ctx, running),
                expected="char device", found=None))
            continue
        if st == "unreadable":
            notes.append(f"host-devices: stat of {path} printed nothing usable")
            continue
        if st.kind != "char":
            findings.append(Finding(
                "host-devices", path,
                f"{path} on {exp.node} is a {st.kind}, not a character device (devN needs a device node).",
                f"point the stack at the character device itself, or re-create {path} on {exp.node}.",
                expected="char device", found=st.kind))
            continue
        if facts is None:
            continue
        recorded = facts.node(path)
        if (recorded is not None and recorded.major is not None
                and (recorded.major, recorded.minor) != (st.major, st.minor)):
            findings.append(Finding(
                "host-devices", path,
                f"{path} is {st.rdev} on {exp.node}, but the host facts ({facts.source}) record "
                f"{recorded.major}:{recorded.minor}: renumbered after a kernel or driver update, so the "
                "container would get another device.",
                ctx.refacts(exp.node) + ".",
                expected=f"{recorded.major}:{recorded.minor}", found=st.rdev))
            continue
        finding = _renumbered(exp, path, node, facts, ctx)
        if finding is not None:
            findings.append(finding)
    return findings, notes


def _renumbered(exp: ExpectedContainer, path: str, node: pr.NodeProbe, facts: HostFacts,
                ctx: Context) -> Finding | None:
    """A /dev/dri node whose PCI device (per the facts' by-path links) now has another name."""
    if not path.startswith("/dev/dri/") or not node.by_path:
        return None
    name = posixpath.basename(path)
    for link, target in facts.dri_by_path:
        if posixpath.basename(target) != name:
            continue
        link_name = posixpath.basename(link)
        pci = link_name.removeprefix("pci-").rsplit("-", 1)[0]
        now = node.by_path.get(link_name)
        if now is None:
            return Finding(
                "host-devices", path,
                f"no GPU at PCI {pci} on {exp.node} (/dev/dri/by-path has no {link_name}); the host facts "
                f"give it {path}.",
                f"check the GPU and its driver on {exp.node} (`ls -l /dev/dri/by-path`), then "
                f"{ctx.refacts(exp.node)}.",
                expected=f"{link_name} -> {target}", found=None)
        if posixpath.basename(now) != name:
            return Finding(
                "host-devices", path,
                f"the GPU at PCI {pci} is {posixpath.join('/dev/dri', posixpath.basename(now))} on "
                f"{exp.node} now, but the host facts and this container use {path} (renumbered after a "
                "kernel update: the container gets another GPU or fails to start).",
                ctx.refacts(exp.node) + ".",
                expected=f"{link_name} -> {target}", found=f"{link_name} -> {now}")
        return None
    return None


def compare_boot(exp: ExpectedContainer, conf: FoundConfig | None, node: pr.NodeProbe,
                 facts: HostFacts | None) -> tuple[list[Finding], list[str]]:
    """NVIDIA's on-demand nodes this container passes are made again by the node's boot (facts/boot.py)."""
    if node.boot is None:
        why = f"unreadable ({node.boot_error})" if node.boot_error else "not read by the probe"
        return [], [f"boot: the node's boot configuration was {why}: not checked"]
    if facts is not None and facts.nvidia is not None:
        minors = facts.nvidia.device_minors
    else:  # without facts: the GPUs this container passes
        minors = tuple(m for m in map(gpu_minor, _passed_paths(exp, conf)) if m is not None)
    at_boot = nodes_at_boot(node.boot, driver_installed=node.nvidia_version is not None, gpu_minors=minors)
    findings = []
    for path in _passed_paths(exp, conf):
        if is_nvidia_on_demand(path) and path not in at_boot:
            findings.append(Finding(
                "boot", path,
                f"nothing {exp.node} runs at boot before pve-guests.service makes {path} (NVIDIA makes its "
                f"nodes on demand): after the next reboot PVE refuses to start CT {exp.vmid} "
                f"('Device {path} does not exist'), before any hookscript runs.",
                f"{_host_setup(exp.node, path)} once for the node.",
                expected="made at boot", found=None))
    return findings, []


# --------------------------------------------------------------------------------------------
# [5] inside a running container, and the NVIDIA driver


def _owner(ct: pr.ContainerProbe, st: pr.Stat) -> tuple[int | None, int | None]:
    return pr.map_to_container(ct.uid_map, st.uid), pr.map_to_container(ct.gid_map, st.gid)


def compare_in_container(exp: ExpectedContainer, ct: pr.ContainerProbe, ctx: Context) -> list[Finding]:
    findings = []
    groups: dict[str, dict[int, list[str]]] = {}
    for d in exp.devices:
        role = group_role(d.path)
        if role is not None and d.gid != 0:
            groups.setdefault(role, {}).setdefault(d.gid, []).append(d.path)
    if groups and ct.group_file != "ok":
        findings.append(Finding(
            "in-container", "/etc/group",
            f"the container's /etc/group could not be read ({ct.group_file or 'no answer'}; symlinks are "
            "not followed), so the render/video GIDs were not compared.",
            f"check /etc/group inside CT {exp.vmid} (`pct exec {exp.vmid} -- getent group render video`).",
            expected="a regular file", found=ct.group_file))
    elif groups:
        for group, by_gid in sorted(groups.items()):
            for gid, paths in sorted(by_gid.items()):
                found = ct.groups.get(group)
                nodes = ", ".join(paths)
                opt = f"{group}_gid"
                if found is None:
                    findings.append(Finding(
                        "in-container", group,
                        f"the container's /etc/group has no '{group}' group, but {nodes} "
                        f"{'is' if len(paths) == 1 else 'are'} given gid {gid} ({_WHY_VAAPI}).",
                        f"inside CT {exp.vmid}: `groupadd -g {gid} {group}` and add the service user to it.",
                        expected=gid, found=None))
                elif found != gid:
                    findings.append(Finding(
                        "in-container", group,
                        f"'{group}' is gid {found} in the container's /etc/group, but {nodes} "
                        f"{'is' if len(paths) == 1 else 'are'} given gid {gid}: members of {group} cannot "
                        f"open {'it' if len(paths) == 1 else 'them'} ({_WHY_VAAPI}).",
                        f"declare the template's GID, `Template.existing(..., {opt}={found})`, and "
                        f"{ctx.deploy()} (devN then carries gid {found}); or inside CT {exp.vmid}: "
                        f"`groupmod -g {gid} {group}`.",
                        expected=gid, found=found))
    for d in exp.devices:
        seen = ct.devices.get(d.path)
        if seen is None:
            continue
        restart = f"`pct reboot {exp.vmid}` (PVE creates the passed nodes at every start)"
        if seen == "missing":
            findings.append(Finding(
                "in-container", d.path,
                f"{d.path} is missing inside the running container (it started without it).",
                restart + ".", expected="char device", found=None))
            continue
        if isinstance(seen, str):  # "symlink" or "unreadable"
            findings.append(Finding(
                "in-container", d.path,
                f"{d.path} inside the container is a {seen} path, not the node PVE creates.",
                restart + ".", expected="char device", found=seen))
            continue
        if seen.kind != "char":
            findings.append(Finding(
                "in-container", d.path,
                f"{d.path} inside the container is a {seen.kind}, not a character device.",
                restart + ".", expected="char device", found=seen.kind))
            continue
        owner_uid, owner_gid = _owner(ct, seen)
        diffs = []
        if owner_uid != d.uid:
            shown_uid = owner_uid if owner_uid is not None else f"unmapped (host uid {seen.uid})"
            diffs.append(f"owner {shown_uid}, expected {d.uid}")
        if owner_gid != d.gid:
            shown_gid = owner_gid if owner_gid is not None else f"unmapped (host gid {seen.gid}: nogroup inside)"
            diffs.append(f"group {shown_gid}, expected {d.gid}")
        if d.mode is not None and seen.mode != d.mode:
            diffs.append(f"mode {seen.mode}, expected {d.mode}")
        if diffs:
            findings.append(Finding(
                "in-container", d.path,
                f"{d.path} inside the container has {'; '.join(diffs)}.",
                restart + "; if it stays, check the lxc.idmap covers the gid.",
                expected={"uid": d.uid, "gid": d.gid, "mode": d.mode},
                found={"uid": owner_uid, "gid": owner_gid, "mode": seen.mode}))
    return findings


def compare_nvidia_runtime(exp: ExpectedContainer, node: pr.NodeProbe) -> tuple[list[Finding], list[str]]:
    """NvidiaGpu(runtime="host"): what LXC's nvidia hook needs on the node (the synth-time rule)."""
    runtime = node.nvidia_runtime
    if runtime is None:
        return [], [f"nvidia: NVIDIA's container runtime on {exp.node} could not be read: not compared"]
    return [Finding("nvidia", "runtime", f"{NVIDIA_RUNTIME_NEED}, and on {exp.node} {what}.",
                    f"on {exp.node}: {fix}.", expected="nvidia-container-cli, LXC's nvidia hook, lxc-pve >= 6.0.5-3",
                    found={"cli": runtime.cli, "lxc_hook": runtime.lxc_hook, "lxc_package": runtime.lxc_package,
                           "lxc_version": runtime.lxc_version})
            for what, fix in nvidia_runtime_problems(runtime)], []


def compare_nvidia(exp: ExpectedContainer, node: pr.NodeProbe, ctx: Context) -> tuple[list[Finding], list[str]]:
    if exp.nvidia_runtime is not None:
        return compare_nvidia_runtime(exp, node)
    pinned = exp.nvidia_driver
    if pinned is None:
        return [], ["nvidia: no pinned driver version in the hookscript: host driver not compared"]
    found = node.nvidia_version
    if found is None:
        return [Finding(
            "nvidia", "driver",
            f"the NVIDIA kernel module is not loaded on {exp.node} (no /proc/driver/nvidia/version or "
            f"/sys/module/nvidia/version); the container is pinned to {pinned}.",
            f"on {exp.node}: `modprobe nvidia` (install driver {pinned} if it is gone).",
            expected=pinned, found=None)], []
    if found != pinned:
        return [Finding(
            "nvidia", "driver",
            f"the host NVIDIA driver is {found}, but the container is pinned to {pinned} (the pre-start hook "
            "refuses the next start; a running container gets NVML 'Driver/library version mismatch').",
            f"install driver {pinned} on {exp.node}, or rebuild the image for {found}, set "
            f"`NvidiaGpu(driver_version=\"{found}\")` and {ctx.deploy()}.",
            expected=pinned, found=found)], []
    return [], []
