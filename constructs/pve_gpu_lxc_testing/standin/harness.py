"""Running real terraform / cdktf-cli against the stand-in (the reusable test API).

    env = standin_env(tmp_path)                      # mirror mode, one node root per call
    cli_config, node_root, env_vars = env            # also unpacks as a 3-tuple
    stack = synth_stack("intel-jellyfin", tmp_path)  # cdk.tf.json in a temp dir
    env.apply(stack); env.plan(stack) == 0           # terraform init/apply/plan
    env.drift(stack)                                 # refresh-only plan + `show -json` drift
    env.close()                                      # stops a reattached provider

`standin_env(tmp_path, reattach=True)` starts one provider process for the whole
environment (about ten times faster per command); all stacks then share its node root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pve_gpu_lxc_testing.standin import install, pveconf
from pve_gpu_lxc_testing.standin.node import NODE_ENV, ROOT_ENV, Node

REPO_ROOT = Path(__file__).resolve().parents[3]
TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"
CDKTF = REPO_ROOT / "node_modules" / ".bin" / "cdktf"

STATE_DIR_VAR = "PVE_GPU_LXC_STATE_DIR"
QUIET_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CHECKPOINT_DISABLE": "1",
    "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
}


class CommandFailed(AssertionError):
    pass


@dataclass
class Drift:
    """What `terraform plan -refresh-only` saw changed outside Terraform."""

    exit_code: int
    resource_drift: list[dict[str, Any]]

    def addresses(self) -> list[str]:
        return [d["address"] for d in self.resource_drift]

    def changed_attributes(self, address: str) -> set[str]:
        """Top-level attribute names whose value differs between before and after (or "<deleted>")."""
        for entry in self.resource_drift:
            if entry["address"] == address:
                change = entry["change"]
                before, after = change.get("before"), change.get("after")
                if after is None:
                    return {"<deleted>"}
                return {k for k in set(before or {}) | set(after) if (before or {}).get(k) != after.get(k)}
        return set()


@dataclass
class StandinEnv:
    cli_config: Path
    node_root: Path
    env: dict[str, str]
    work_dir: Path
    provider: install.ReattachedProvider | None = None
    log: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:  # `cli_config, node_root, env = standin_env(tmp_path)`
        return iter((self.cli_config, self.node_root, self.env))

    @property
    def node(self) -> Node:
        return Node(self.node_root, self.env.get(NODE_ENV, "pve"))

    # --- node helpers ------------------------------------------------------------------------
    def conf_path(self, vmid: int) -> Path:
        return self.node.conf_path(vmid)

    def conf_text(self, vmid: int) -> str:
        return self.conf_path(vmid).read_text()

    def conf(self, vmid: int) -> pveconf.PveConf | None:
        return self.node.read_conf(vmid)

    def seed_volume(self, volid: str, data: bytes = b"", mode: int = 0o644) -> Path:
        """Put a file on the node, e.g. a container template the stack references by ID."""
        path = self.node.volume_path(volid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        return path

    # --- commands ------------------------------------------------------------------------------
    def run(self, args: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,), timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), cwd=cwd, env={**os.environ, **self.env}, text=True,
                              capture_output=True, timeout=timeout)
        self.log.append(f"$ {' '.join(args)}  (in {cwd}) -> {proc.returncode}")
        if proc.returncode not in ok:
            raise CommandFailed(f"{' '.join(args)} exited {proc.returncode} in {cwd}\n"
                                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc

    def terraform(self, stack_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        return self.run([TERRAFORM, *args], stack_dir, ok=ok)

    def init(self, stack_dir: Path) -> None:
        if not (stack_dir / ".terraform").exists():
            self.terraform(stack_dir, "init", "-input=false", "-no-color")

    def apply(self, stack_dir: Path) -> subprocess.CompletedProcess[str]:
        self.init(stack_dir)
        return self.terraform(stack_dir, "apply", "-auto-approve", "-input=false", "-no-color")

    def destroy(self, stack_dir: Path) -> subprocess.CompletedProcess[str]:
        self.init(stack_dir)
        return self.terraform(stack_dir, "destroy", "-auto-approve", "-input=false", "-no-color")

    def plan(self, stack_dir: Path, *extra: str) -> int:
        """`terraform plan -detailed-exitcode`: 0 clean, 2 changes (errors raise)."""
        self.init(stack_dir)
        return self.terraform(stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color", *extra,
                              ok=(0, 2)).returncode

    def plan_json(self, stack_dir: Path, *extra: str) -> tuple[int, dict[str, Any]]:
        self.init(stack_dir)
        code = self.terraform(stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color",
                              "-out=standin.tfplan", *extra, ok=(0, 2)).returncode
        shown = self.terraform(stack_dir, "show", "-json", "standin.tfplan")
        return code, json.loads(shown.stdout)

    def drift(self, stack_dir: Path) -> Drift:
        code, doc = self.plan_json(stack_dir, "-refresh-only")
        return Drift(code, doc.get("resource_drift", []))

    def cdktf(self, project_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        return self.run([str(CDKTF), *args], project_dir, ok=ok, timeout=600)

    @property
    def project(self) -> Path:
        """A scratch cdktf project for this environment (see `make_project`)."""
        path = self.work_dir / "project"
        return path if (path / "cdktf.json").exists() else make_project(path)

    def cdktf_deploy(self, stack: str, *, skip_synth: bool = False) -> Path:
        """`cdktf deploy <stack> --auto-approve --skip-provider-lock`; returns the stack's directory.

        `skip_synth=True` reuses the synthesized JSON (saves the app's ~2 s jsii start-up).
        """
        extra = ["--skip-synth"] if skip_synth else []
        self.cdktf(self.project, "deploy", stack, "--auto-approve", "--skip-provider-lock", *extra)
        return stack_dir(self.project / "cdktf.out", stack)

    def cdktf_destroy(self, stack: str, *, skip_synth: bool = False) -> None:
        extra = ["--skip-synth"] if skip_synth else []
        self.cdktf(self.project, "destroy", stack, "--auto-approve", "--skip-provider-lock", *extra)

    def close(self) -> None:
        if self.provider is not None:
            self.provider.stop()
            self.provider = None


def standin_env(tmp_path: Path, *, reattach: bool = False, node_name: str = "pve") -> StandinEnv:
    """A node root, a CLI config and the environment for terraform/cdktf, under `tmp_path`."""
    work = Path(tmp_path)
    node_root = work / "node"
    node_root.mkdir(parents=True, exist_ok=True)
    env = dict(QUIET_ENV)
    env.update({ROOT_ENV: str(node_root), NODE_ENV: node_name,
                # the product's local backend puts terraform.<stack>.tfstate here, not in the repo
                STATE_DIR_VAR: str(work / "state")})
    provider = None
    if reattach:
        cli_config = install.write_cli_config(work / "terraformrc", None)
        provider = install.ReattachedProvider(node_root, node_name, work / "standin-provider.log").start()
        env.update(provider.env())
    else:
        mirror = install.make_mirror(work / "mirror", node_root)
        cli_config = install.write_cli_config(work / "terraformrc", mirror)
    env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    return StandinEnv(cli_config, node_root, env, work, provider)


def copy_stack(stack_dir: Path, dest: Path) -> Path:
    """A private copy of a synthesized stack directory (cdk.tf.json and assets, no state)."""
    shutil.copytree(stack_dir, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"))
    return dest


def make_project(dest: Path, project_dir: Path = REPO_ROOT) -> Path:
    """A scratch cdktf project: the repo's cdktf.json with an absolute app command.

    cdktf-cli and the app run with this directory as working directory, so `cdktf.out`
    and cdktf's default local state (`terraform.<stack>.tfstate`) land here, never in
    the repository.
    """
    config = json.loads((project_dir / "cdktf.json").read_text())
    config["app"] = f"{project_dir / '.venv' / 'bin' / 'python'} {project_dir / 'main.py'}"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cdktf.json").write_text(json.dumps(config, indent=2) + "\n")
    return dest


def synth_app(out_dir: Path, *, project_dir: Path = REPO_ROOT, env: dict[str, str] | None = None,
              state_dir: Path | None = None) -> Path:
    """Run the project's main.py with CDKTF_OUTDIR=out_dir (never the repo's cdktf.out).

    The app runs in `out_dir`'s parent; local state goes to `state_dir` (default
    `<out_dir>/state`), not the project directory.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    python = str(project_dir / ".venv" / "bin" / "python")
    run_env = {**os.environ, **QUIET_ENV, STATE_DIR_VAR: str(state_dir or out_dir / "state"),
               **(env or {}), "CDKTF_OUTDIR": str(out_dir)}
    proc = subprocess.run([python, str(project_dir / "main.py")], cwd=out_dir, env=run_env, text=True,
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise CommandFailed(f"main.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return out_dir


def stack_dir(out_dir: Path, stack: str) -> Path:
    path = out_dir / "stacks" / stack
    if not (path / "cdk.tf.json").exists():
        found = sorted(p.name for p in (out_dir / "stacks").glob("*")) if (out_dir / "stacks").exists() else []
        raise FileNotFoundError(f"no synthesized stack {stack!r} in {out_dir} (found: {found})")
    return path
