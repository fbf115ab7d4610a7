"""Making Terraform load the stand-in under the name registry.terraform.io/bpg/proxmox.

Two modes:

* mirror: a `filesystem_mirror` CLI config (`TF_CLI_CONFIG_FILE`) whose unpacked layout
  holds a shell wrapper named like the real plugin binary; `terraform init` works
  offline.  Terraform starts the provider a few times per command (~0.7 s a plan).
* reattach: one long-lived provider process in `tf`'s dev mode, announced through
  `TF_REATTACH_PROVIDERS`; every terraform command then skips the plugin start-up
  (~10x faster).  The caller must `stop()` it; it serves one node root only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pve_gpu_lxc_testing.standin.node import NODE_ENV, ROOT_ENV

PROVIDER_HOST, PROVIDER_NAMESPACE, PROVIDER_TYPE = "registry.terraform.io", "bpg", "proxmox"
PROVIDER_VERSION = "0.111.1"  # satisfies the stacks' `~> 0.111` / `0.111.1` constraints
PLATFORM = "linux_amd64"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # .../constructs


def provider_command() -> list[str]:
    return [sys.executable, "-m", "pve_gpu_lxc_testing.standin"]


def write_wrapper(path: Path, node_root: Path | None = None) -> Path:
    """The plugin "binary": absolute paths only (Terraform runs it through a symlink)."""
    default_root = f': "${{{ROOT_ENV}:={node_root}}}"\nexport {ROOT_ENV}\n' if node_root else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        "# stand-in for terraform-provider-proxmox (test infrastructure, see docs/standin-provider.md)\n"
        f"{default_root}"
        f'PYTHONPATH="{SOURCE_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" '
        f'-m pve_gpu_lxc_testing.standin "$@"\n'
    )
    path.chmod(0o755)
    return path


def make_mirror(mirror_dir: Path, node_root: Path | None = None, version: str = PROVIDER_VERSION) -> Path:
    binary = (mirror_dir / PROVIDER_HOST / PROVIDER_NAMESPACE / PROVIDER_TYPE / version / PLATFORM
              / f"terraform-provider-{PROVIDER_TYPE}_v{version}")
    write_wrapper(binary, node_root)
    return mirror_dir


def write_cli_config(path: Path, mirror_dir: Path | None) -> Path:
    """A CLI config that installs bpg/proxmox from `mirror_dir` (None: an empty config, for reattach)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mirror_dir is None:
        path.write_text("# empty: the provider is reattached (TF_REATTACH_PROVIDERS)\n")
        return path
    address = f"{PROVIDER_HOST}/{PROVIDER_NAMESPACE}/{PROVIDER_TYPE}"
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror_dir}"\n    include = ["{address}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{address}"]\n  }}\n'
        "}\n"
    )
    return path


class ReattachedProvider:
    """One stand-in process in dev mode; `env()` gives the variables terraform needs."""

    def __init__(self, node_root: Path, node_name: str = "pve", log_path: Path | None = None):
        self.node_root = Path(node_root)
        self.node_name = node_name
        self.log_path = log_path or self.node_root.parent / "standin-provider.log"
        self.process: subprocess.Popen[str] | None = None
        self.reattach: str | None = None

    def start(self, timeout: float = 20.0) -> "ReattachedProvider":
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{ROOT_ENV: str(self.node_root), NODE_ENV: self.node_name})
        env["PYTHONPATH"] = str(SOURCE_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stderr = open(self.log_path, "a")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(provider_command() + ["--dev"], stdout=subprocess.PIPE, stderr=stderr,
                                        text=True, env=env, start_new_session=True)
        stderr.close()
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if "TF_REATTACH_PROVIDERS=" in line:
                self.reattach = line.split("=", 1)[1].strip().strip("'")
                json.loads(self.reattach)  # fail here, not inside terraform, if tf changes its output
                return self
        self.stop()
        raise RuntimeError(f"the stand-in provider did not announce TF_REATTACH_PROVIDERS within {timeout}s; "
                           f"see {self.log_path}")

    def env(self) -> dict[str, str]:
        if not self.reattach:
            raise RuntimeError("ReattachedProvider.start() has not been called")
        return {"TF_REATTACH_PROVIDERS": self.reattach}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)  # by PID: only the process this object started
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
