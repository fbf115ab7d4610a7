"""Building an `NvidiaImage` with distrobuilder (I/O: files and a subprocess).

Where distrobuilder or root is missing, `BuildToolsMissing` says what to install and which
command to run on a machine that has it; the definition is written either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ValidationError
from .nvidia import NvidiaImage


class BuildToolsMissing(RuntimeError):
    """The machine cannot run distrobuilder; the message says what to install and what to run."""


def check_build_tools(
    definition_path: Path, out_dir: Path, which: Callable[[str], str | None] = shutil.which,
    euid: Callable[[], int] = os.geteuid, distrobuilder: str = "distrobuilder", build_args: Sequence[str] = (),
) -> list[str]:
    """The distrobuilder command line, or BuildToolsMissing explaining what is missing here."""
    command = [distrobuilder, "build-lxc", str(definition_path), str(out_dir), *build_args]
    problems = []
    if which(distrobuilder) is None:
        where = "not found on PATH" if distrobuilder == "distrobuilder" else f"{distrobuilder} is not an executable"
        problems.append(
            f"distrobuilder is not installed ({where}); install it with `apt install distrobuilder` "
            "(Debian 13 and later) or `snap install distrobuilder --classic`"
        )
    if euid() != 0:
        problems.append("distrobuilder must run as root (it unpacks a rootfs and chroots into it)")
    if problems:
        raise BuildToolsMissing(
            "cannot build the image on this machine: " + "; ".join(problems) + ". The definition is written to "
            f"{definition_path}; build it on a machine that has distrobuilder with: sudo {' '.join(command)}"
        )
    return command


def build(image: NvidiaImage, out_dir: Path, run: Callable[..., Any] = subprocess.run,
          which: Callable[[str], str | None] = shutil.which, euid: Callable[[], int] = os.geteuid, *,
          source: Mapping[str, Any] | None = None, distrobuilder: str = "distrobuilder",
          build_args: Sequence[str] = ()) -> Path:
    """Write the definition, run distrobuilder build-lxc, name the rootfs after the image.

    source: replaces the definition's ``source`` section (see `NvidiaImage.definition`).
    distrobuilder / build_args: the binary and extra ``build-lxc`` arguments (e.g. ``--cache-dir``).
    The LXC metadata archive stays ``out_dir/meta.tar.xz``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    definition_path = out_dir / f"{image.name}.yaml"
    definition_path.write_text(image.to_yaml(source), encoding="utf-8")
    command = check_build_tools(definition_path, out_dir, which, euid, distrobuilder, build_args)
    local = image._local_run_file
    if local is not None and not Path(local).is_file():
        raise ValidationError(
            f"run file {local} (userspace url {image.run_file_url}) does not exist on this machine; distrobuilder "
            "copies it into the image from here"
        )
    run(command, check=True)
    rootfs = out_dir / "rootfs.tar.xz"
    if not rootfs.exists():
        raise RuntimeError(f"distrobuilder finished but {rootfs} is missing; see its output above")
    target = out_dir / image.template_file_name
    rootfs.replace(target)
    return target
