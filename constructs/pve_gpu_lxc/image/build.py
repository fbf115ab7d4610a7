"""Building an `NvidiaImage` with distrobuilder (I/O: files and a subprocess).

Before anything runs, `check_build_tools` names what this machine lacks (distrobuilder, root):
`BuildToolsMissing`, with the command to run elsewhere; the definition is written either way.

A build that fails raises `ImageBuildFailed` naming the step and its fix, read from
distrobuilder's log by the pure `diagnose` (the action scripts of the definition print one
"pve-gpu-lxc build step failed: <step>: ... Fix: ..." line; distrobuilder's own errors, such as
a failed debootstrap, are recognised from its messages).  The log is kept beside the definition.

Nothing half-written is left where a finished template goes: distrobuilder writes into a
private staging directory inside `out_dir` (with its own `--cache-dir`, so two builds never
share one), and only a finished image is renamed to its template file name; the staging
directory is removed whatever happens.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ValidationError
from .nvidia import STEP_FAILED, STEPS, NvidiaImage

# (command, log file) -> exit code; the default tees distrobuilder's output to the log and stderr
Runner = Callable[[list[str], Path], int]

STAGING_PREFIX = ".build-"


class BuildToolsMissing(RuntimeError):
    """The machine cannot run distrobuilder; the message says what to install and what to run."""


@dataclass(frozen=True)
class BuildFailure:
    """Why a build failed: the step, what the log says about it, and what fixes it."""

    step: str
    detail: str
    fix: str


class ImageBuildFailed(RuntimeError):
    """distrobuilder failed; the message names the step, the evidence, the fix and the full log."""

    def __init__(self, failure: BuildFailure, log_path: Path | None, exit_code: int | None = None) -> None:
        self.failure = failure
        self.log_path = log_path
        self.exit_code = exit_code
        log = f" Full log: {log_path}." if log_path is not None else ""
        super().__init__(
            f"image build failed at step '{failure.step}': {failure.detail} Fix: {failure.fix}.{log}"
        )


INSTALL_HINT = (
    "install it with `apt install distrobuilder` (Debian 13 and later); on Debian 12, from trixie with only "
    "that package pinned (a trixie apt source at Pin-Priority 1, then `apt-get install distrobuilder/trixie "
    "distrobuilder-images/trixie`; this project's scripts/install-distrobuilder.sh does both); elsewhere "
    "`snap install distrobuilder --classic`"
)


def check_build_tools(
    definition_path: Path, out_dir: Path, which: Callable[[str], str | None] | None = None,
    euid: Callable[[], int] | None = None, distrobuilder: str = "distrobuilder", build_args: Sequence[str] = (),
) -> list[str]:
    """The distrobuilder command line, or BuildToolsMissing explaining what is missing here.

    which / euid: default `shutil.which` / `os.geteuid`, looked up when called.
    """
    which = which or shutil.which
    euid = euid or os.geteuid
    command = [distrobuilder, "build-lxc", str(definition_path), str(out_dir), *build_args]
    problems = []
    if which(distrobuilder) is None:
        where = "not found on PATH" if distrobuilder == "distrobuilder" else f"{distrobuilder} is not an executable"
        problems.append(f"distrobuilder is not installed ({where}); {INSTALL_HINT}")
    if euid() != 0:
        problems.append("distrobuilder must run as root (it unpacks a rootfs and chroots into it); run the build "
                        "with sudo")
    if problems:
        raise BuildToolsMissing(
            "cannot build the image on this machine: " + "; ".join(problems) + ". The definition is written to "
            f"{definition_path}; build it on a machine that has distrobuilder with: sudo {' '.join(command)}"
        )
    return command


# ---------------------------------------------------------------------------------------- diagnosis (pure)

_STEP_LINE = re.compile(rf"^{re.escape(STEP_FAILED)}: (?P<step>{'|'.join(map(re.escape, STEPS))}|[^:]+): "
                        r"(?P<detail>.*?) Fix: (?P<fix>.*)$")
# distrobuilder's closing error, as logrus prints it or as its plain "Error: ..." line
_DISTROBUILDER_ERROR = re.compile(r'(?:^Error: (?P<plain>.*)$)|(?:level=error msg="Failed running distrobuilder" '
                                  r'err="(?P<logrus>(?:[^"\\]|\\.)*)")', re.MULTILINE)
# debootstrap's and apt's own error lines
_TOOL_ERRORS = re.compile(r"^(?:E|W): .*$", re.MULTILINE)


def diagnose(log: str, image: NvidiaImage | None = None) -> BuildFailure:
    """The failed step, from distrobuilder's output: an action script's own line, else distrobuilder's error."""
    evidence = _evidence(log)
    for line in reversed(log.splitlines()):
        match = _STEP_LINE.match(line.strip())
        if match:
            said = f" The log says: {evidence}." if evidence else ""
            return BuildFailure(match["step"], match["detail"] + said, match["fix"].rstrip("."))
    error = _distrobuilder_error(log)
    source = image.source_url if image is not None else "the source url"
    if "Failed to run \"debootstrap\"" in error or "Failed to run debootstrap" in error:
        return BuildFailure(
            "debootstrap (the definition's source)",
            f"debootstrap could not bootstrap the release: {evidence or error}.",
            "check the source section's url (a Debian mirror that has the release, e.g. http://deb.debian.org/debian), "
            "that the build machine reaches it (apt-get update), and that the release name exists there",
        )
    if error.startswith("Error while downloading source") or "Failed to unpack" in error:
        return BuildFailure(
            "source rootfs",
            f"distrobuilder could not download or unpack {source}: {error}.",
            "give a rootfs tarball that exists on this machine (file:///path/rootfs.tar.xz) or a URL it can "
            "download (images.linuxcontainers.org .../rootfs.tar.xz)",
        )
    if error.startswith(("Failed to manage packages", "Failed to manage repositories")):
        return BuildFailure(
            "packages",
            f"the package manager failed: {evidence or error}.",
            "check the package names in NvidiaImage(packages=...) and that the build machine reaches the "
            "distribution's mirror",
        )
    trigger = re.search(r"Failed to run (post-[a-z]+)", error)
    if trigger:
        return BuildFailure(
            f"{trigger.group(1)} action",
            f"an action script failed: {evidence or error}.",
            "see the action's output in the log",
        )
    if "compress" in error or "tarball" in error or "disk space" in error:
        return BuildFailure("pack", f"distrobuilder could not write the image: {error}.",
                            "check the free space and permissions of the output directory")
    return BuildFailure("distrobuilder", f"{error or 'distrobuilder failed without an error message'}.",
                        "see distrobuilder's output in the log")


def _distrobuilder_error(log: str) -> str:
    found = ""
    for match in _DISTROBUILDER_ERROR.finditer(log):
        found = match["plain"] if match["plain"] is not None else match["logrus"].replace('\\"', '"')
    return found.strip()


def _evidence(log: str, limit: int = 3) -> str:
    """The last few `E:` lines (debootstrap, apt), deduplicated, in order."""
    lines = list(dict.fromkeys(line.strip() for line in _TOOL_ERRORS.findall(log)))
    return "; ".join(lines[-limit:])


# ---------------------------------------------------------------------------------------- running (I/O)


def run_logged(command: list[str], log_path: Path, echo: TextIO | None = None) -> int:
    """Run `command`, its output (stdout and stderr) into `log_path` and, when given, `echo`; the exit code."""
    with log_path.open("wb") as log, subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                       stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if echo is not None:
                echo.write(line.decode(errors="replace"))
                echo.flush()
        return proc.wait()


def build(image: NvidiaImage, out_dir: Path, run: Runner | None = None,
          which: Callable[[str], str | None] | None = None, euid: Callable[[], int] | None = None, *,
          source: Mapping[str, Any] | None = None, distrobuilder: str = "distrobuilder",
          build_args: Sequence[str] = (), echo: TextIO | None = None, quiet: bool = False) -> Path:
    """Write the definition, run distrobuilder build-lxc, name the rootfs after the image.

    source: replaces the definition's ``source`` section (see `NvidiaImage.definition`).
    distrobuilder / build_args: the binary and extra ``build-lxc`` arguments (e.g. ``--compression xz-0``).
    run: runs distrobuilder with its log file (default: `run_logged`, echoing to `echo`, else stderr,
      unless `quiet`).
    Writes ``out_dir/<name>.yaml``, ``out_dir/<name>.build.log``, the template
    ``out_dir/<template_file_name>`` and the LXC metadata ``out_dir/meta.tar.xz``; raises
    `BuildToolsMissing`, `ValidationError` (a local input file is missing) or `ImageBuildFailed`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    definition_path = out_dir / f"{image.name}.yaml"
    definition_path.write_text(image.to_yaml(source), encoding="utf-8")
    check_build_tools(definition_path, out_dir, which, euid, distrobuilder, build_args)
    _check_local_inputs(image, source)
    if run is None:
        run = functools.partial(run_logged, echo=None if quiet else (echo or sys.stderr))
    log_path = out_dir / f"{image.name}.build.log"
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{image.name}-", dir=out_dir))
    try:
        command = [distrobuilder, "build-lxc", str(definition_path), str(staging),
                   "--cache-dir", str(staging / "cache"), *build_args]
        code = run(command, log_path)
        if code != 0:
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            raise ImageBuildFailed(diagnose(log, image), log_path, code)
        rootfs = staging / "rootfs.tar.xz"
        if not rootfs.is_file():
            made = ", ".join(sorted(p.name for p in staging.iterdir() if p.name != "cache")) or "nothing"
            raise ImageBuildFailed(BuildFailure(
                "pack", f"distrobuilder finished but wrote no rootfs.tar.xz (it wrote: {made}).",
                "build with xz compression (the template name ends in .tar.xz): drop --compression or give "
                "--compression xz-<level>"), log_path, code)
        target = out_dir / image.template_file_name
        meta = staging / "meta.tar.xz"
        if meta.is_file():
            meta.replace(out_dir / "meta.tar.xz")
        rootfs.replace(target)  # atomic: the template appears finished or not at all
        return target
    finally:
        remove_staging(staging)


def _check_local_inputs(image: NvidiaImage, source: Mapping[str, Any] | None) -> None:
    local = image._local_run_file
    if local is not None and not Path(local).is_file():
        raise ValidationError(
            f"run file {local} (userspace url {image.run_file_url}) does not exist on this machine; distrobuilder "
            "copies it into the image from here"
        )
    if source is None and image.source_url.startswith("file://"):
        rootfs = image.source_url.removeprefix("file://")
        if not Path(rootfs).is_file():
            raise ValidationError(
                f"source_url {image.source_url}: {rootfs} does not exist on this machine; give the path of a rootfs "
                "tarball here (e.g. a rootfs.tar.xz from images.linuxcontainers.org) or an https:// URL"
            )


def remove_staging(staging: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> None:
    """Remove a build's staging directory, but never through a mount point left inside it."""
    if not staging.exists():
        return
    prefix = str(staging.resolve()) + "/"
    try:
        mounted = [line.split()[4] for line in mountinfo.read_text().splitlines() if len(line.split()) > 4]
    except OSError:
        mounted = []
    left = [m for m in mounted if m.startswith(prefix)]
    if left:
        print(f"warning: {staging} still has mounts ({', '.join(left)}); not removed. Unmount them "
              f"(umount -R) and delete it", file=sys.stderr)
        return
    shutil.rmtree(staging, ignore_errors=True)
