"""What Proxmox VE's create makes of an OCI image (pure).

A create from a vztmpl `.tar` holding `oci-layout`, `index.json` and `blobs/` (pve-container
src/PVE/LXC/Create.pm archive_is_oci_format) runs `restore_oci_archive` instead of unpacking a
template: proxmox-oci (`PVE::RS::OCI::parse_and_extract_image`) extracts the layers and returns
the image config's `config` section, and Create.pm maps it onto the new container's config.
This module is that mapping, given the config as `ImageConfig` (from the host facts, which
record it from the pulled archive on the node: facts/collect-host-facts.sh `oci_image_json`):

* `ImageConfig.from_json`: the config blob as proxmox-oci returns its `config` section, checked
  as restore_oci_archive checks it (control characters), the User resolved as resolve_oci_user
  resolves it in the image's /etc/passwd and /etc/group;
* `restore_oci_archive`: the config file after the restore (entrypoint, cmode, host-managed,
  env, lxc.init.uid/gid/groups, lxc.init.cwd, lxc.signal.halt), each rule citing Create.pm;
* `app_config_written`: what a pre-start hookscript that writes the declared entrypoint and env
  leaves in the file at the first start (the product's, model/hooks.py), as PVE's writer writes it.

Written from pve-container's Perl, independently of the simulated node's implementation
(pve_gpu_lxc_testing/pvesim/lxc_oci.py); tests/test_pve_oci.py holds the two to the same output.
The OS type PVE detects on the extracted files (LXC/Setup.pm) is not modelled: the create keeps
the `ostype` sent (the container's `operating_system.type`, `unmanaged` for an image without
os-release).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import conf as pveconf

# Create.pm restore_oci_archive: `$has_ctrl_char = sub { return $_[0] =~ /[\x00-\x08\x10-\x1F\x7F]/; }`
# (tab to \x0f pass, as written there)
_CTRL = re.compile("[\x00-\x08\x10-\x1f\x7f]")
# Create.pm resolve_oci_user: `$userstr =~ /^([^:]+)(?::([^:]+))?$/`
_USER = re.compile(r"([^:]+)(?::([^:]+))?")
# String::ShellQuote (pve-common PVE/Cmd.pm shell_quote): characters that need no quoting
_SHELL_PLAIN = re.compile(r"[\w!%+,\-./:=@^]*")
INIT = "/sbin/init"  # Create.pm: an init command starting with it keeps PVE's own init set-up
DEFAULT_STOP_SIGNAL = "SIGTERM"  # Create.pm: `StopSignal // "SIGTERM"`
# the raw keys restore_oci_archive appends, in its order (what explain cannot predict without the config)
INIT_KEYS = ("lxc.init.uid", "lxc.init.gid", "lxc.init.groups", "lxc.init.cwd", "lxc.signal.halt")


class OciConfigError(ValueError):
    """The image config makes PVE's create fail; str() is PVE's message."""


def _perl_true(value: str | None) -> bool:
    """A perl scalar in boolean context: undef, "" and "0" are false."""
    return value is not None and value not in ("", "0")


# --- PVE::Tools::cmd2string -------------------------------------------------------------------------


def shell_quote(arg: str) -> str:
    """String::ShellQuote::shell_quote of ONE argument (pve-common PVE/Cmd.pm to_string quotes each
    argument by itself): kept as is when it has only `\\w!%+,-./:=@^` and no `=` (an `=` in the first
    word would be an environment assignment); else in single quotes, each `'` as `'\\''`, runs of two
    or more `'` as `'"''"'`, and a leading or trailing `''` dropped; `''` for the empty string."""
    if arg == "":
        return "''"
    if "=" not in arg and _SHELL_PLAIN.fullmatch(arg):
        return arg
    quoted = arg.replace("'", "'\\''")
    quoted = re.sub(r"(?:'\\''){2,}", lambda m: "'\"" + "'" * (len(m.group(0)) // 4) + "\"'", quoted)
    return f"'{quoted}'".removeprefix("''").removesuffix("''")


def cmd2string(argv: Sequence[str]) -> str:
    """pve-common PVE::Tools::cmd2string (PVE/Cmd.pm to_string): each argument shell-quoted, one space apart."""
    return " ".join(shell_quote(arg) for arg in argv)


# --- Create.pm resolve_oci_user ----------------------------------------------------------------------


def _fields(line: str) -> list[str]:
    """perl's `split(/:/, $line)` after chomp: trailing empty fields dropped."""
    fields = line.split(":")
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def _lines(text: str) -> list[str]:
    """`while (my $line = <$fh>) { chomp $line; ... }`: lines split at "\\n" only."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _lookup(text: str | None, match_index: int, value: str, ret_index: int) -> str | None:
    """resolve_oci_user's $lookup_field: the first line whose field `match_index` is `value`, its field
    `ret_index` (undef when the file cannot be opened, no line matches or the field is missing)."""
    if text is None:
        return None
    for line in _lines(text):
        fields = _fields(line)
        if len(fields) > match_index and fields[match_index] == value:
            return fields[ret_index] if len(fields) > ret_index else None
    return None


def _supplementary_groups(group_file: str | None, username: str) -> str | None:
    """resolve_oci_user's $get_supplementary_groups: the GIDs of every group listing `username` as a
    member, comma-joined ("" for none; undef when /etc/group cannot be opened)."""
    if group_file is None:
        return None
    gids = []
    for line in _lines(group_file):
        fields = _fields(line)
        if len(fields) < 4:  # `next if !defined($gid) || !defined($user_list)`
            continue
        if username in fields[3].split(","):
            gids.append(fields[2])
    return ",".join(gids)


@dataclass(frozen=True)
class OciUser:
    """The image's User as resolve_oci_user resolves it: the `lxc.init.*` values (None: not written)."""

    uid: str | None = None
    gid: str | None = None
    groups: str | None = None


def resolve_oci_user(userstr: str, passwd: str | None, group: str | None) -> OciUser:
    """Create.pm resolve_oci_user: `user[:group]`, names looked up in the image's /etc/passwd and
    /etc/group (`passwd`, `group`: their text, None when the image has no such file).

    A numeric user is the uid (its name, for the supplementary groups, from passwd); a name is looked
    up.  With a group: a number is the gid, a name is looked up, and no supplementary groups.  Without:
    the gid is the passwd line's of that uid, the groups every group naming the user as a member."""
    match = _USER.fullmatch(userstr)
    if match is None:
        raise OciConfigError("OCI config value for 'User' has an invalid format")
    user, group_name = match.group(1), match.group(2)
    if user.isascii() and user.isdigit():  # perl's /^\d+$/ (ASCII digits: no `use utf8` there)
        uid: str | None = user
        username = _lookup(passwd, 2, user, 0)
    else:
        username, uid = user, _lookup(passwd, 0, user, 2)
    gid = groups = None
    if group_name is not None:
        gid = group_name if group_name.isascii() and group_name.isdigit() else _lookup(group, 0, group_name, 2)
    else:
        if uid is not None:
            gid = _lookup(passwd, 2, uid, 3)
        if username is not None:
            groups = _supplementary_groups(group, username)
    return OciUser(uid, gid, groups)


# --- the image config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageConfig:
    """An OCI image's `config` section as restore_oci_archive reads it (None: the key is absent or
    null), and its User resolved in the image's own /etc/passwd and /etc/group."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None
    user: str | None = None
    working_dir: str | None = None
    stop_signal: str | None = None
    resolved_user: OciUser | None = None  # None when User is empty (restore_oci_archive skips it)

    @property
    def init_cmd(self) -> tuple[str, ...]:
        """Entrypoint then Cmd: the command the container runs."""
        return (*(self.entrypoint or ()), *(self.cmd or ()))

    @classmethod
    def from_json(cls, image_config: Mapping[str, Any] | str, *, passwd: str | None = None,
                  group: str | None = None) -> ImageConfig:
        """The image config blob (its JSON text or decoded), checked as restore_oci_archive checks it;
        `passwd`/`group`: the image's /etc/passwd and /etc/group (only what resolves the User is needed).
        Raises OciConfigError with PVE's message where the create would fail."""
        if isinstance(image_config, str):
            try:
                image_config = json.loads(image_config)
            except ValueError as err:
                raise OciConfigError(f"Error while parsing OCI image: {err}") from None
        if not isinstance(image_config, Mapping):
            raise OciConfigError("Error while parsing OCI image: the image config is not a JSON object")
        section = image_config.get("config")  # proxmox-oci: Config::default() without one
        section = section if isinstance(section, Mapping) else {}

        def scalar(key: str) -> str | None:  # $oci_config_get_checked_scalar
            value = section.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                raise OciConfigError(f"Error while parsing OCI image: {key} is not a string")
            if _CTRL.search(value):
                raise OciConfigError(f"OCI config value for '{key}' contains forbidden control characters!")
            return value

        def array(key: str) -> tuple[str, ...] | None:  # $oci_config_get_checked_array
            value = section.get(key)
            if value is None:
                return None
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise OciConfigError(f"Error while parsing OCI image: {key} is not a list of strings")
            if any(_CTRL.search(item) for item in value):
                raise OciConfigError(f"OCI config array-value for '{key}' contains forbidden control characters!")
            return tuple(value)

        volumes = section.get("Volumes") or {}  # checked only: PVE makes them directories, not config lines
        if not isinstance(volumes, Mapping):
            raise OciConfigError("Error while parsing OCI image: Volumes is not an object")
        if any(_CTRL.search(str(path)) for path in volumes):
            raise OciConfigError("OCI config data-volumes path contains forbidden control characters!")
        entrypoint, cmd = array("Entrypoint"), array("Cmd")
        user = scalar("User")
        resolved = resolve_oci_user(user, passwd, group) if user is not None and _perl_true(user) else None
        working_dir = scalar("WorkingDir")
        env = array("Env")
        stop_signal = scalar("StopSignal")
        return cls(entrypoint=entrypoint, cmd=cmd, env=env, user=user, working_dir=working_dir,
                   stop_signal=stop_signal, resolved_user=resolved)


# --- Create.pm restore_oci_archive -------------------------------------------------------------------


def _with_host_managed(value: str) -> str | None:
    """A netN value with `host-managed=1` added (print_lxc_network's order), or None when it sets
    host-managed already.  Read without the schema's checks: the MAC may be explain's placeholder."""
    data = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
    if "host-managed" in data:
        return None
    data["host-managed"] = "1"
    return pveconf.print_property_string(pveconf.NET_SCHEMA, data)


def restore_oci_archive(conf: pveconf.PveConf, image: ImageConfig) -> pveconf.PveConf:
    """A copy of `conf` (the create's config: the request's options, net and rootfs as PVE printed them)
    with what Create.pm restore_oci_archive writes from `image`:

    * Entrypoint+Cmd, unless empty or starting with /sbin/init: `entrypoint` (cmd2string), `cmode:
      console`, and `host-managed=1` on every netN that does not set host-managed (bpg sends it to
      PVE >= 9.1 always, so its containers keep what they sent); the request's entrypoint is replaced
      (the TODO there);
    * User (when true to perl): `lxc.init.uid`, `lxc.init.gid`, `lxc.init.groups`, each when defined
      (groups "" when the user is in no group: the line is written with an empty value);
    * WorkingDir (when true to perl): `lxc.init.cwd`;
    * Env (when present, even empty): `env`, NUL-joined, replacing the request's;
    * `lxc.signal.halt`: StopSignal, SIGTERM when absent.

    The Volumes become directories in the rootfs, not config lines."""
    result = pveconf.PveConf(options=dict(conf.options), lxc=list(conf.lxc), pending=conf.pending,
                             snapshots=conf.snapshots)
    options = result.options
    init_cmd = image.init_cmd
    if init_cmd and init_cmd[0] != INIT:
        options["entrypoint"] = cmd2string(init_cmd)
        options["cmode"] = "console"
        for key in [k for k in options if re.fullmatch(r"net\d+", k)]:
            printed = _with_host_managed(options[key])
            if printed is not None:
                options[key] = printed
    user = image.resolved_user
    if user is not None:
        for key, value in (("lxc.init.uid", user.uid), ("lxc.init.gid", user.gid), ("lxc.init.groups", user.groups)):
            if value is not None:
                result.lxc.append((key, value))
    if _perl_true(image.working_dir):
        result.lxc.append(("lxc.init.cwd", str(image.working_dir)))
    if image.env is not None:
        options["env"] = "\0".join(image.env)
    result.lxc.append(("lxc.signal.halt", image.stop_signal if image.stop_signal is not None else DEFAULT_STOP_SIGNAL))
    return result


# --- the product's pre-start hookscript ---------------------------------------------------------------


def env_option(env: Sequence[tuple[str, str]]) -> str:
    """PVE's `env` option of (name, value) pairs: `NAME=value` joined by NUL (what bpg sends and
    what the config holds before write_pct_config splits it into lxc.environment.runtime lines)."""
    return "\0".join(f"{name}={value}" for name, value in env)


@dataclass(frozen=True)
class AppConfig:
    """The entrypoint and env a container's pre-start hookscript writes into its config at every
    start (`env`: (name, value) pairs in the order written: sorted, as bpg sends them).  The model
    builds it from the props (model/oci.py says why), explain from the synthesized container."""

    entrypoint: str
    env: tuple[tuple[str, str], ...] = ()

    @property
    def env_lines(self) -> str:
        """The env as PVE writes it, one `NAME=value` a line (Config.pm write_pct_config)."""
        return "\n".join(f"{k}={v}" for k, v in self.env)


def app_config_written(conf: pveconf.PveConf, app: AppConfig) -> pveconf.PveConf:
    """A copy of `conf` after a pre-start hookscript wrote `app` into it: the `entrypoint` option and
    the `lxc.environment.runtime` lines (PVE's `env`; none when `app.env` is empty) replaced,
    everything else kept.  The hook writes the file as Config.pm write_pct_config does
    (docs/oci-research.md, candidate 5), so this is the config rendered again with those two values."""
    result = pveconf.PveConf(options=dict(conf.options), lxc=list(conf.lxc), pending=conf.pending,
                             snapshots=conf.snapshots)
    result.options["entrypoint"] = app.entrypoint
    if app.env:
        result.options["env"] = env_option(app.env)
    else:
        result.options.pop("env", None)
    return result
