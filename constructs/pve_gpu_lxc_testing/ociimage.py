"""The tests' own OCI application image, built with Debian's umoci from busybox-static (never pulled).

    layout = build_app_image(tmp / "image")             # an OCI image layout directory, tag "1.0"
    archive = oci_archive(layout, "1.0", tmp / "app.tar")   # what PVE's oci-registry-pull stores

The image is one layer: `/bin/busybox` (this machine's busybox-static) with a few applet links,
`/etc/passwd` and `/etc/group` (user `app` 1000:1000, also a member of `render` 993) and
`/app/entry.sh`, whose output `parse_report` reads: its arguments, its uid/gid/groups, its working
directory, its environment and `stat` of every `/dev/dri/*` and `/dev/nvidia*` node with whether
it can open each for reading and writing; with `serve` as first argument it then waits for its stop
signal.  Its config (`APP_IMAGE`) sets Entrypoint, Cmd, Env, User, WorkingDir, StopSignal and a
Volume: everything pve-container's `restore_oci_archive` maps.

The build is deterministic (fixed mtimes, `--created`, no history entries, the layout garbage-
collected): the same busybox gives the same digests.  The layout also keeps the layer with an empty
config as tag `base`; `tag_variant` configures another tag from it (umoci config), for the create
rules that depend on the image config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "env", "id", "stat", "sleep", "sort", "cat", "ls", "mkdir")
CREATED = "2023-11-14T22:13:20Z"  # every build's image `created` (umoci's --created)
MTIME = 1700000000  # the same instant, for every file of the layer
TAG = "1.0"
BASE_TAG = "base"  # the layer with an empty config section, which every tag is configured from

ENTRY_SH = """\
#!/bin/sh
# The pve-gpu-lxc test image's entrypoint (pve_gpu_lxc_testing/ociimage.py): report what it sees.
echo "OCI-APP BEGIN"
echo "ARGS $*"
echo "IDS $(id -u) $(id -g) $(id -G)"
echo "CWD $(pwd)"
env | sort | while IFS= read -r line; do echo "ENV $line"; done
for node in /dev/dri/* /dev/nvidia*; do
    [ -e "$node" ] || continue
    stat -c "NODE %n %u %g %a %F %t:%T" "$node"
    if (exec 3<"$node") 2>/dev/null; then echo "OPEN $node r OK"; else echo "OPEN $node r DENIED"; fi
    if (exec 3>"$node") 2>/dev/null; then echo "OPEN $node w OK"; else echo "OPEN $node w DENIED"; fi
done
echo "OCI-APP END"
if [ "${1-}" = serve ]; then
    trap 'echo "OCI-APP SIGNAL INT"; exit 0' INT
    trap 'echo "OCI-APP SIGNAL TERM"; exit 0' TERM
    while :; do sleep 1; done
fi
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n"
GROUP = "root:x:0:\nvideo:x:44:\nrender:x:993:app\napp:x:1000:\n"


@dataclass(frozen=True)
class ImageConfig:
    """An OCI image config's `config` section, as umoci sets it (the OCI image spec's names)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    stop_signal: str = ""
    volumes: tuple[str, ...] = ()

    def umoci_args(self) -> list[str]:
        args: list[str] = []
        args += [f"--config.entrypoint={value}" for value in self.entrypoint]
        args += [f"--config.cmd={value}" for value in self.cmd]
        args += [f"--config.env={value}" for value in self.env]
        args += [f"--config.volume={value}" for value in self.volumes]
        for flag, value in (("user", self.user), ("workingdir", self.workdir), ("stopsignal", self.stop_signal)):
            if value:
                args.append(f"--config.{flag}={value}")
        return args


APP_IMAGE = ImageConfig(
    entrypoint=("/app/entry.sh",),
    cmd=("report",),
    env=("PATH=/bin", "APP_MODE=image", "APP_GREETING=hello from the image"),
    user="app",
    workdir="/app",
    stop_signal="SIGINT",
    volumes=("/data",),
)
# the conf `restore_oci_archive` writes for APP_IMAGE (pve-container Create.pm): what the tests expect
APP_ENTRYPOINT = "/app/entry.sh report"
APP_ENV = "PATH=/bin\0APP_MODE=image\0APP_GREETING=hello from the image"
APP_INIT = {"lxc.init.uid": "1000", "lxc.init.gid": "1000", "lxc.init.groups": "993", "lxc.init.cwd": "/app",
            "lxc.signal.halt": "SIGINT"}


class ImageError(RuntimeError):
    pass


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        raise ImageError(f"{argv[0]} is not installed (Debian package {argv[0]}; `make system-deps` installs it)")
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode:
        raise ImageError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def build_rootfs(rootfs: Path, busybox: Path = BUSYBOX) -> None:
    """The image's one layer as a directory: busybox, its applet links, passwd/group, the entrypoint."""
    if not busybox.is_file():
        raise ImageError(f"{busybox} is missing (Debian package busybox-static)")
    for sub in ("bin", "etc", "app", "tmp"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(busybox, rootfs / "bin/busybox")
    (rootfs / "bin/busybox").chmod(0o755)
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc/passwd").write_text(PASSWD)
    (rootfs / "etc/group").write_text(GROUP)
    entry = rootfs / "app/entry.sh"
    entry.write_text(ENTRY_SH)
    entry.chmod(0o755)
    (rootfs / "tmp").chmod(0o1777)
    for path in [rootfs, *rootfs.rglob("*")]:
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)


def build_app_image(layout: Path, config: ImageConfig = APP_IMAGE, tag: str = TAG, busybox: Path = BUSYBOX) -> Path:
    """An OCI image layout at `layout` holding the test image as `tag` (umoci init/new/insert/config)."""
    if layout.exists():
        shutil.rmtree(layout)
    layout.parent.mkdir(parents=True, exist_ok=True)
    rootfs = layout.with_name(layout.name + ".rootfs")
    if rootfs.exists():
        shutil.rmtree(rootfs)
    try:
        build_rootfs(rootfs, busybox)
        base = f"{layout}:{BASE_TAG}"
        _run(["umoci", "init", "--layout", str(layout)])
        _run(["umoci", "new", "--image", base])
        _run(["umoci", "config", "--no-history", "--image", base, "--created", CREATED, "--architecture", "amd64",
              "--os", "linux"])
        _run(["umoci", "insert", "--no-history", "--image", base, str(rootfs), "/"])
        tag_variant(layout, tag, config)
        _run(["umoci", "gc", "--layout", str(layout)])  # the blobs of umoci new's first config
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return layout


def tag_variant(layout: Path, new_tag: str, config: ImageConfig) -> str:
    """A tag over the same layer whose config section is exactly `config` (umoci config of the
    config-less `base` tag; umoci cannot clear User, WorkingDir or StopSignal once set)."""
    _run(["umoci", "config", "--no-history", "--image", f"{layout}:{BASE_TAG}", "--tag", new_tag,
          "--created", CREATED, *config.umoci_args()])
    return new_tag


def oci_archive(layout: Path, tag: str, archive: Path) -> Path:
    """`skopeo copy oci:LAYOUT:TAG oci-archive:ARCHIVE`: the file PVE's oci-registry-pull leaves in vztmpl."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.unlink(missing_ok=True)
    _run(["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", f"oci-archive:{archive}"])
    return archive


def image_config(layout: Path, tag: str = TAG) -> dict[str, object]:
    """The image config (`umoci stat`'s view is a summary; this is the blob itself)."""
    index = json.loads((layout / "index.json").read_text())
    for manifest in index["manifests"]:
        if manifest.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            digest = manifest["digest"].split(":", 1)[1]
            body = json.loads((layout / "blobs/sha256" / digest).read_text())
            config_digest = body["config"]["digest"].split(":", 1)[1]
            result: dict[str, object] = json.loads((layout / "blobs/sha256" / config_digest).read_text())
            return result
    raise ImageError(f"no tag {tag!r} in {layout}")


@dataclass
class AppReport:
    """What /app/entry.sh printed (between OCI-APP BEGIN and END), parsed."""

    args: list[str] = field(default_factory=list)
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = field(default_factory=list)
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)  # path -> uid, gid, mode, major:minor
    opens: dict[tuple[str, str], bool] = field(default_factory=dict)
    signals: list[str] = field(default_factory=list)
    complete: bool = False


def parse_report(text: str) -> AppReport:
    report = AppReport()
    inside = False
    for line in text.replace("\r\n", "\n").splitlines():
        if line == "OCI-APP BEGIN":
            inside = True
            continue
        if line.startswith("OCI-APP SIGNAL "):
            report.signals.append(line.split()[-1])
            continue
        if not inside:
            continue
        if line == "OCI-APP END":
            report.complete = True
            inside = False
            continue
        tag, _, rest = line.partition(" ")
        if tag == "ARGS":
            report.args = rest.split()
        elif tag == "IDS":
            parts = rest.split()
            report.uid, report.gid = int(parts[0]), int(parts[1])
            report.groups = [int(g) for g in parts[2:]]
        elif tag == "CWD":
            report.cwd = rest
        elif tag == "ENV":
            key, _, value = rest.partition("=")
            report.env[key] = value
        elif tag == "NODE":
            parts = rest.split()
            report.nodes[parts[0]] = (int(parts[1]), int(parts[2]), parts[3], parts[-1])
        elif tag == "OPEN":
            parts = rest.split()
            report.opens[(parts[0], parts[1])] = parts[2] == "OK"
    return report
