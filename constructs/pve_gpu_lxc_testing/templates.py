"""Real container template tarballs for tests, built with the real `tar` and `zstd`/`xz`/`gzip`.

    build_template(cache / "debian-12-standard_12.7-1_amd64.tar.zst",
                   etc_group="root:x:0:\\nvideo:x:44:\\nrender:x:104:\\n")

The tree looks like a Proxmox template's (etc/, usr/lib/, bin/, a large file before and after
etc/ so a reader that stops early is distinguishable from one that reads everything), packed the
way `dab` packs it (members named `./etc/group`, etc/ first) or, with `dot_prefix=False`, without
the `./` (members `etc/group`, as some image builders write them).  `truncate_after_etc=True` cuts
the tar stream in the filler after etc/: only a reader that stops at ./etc/group can read it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

COMPRESSORS = {".tar.zst": ["zstd", "-q", "-c", "-T1"], ".tar.xz": ["xz", "-c", "-T1"],
               ".tar.gz": ["gzip", "-c", "-n"], ".tar": None}

DEBIAN_GROUP = (
    "root:x:0:\ndaemon:x:1:\ntty:x:5:\ndisk:x:6:\nvideo:x:44:\nplugdev:x:46:\nstaff:x:50:\n"
    "users:x:100:\nnogroup:x:65534:\nsystemd-journal:x:999:\nsystemd-network:x:998:\n"
    "crontab:x:101:\nmessagebus:x:102:\ninput:x:103:\nrender:x:104:\nsgx:x:105:\n"
    "kvm:x:106:\n_ssh:x:107:\npostfix:x:108:\npostdrop:x:109:\n"
)


def suffix_of(name: str) -> str:
    for suffix in (".tar.zst", ".tar.xz", ".tar.gz", ".tar"):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"{name}: not a .tar[.zst|.xz|.gz] template name")


def build_template(path: Path, *, etc_group: str | None = DEBIAN_GROUP, usr_lib_group: str | None = None,
                   dot_prefix: bool = True, filler_bytes: int = 256 << 10, truncate_after_etc: bool = False) -> Path:
    """Write a template tarball to `path`; its compression follows the file name's suffix."""
    path = Path(path)
    suffix = suffix_of(path.name)
    with tempfile.TemporaryDirectory(prefix="template-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        for rel, text in (("etc/appliance.info", "Name: test-template\n"), ("etc/hostname", "localhost\n"),
                          ("etc/group", etc_group), ("usr/lib/group", usr_lib_group),
                          ("usr/lib/os-release", "ID=debian\nVERSION_ID=12\n")):
            if text is not None:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text)
        (root / "bin").mkdir(parents=True, exist_ok=True)
        # incompressible filler so the archive is bigger than a pipe buffer on both sides of etc/
        for rel in ("bin/aaa-filler", "var/zzz-filler"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(os.urandom(filler_bytes))
        # etc/ first, as in Proxmox templates, so a reader can stop long before the end
        top = ["etc", *sorted(p.name for p in root.iterdir() if p.name != "etc")]
        members = [f"./{name}" for name in top] if dot_prefix else top
        tar = subprocess.run(["tar", "-c", "-f", "-", "--numeric-owner", "--owner=0", "--group=0",
                              "-C", str(root), *members], check=True, capture_output=True)
    data = tar.stdout
    if truncate_after_etc:
        end_of_etc = data.index(b"aaa-filler")  # bin/aaa-filler's header follows etc/
        data = data[:end_of_etc + 512 + filler_bytes // 2]
    path.parent.mkdir(parents=True, exist_ok=True)
    compressor = COMPRESSORS[suffix]
    if compressor is None:
        path.write_bytes(data)
    else:
        if shutil.which(compressor[0]) is None:
            raise RuntimeError(f"{compressor[0]} is not installed (Debian: apt-get install {compressor[0]})")
        packed = subprocess.run(compressor, input=data, check=True, capture_output=True)
        path.write_bytes(packed.stdout)
    return path
