"""A stand-in for NVIDIA's ``NVIDIA-Linux-<arch>-<version>.run`` installer (test infrastructure).

NVIDIA's installer cannot be downloaded where the tests run, so the image build is fed a
file with the same interface, reached by a ``file://`` URL, and the image definition's own
install step runs it unchanged.  Like the real one it is a makeself-style self-extracting
archive: a ``sh`` header followed by a tar payload that holds an ``nvidia-installer`` and the
userspace files.  The installer behaves like nvidia-installer for the options the definition
uses, and refuses the rest the way nvidia-installer does:

* ``--no-kernel-modules`` (or the older ``--no-kernel-module``): install the userspace only.
  Without it the installer looks for the running kernel's source tree
  (``/lib/modules/$(uname -r)/build``) and, as in an image build chroot there is none, fails
  with nvidia-installer's message; so a successful install proves the definition passed it.
* ``-s`` / ``--silent``: required (without a terminal the real one cannot show its license).
* ``--no-systemd``: skip the ``nvidia-{suspend,resume,hibernate}.service`` units, which are
  installed otherwise (their absence in an image proves the flag reached the installer).
* ``--install-compat32-libs`` / ``--no-install-compat32-libs``: 32-bit ``libcuda`` under
  ``/usr/lib/i386-linux-gnu`` or not (default: not).
* anything else: ``nvidia-installer: unrecognized option: "<opt>"``, exit 1.

Installed (x86_64; aarch64 uses ``aarch64-linux-gnu``):
``/usr/lib/x86_64-linux-gnu/libcuda.so.<v>`` (+ ``libcuda.so.1``, ``libcuda.so`` links),
``libnvidia-ml.so.<v>`` (+ ``libnvidia-ml.so.1``), ``/usr/bin/nvidia-smi`` and
``/var/log/nvidia-installer.log``.  The libraries are placeholders, not ELF files.  The test
seam ``PVE_GPU_LXC_FAKE_ROOT`` (installer and nvidia-smi) prefixes every absolute path, so the
unit tests run them without a chroot.

The ``nvidia-smi`` stand-in needs ``/dev/nvidiactl`` (as the real one needs the driver),
refuses a kernel module of another version in ``/proc/driver/nvidia/version`` with NVML's
"Driver/library version mismatch", and prints the version in nvidia-smi's table, as
``--query-gpu=driver_version --format=csv,noheader`` and as ``--version``.

The archive is byte-for-byte reproducible for a given version and architecture.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

ARCH_TRIPLES = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}
# CUDA version each driver branch reports (nvidia-smi's header); unknown branches print N/A
CUDA_BY_BRANCH = {
    "535": "12.2", "545": "12.3", "550": "12.4", "555": "12.5", "560": "12.6", "565": "12.7",
    "570": "12.8", "575": "12.9", "580": "13.0",
}
_VERSION = re.compile(r"^\d+(\.\d+){1,2}$")
MTIME = 1_700_000_000  # fixed, so the archive and its sha256 are reproducible

_HEADER = """#!/bin/sh
# {run_file}: a STAND-IN for NVIDIA's installer, written by pve_gpu_lxc_testing.image.fake_run
# for tests (not NVIDIA software). makeself layout: this header, then a tar payload from line {skip}.
label='NVIDIA Accelerated Graphics Driver for Linux-{arch} {version} (stand-in)'
extract_only=0
for arg in "$@"; do
    case "$arg" in
        -x|--extract-only) extract_only=1 ;;
    esac
done
if [ "$extract_only" = 1 ]; then
    dir="./{dirname}"
    mkdir -p "$dir" && tail -n +{skip} "$0" | tar -xf - -C "$dir" || {{ echo "Error extracting $label" >&2; exit 1; }}
    echo "Extracted $label to $dir"
    exit 0
fi
tmp=$(mktemp -d "${{TMPDIR:-/tmp}}/makeself.XXXXXXXX") || exit 1
if ! tail -n +{skip} "$0" | tar -xf - -C "$tmp"; then
    echo "Error in the payload of $label: the archive is corrupt" >&2
    rm -rf "$tmp"
    exit 1
fi
(cd "$tmp" && sh ./nvidia-installer "$@")
status=$?
rm -rf "$tmp"
exit $status
"""

_INSTALLER = r"""#!/bin/sh
# nvidia-installer stand-in for {version} ({arch}); see pve_gpu_lxc_testing.image.fake_run.
VERSION={version}
TRIPLE={triple}
root=${{PVE_GPU_LXC_FAKE_ROOT:-}}  # test seam: install under this directory instead of /
kernel_modules=1
silent=0
systemd=1
compat32=0
for arg in "$@"; do
    case "$arg" in
        --no-kernel-modules|--no-kernel-module) kernel_modules=0 ;;
        -s|--silent) silent=1 ;;
        --no-systemd) systemd=0 ;;
        --install-compat32-libs) compat32=1 ;;
        --no-install-compat32-libs) compat32=0 ;;
        *)
            echo "nvidia-installer: unrecognized option: \"$arg\"" >&2
            echo "" >&2
            echo "ERROR: Invalid commandline, please run \`nvidia-installer --help\` for usage information." >&2
            exit 1
            ;;
    esac
done
log() {{ [ "$silent" = 1 ] || echo "$*"; }}
if [ "$silent" != 1 ]; then
    echo "ERROR: Unable to display the license agreement: no terminal (run with --silent to accept it)." >&2
    exit 1
fi
if [ "$kernel_modules" = 1 ]; then
    if [ ! -d "$root/lib/modules/$(uname -r)/build" ]; then
        echo "ERROR: Unable to find the kernel source tree for the currently running kernel.  Please make sure" \
             "you have installed the kernel source files for your kernel and that they are properly configured;" \
             "on Red Hat Linux systems, for example, be sure you have the 'kernel-source' or 'kernel-devel' RPM" \
             "installed.  If you know the correct kernel source files are installed, you may specify the kernel" \
             "source path with the '--kernel-source-path' command line option." >&2
    else
        echo "ERROR: this stand-in builds no kernel modules; run it with --no-kernel-modules" >&2
    fi
    exit 1
fi
libdir=$root/usr/lib/$TRIPLE
mkdir -p "$libdir" "$root/usr/bin" "$root/var/log"
install -m 0644 libcuda.so "$libdir/libcuda.so.$VERSION"
ln -sf "libcuda.so.$VERSION" "$libdir/libcuda.so.1"
ln -sf libcuda.so.1 "$libdir/libcuda.so"
install -m 0644 libnvidia-ml.so "$libdir/libnvidia-ml.so.$VERSION"
ln -sf "libnvidia-ml.so.$VERSION" "$libdir/libnvidia-ml.so.1"
install -m 0755 nvidia-smi "$root/usr/bin/nvidia-smi"
if [ "$compat32" = 1 ]; then
    mkdir -p "$root/usr/lib/i386-linux-gnu"
    install -m 0644 libcuda.so "$root/usr/lib/i386-linux-gnu/libcuda.so.$VERSION"
    ln -sf "libcuda.so.$VERSION" "$root/usr/lib/i386-linux-gnu/libcuda.so.1"
fi
if [ "$systemd" = 1 ]; then
    mkdir -p "$root/usr/lib/systemd/system"
    for unit in nvidia-suspend nvidia-resume nvidia-hibernate; do
        printf '[Unit]\nDescription=NVIDIA system %s actions (stand-in)\n' "$unit" \
            > "$root/usr/lib/systemd/system/$unit.service"
    done
fi
{{
    echo "nvidia-installer log file '/var/log/nvidia-installer.log'"
    echo "installer version: $VERSION (stand-in)"
    echo "command line: nvidia-installer $*"
    echo "kernel modules: not installed (--no-kernel-modules)"
    echo "compat32 libraries: $([ "$compat32" = 1 ] && echo installed || echo skipped)"
    echo "systemd units: $([ "$systemd" = 1 ] && echo installed || echo skipped)"
}} > "$root/var/log/nvidia-installer.log"
log "Installation of the NVIDIA Accelerated Graphics Driver for Linux ($VERSION) is complete."
exit 0
"""

_NVIDIA_SMI = r"""#!/bin/sh
# nvidia-smi stand-in of NVIDIA userspace {version}; see pve_gpu_lxc_testing.image.fake_run.
VERSION={version}
CUDA={cuda}
root=${{PVE_GPU_LXC_FAKE_ROOT:-}}  # test seam: look for /dev and /proc under this directory
if [ ! -c "$root/dev/nvidiactl" ]; then
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
    exit 9
fi
if [ -r "$root/proc/driver/nvidia/version" ]; then
    kernel=$(awk '/^NVRM version:/ {{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+[.][0-9]+([.][0-9]+)?$/) {{ print $i; exit }} }}' \
        "$root/proc/driver/nvidia/version")
    if [ -n "$kernel" ] && [ "$kernel" != "$VERSION" ]; then
        echo "Failed to initialize NVML: Driver/library version mismatch"
        echo "NVML library version: ${{VERSION%.*}}"
        exit 18
    fi
fi
query=""
format=""
version=0
for arg in "$@"; do
    case "$arg" in
        --query-gpu=*) query=${{arg#--query-gpu=}} ;;
        --format=*) format=${{arg#--format=}} ;;
        --version) version=1 ;;
        *) echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help." >&2; exit 2 ;;
    esac
done
if [ "$version" = 1 ]; then
    echo "NVIDIA-SMI version  : $VERSION"
    echo "NVML version        : ${{VERSION%.*}}"
    echo "DRIVER version      : $VERSION"
    echo "CUDA Version        : $CUDA"
    exit 0
fi
if [ -n "$query" ]; then
    if [ "$query" != driver_version ] || [ -z "$format" ]; then
        echo "Field \"$query\" is not supported by this stand-in (driver_version with --format=csv only)" >&2
        exit 2
    fi
    case "$format" in
        csv) echo driver_version; echo "$VERSION" ;;
        csv,noheader|noheader,csv) echo "$VERSION" ;;
        *) echo "\"$format\" is not a valid format" >&2; exit 2 ;;
    esac
    exit 0
fi
date +'%a %b %e %H:%M:%S %Y       '
echo "+-----------------------------------------------------------------------------------------+"
printf '| NVIDIA-SMI %-22s Driver Version: %-14s CUDA Version: %-9s|\n' "$VERSION" "$VERSION" "$CUDA"
echo "|-----------------------------------------+------------------------+----------------------+"
echo "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |"
echo "|=========================================+========================+======================|"
echo "|   0  NVIDIA stand-in GPU            Off |   00000000:01:00.0 Off |                  N/A |"
echo "+-----------------------------------------+------------------------+----------------------+"
"""


def run_file_name(version: str, arch: str = "x86_64") -> str:
    return f"NVIDIA-Linux-{arch}-{version}.run"


def fake_run_file_bytes(version: str, arch: str = "x86_64") -> bytes:
    """The whole stand-in installer for `version` (reproducible bytes)."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not an NVIDIA driver version like 575.64.03")
    if arch not in ARCH_TRIPLES:
        raise ValueError(f"arch {arch!r}: NVIDIA ships run files for {', '.join(ARCH_TRIPLES)}")
    cuda = CUDA_BY_BRANCH.get(version.split(".")[0], "N/A")
    files = {
        "nvidia-installer": (_INSTALLER.format(version=version, arch=arch, triple=ARCH_TRIPLES[arch]), 0o755),
        "nvidia-smi": (_NVIDIA_SMI.format(version=version, cuda=cuda), 0o755),
        "libcuda.so": (f"placeholder for NVIDIA libcuda.so.{version} ({arch}); not an ELF file\n", 0o644),
        "libnvidia-ml.so": (f"placeholder for NVIDIA libnvidia-ml.so.{version} ({arch}); not an ELF file\n", 0o644),
    }
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    # the payload starts on the line after the header; the header names that line itself
    skip = 0
    for _ in range(3):  # the line count does not depend on the digits of `skip` past the first pass
        header = _HEADER.format(run_file=run_file_name(version, arch), skip=skip, arch=arch, version=version,
                                dirname=run_file_name(version, arch).removesuffix(".run"))
        skip = header.count("\n") + 1
    return header.encode() + payload.getvalue()


def write_fake_run_file(directory: Path, version: str, arch: str = "x86_64") -> Path:
    """Write ``NVIDIA-Linux-<arch>-<version>.run`` (mode 0755) into `directory`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / run_file_name(version, arch)
    data = fake_run_file_bytes(version, arch)
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o755)
        tmp.replace(path)
    return path
