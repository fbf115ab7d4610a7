"""A container created from an OCI image archive: what pve-container does with it.

pve-container `src/PVE/LXC/Create.pm`:

- `archive_is_oci_format`: a volume whose file name ends in `.tar` and whose `tar -tf` listing has
  the lines `oci-layout`, `index.json` and one starting with `blobs/` (API2/LXC.pm create_vm checks
  it unless restoring, and prints "Detected OCI archive");
- `restore_oci_archive`: `PVE::RS::OCI::parse_and_extract_image` (proxmox-perl-rs, the
  proxmox-oci crate) extracts the image's layers into the rootfs inside the container's user
  namespace and returns the image config's `config` section; then Volumes get a directory each,
  Entrypoint+Cmd become `entrypoint` (`PVE::Tools::cmd2string`) unless the first word is
  `/sbin/init`, and with it `cmode: console` and `host-managed=1` on every netN that does not set
  it; User becomes `lxc.init.uid`/`gid`/`groups` (`resolve_oci_user`, from the image's own
  /etc/passwd and /etc/group), WorkingDir `lxc.init.cwd`, Env the `env` option (NUL-joined, written
  as `lxc.environment.runtime:` lines), StopSignal (default SIGTERM) `lxc.signal.halt`.  Values the
  request set for `entrypoint` and `env` are overwritten (the "TODO" in restore_oci_archive).

proxmox-oci's `parse_and_extract_image` (`proxmox-oci/src/lib.rs`, `oci_tar_image.rs`), as
`parse_image` and `extract_layers` below: index.json, the first manifest whose media type is an
image manifest (of the given architecture, when one is asked for), its config blob (media type
checked), then every layer of `rootfs.diff_ids` in order (matched to the manifest's layers by the
digest of their uncompressed content), each one's whiteouts applied to what the layers below left
(`.wh..wh..opq` empties its directory, `.wh.NAME` removes NAME) before it is unpacked with
ownership and permissions.  Here GNU tar reads the archive and unpacks the layers (the program PVE
uses for every other template), run under a given prefix: `lxc-usernsexec -m ...` for the LXC
harness, none for the simulated node, which only needs the image's /etc/passwd, /etc/group and
OS files in a scratch directory (its rootfs volumes are sparse files, not file systems).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf

from .node import PveError
from .noderun import cmd2string

# oci-spec MediaType (the ones proxmox-oci distinguishes)
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": None,
    "application/vnd.oci.image.layer.nondistributable.v1.tar": None,
    "application/vnd.oci.image.layer.v1.tar+gzip": "-z",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "-z",
    "application/vnd.oci.image.layer.v1.tar+zstd": "--zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "--zstd",
}
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_CTRL = re.compile(r"[\x00-\x08\x10-\x1F\x7F]")  # Create.pm $has_ctrl_char (tab..\x0f allowed, as written)


# --- Create.pm archive_is_oci_format ---------------------------------------------------------------
def archive_is_oci_format(archive: Path) -> bool:
    """`tar -tf` of a `.tar` volume lists `oci-layout`, `index.json` and something under `blobs/`."""
    if not archive.name.endswith(".tar"):
        return False
    listing = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             check=False)
    if listing.returncode != 0:
        # run_command dies on a failing tar (the create fails with tar's message)
        raise PveError(f"command 'tar -tf {archive}' failed: exit code {listing.returncode}")
    lines = listing.stdout.splitlines()
    return "oci-layout" in lines and "index.json" in lines and any(line.startswith("blobs/") for line in lines)


# --- PVE::RS::OCI::parse_and_extract_image (proxmox-oci) ---------------------------------------------
class OciError(PveError):
    pass


def _member(archive: Path, name: str) -> bytes | None:
    """One member of the archive (`tar -xOf`), None when it has no such member."""
    result = subprocess.run(["tar", "-xOf", str(archive), name], capture_output=True, stdin=subprocess.DEVNULL,
                            check=False)
    return result.stdout if result.returncode == 0 else None


def _blob_name(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"blobs/{algorithm}/{value}"


@dataclass
class OciImage:
    archive: Path
    manifest: dict[str, Any]
    image_config: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        """The image config's `config` section (proxmox-oci returns `Config::default()` without one)."""
        section = self.image_config.get("config")
        return section if isinstance(section, dict) else {}


def parse_image(archive: Path, arch: str | None = None) -> OciImage:
    """proxmox-oci parse_image: index.json, the first image manifest (of `arch`), its config blob."""
    def parse_error(text: str) -> OciError:
        return OciError(f"Error while parsing OCI image: {text}")

    index_data = _member(archive, "index.json")
    if index_data is None:
        raise parse_error("OCI spec error: Missing index.json file")
    try:
        index = json.loads(index_data)
    except ValueError as err:
        raise parse_error(f"OCI spec error: {err}") from None
    chosen = None
    for descriptor in index.get("manifests") or []:
        platform = descriptor.get("platform")
        if descriptor.get("mediaType") == MANIFEST and (
                arch is None or not platform or platform.get("architecture") == arch):
            chosen = descriptor
            break
    if chosen is None:
        raise parse_error("Unsupported CPU architecture")
    manifest_data = _member(archive, _blob_name(chosen["digest"]))
    if manifest_data is None:
        raise parse_error(f"OCI spec error: Image manifest with digest {chosen['digest']} mentioned in image index "
                          "is missing")
    manifest = json.loads(manifest_data)
    config_descriptor = manifest.get("config") or {}
    if config_descriptor.get("mediaType") != CONFIG:
        raise parse_error("Wrong media type")
    config_data = _member(archive, _blob_name(config_descriptor.get("digest", "")))
    if config_data is None:
        raise parse_error("Missing image config")
    return OciImage(archive, manifest, json.loads(config_data))


def _layer_map(image: OciImage) -> dict[str, tuple[dict[str, Any], bytes]]:
    """build_layer_map: uncompressed digest (rootfs.diff_ids) -> (layer descriptor, blob)."""
    def extract_error(text: str) -> OciError:
        return OciError(f"Error while extracting OCI image: {text}")

    mapping: dict[str, tuple[dict[str, Any], bytes]] = {}
    for layer in image.manifest.get("layers") or []:
        media_type = layer.get("mediaType")
        if media_type not in LAYER_TYPES:
            continue
        blob = _member(image.archive, _blob_name(layer["digest"]))
        if blob is None:
            raise extract_error(f"Layer file {layer['digest']} mentioned in image manifest is missing")
        option = LAYER_TYPES[media_type]
        if option is None:
            uncompressed = blob
        else:
            decompress = ["gzip", "-dc"] if option == "-z" else ["zstd", "-dc"]
            uncompressed = subprocess.run(decompress, input=blob, capture_output=True, check=True).stdout
        mapping["sha256:" + hashlib.sha256(uncompressed).hexdigest()] = (layer, blob)
    return mapping


def _inside(rootdir: Path, member: str) -> Path | None:
    """rootdir joined with an archive path, or None for one that would leave it."""
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return rootdir.joinpath(*parts)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def apply_whiteouts(names: Sequence[str], rootdir: Path) -> None:
    """proxmox-oci apply_whiteouts: what a layer's whiteout files remove from the layers below."""
    for name in names:
        base = name.rstrip("/").rsplit("/", 1)[-1]
        parent = name.rstrip("/")[: -len(base)].rstrip("/")
        if base == OPAQUE_WHITEOUT:
            directory = _inside(rootdir, parent) if parent else rootdir
            if directory is not None and directory.is_dir():
                for entry in directory.iterdir():
                    _remove(entry)
        elif base.startswith(WHITEOUT_PREFIX):
            target = base[len(WHITEOUT_PREFIX):]
            if target == "..":
                continue
            path = _inside(rootdir, parent) if target == "." else _inside(rootdir, f"{parent}/{target}")
            if path is not None and path != rootdir:
                _remove(path)


def extract_layers(image: OciImage, rootdir: Path, prefix: Sequence[str] = ()) -> None:
    """proxmox-oci extract_image_rootfs: every layer of rootfs.diff_ids, in order, its whiteouts first,
    then `tar -x` (run under `prefix`, e.g. lxc-usernsexec with the container's id map) with owners and
    permissions kept and the whiteout files themselves left out."""
    layers = _layer_map(image)
    for diff_id in (image.image_config.get("rootfs") or {}).get("diff_ids") or []:
        if not re.fullmatch(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", diff_id):
            raise OciError(f'Error while extracting OCI image: Incorrectly formatted digest: "{diff_id}"')
        if diff_id not in layers:
            raise OciError(f"Error while extracting OCI image: Unknown layer digest {diff_id} found in "
                           "rootfs.diff_ids")
        layer, blob = layers[diff_id]
        option = LAYER_TYPES[layer["mediaType"]]
        compression = [option] if option else []
        listing = subprocess.run(["tar", "-t", *compression, "-f", "-"], input=blob, capture_output=True, check=False)
        if listing.returncode:
            raise OciError(f"Error while extracting OCI image: IO error: {listing.stderr.decode(errors='replace')}")
        apply_whiteouts(listing.stdout.decode(errors="surrogateescape").splitlines(), rootdir)
        unpack = subprocess.run([*prefix, "tar", "-x", *compression, "-f", "-", "-C", str(rootdir), "--numeric-owner",
                                 "-p", "--same-owner", f"--exclude={WHITEOUT_PREFIX}*"],
                                input=blob, capture_output=True, check=False)
        if unpack.returncode:
            raise OciError(f"Error while extracting OCI image: IO error: {unpack.stderr.decode(errors='replace')}")


def parse_and_extract_image(archive: Path, rootdir: Path, prefix: Sequence[str] = (),
                            arch: str | None = None) -> dict[str, Any]:
    """PVE::RS::OCI::parse_and_extract_image: extract the rootfs, return the image config's `config`."""
    image = parse_image(archive, arch)
    extract_layers(image, rootdir, prefix)
    return image.config


# --- Create.pm restore_oci_archive, resolve_oci_user ---------------------------------------------------
def _split_fields(line: str) -> list[str]:
    """perl's split(/:/, $line): trailing empty fields dropped."""
    fields = line.split(":")
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def _in_rootfs(rootdir: Path, name: str) -> Path:
    """Cwd::abs_path of /etc/passwd inside a chroot to the rootfs: symlinks resolved without leaving it."""
    path = rootdir / name.lstrip("/")
    for _ in range(40):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        path = rootdir / target.lstrip("/") if target.startswith("/") else path.parent / target
    return path


def resolve_oci_user(userstr: str, rootdir: Path) -> tuple[str | None, str | None, str | None]:
    """Create.pm resolve_oci_user: (uid, gid, supplementary groups) from the image's passwd and group."""
    match = re.fullmatch(r"([^:]+)(?::([^:]+))?", userstr)
    if not match:
        raise PveError("OCI config value for 'User' has an invalid format")
    user, group = match.group(1), match.group(2)
    etc_passwd, etc_group = _in_rootfs(rootdir, "/etc/passwd"), _in_rootfs(rootdir, "/etc/group")

    def lines(path: Path) -> list[str] | None:
        try:
            return path.read_text(errors="surrogateescape").splitlines()
        except OSError:
            return None

    def lookup(path: Path, match_index: int, value: str, ret_index: int) -> str | None:
        for line in lines(path) or []:
            fields = _split_fields(line)
            if len(fields) > match_index and fields[match_index] == value:
                return fields[ret_index] if len(fields) > ret_index else None
        return None

    def supplementary(username: str) -> str | None:
        content = lines(etc_group)
        if content is None:
            return None
        groups = []
        for line in content:
            fields = _split_fields(line)
            if len(fields) < 4:
                continue
            if username in fields[3].split(","):
                groups.append(fields[2])
        return ",".join(groups)

    uid: str | None
    username: str | None
    if re.fullmatch(r"\d+", user):
        uid, username = user, lookup(etc_passwd, 2, user, 0)
    else:
        username, uid = user, lookup(etc_passwd, 0, user, 2)
    gid: str | None = None
    groups: str | None = None
    if group is not None:
        gid = group if re.fullmatch(r"\d+", group) else lookup(etc_group, 0, group, 2)
    else:
        if uid is not None:
            gid = lookup(etc_passwd, 2, uid, 3)
        if username is not None:
            groups = supplementary(username)
    return uid, gid, groups


def restore_oci_archive(archive: Path, rootdir: Path, conf: pveconf.PveConf, log: Callable[[str], None],
                        prefix: Sequence[str] = ()) -> pveconf.PveConf:
    """Create.pm restore_oci_archive: extract the image into `rootdir`, then write into `conf` what its
    config says (see the module's docstring)."""
    config = parse_and_extract_image(archive, rootdir, prefix)

    def scalar(key: str) -> str | None:
        value = config.get(key)
        if value is None:
            return None
        if _CTRL.search(str(value)):
            raise PveError(f"OCI config value for '{key}' contains forbidden control characters!")
        return str(value)

    def array(key: str) -> list[str] | None:
        value = config.get(key)
        if value is None:
            return None
        if any(_CTRL.search(str(item)) for item in value):
            raise PveError(f"OCI config array-value for '{key}' contains forbidden control characters!")
        return [str(item) for item in value]

    volumes = config.get("Volumes")
    if volumes:
        if any(_CTRL.search(path) for path in volumes):
            raise PveError("OCI config data-volumes path contains forbidden control characters!")
        for path in volumes:  # perl's hash order; the image's order here
            log(f"creating base directory for volume at {path}")
            target = _inside(rootdir, path)
            if target is not None:
                subprocess.run([*prefix, "mkdir", "-p", str(target)], capture_output=True, check=False)

    init_cmd = [*(array("Entrypoint") or []), *(array("Cmd") or [])]
    options = conf.options
    if init_cmd and init_cmd[0] != "/sbin/init":
        options["entrypoint"] = cmd2string(init_cmd)
        options["cmode"] = "console"
        for key in sorted((k for k in options if re.fullmatch(r"net\d+", k)), key=lambda k: int(k[3:])):
            net = pveconf.parse_property_string(pveconf.NET_SCHEMA, options[key])
            if "host-managed" not in net:
                log(f"Auto-Enabling host-managed network for network device {key}.")
                net["host-managed"] = "1"
                options[key] = pveconf.print_property_string(pveconf.NET_SCHEMA, net)
    userstr = scalar("User")
    if userstr:
        uid, gid, groups = resolve_oci_user(userstr, rootdir)
        for key, value in (("lxc.init.uid", uid), ("lxc.init.gid", gid), ("lxc.init.groups", groups)):
            if value is not None:
                conf.lxc.append((key, value))
    working_dir = scalar("WorkingDir")
    if working_dir:
        conf.lxc.append(("lxc.init.cwd", working_dir))
    envs = array("Env")
    if envs is not None:
        options["env"] = "\0".join(envs)
    conf.lxc.append(("lxc.signal.halt", scalar("StopSignal") or "SIGTERM"))
    return conf


def restore_into_scratch(archive: Path, conf: pveconf.PveConf, log: Callable[[str], None],
                         detect: Callable[[Path], str]) -> str:
    """The simulated node's restore: the layers into a scratch directory (the node's rootfs volumes are
    no file systems), `restore_oci_archive` over it, then `detect(rootdir)` (the OS detection that
    create_vm runs next on the extracted rootfs) before the directory goes."""
    with tempfile.TemporaryDirectory(prefix="pvesim-oci-") as tmp:
        rootdir = Path(tmp) / "rootfs"
        rootdir.mkdir()
        restore_oci_archive(archive, rootdir, conf, log)
        return detect(rootdir)
