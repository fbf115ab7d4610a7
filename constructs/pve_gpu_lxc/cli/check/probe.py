"""The read-only node probe: a static POSIX sh script, its input and its output (pure).

`pve-gpu-lxc check` runs ONE SSH session per node: `ssh <user>@<node> sh -s`, with this on
stdin:

    SCRIPT                                   static text, the same for every node and run
    probe_main <<'PVE_GPU_LXC_PROBE_DATA'    a quoted here-document: the shell expands nothing
    dev /dev/dri/card0                       in it; every value was checked against a strict
    hook local pve-gpu-lxc-210.sh            pattern first (`build_input`), and one that fails
    ct 210                                   is never sent (the check reports it instead)
    ctdev 210 /dev/dri/renderD128
    PVE_GPU_LXC_PROBE_DATA

No value reaches the script as code: the script reads the data lines with `read` and uses
them only as quoted arguments.  It only reads -- `stat`, `sha256sum`, `grep` of a few files,
`readlink`, /proc/net/unix for the LXC monitor sockets of running containers (as PVE's
list_active_containers does), and `lxc-info -n <vmid> -s -p` for those (what `pct status` and
PVE's find_lxc_pid run) -- and never runs anything inside a container: a running container is
read from the host through `/proc/<pid>/root` (its init's root), refusing any path with a
symlink in it, and its `/proc/<pid>/uid_map`/`gid_map` turn the host-side owners `stat`
prints back into container ids.

What the facts collector reads too -- root's subuid/subgid ranges, the NVIDIA driver, the
/dev/dri/by-path links, a node's `stat`, the boot configuration -- the probe reads with the
collector's own shell functions, appended to SCRIPT verbatim, and their JSON is parsed by the
same parsers (`pve_gpu_lxc.facts.readers`): one reader per fact.  The probe's own code is what
only `check` asks: the snippet files, the containers' state, id maps, /etc/group and nodes.

Output: one tab-separated record per line (see `parse_output`), ending with `end`; a shared
fact's record carries its function's JSON on one line (JSON strings escape tabs and newlines).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ...core import names
from ...facts import readers
from ...facts.boot import BootFacts
from ...facts.data import NvidiaFacts
from ...facts.records import DeviceNode, IdRange, NvidiaRuntimeFacts

DATA_END = "PVE_GPU_LXC_PROBE_DATA"
PROBE_VERSION = "3"  # 2: the shared facts as the collector's JSON; 3: NVIDIA's container runtime

SCRIPT = r"""# pve-gpu-lxc check: read-only node probe (POSIX sh; sent by `pve-gpu-lxc check` as `sh -s`).
# Reads and prints; never writes a file, changes a setting or runs anything inside a container.
set -u
set -f
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
LC_ALL=C
export LC_ALL
T=$(printf '\t')

rec() {
    r_line=$1
    shift
    for r_field in "$@"; do
        r_line=$r_line$T$r_field
    done
    printf '%s\n' "$r_line"
}

file_lines() { # KIND FILE: one record per line of FILE
    if [ -f "$2" ] && [ -r "$2" ]; then
        while IFS= read -r fl_line || [ -n "$fl_line" ]; do
            rec "$1" "$fl_line"
        done < "$2"
    else
        rec "$1-missing"
    fi
}

storage_dir() { # STORAGE-ID: "<type><TAB><path>" from /etc/pve/storage.cfg, or nothing
    [ -r /etc/pve/storage.cfg ] || return 0
    sd_in=0
    sd_found=''
    sd_path=''
    while IFS= read -r sd_line || [ -n "$sd_line" ]; do
        case $sd_line in
            '#'*|'') ;;
            [[:space:]]*)
                sd_prop=${sd_line#"${sd_line%%[![:space:]]*}"}
                if [ "$sd_in" = 1 ] && [ "${sd_prop%%[[:space:]]*}" = path ]; then
                    sd_path=${sd_prop#path}
                    sd_path=${sd_path#"${sd_path%%[![:space:]]*}"}
                    sd_path=${sd_path%"${sd_path##*[![:space:]]}"}
                fi
                ;;
            *:*)
                sd_in=0
                sd_id=${sd_line#*:}
                sd_id=${sd_id#"${sd_id%%[![:space:]]*}"}
                sd_id=${sd_id%"${sd_id##*[![:space:]]}"}
                if [ "$sd_id" = "$1" ]; then
                    sd_in=1
                    sd_found=${sd_line%%:*}
                fi
                ;;
        esac
    done < /etc/pve/storage.cfg
    [ -z "$sd_found" ] || printf '%s\t%s\n' "$sd_found" "$sd_path"
}

probe_dev() { # PATH on the host (PVE stats it following symlinks, as here)
    if [ -e "$ROOT$1" ]; then
        rec dev "$1" node "$(node_json "$1" -L </dev/null)"
    else
        rec dev "$1" missing
    fi
}

sd_cache_id=''
sd_cache=''

probe_hook() { # STORAGE FILE: the snippet <storage path>/snippets/<file>
    if [ "$sd_cache_id" != "$1" ]; then
        sd_cache=$(storage_dir "$1")
        sd_cache_id=$1
    fi
    h_st=$sd_cache
    if [ -z "$h_st" ]; then
        rec hook "$1" "$2" nostorage
        return 0
    fi
    h_type=${h_st%%"$T"*}
    h_dir=${h_st#*"$T"}
    case $h_type in
        dir|btrfs) ;;
        nfs|cifs|cephfs|glusterfs) [ -n "$h_dir" ] || h_dir=/mnt/pve/$1 ;;
        *) h_dir='' ;;
    esac
    if [ -z "$h_dir" ]; then
        rec hook "$1" "$2" unsupported "$h_type"
        return 0
    fi
    h_file=${h_dir%/}/snippets/$2
    if [ ! -e "$h_file" ]; then
        rec hook "$1" "$2" missing "$h_file"
    elif [ ! -f "$h_file" ]; then
        rec hook "$1" "$2" notfile "$h_file"
    else
        h_sum=$(sha256sum < "$h_file" 2>/dev/null)
        h_sum=${h_sum%%[[:space:]]*}
        rec hook "$1" "$2" file "$h_file" "$(node_json "$h_file" -L </dev/null)" "$h_sum"
    fi
}

in_root() { # PID PATH: PATH inside the container, as a host path; fails on any symlink in it
    ir_acc=/proc/$1/root
    ir_rest=${2#/}
    while [ -n "$ir_rest" ]; do
        case $ir_rest in
            */*) ir_part=${ir_rest%%/*}; ir_rest=${ir_rest#*/} ;;
            *) ir_part=$ir_rest; ir_rest='' ;;
        esac
        ir_acc=$ir_acc/$ir_part
        [ -L "$ir_acc" ] && return 1
    done
    printf '%s' "$ir_acc"
}

ct_vmid=''
ct_pid=''
active=' '
active_known=0

find_active() { # the running containers, as PVE's list_active_containers finds them: LXC monitor
    # sockets @<lxcpath>/<name>/command in /proc/net/unix; unknown (lxc-info for each) otherwise
    command -v lxc-config >/dev/null 2>&1 && [ -r /proc/net/unix ] || return 0
    a_path=$(lxc-config lxc.lxcpath 2>/dev/null </dev/null) || return 0
    case $a_path in /*) ;; *) return 0 ;; esac
    a_list=' '
    while IFS= read -r a_line; do
        a_sock=${a_line##* }
        case $a_sock in
            @lxc/*/command) return 0 ;;  # hashed socket names (a long lxcpath): cannot tell
            "@$a_path"/*/command)
                a_name=${a_sock#"@$a_path"/}
                a_list="$a_list${a_name%/command} "
                ;;
        esac
    done < /proc/net/unix
    active=$a_list
    active_known=1
}

probe_ct() { # VMID: state, pid, id maps and /etc/group's render/video lines of a running CT
    ct_vmid=$1
    ct_pid=''
    if ! command -v lxc-info >/dev/null 2>&1; then
        rec ct "$1" state UNKNOWN - "lxc-info not found"
        return 0
    fi
    if [ "$active_known" = 1 ]; then
        case $active in
            *" $1 "*) ;;
            *) rec ct "$1" state STOPPED - "no LXC monitor socket"; return 0 ;;
        esac
    fi
    c_info=$(lxc-info -n "$1" -s -p 2>&1 </dev/null)
    c_state=''
    c_pid=''
    c_first=''
    # parsed without a fork per line: this runs once per container
    while IFS= read -r c_line; do
        [ -n "$c_first" ] || c_first=$c_line
        case $c_line in
            State:*) c_state=${c_line#State:} ;;
            PID:*) c_pid=${c_line#PID:} ;;
        esac
    done <<EOF_INFO
$c_info
EOF_INFO
    c_state=${c_state#"${c_state%%[![:space:]]*}"}
    c_state=${c_state%%[[:space:]]*}
    c_pid=${c_pid#"${c_pid%%[![:space:]]*}"}
    c_pid=${c_pid%%[[:space:]]*}
    case $c_state in ''|*[!A-Z]*) c_state='' ;; esac
    case $c_pid in ''|*[!0-9]*) c_pid='' ;; esac
    if [ -z "$c_state" ]; then
        rec ct "$1" state STOPPED - "$c_first"
        return 0
    fi
    [ -n "$c_pid" ] && [ -d "/proc/$c_pid/root/" ] || c_pid=''  # no pid whose root is readable
    rec ct "$1" state "$c_state" "${c_pid:--}"
    [ "$c_state" = RUNNING ] && [ -n "$c_pid" ] || return 0
    ct_pid=$c_pid
    file_lines "ct${T}$1${T}uidmap" "/proc/$c_pid/uid_map"
    file_lines "ct${T}$1${T}gidmap" "/proc/$c_pid/gid_map"
    if ! c_group=$(in_root "$c_pid" /etc/group); then
        rec ct "$1" groupfile symlink
    elif [ -f "$c_group" ]; then
        rec ct "$1" groupfile ok
        grep -E '^(render|video):' "$c_group" 2>/dev/null </dev/null | while IFS= read -r c_line; do
            rec ct "$1" group "$c_line"
        done
    else
        rec ct "$1" groupfile missing
    fi
}

probe_ctdev() { # VMID PATH: the passed node inside the running container (lstat, no symlinks)
    [ "$1" = "$ct_vmid" ] && [ -n "$ct_pid" ] || return 0
    if ! cd_path=$(in_root "$ct_pid" "$2"); then
        rec ct "$1" dev "$2" symlink
    elif [ -e "$cd_path" ]; then
        rec ct "$1" dev "$2" node "$(node_json "$cd_path" </dev/null)"
    else
        rec ct "$1" dev "$2" missing
    fi
}

probe_host() { # the facts the collector records too, read by its functions (appended below)
    rec pve-gpu-lxc-probe 3
    rec subuid "$(subid_json "$ROOT/etc/subuid" null)"
    rec subgid "$(subid_json "$ROOT/etc/subgid" null)"
    set +f  # the collector's functions glob (NVIDIA's GPUs, the by-path links, the boot files)
    rec nvidia "$(nvidia_json | tr -d '\n')"
    rec bypath "$(by_path_json | tr -d '\n')"
    rec boot "$(boot_json | tr -d '\n')"
    rec nvidia_runtime "$(nvidia_runtime_json | tr -d '\n')"
    set -f
}

probe_main() {
    probe_host </dev/null
    find_active
    while IFS=' ' read -r m_kind m_a m_b; do
        case $m_kind in
            dev) probe_dev "$m_a" ;;
            hook) probe_hook "$m_a" "$m_b" ;;
            ct) probe_ct "$m_a" ;;
            ctdev) probe_ctdev "$m_a" "$m_b" ;;
        esac
    done
    rec end
}
"""

# The collector's readers of the facts both programs read (pve_gpu_lxc.facts.readers), verbatim:
# what `facts` records is what `check` reads.  ROOT is the collector's root prefix ('' on a node:
# the probe reads the host's own files; a test may set it after the script, as the collector's
# ROOT argument), NL its newline.
SCRIPT += "ROOT=''\nNL='\n'\n" + readers.shell(*(fact.function for fact in readers.SHARED))

# --------------------------------------------------------------------------------------------
# input: only values that match core.names' patterns are ever sent

@dataclass
class ProbeRequest:
    """What to read on one node."""

    devices: list[str] = field(default_factory=list)  # host paths
    hooks: list[tuple[str, str]] = field(default_factory=list)  # (storage, snippet file)
    containers: list[tuple[int, list[str]]] = field(default_factory=list)  # (vmid, paths inside)

    def add_device(self, path: str) -> None:
        if path not in self.devices:
            self.devices.append(path)

    def add_hook(self, storage: str, snippet: str) -> None:
        if (storage, snippet) not in self.hooks:
            self.hooks.append((storage, snippet))


class UnsafeValue(ValueError):
    """A value failed its pattern; it is not sent to the node."""


def data_lines(request: ProbeRequest) -> list[str]:
    lines = []
    for path in request.devices:
        if not names.is_device_path(path):
            raise UnsafeValue(f"device path {path!r}")
        lines.append(f"dev {path}")
    for storage, snippet in request.hooks:
        if not names.is_storage_id(storage) or not names.is_snippet_file(snippet):
            raise UnsafeValue(f"snippet {storage!r}:{snippet!r}")
        lines.append(f"hook {storage} {snippet}")
    for vmid, paths in request.containers:
        if not names.is_vmid(vmid):
            raise UnsafeValue(f"vmid {vmid!r}")
        lines.append(f"ct {vmid}")
        for path in paths:
            if not names.is_device_path(path):
                raise UnsafeValue(f"device path {path!r}")
            lines.append(f"ctdev {vmid} {path}")
    return lines


def build_input(request: ProbeRequest) -> str:
    """The whole stdin of `sh -s`: the static script, then the data as a quoted here-document."""
    lines = data_lines(request)
    assert all(DATA_END not in line and "\n" not in line for line in lines)
    return SCRIPT + f"probe_main <<'{DATA_END}'\n" + "".join(f"{line}\n" for line in lines) + f"{DATA_END}\n"


# --------------------------------------------------------------------------------------------
# output

FileKind = Literal["char", "block", "dir", "file", "symlink", "fifo", "socket"]
_KINDS: dict[str, FileKind] = {"c": "char", "b": "block", "d": "dir", "f": "file", "l": "symlink", "p": "fifo",
                               "s": "socket"}


@dataclass(frozen=True)
class Stat:
    """A node as the collector's `node_json` saw it (`readers.DEVICE_NODE`), in the check's words."""

    kind: FileKind
    major: int
    minor: int
    perm: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int

    @classmethod
    def of(cls, node: DeviceNode) -> Stat | None:
        """None when the record lacks the owners or the mode."""
        if node.uid is None or node.gid is None or node.mode is None:
            return None
        return cls(_KINDS[node.type], node.major or 0, node.minor or 0, node.mode, node.uid, node.gid)

    @property
    def mode(self) -> str:
        return f"{self.perm:04o}"

    @property
    def rdev(self) -> str:
        return f"{self.major}:{self.minor}"

    @property
    def executable(self) -> bool:
        return bool(self.perm & 0o111)


@dataclass(frozen=True)
class HookFile:
    status: Literal["file", "missing", "notfile", "nostorage", "unsupported"]
    path: str | None = None
    stat: Stat | None = None
    sha256: str | None = None
    detail: str | None = None  # the storage type for "unsupported"


@dataclass
class ContainerProbe:
    state: str = "UNKNOWN"  # lxc-info's State: RUNNING, STOPPED, ... (UNKNOWN: not probed)
    pid: int | None = None
    detail: str | None = None  # why not running / not probed, as the node said it
    uid_map: list[tuple[int, int, int]] = field(default_factory=list)  # (container, host, size)
    gid_map: list[tuple[int, int, int]] = field(default_factory=list)
    group_file: str | None = None  # ok | missing | symlink
    groups: dict[str, int] = field(default_factory=dict)  # render/video -> gid from /etc/group
    devices: dict[str, Stat | Literal["missing", "symlink", "unreadable"]] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "RUNNING" and self.pid is not None


@dataclass
class NodeProbe:
    version: str | None = None
    complete: bool = False  # the `end` record arrived
    subuid: tuple[IdRange, ...] | None = None  # root's ranges; None: no file
    subgid: tuple[IdRange, ...] | None = None
    nvidia: NvidiaFacts | None = None  # None: no /proc/driver/nvidia/version (the module is not loaded)
    by_path: dict[str, str] = field(default_factory=dict)  # pci-...-card -> ../card0
    devices: dict[str, Stat | Literal["missing", "unreadable"]] = field(default_factory=dict)
    hooks: dict[tuple[str, str], HookFile] = field(default_factory=dict)
    containers: dict[int, ContainerProbe] = field(default_factory=dict)
    boot: BootFacts | None = None  # None: not read (an older probe) or unreadable
    boot_error: str | None = None
    nvidia_runtime: NvidiaRuntimeFacts | None = None  # None: not read (an older probe) or unreadable

    @property
    def nvidia_version(self) -> str | None:
        """The loaded module's version as the hook reads it: /sys/module/nvidia/version, else /proc's."""
        return None if self.nvidia is None else self.nvidia.loaded_version


_MALFORMED = (ValueError, KeyError, TypeError, AttributeError)
T = TypeVar("T")


def _read(fact: readers.NodeFact[T], fields: list[str]) -> T:
    """A shared fact's record: its collector function's JSON (no tab in it: JSON escapes them)."""
    return fact.read("\t".join(fields))


def _stat(fields: list[str]) -> Stat | None:
    """A `node_json` record field; None when stat printed nothing (the node vanished, no permission)."""
    if not fields or not fields[0]:
        return None
    try:
        return Stat.of(_read(readers.DEVICE_NODE, fields[:1]))
    except _MALFORMED:
        return None


def _map_line(text: str) -> tuple[int, int, int] | None:
    parts = text.split()
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1]), int(parts[2])
    return None


# The records of the facts the collector's functions read (readers.SHARED): record -> (NodeProbe attribute, fact)
_SHARED: dict[str, tuple[str, readers.NodeFact[Any]]] = {
    "subuid": ("subuid", readers.SUBIDS),
    "subgid": ("subgid", readers.SUBIDS),
    "nvidia": ("nvidia", readers.NVIDIA),
    "bypath": ("by_path", readers.BY_PATH),
    "boot": ("boot", readers.BOOT),
    "nvidia_runtime": ("nvidia_runtime", readers.NVIDIA_RUNTIME),
}


def _shared(result: NodeProbe, kind: str, fields: list[str]) -> None:
    """One record of `_SHARED`: its fact, read into its attribute (by_path: link name -> target)."""
    attribute, fact = _SHARED[kind]
    value: Any
    try:
        value = _read(fact, fields)
        if kind == "bypath":
            value = {posixpath.basename(link): target for link, target in value}
    except _MALFORMED as err:  # the field keeps its default: unknown, as if not read
        if kind == "boot":
            result.boot_error = f"{type(err).__name__}: {err}"
        return
    setattr(result, attribute, value)


def parse_output(text: str) -> NodeProbe:
    """The probe's records -> NodeProbe.  Unknown records are ignored (a newer probe)."""
    result = NodeProbe()
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "pve-gpu-lxc-probe":
            result.version = fields[1] if len(fields) > 1 else None
        elif kind == "end":
            result.complete = True
        elif kind in _SHARED and len(fields) >= 2:
            _shared(result, kind, fields[1:])
        elif kind == "dev" and len(fields) >= 3:
            if fields[2] == "missing":
                result.devices[fields[1]] = "missing"
            else:
                result.devices[fields[1]] = _stat(fields[3:]) or "unreadable"
        elif kind == "hook" and len(fields) >= 4:
            key = (fields[1], fields[2])
            status = fields[3]
            if status == "file" and len(fields) >= 7:
                result.hooks[key] = HookFile("file", fields[4], _stat(fields[5:6]), fields[6] or None)
            elif status in ("missing", "notfile"):
                result.hooks[key] = HookFile(status, fields[4] if len(fields) > 4 else None)  # type: ignore[arg-type]
            elif status == "unsupported":
                result.hooks[key] = HookFile("unsupported", detail=fields[4] if len(fields) > 4 else None)
            else:
                result.hooks[key] = HookFile("nostorage")
        elif kind == "ct" and len(fields) >= 3 and fields[1].isdigit():
            _container_record(result.containers.setdefault(int(fields[1]), ContainerProbe()), fields[2:])
    return result


def _container_record(ct: ContainerProbe, fields: list[str]) -> None:
    what = fields[0]
    if what == "state" and len(fields) >= 2:
        ct.state = fields[1] or "UNKNOWN"
        ct.pid = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
        ct.detail = fields[3] if len(fields) > 3 and fields[3] else None
    elif what in ("uidmap", "gidmap") and len(fields) >= 2:
        entry = _map_line(fields[1])
        if entry:
            (ct.uid_map if what == "uidmap" else ct.gid_map).append(entry)
    elif what == "groupfile" and len(fields) >= 2:
        ct.group_file = fields[1]
    elif what == "group" and len(fields) >= 2:
        parts = fields[1].split(":")
        if len(parts) >= 3 and parts[2].isdigit() and parts[0] not in ct.groups:
            ct.groups[parts[0]] = int(parts[2])
    elif what == "dev" and len(fields) >= 3:
        path, status = fields[1], fields[2]
        if status in ("missing", "symlink"):
            ct.devices[path] = status  # type: ignore[assignment]
        else:
            ct.devices[path] = _stat(fields[3:]) or "unreadable"


def map_to_container(id_map: Iterable[tuple[int, int, int]], host_id: int) -> int | None:
    """A host uid/gid as the container sees it, per /proc/<pid>/uid_map or gid_map; None: unmapped."""
    for ct_start, host_start, size in id_map:
        if host_start <= host_id < host_start + size:
            return ct_start + (host_id - host_start)
    return None
