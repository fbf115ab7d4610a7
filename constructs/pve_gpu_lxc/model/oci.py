"""Application containers from OCI images (PVE >= 9.1, a technology preview): the rules (pure).

PVE pulls an image into a vztmpl `.tar` (`oci-registry-pull`, bpg's `proxmox_oci_image`) and a
create from it runs restore_oci_archive (pve-container src/PVE/LXC/Create.pm): the image's
Entrypoint+Cmd become the container's `entrypoint`, its Env the `env`, its User
`lxc.init.uid/gid`.  That create overwrites an `env` and `entrypoint` sent with it (the TODO
there; bpg issue #2789), and a construct cannot read the image's config at synth time, so a
container from an OCI image declares both, complete, and its pre-start hookscript writes them
into the node's config at every start (model/hooks.py; docs/oci-research.md shows why this, of
the five sequences tried with the real provider, is the one that leaves one apply and an empty
second plan).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..core import names
from ..core.errors import ValidationError
from ..core.rules import got
from ..pve.synthesized import oci_image_file_name

# pve-container src/PVE/LXC/Config.pm, the `env` option: `\w+=` then no control character but
# tab (bpg's EnvironmentVariablesValidator lets \x0a-\x0f through; PVE refuses them).
_ENV_KEY = re.compile(r"[A-Za-z0-9_]+")
# the same file's `entrypoint` pattern: no control characters besides tab
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+\.tar")  # what PVE's normalize_content_filename keeps
MAX_ENTRYPOINT = 4096
FIND_CONFIG = "skopeo inspect --config docker://{reference}"


def reference(value: object, where: str) -> str:
    """An image reference with a tag, as PVE's oci-registry-pull accepts it."""
    if not isinstance(value, str) or not names.is_oci_reference(value):
        raise ValidationError(
            f"{where}: reference {got(value)} is not an OCI image reference with a tag as Proxmox VE pulls it: "
            "[registry[:port]/]path:tag with a lower-case path and no digest, e.g. "
            "'docker.io/jellyfin/jellyfin:10.10.7' (pin a version tag: a moving tag such as 'latest' is pulled "
            "once and never again)"
        )
    return value


def file_name(value: object, reference_: str, where: str) -> str:
    """The `.tar` the image is stored as: given, else bpg's default (the reference's last path
    part, ':' -> '_', + '.tar'; explain reads it back the same way), in the characters PVE's
    normalize_content_filename keeps."""
    if value is None:
        return oci_image_file_name(reference_)
    if not isinstance(value, str) or _FILE_NAME.fullmatch(value) is None:
        raise ValidationError(
            f"{where}: file_name {got(value)} must end in .tar and use only letters, digits and _ . - "
            "(Proxmox VE renames other characters, and bpg would then look for a file that is not there)"
        )
    return value


def env(value: object) -> tuple[tuple[str, str], ...]:
    """`env` as sorted (name, value) pairs (bpg sends them sorted); PVE's `env` rules."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"env must be a dict of variable names to string values, got {got(value)}")
    pairs = []
    for key, text in value.items():
        if not isinstance(key, str) or _ENV_KEY.fullmatch(key) is None:
            raise ValidationError(
                f"env name {got(key)} must be letters, digits and _ only (Proxmox VE's rule)")
        if not isinstance(text, str):
            raise ValidationError(f"env[{key!r}] must be a string, got {got(text)}")
        if _CONTROL.search(text):
            raise ValidationError(
                f"env[{key!r}] contains a control character (a newline?); Proxmox VE keeps each variable "
                "on one config line and refuses them (tab is allowed)")
        pairs.append((key, text))
    return tuple(sorted(pairs))


def entrypoint(value: object) -> str:
    """The command the container runs as init, with its arguments (PVE's `entrypoint`)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"entrypoint must be a non-empty command line string, got {got(value)}")
    if _CONTROL.search(value) or len(value) > MAX_ENTRYPOINT:
        raise ValidationError(
            f"entrypoint {value[:60]!r} contains a control character or is over {MAX_ENTRYPOINT} "
            "characters; Proxmox VE keeps it on one config line")
    return value


def missing_app_config(reference_: str, missing: list[str]) -> str:
    """Why a container from an OCI image must declare its entrypoint and env, and where to find them."""
    what = " and ".join(missing)
    return (
        f"{what} must be given for a container from the OCI image {reference_!r}: Proxmox VE's create writes the "
        "image's own over any sent with it, and without them the next plan would delete the image's (the app would "
        "then boot /sbin/init, which the image does not have). Copy them from the image's config, "
        f"`{FIND_CONFIG.format(reference=reference_)}` (.config.Entrypoint + .config.Cmd joined by spaces as "
        "entrypoint, .config.Env as env, PATH included: env replaces the image's, it is not merged), "
        "and change them as you need; the hookscript writes them on the node at every start"
    )


def app_gid_message(role: str, reference_: str, paths: list[str]) -> str:
    """Why an app container's GPU nodes need a GID the user gives, and which one."""
    return (
        f"{', '.join(paths)} must belong to a group the app runs with, and the OCI image {reference_!r} has no known "
        f"'{role}' group (images rarely define one). Give Template.oci(..., {role}_gid=N) with N the primary GID "
        f"of the user the entrypoint runs as (`{FIND_CONFIG.format(reference=reference_)}` shows .config.User; "
        "0 when it is empty or root): in an unprivileged container Proxmox VE 9.1's LXC gives the entrypoint only "
        "its primary group (lxc.init.groups needs LXC 6.0.6), so a supplementary group would not open the node. "
        "Never use the host's GID"
    )
