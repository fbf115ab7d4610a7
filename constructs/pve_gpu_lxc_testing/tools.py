"""Where the project's built tools are (scripts/build-go-tools.sh, run by `make test`).

    .tools/bin/terraform-provider-proxmox_v0.111.1   the real bpg/proxmox provider
    .tools/bin/tofu                                  OpenTofu
    .tools/terraformrc                               CLI config: bpg/proxmox from .tools/mirror
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"
BPG_VERSION = "0.111.1"
PROVIDER_BINARY = TOOLS_DIR / "bin" / f"terraform-provider-proxmox_v{BPG_VERSION}"
TOFU_BINARY = TOOLS_DIR / "bin" / "tofu"
CLI_CONFIG = TOOLS_DIR / "terraformrc"
CDKTF = REPO_ROOT / "node_modules" / ".bin" / "cdktf"
BUILD_HINT = "run `make tools` (scripts/build-go-tools.sh builds them from the Go module proxy)"


class ToolMissing(AssertionError):
    """A tool the end-to-end tests need is not built or installed; the message says how to get it."""


def require_built() -> None:
    missing = [str(p) for p in (PROVIDER_BINARY, CLI_CONFIG, CDKTF) if not p.exists()]
    if missing:
        raise ToolMissing(f"end-to-end tools missing: {', '.join(missing)}: {BUILD_HINT}; `npm ci` for cdktf")


def terraform_binary(environ: Mapping[str, str] | None = None) -> str:
    """The product's choice (TERRAFORM_BINARY_NAME > terraform > tofu on PATH), else .tools/bin/tofu."""
    from pve_gpu_lxc.cli.drift import DriftError, find_terraform

    environ = os.environ if environ is None else environ
    try:
        return find_terraform(None, environ)
    except DriftError as err:
        if environ.get("TERRAFORM_BINARY_NAME") or not TOFU_BINARY.exists():
            raise ToolMissing(f"{err}; {BUILD_HINT}") from None
        return str(TOFU_BINARY)


def tofu_binary() -> str:
    """OpenTofu for the smoke tests that must run with it whatever else is installed."""
    found = shutil.which("tofu")
    if found:
        return found
    if not TOFU_BINARY.exists():
        raise ToolMissing(f"OpenTofu missing ({TOFU_BINARY}): {BUILD_HINT}")
    return str(TOFU_BINARY)
