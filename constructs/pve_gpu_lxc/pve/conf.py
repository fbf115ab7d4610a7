"""Proxmox VE container config files (`/etc/pve/lxc/<vmid>.conf`): parse and write.  Pure.

Mirrors pve-container `src/PVE/LXC/Config.pm` (`parse_pct_config`, `write_pct_config`):

* the description is stored as `#` comment lines at the top, each line escaped like
  `PVE::Tools::encode_text` (pve-common `PVE/ParseUtils.pm`: URI escaping of every byte outside
  0x20-0x24, 0x26-0x39, 0x3b-0x7e, so ':', '%' and control characters); reading appends "\\n"
  to every `#` line, wherever it stands;
* `key: value` lines, written sorted by key;
* raw `lxc.*` lines (`lxc.idmap: u 0 100000 65536`), written after the options in stored order;
  `lxc.environment.runtime` lines are the option `env` (NUL-joined), written right after the
  other options and before the remaining `lxc.*` lines;
* `[pve:pending]`: changes PVE could not apply to a running container (written after the
  main section, `delete: a,b` lists pending deletions);
* snapshot sections (`[name]`) are kept verbatim, not interpreted.

Values are kept as the strings found in the file, normalised as PVE's `check_type` does when it
reads them (`onboot: yes` -> `1`, `cores: 04` -> `4`), so a file PVE rewrites comes out
normalised; `typed_value` gives the JSON type the API returns.  Lines PVE would refuse are
collected in `warnings` and skipped, as PVE does in non-strict mode.

One writer for the product and the tests: `pve-gpu-lxc explain` renders the file it predicts
with `render`, and the simulated node (pve_gpu_lxc_testing.pvesim) reads and writes its
`etc/pve/lxc/<vmid>.conf` files with `parse` and `render`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes

# pve-common PVE/ParseUtils.pm encode_text: `$unsafe = "^\x20-\x24\x26-\x39\x3b-\x7e"`, so '%' (0x25),
# ':' (0x3a), control and non-ASCII bytes are escaped (pve-common 06f436f, "fix #5486", added '%').
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if c not in (0x25, 0x3A))

_BLANK = re.compile(r"^\s*$")
_PENDING = re.compile(r"^\[pve:pending\]\s*$", re.IGNORECASE)
_SECTION = re.compile(r"^\[([a-z][a-z0-9_\-]+)\]\s*$", re.IGNORECASE)
_COMMENT = re.compile(r"^#(.*)$")
_LXC = re.compile(r"^(lxc\.[a-z0-9_\-.]+)(:|\s*=)\s*(.*?)\s*$")
_DESCRIPTION = re.compile(r"^(description):\s*(.*\S)\s*$")
_SNAPSTATE = re.compile(r"snapstate:\s*(prepare|delete)\s*$")
_DELETE = re.compile(r"^delete:\s*(.*\S)\s*$")
_OPTION = re.compile(r"^([a-z][a-z_]*\d*):\s*(.+?)\s*$")

# pve-container src/PVE/LXC/Config.pm $valid_lxc_conf_keys (1 = valid, text = refused with that
# reason); is_valid_lxc_conf_key also allows lxc.cgroup.*, lxc.cgroup2.*, lxc.prlimit.*, lxc.net.*
_VALID_LXC_KEYS: dict[str, int | str] = {k: 1 for k in (
    "lxc.apparmor.profile", "lxc.apparmor.allow_incomplete", "lxc.apparmor.allow_nesting",
    "lxc.apparmor.raw", "lxc.selinux.context", "lxc.include", "lxc.arch", "lxc.uts.name",
    "lxc.signal.halt", "lxc.signal.reboot", "lxc.signal.stop", "lxc.init.cmd", "lxc.init.cwd",
    "lxc.init.uid", "lxc.init.gid", "lxc.init.groups", "lxc.pty.max", "lxc.console.logfile",
    "lxc.console.path", "lxc.tty.max", "lxc.devtty.dir",
    "lxc.hook.autodev", "lxc.autodev", "lxc.kmsg", "lxc.mount.fstab", "lxc.mount.entry",
    "lxc.mount.auto", "lxc.rootfs.mount", "lxc.cap.drop", "lxc.cap.keep", "lxc.seccomp.profile",
    "lxc.seccomp.notify.proxy", "lxc.seccomp.notify.cookie", "lxc.idmap", "lxc.hook.pre-start",
    "lxc.hook.pre-mount", "lxc.hook.mount", "lxc.hook.start", "lxc.hook.stop", "lxc.hook.post-stop",
    "lxc.hook.clone", "lxc.hook.destroy", "lxc.hook.version", "lxc.log.level", "lxc.log.file",
    "lxc.start.auto", "lxc.start.delay", "lxc.start.order", "lxc.group", "lxc.environment",
    "lxc.environment.runtime", "lxc.environment.hooks", "lxc.sysctl.fs.mqueue",
    "lxc.sysctl.kernel.msgmax", "lxc.sysctl.kernel.msgmnb", "lxc.sysctl.kernel.msgmni",
    "lxc.sysctl.kernel.sem", "lxc.sysctl.kernel.shmall", "lxc.sysctl.kernel.shmmax",
    "lxc.sysctl.kernel.shmmni", "lxc.sysctl.kernel.shm_rmid_forced",
)}
_VALID_LXC_KEYS["lxc.rootfs.path"] = "lxc.rootfs.path is auto generated from rootfs"
_VALID_LXC_KEYS["lxc.rootfs.options"] = (
    'lxc.rootfs.options is not supported, please use mount point options in the "rootfs" key')
_DEPRECATED_LXC_KEYS = {
    "lxc.aa_profile": "lxc.apparmor.profile", "lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
    "lxc.console": "lxc.console.path", "lxc.devttydir": "lxc.tty.dir", "lxc.haltsignal": "lxc.signal.halt",
    "lxc.rebootsignal": "lxc.signal.reboot", "lxc.stopsignal": "lxc.signal.stop", "lxc.id_map": "lxc.idmap",
    "lxc.init_cmd": "lxc.init.cmd", "lxc.loglevel": "lxc.log.level", "lxc.logfile": "lxc.log.file",
    "lxc.mount": "lxc.mount.fstab", "lxc.pts": "lxc.pty.max", "lxc.se_context": "lxc.selinux.context",
    "lxc.seccomp": "lxc.seccomp.profile", "lxc.tty": "lxc.tty.max", "lxc.utsname": "lxc.uts.name",
    **{f"lxc.network.{k}": f"lxc.net.INDEX.{v}" for k, v in (
        ("type", "type"), ("flags", "flags"), ("link", "link"), ("mtu", "mtu"), ("name", "name"),
        ("hwaddr", "hwaddr"), ("ipv4", "ipv4.address"), ("ipv4.gateway", "ipv4.gateway"),
        ("ipv6", "ipv6.address"), ("ipv6.gateway", "ipv6.gateway"), ("script.up", "script.up"),
        ("script.down", "script.down"))},
}
ENV_KEY = "lxc.environment.runtime"  # parse_pct_config: these lines are the option `env`

# pve-container Config.pm $confdesc: the types of the options (the rest are strings); `parent` and
# `snaptime` are the snapshot keys
BOOLEAN_KEYS = frozenset({"onboot", "template", "console", "protection", "unprivileged", "debug"})
INTEGER_KEYS = frozenset({"tty", "cores", "cpuunits", "memory", "swap", "snaptime"})
NUMBER_KEYS = frozenset({"cpulimit"})
STRING_KEYS = frozenset({"lock", "arch", "ostype", "hostname", "description", "searchdomain", "nameserver",
                         "timezone", "rootfs", "parent", "cmode", "entrypoint", "features", "env", "hookscript",
                         "tags", "startup"})
_INDEXED_KEY = re.compile(r"^(?:net\d+|mp\d+|unused\d+|dev\d+)$")


class ConfError(ValueError):
    """Something PVE itself would refuse to write."""


def encode_text(text: str) -> str:
    """PVE::Tools::encode_text."""
    return quote(text, safe=_SAFE)


def decode_text(text: str) -> str:
    """PVE::Tools::decode_text (URI unescape, then UTF-8)."""
    return unquote_to_bytes(text).decode("utf-8", errors="replace")


def is_valid_lxc_key(key: str) -> int | str:
    """1 if PVE keeps the raw key, a refusal reason, or 0 for an unknown key."""
    if key.startswith("lxc.limit.") or key in _DEPRECATED_LXC_KEYS:
        return 1
    if key in _VALID_LXC_KEYS:
        return _VALID_LXC_KEYS[key]
    if re.match(r"^lxc\.cgroup2?\.", key) or key.startswith(("lxc.prlimit.", "lxc.net.")):
        return 1
    return 0


class ConfSection:
    """One section of a config file: the main one or `[pve:pending]`.

    As in PVE's config hash, the description is the option `description` (`#` lines in the file).
    """

    def __init__(self, description: str | None = None, options: dict[str, str] | None = None,
                 lxc: list[tuple[str, str]] | None = None):
        self.options: dict[str, str] = dict(options or {})
        self.lxc: list[tuple[str, str]] = list(lxc or [])
        if description is not None:
            self.options["description"] = description

    @property
    def description(self) -> str | None:
        return self.options.get("description")

    @description.setter
    def description(self, value: str | None) -> None:
        if value is None:
            self.options.pop("description", None)
        else:
            self.options["description"] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(options={self.options!r}, lxc={self.lxc!r})"

    def lxc_values(self, key: str) -> list[str]:
        return [v for k, v in self.lxc if k == key]

    def replace_lxc(self, key: str, values: list[str]) -> None:
        """Drop every `key` line and append `values` at the end (bpg's `sed -i` + `tee -a`)."""
        self.lxc = [(k, v) for k, v in self.lxc if k != key] + [(key, v) for v in values]

    def is_empty(self) -> bool:
        return not self.description and not self.options and not self.lxc


class PveConf(ConfSection):
    def __init__(self, description: str | None = None, options: dict[str, str] | None = None,
                 lxc: list[tuple[str, str]] | None = None, pending: ConfSection | None = None,
                 snapshots: str = ""):
        super().__init__(description, options, lxc)
        self.pending = pending if pending is not None else ConfSection()
        self.snapshots = snapshots  # `[name]` sections from the first one on, verbatim
        self.warnings: list[str] = []

    # --- pending changes (PVE::AbstractConfig) ----------------------------------------------
    def pending_delete(self) -> dict[str, bool]:
        """`delete: a,!b` -> {"a": False, "b": True} (True = force); AbstractConfig.pm
        parse_pending_delete splits on ',', ';' and whitespace."""
        result: dict[str, bool] = {}
        for item in re.split(r"[,;\s]+", self.pending.options.get("delete", "")):
            if not item:
                continue
            force = item.startswith("!")
            result[item[1:] if force else item] = force
        return result

    def set_pending_delete(self, items: dict[str, bool]) -> None:
        """pve-guest-common AbstractConfig.pm print_pending_delete: `join(',', ... sort keys ...)`."""
        if items:
            self.pending.options["delete"] = ",".join(("!" if items[key] else "") + key for key in sorted(items))
        else:
            self.pending.options.pop("delete", None)

    def current(self) -> dict[str, str]:
        """The options with pending values and deletions applied (pve-guest-common AbstractConfig.pm
        load_current_config).  A pending deletion removes an option only when its value is true to
        perl (`delete $conf->{$opt} if $conf->{$opt}`): `onboot: 0` stays.  Pending raw `lxc.*`
        lines are not options (`next if ref($value)`): the main section's `lxc` is what counts."""
        merged = dict(self.options)
        merged.update({k: v for k, v in self.pending.options.items() if k != "delete"})
        for key in self.pending_delete():
            if merged.get(key) not in (None, "", "0"):
                merged.pop(key, None)
        return merged


def split_list(text: str) -> list[str]:
    """PVE::Tools::split_list: items separated by NUL, whitespace, ',' or ';'."""
    return [item for item in re.split(r"[\0\s,;]+", text or "") if item]


def parse(text: str, vmid: int | str = "?") -> PveConf:
    conf = PveConf()
    section: ConfSection = conf
    in_pending = False
    description = ""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _BLANK.match(line):
            continue
        if _PENDING.match(line):
            if description:
                section.description = description
            description = ""
            section, in_pending = conf.pending, True
            continue
        if _SECTION.match(line):
            if description:
                section.description = description
            description = ""
            conf.snapshots = "\n".join(lines[index:]).rstrip("\n") + "\n"
            break
        match = _COMMENT.match(line)
        if match:
            description += decode_text(match.group(1)) + "\n"
            continue
        match = _LXC.match(line)
        if match:
            key, value = match.group(1), match.group(3)
            validity = is_valid_lxc_key(key)
            if key == ENV_KEY:  # parse_pct_config: the option `env`, NUL-joined
                env = section.options.get("env")
                section.options["env"] = value if env is None else f"{env}\0{value}"
            elif validity == 1:
                section.lxc.append((key, value))
            elif validity:
                conf.warnings.append(f"vm {vmid} - {key}: {validity}")
            else:
                conf.warnings.append(f"vm {vmid} - unable to parse config: {line}")
            continue
        match = _DESCRIPTION.match(line)
        if match:
            description += decode_text(match.group(2))
            continue
        if _SNAPSTATE.search(line):
            continue
        match = _DELETE.match(line)
        if match:
            if in_pending:
                section.options["delete"] = match.group(1)
            else:
                conf.warnings.append(f"vm {vmid} - property 'delete' is only allowed in [pve:pending]")
            continue
        match = _OPTION.match(line)
        if match:
            key, value = match.groups()
            normalised, problem = check_type(key, value)
            if problem:
                conf.warnings.append(f"vm {vmid} - unable to parse value of '{key}' - {problem}")
            section.options[key] = normalised
            continue
        conf.warnings.append(f"vm {vmid} - unable to parse config: {line}")
    else:
        if description:
            section.description = description
    return conf


def _render_section(section: ConfSection) -> str:
    out: list[str] = []
    lines = (section.description or "").split("\n")
    while lines and not lines[-1]:  # perl's split(/\n/) drops trailing empty fields only
        lines.pop()
    out.extend("#" + encode_text(line) for line in lines)
    for key in sorted(section.options):
        if key in ("digest", "description", "pending", "snapshots", "snapname", "env", "lxc"):
            continue
        value = section.options[key]
        if "\n" in value:
            raise ConfError(f"detected invalid newline inside property '{key}'")
        out.append(f"{key}: {value}")
    env = section.options.get("env")
    if env:  # write_pct_config: `split(/\0+/, $env)`, before the other lxc.* lines
        out.extend(f"{ENV_KEY}: {variable}" for variable in re.split(r"\0+", env) if variable)
    out.extend(f"{k}: {v}" for k, v in section.lxc if k != ENV_KEY)
    return "".join(f"{line}\n" for line in out)


def render(conf: PveConf) -> str:
    text = _render_section(conf)
    if not conf.pending.is_empty():
        text += "\n[pve:pending]\n" + _render_section(conf.pending)
    if conf.snapshots:
        text += "\n" + conf.snapshots.lstrip("\n")
    return text


# --- values and property strings (PVE::JSONSchema) -----------------------------------------------

def parse_boolean(value: str) -> int | None:
    if value == "1" or value.lower() in ("on", "yes", "true"):
        return 1
    if value == "0" or value.lower() in ("off", "no", "false"):
        return 0
    return None


def check_type(key: str, value: str) -> tuple[str, str | None]:
    """pve-container Config.pm check_type, which parse_pct_config runs on every option it reads:
    the value as PVE keeps it in memory (and writes back: booleans become `1`/`0`, integers lose
    leading zeros), and its complaint (PVE warns and keeps the value as read), or None."""
    known = key in BOOLEAN_KEYS or key in INTEGER_KEYS or key in NUMBER_KEYS or key in STRING_KEYS
    if not known and not _INDEXED_KEY.match(key):
        return value, f"unknown setting '{key}'"
    if re.search(r"[\n\r]", value):
        return value, "property contains a line feed"
    if key in BOOLEAN_KEYS:
        boolean = parse_boolean(value)
        if boolean is None:
            return value, f"type check ('boolean') failed - got '{value}'"
        return str(boolean), None
    if key in INTEGER_KEYS:
        if not re.fullmatch(r"\d+", value):
            return value, f"type check ('integer') failed - got '{value}'"
        return str(int(value)), None
    if key in NUMBER_KEYS and not re.fullmatch(r"\d+(\.\d+)?", value):
        return value, f"type check ('number') failed - got '{value}'"
    return value, None


def format_size(size: int) -> str:
    """PVE::JSONSchema::format_size: bytes as the largest exact unit (`8589934592` -> `8G`)."""
    kb = size // 1024
    if kb * 1024 != size:
        return str(size)
    mb = kb // 1024
    if mb * 1024 != kb:
        return f"{kb}K"
    gb = mb // 1024
    if gb * 1024 != mb:
        return f"{mb}M"
    tb = gb // 1024
    if tb * 1024 != gb:
        return f"{gb}G"
    return f"{tb}T"


def parse_size(text: str) -> int | None:
    """`8G` -> bytes (PVE::JSONSchema::parse_size), None when it is not a size."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])?", text)
    if not match:
        return None
    factor = {None: 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[match.group(2)]
    return int(float(match.group(1)) * factor)


def unique_tags(value: str, *, case_sensitive: bool = False, ordering: str = "alphabetical") -> str:
    """The `tags` value PVE stores (pve-guest-common PVE/GuestHelpers.pm get_unique_tags, which
    update_pct_config runs on `tags`): split like split_list; with the datacenter's default
    tag-style each tag is lower-cased and the list sorted case-insensitively (`Media;GPU` ->
    `gpu;media`); duplicates dropped; joined with ';'.  `case_sensitive` and `ordering="config"`
    are datacenter.cfg's `tag-style: case-sensitive=1,ordering=config`."""
    tags = split_list(value)
    if ordering != "config":
        # perl's sort { lc($a) cmp lc($b) } is stable: equal keys keep their order
        tags = sorted(tags) if case_sensitive else sorted(tags, key=str.lower)
    seen: set[str] = set()
    result = []
    for tag in tags:
        if not case_sensitive:
            tag = tag.lower()
        if tag not in seen:
            seen.add(tag)
            result.append(tag)
    return ";".join(result)


def typed_value(key: str, value: str) -> Any:
    """The JSON value PVE's API returns for a stored option (check_type: booleans and integers
    become numbers, 'number' options stay the matched string, everything else is a string)."""
    if check_type(key, value)[1] is not None:  # unknown keys, line feeds: strings as read either way
        return value
    if key in BOOLEAN_KEYS:
        return parse_boolean(value)
    if key in INTEGER_KEYS:
        return int(value)
    return value


@dataclass(frozen=True)
class Prop:
    type: str = "string"  # string | boolean | integer | number
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    optional: bool = True
    default_key: bool = False
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None


class PropertyStringError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("format error")
        self.errors = errors


def check_prop(name: str, prop: Prop, value: str) -> str | None:
    if prop.type == "boolean":
        if parse_boolean(value) is None:
            return f"type check ('boolean') failed - got '{value}'"
    elif prop.type == "integer":
        if not re.fullmatch(r"[+-]?\d+", value):
            return f"type check ('integer') failed - got '{value}'"
        if prop.minimum is not None and int(value) < prop.minimum:
            return f"value must have a minimum value of {prop.minimum}"
        if prop.maximum is not None and int(value) > prop.maximum:
            return f"value must have a maximum value of {prop.maximum}"
    elif prop.type == "number" and not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value):
        return f"type check ('number') failed - got '{value}'"
    if prop.enum and value not in prop.enum:
        return f"value '{value}' does not have a value in the enumeration '{', '.join(prop.enum)}'"
    if prop.pattern and not re.fullmatch(prop.pattern, value):
        return "value does not match the regex pattern"
    dev_path = prop.format == "pve-lxc-dev-string"
    if dev_path and (re.search(r"/\.\.?(?:/|$)", value) or not value.startswith("/dev/")):
        return f"invalid format - {value} is not a valid device path"
    mp_path = prop.format == "pve-lxc-mp-string"
    if mp_path and (re.search(r"/\.\.?/", value) or re.search(r"/\.\.?$", value) or value.startswith("../")):
        return f"invalid format - {value} contains illegal character sequences"
    return None


def parse_property_string(schema: dict[str, Prop], value: str, path: str = "") -> dict[str, str]:
    """PVE::JSONSchema::parse_property_string: `a=1,b=2` (a bare value is the default key)."""
    result: dict[str, str] = {}
    errors: dict[str, str] = {}
    default_key = next((k for k, p in schema.items() if p.default_key), None)
    for part in value.split(","):
        if not part:
            continue
        if "=" in part:
            key, val = part.split("=", 1)
            if key not in schema:
                errors[f"{path}.{key}" if path else key] = "property is not defined in schema and the schema " \
                    "does not allow additional properties"
                continue
        elif default_key is not None:
            key, val = default_key, part
        else:
            raise PropertyStringError({path or "value": "value without key, but schema does not define a default key"})
        if key in result:
            raise PropertyStringError({path or key: f"duplicate key in comma-separated list property: {key}"})
        result[key] = val
    for key, prop in schema.items():
        sub = f"{path}.{key}" if path else key
        if key in result:
            problem = check_prop(key, prop, result[key])
            if problem:
                errors[sub] = problem
        elif not prop.optional:
            errors[sub] = "property is missing and it is not optional"
    if errors:
        raise PropertyStringError(errors)
    return result


def print_property_string(schema: dict[str, Prop], data: dict[str, str], skip: tuple[str, ...] = ()) -> str:
    """PVE::JSONSchema::print_property_string: the default key first (bare), then the required
    keys, then the rest, each group sorted."""
    parts: list[str] = []
    done: set[str] = set(skip)
    default_key = next((k for k, p in schema.items() if p.default_key), None)
    if default_key is not None and default_key in data and default_key not in done:
        parts.append(data[default_key])
        done.add(default_key)
    for key in sorted(data):
        if key not in done and key in schema and not schema[key].optional:
            parts.append(f"{key}={data[key]}")
            done.add(key)
    for key in sorted(data):
        if key not in done:
            parts.append(f"{key}={data[key]}")
            done.add(key)
    return ",".join(parts)


_MOUNT_OPTION = r"(discard|lazytime|noatime|nodev|noexec|nosuid)"

ROOTFS_SCHEMA: dict[str, Prop] = {
    "volume": Prop(default_key=True, optional=False, format="pve-lxc-mp-string"),
    "size": Prop(pattern=r"\d+(\.\d+)?[KMGT]?"),
    "acl": Prop("boolean"),
    "mountoptions": Prop(pattern=f"{_MOUNT_OPTION}(;{_MOUNT_OPTION})*"),
    "ro": Prop("boolean"),
    "quota": Prop("boolean"),
    "replicate": Prop("boolean"),
    "shared": Prop("boolean"),
}
MP_SCHEMA: dict[str, Prop] = {
    **ROOTFS_SCHEMA,
    "backup": Prop("boolean"),
    "mp": Prop(optional=False, format="pve-lxc-mp-string"),
}
NET_SCHEMA: dict[str, Prop] = {
    "type": Prop(enum=("veth",)),
    "name": Prop(optional=False, pattern=r"[-_.\w\d]+"),
    "bridge": Prop(pattern=r"[-_.\w\d]+"),
    "hwaddr": Prop(pattern=r"[a-fA-F0-9]{2}(?::[a-fA-F0-9]{2}){5}"),
    "mtu": Prop("integer", minimum=64, maximum=65535),
    "ip": Prop(pattern=r"dhcp|manual|[0-9.]+/\d+"),
    "gw": Prop(pattern=r"[0-9.]+"),
    "ip6": Prop(pattern=r"auto|dhcp|manual|[0-9a-fA-F:.]+/\d+"),
    "gw6": Prop(pattern=r"[0-9a-fA-F:.]+"),
    "firewall": Prop("boolean"),
    "host-managed": Prop("boolean"),
    "tag": Prop("integer", minimum=1, maximum=4094),
    "trunks": Prop(pattern=r"\d+(?:;\d+)*"),
    "rate": Prop("number"),
    "link_down": Prop("boolean"),
}
DEV_SCHEMA: dict[str, Prop] = {
    "path": Prop(default_key=True, format="pve-lxc-dev-string"),
    "mode": Prop(pattern=r"0[0-7]{3}"),
    "uid": Prop("integer", minimum=0),
    "gid": Prop("integer", minimum=0),
    "deny-write": Prop("boolean"),
}
FEATURES_SCHEMA: dict[str, Prop] = {
    "mount": Prop(pattern=r"[a-zA-Z0-9_; ]+"),
    "nesting": Prop("boolean"),
    "keyctl": Prop("boolean"),
    "fuse": Prop("boolean"),
    "mknod": Prop("boolean"),
    "force_rw_sys": Prop("boolean"),
}
STARTUP_SCHEMA: dict[str, Prop] = {
    "order": Prop("integer"),
    "up": Prop("integer"),
    "down": Prop("integer"),
}
