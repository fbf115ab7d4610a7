"""Container-side `video`/`render` GIDs of templates (pure; no cdktf import).

`render` is a dynamic system group: its number differs between distros, releases
and even builds of one release (debian-12-standard 12.2-1 has 106, later builds
differ), so values are keyed by the EXACT template file name, build suffix
included.  Only values observed in real templates are in the table; anything
else needs an explicit value, read from the template's own /etc/group
(`read_template_gids` does that from a local tarball).  A host GID is never a
fallback: it names a different group inside the container.
"""

from __future__ import annotations

import lzma
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import zstandard

from ..core.errors import ValidationError
from ..core.rules import got
from ..facts import parse_group_file

_COMPRESSION_SUFFIX = re.compile(r"\.tar(\.(zst|xz|gz|bz2))?$")


@dataclass(frozen=True)
class TemplateGids:
    """The `video` and `render` GIDs inside a template (None = the group does not exist)."""

    video: int | None
    render: int | None
    source: str = ""


# Exact template builds -> GIDs, with the sources (also in docs/templates.md):
STOCK_TEMPLATE_GIDS: dict[str, TemplateGids] = {
    # tteck/Proxmox tdarr/scrypted/channels install scripts swap `render:x:106` (debian 12,
    # 2024-02); ddimick/proxmox-lxc-idmapper#7: "getent group render ... 106 on LXC".
    "debian-12-standard_12.0-1_amd64": TemplateGids(44, 106, "tteck/Proxmox tdarr-install.sh; idmapper#7"),
    "debian-12-standard_12.2-1_amd64": TemplateGids(44, 106, "tteck/Proxmox tdarr-install.sh; idmapper#7"),
    # community-scripts/ProxmoxVE#10837 log: "debian-13-standard_13.1-2 ... (video:44, render:992)";
    # ProxmoxVE#7886: "in Trixie the GID has changed to 992".
    "debian-13-standard_13.1-1_amd64": TemplateGids(44, 992, "community-scripts#7886"),
    "debian-13-standard_13.1-2_amd64": TemplateGids(44, 992, "community-scripts#10837, #7886"),
    # tteck/Proxmox#2523 ("104 is the GID of ssl-cert"); jellyfin/plex install scripts map render:x:108.
    "ubuntu-22.04-standard_22.04-1_amd64": TemplateGids(44, 108, "tteck/Proxmox#2523; jellyfin-install.sh"),
    # community-scripts/ProxmoxVE#6728 ("render inside of the container is actually 993") and #5408.
    "ubuntu-24.04-standard_24.04-2_amd64": TemplateGids(44, 993, "community-scripts#6728, #5408"),
}

# Predicted by an emulation of Proxmox's template build, never observed: offered as a hint
# in error messages, never used silently.
PREDICTED_TEMPLATE_GIDS: dict[str, TemplateGids] = {
    "debian-12-standard_12.7-1_amd64": TemplateGids(44, 104, "emulated DAB build (unverified)"),
    "debian-12-standard_12.12-1_amd64": TemplateGids(44, 104, "emulated DAB build (unverified)"),
    "ubuntu-25.04-standard_25.04-1_amd64": TemplateGids(44, 992, "emulated DAB build (unverified)"),
    "ubuntu-26.04-standard_26.04-1_amd64": TemplateGids(44, 991, "emulated DAB build (unverified)"),
}

# Fedora >= 35 fixes the numbers at build time (systemd.spec -Dvideo-gid=39 -Drender-gid=105).
_FEDORA = re.compile(r"^fedora-(\d+)-")
FEDORA_GIDS = TemplateGids(39, 105, "Fedora systemd.spec -Drender-gid=105 (fixed since Fedora 35)")


def template_key(file_name: str) -> str:
    """`local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst` -> `ubuntu-24.04-standard_24.04-2_amd64`."""
    base = file_name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return _COMPRESSION_SUFFIX.sub("", base)


def known_gids(file_name: str) -> TemplateGids | None:
    """GIDs from the table of observed templates, or None when the build is not known."""
    key = template_key(file_name)
    if key in STOCK_TEMPLATE_GIDS:
        return STOCK_TEMPLATE_GIDS[key]
    fedora = _FEDORA.match(key)
    if fedora and int(fedora.group(1)) >= 35:
        return FEDORA_GIDS
    return None


def predicted_gids(file_name: str) -> TemplateGids | None:
    return PREDICTED_TEMPLATE_GIDS.get(template_key(file_name))


def gids_from_group_file(text: str, source: str = "/etc/group") -> TemplateGids:
    """`video` and `render` GIDs from the text of a template's /etc/group file."""
    groups = parse_group_file(text, source)
    return TemplateGids(groups.get("video"), groups.get("render"), source)


def read_template_gids(path: str | os.PathLike[str]) -> TemplateGids:
    """Read the groups out of a template tarball (.tar, .tar.gz, .tar.xz, .tar.zst).

    Streams the archive (nothing is unpacked) and stops at ./etc/group, which comes early in
    Proxmox templates; a group /etc/group lacks is looked up in ./usr/lib/group, where some
    distributions keep their system groups (the node's collector does the same).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(f"template file must be a path to a template tarball, got {got(path)}")
    path = Path(path)
    try:
        return _read_group_members(path)
    except ValidationError:
        raise
    except (OSError, ValueError, EOFError, tarfile.TarError, lzma.LZMAError, zlib.error, zstandard.ZstdError) as err:
        raise ValidationError(
            f"{path} is not a readable template tarball ({type(err).__name__}: {err}); pass the template "
            "file itself, or render_gid=/video_gid= explicitly"
        ) from None


_GROUP_FILES = ("etc/group", "usr/lib/group")
_MAX_GROUP_FILE = 16 << 20  # a group file is kilobytes; never read an absurd member into memory


def _read_group_members(path: Path) -> TemplateGids:
    found: dict[str, tuple[str, TemplateGids]] = {}  # etc/group|usr/lib/group -> (member name, its GIDs)
    with path.open("rb") as raw:
        archive = (tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|")
                   if path.name.endswith(".zst") else tarfile.open(fileobj=raw, mode="r|*"))
        with archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name not in _GROUP_FILES or name in found or not member.isfile():
                    continue
                data = archive.extractfile(member)
                if data is None:  # pragma: no cover - isfile() members always have data
                    continue
                text = data.read(_MAX_GROUP_FILE).decode("utf-8", "replace")
                found[name] = (member.name, gids_from_group_file(text, f"{path.name}:{member.name}"))
                etc = found.get("etc/group")
                if len(found) == 2 or (etc is not None and None not in (etc[1].video, etc[1].render)):
                    break  # stop decompressing: nothing later can change the answer
    if "etc/group" not in found:
        raise ValidationError(f"{path} has no ./etc/group member; is it an LXC template?")
    etc_member, etc_gids = found["etc/group"]
    lib_member, lib_gids = found.get("usr/lib/group", ("", TemplateGids(None, None)))
    video = etc_gids.video if etc_gids.video is not None else lib_gids.video
    render = etc_gids.render if etc_gids.render is not None else lib_gids.render
    from_lib = (video, render) != (etc_gids.video, etc_gids.render)
    return TemplateGids(video, render, f"{path.name}:{etc_member}" + (f" + {lib_member}" if from_lib else ""))
