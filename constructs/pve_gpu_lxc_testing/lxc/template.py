"""Boot a container from a real template tarball, the way Proxmox VE creates one (test infrastructure).

PVE's create extracts the template into the new rootfs AS THE CONTAINER'S MAPPED ROOT:
pve-container `src/PVE/LXC/Create.pm` `restore_tar_archive` runs

    lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- \\
        tar xpf - -J --totals <pve-storage COMMON_TAR_FLAGS> -C <rootdir> \\
        --skip-old-files --anchored --exclude ./dev/*

with the archive on stdin (`userns_command` of `PVE/LXC.pm`, the id map of `parse_id_maps`:
the conf's `lxc.idmap` lines, or the default map of an unprivileged container), into a
rootdir owned by the mapped root.  `restore_command` is that command (pure) and `extract`
runs it with the real `lxc-usernsexec`, so a file the template owns as root:render is owned by
100000:100990 on the host and shows as root:render inside.

The harness then boots that rootfs with `check_script` as init: it reports the container's
id maps and passed nodes (in the format of `probes`, so `probes.verify` checks them), the
`video`/`render` lines of the template's own /etc/group, the group name each passed node shows,
which files match given patterns (e.g. libnvidia-ml.so.<version>), the output of given commands
and whether given identities can open given nodes (`setpriv`, no users added to the template).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import probes as pr
from .model import HarnessError, IdRange
from .render import ContainerPlan

# pve-storage src/PVE/Storage/Plugin.pm @COMMON_TAR_FLAGS
COMMON_TAR_FLAGS = (
    "--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
    "--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored",
    "--warning=no-xattr-write",
)
# pve-container Create.pm tar_compression_option
COMPRESSION = {".gz": "-z", ".bz2": "-j", ".xz": "-J", ".lzo": "--lzop", ".zst": "--zstd"}
GROUPS = ("video", "render")


def compression_option(archive: str) -> str | None:
    """tar's option for the archive's compression, by file name as PVE decides it (GNU tar does not guess)."""
    name = Path(archive).name
    if ".tar" not in name:
        raise HarnessError(f"file does not look like a template archive: {archive}")
    suffix = name[name.rindex(".tar") + 4:]
    if not suffix:
        return None
    if suffix not in COMPRESSION:
        raise HarnessError(f"unrecognized compression format: {suffix}")
    return COMPRESSION[suffix]


def userns_command(idmap: tuple[IdRange, ...]) -> list[str]:
    """`PVE::LXC::userns_command`: lxc-usernsexec with one -m per map line (none: privileged, plain tar)."""
    if not idmap:
        return []
    return ["lxc-usernsexec", *(arg for r in idmap for arg in ("-m", f"{r.kind}:{r.ct}:{r.host}:{r.size}")), "--"]


def restore_command(idmap: tuple[IdRange, ...], archive: str, rootdir: Path) -> list[str]:
    """`restore_tar_archive_command` of pve-container's Create.pm (no bandwidth limit)."""
    command = [*userns_command(idmap), "tar", "xpf", "-"]
    option = compression_option(archive)
    if option:
        command.append(option)
    return [*command, "--totals", *COMMON_TAR_FLAGS, "-C", str(rootdir), "--skip-old-files", "--anchored",
            "--exclude", "./dev/*"]


def extract(archive: Path, rootdir: Path, p: ContainerPlan) -> str:
    """Unpack the template into `rootdir` as PVE does (needs the plan's subid lines granted); tar's totals."""
    uid, gid = p.host_root()
    rootdir.mkdir(parents=True)
    os.chown(rootdir, uid, gid)  # PVE's new volume belongs to the mapped root (mkfs -E root_owner, or chown)
    with archive.open("rb") as stdin:
        proc = subprocess.run(restore_command(p.idmap, str(archive), rootdir), stdin=stdin, capture_output=True,
                              text=True, timeout=600)
    if proc.returncode != 0:
        raise HarnessError(f"extracting {archive} as the container's root failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")
    return proc.stderr.strip()


# ------------------------------------------------------------------------------------- what runs inside


@dataclass(frozen=True)
class Identity:
    """Who opens a node in an access probe: a uid, a primary gid and supplementary gids (setpriv)."""

    label: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def setpriv(self) -> list[str]:
        groups = [f"--groups={','.join(map(str, self.groups))}"] if self.groups else ["--clear-groups"]
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", *groups, "--"]


@dataclass(frozen=True)
class TemplateChecks:
    """What the init script reports beyond the maps and nodes."""

    patterns: tuple[str, ...] = ()  # shell globs, e.g. /usr/lib/*/libnvidia-ml.so.*
    commands: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (label, argv)
    identities: tuple[Identity, ...] = ()  # each tries to open every passed node for reading and writing


def _glob(pattern: str) -> str:
    if any(c.isspace() or c in "'\"`$;&|<>()\\" for c in pattern):
        raise HarnessError(f"pattern {pattern!r}: only plain path globs are allowed")
    return pattern


def _label(label: str) -> str:
    if not label or any(not (c.isalnum() or c in "-_.") for c in label):
        raise HarnessError(f"label {label!r}: letters, digits, - _ . only")
    return label


def check_script(p: ContainerPlan, checks: TemplateChecks) -> str:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Written by pve_gpu_lxc_testing.lxc.template: report what the template gives this container, then exit.",
        "{",
        "echo BEGIN",
        'while read a b c; do echo "MAP u $a $b $c"; done < /proc/self/uid_map',
        'while read a b c; do echo "MAP g $a $b $c"; done < /proc/self/gid_map',
        "while IFS=: read name x gid rest; do",
        f'    case "$name" in {"|".join(GROUPS)}) echo "GROUP $name $gid" ;; esac',
        "done < /etc/group",
    ]
    for node in p.nodes:
        path = pr.path_q(node.device.path)
        lines.append(f"if [ -e {path} ]; then stat -c 'NODE %n %u %g %f %t %T' {path}; "
                     f"stat -c 'NODEGROUP %n %G' {path}; else echo NODE {path} MISSING; fi")
    for pattern in checks.patterns:
        lines.append(f'for f in {_glob(pattern)}; do if [ -e "$f" ] || [ -L "$f" ]; then echo "FILE $f"; fi; done')
    for label, argv in checks.commands:
        label = _label(label)
        lines += [
            f"out=$({' '.join(q(a) for a in argv)} 2>&1); rc=$?",
            f'echo "RUN {label} $rc"',
            f'if [ -n "$out" ]; then printf \'%s\\n\' "$out" | while IFS= read -r line; do echo "OUT {label} $line"; done; fi',
        ]
    for who in checks.identities:
        label = _label(who.label)
        for node in p.nodes:
            path = pr.path_q(node.device.path)
            for access, redirect in (("r", "<"), ("w", ">")):
                inner = q(f": {redirect} {node.device.path}")
                lines.append(
                    f"if {' '.join(who.setpriv())} /bin/sh -c {inner} 2>/dev/null; "
                    f"then echo OPEN {label} {path} {access} OK; else echo OPEN {label} {path} {access} DENIED; fi"
                )
    lines += ["echo END", f"}} > {pr.REPORT} 2>&1", ""]
    return "\n".join(lines)


@dataclass
class TemplateReport:
    observed: pr.Observed
    groups: dict[str, int] = field(default_factory=dict)
    node_groups: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    runs: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    opens: dict[tuple[str, str, str], bool] = field(default_factory=dict)


def parse_report(text: str) -> TemplateReport:
    report = TemplateReport(pr.parse_report(text))
    for line in text.splitlines():
        parts = line.split(" ")
        tag = parts[0]
        if tag == "GROUP" and len(parts) == 3 and parts[2].isdigit():
            report.groups[parts[1]] = int(parts[2])
        elif tag == "NODEGROUP" and len(parts) == 3:
            report.node_groups[parts[1]] = parts[2]
        elif tag == "FILE" and len(parts) == 2:
            report.files.append(parts[1])
        elif tag == "RUN" and len(parts) == 3:
            report.runs[parts[1]] = (int(parts[2]), [])
        elif tag == "OUT" and len(parts) >= 2 and parts[1] in report.runs:
            report.runs[parts[1]][1].append(" ".join(parts[2:]))
        elif tag == "OPEN" and len(parts) == 5:
            report.opens[(parts[1], parts[2], parts[3])] = parts[4] == "OK"
    return report
