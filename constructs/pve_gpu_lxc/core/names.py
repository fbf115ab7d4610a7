"""The names and paths a Proxmox VE node accepts, as one set of patterns (pure).

The model validates props with them, the command line validates what it sends to a node
with them (`check`'s probe, `--ssh`), so a name the model accepts is one the probe sends,
and one PVE accepts.  Each pattern says whose rule it is; `fullmatch` them (or use `is_*`).
"""

from __future__ import annotations

import re

# pve-common src/PVE/JSONSchema.pm pve_verify_vmid and the `pve-vmid` option (100..999999999).
VMID = re.compile(r"[1-9][0-9]{2,8}")
VMID_MIN, VMID_MAX = 100, 999_999_999

# pve-common src/PVE/JSONSchema.pm parse_id (parse_storage_id): at least 2 characters, a letter
# first, a letter or digit last.
STORAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]")
STORAGE_ID_MAX = 64  # what we send; PVE sets no limit, a storage.cfg section name this long is unheard of

# One DNS label: 1-63 letters, digits and inner hyphens (RFC 1123; PVE's `dns-name` is labels of it).
DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
DNS_NAME_MAX = 253

# pve-common src/PVE/JSONSchema.pm pve_verify_node_name, held to one DNS label: a node's name is
# its hostname.
NODE_NAME = DNS_LABEL

# A device node path we write into a devN property string and quote into hook scripts: PVE
# (pve-container src/PVE/LXC/Config.pm verify_lxc_dev_string) takes anything under /dev/ without
# `.`/`..` parts; ours is that, without whitespace, `,` `=` `;` `:` `$`, quotes or globs.
DEVICE_PATH = re.compile(r"/dev(?:/[A-Za-z0-9_.+-]+)+")
DEVICE_PATH_MAX = 255

# A snippet's file name in `<storage>:snippets/<name>` (one path component, no leading dot).
SNIPPET_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")

# A login name (useradd's default NAME_REGEX, 32 characters at most).
UNIX_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")

# Where SSH goes: a host name, an IPv4 address, or an IPv6 address (unbracketed here).
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,253}|[0-9A-Fa-f:.]+")

# An OCI image reference with a tag, as PVE's oci-registry-pull takes it (pve-storage
# src/PVE/API2/Storage/Status.pm oci_registry_pull, `reference`; bpg's proxmox_oci_image checks
# the same pattern): [host[:port]/]path[/path...]:tag, the path lower case, no digest.
OCI_REFERENCE = re.compile(
    r"(?:(?:[a-zA-Z\d]|[a-zA-Z\d][a-zA-Z\d-]*[a-zA-Z\d])(?:\.(?:[a-zA-Z\d]|[a-zA-Z\d][a-zA-Z\d-]*[a-zA-Z\d]))*"
    r"(?::\d+)?/)?[a-z\d]+(?:(?:[._]|__|[-]*)[a-z\d]+)*(?:/[a-z\d]+(?:(?:[._]|__|[-]*)[a-z\d]+)*)*"
    r":\w[\w.-]{0,127}")

# An absolute program path run from a hook or a unit: no spaces, quotes or shell characters.
PROGRAM = re.compile(r"/[A-Za-z0-9_.+/-]+")


def is_vmid(value: int | str) -> bool:
    return VMID.fullmatch(str(value)) is not None


def is_storage_id(value: str) -> bool:
    return len(value) <= STORAGE_ID_MAX and STORAGE_ID.fullmatch(value) is not None


def is_node_name(value: str) -> bool:
    return NODE_NAME.fullmatch(value) is not None


def is_dns_name(value: str) -> bool:
    """Labels separated by dots, 253 characters at most (a container's hostname)."""
    return 0 < len(value) <= DNS_NAME_MAX and all(DNS_LABEL.fullmatch(label) for label in value.split("."))


def is_device_path(value: str) -> bool:
    """Under /dev/, our characters only, no `.` or `..` part."""
    return (len(value) <= DEVICE_PATH_MAX and DEVICE_PATH.fullmatch(value) is not None
            and not any(p in (".", "..") for p in value.split("/")))


def is_snippet_file(value: str) -> bool:
    return len(value) <= 255 and SNIPPET_FILE.fullmatch(value) is not None and value not in (".", "..")


def is_unix_user(value: str) -> bool:
    return UNIX_USER.fullmatch(value) is not None


def is_host(value: str) -> bool:
    return HOST.fullmatch(value) is not None


def is_oci_reference(value: str) -> bool:
    return OCI_REFERENCE.fullmatch(value) is not None


def is_program(value: str) -> bool:
    """An absolute path of our characters, without `.` or `..` parts (no PATH lookup, no shell)."""
    return PROGRAM.fullmatch(value) is not None and not any(p in (".", "..") for p in value.split("/"))
