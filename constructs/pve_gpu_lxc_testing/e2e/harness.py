"""Run real terraform (or tofu) and cdktf-cli, with the real bpg/proxmox provider, against
the simulated Proxmox VE node.

    env = sim_env(tmp_path)                      # starts a node (API + sshd) under tmp_path
    stack = env.cdktf_deploy("intel-jellyfin")   # a scratch cdktf project: never the repo's cdktf.out
    assert env.plan(stack) == 0
    env.conf_path(210).write_text(...)           # an out-of-band edit, as a person makes it
    drift = env.drift(stack)                      # .exit_code, .resource_drift, .changed_attributes(addr)
    env.close()                                   # stops the node

The provider comes from `.tools/mirror` through `.tools/terraformrc` (TF_CLI_CONFIG_FILE);
HOME points into the work directory because bpg appends host keys to $HOME/.ssh/known_hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pve_gpu_lxc.cli import plan as plan_report
from pve_gpu_lxc_testing import tools
from pve_gpu_lxc_testing.pvesim import Simulator

REPO_ROOT = tools.REPO_ROOT
FACTS = REPO_ROOT / "stacks" / "facts" / "pve.json"
STATE_DIR_VAR = "PVE_GPU_LXC_STATE_DIR"
QUIET_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CHECKPOINT_DISABLE": "1",
    "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
}
# Terraform and OpenTofu print diagnostics as "Warning: <summary>" (with a box-drawing prefix
# unless -no-color); cdktf-cli relays them.
_WARNING = re.compile(r"^[\s│╷╵]*Warning: (.+)$", re.MULTILINE)


class CommandFailed(AssertionError):
    pass


def warnings_in(output: str) -> list[str]:
    """The summaries of every Terraform/OpenTofu warning diagnostic in a command's output."""
    return _WARNING.findall(output)


@dataclass
class Drift:
    """What `plan -refresh-only` saw changed outside Terraform.

    `resource_drift` keeps the entries that say something: as in `pve-gpu-lxc drift`, a
    refresh that only turns null into an empty list or map (bpg's SDKv2 read) is no drift.
    `raw` is Terraform's own list.
    """

    exit_code: int
    raw: list[dict[str, Any]]

    @property
    def report(self) -> plan_report.StackReport:
        return plan_report.summarise_plan("e2e", {"resource_drift": self.raw}, "drift")

    @property
    def resource_drift(self) -> list[plan_report.ResourceDiff]:
        return list(self.report.drift)

    def addresses(self) -> list[str]:
        return [d.address for d in self.resource_drift]

    def changed_attributes(self, address: str) -> set[str]:
        """Top-level attribute names that differ (e.g. {"device_passthrough"}), or {"<deleted>"}."""
        for diff in self.resource_drift:
            if diff.address == address:
                if diff.action == "delete":
                    return {"<deleted>"}
                return {re.split(r"[.\[]", a.path, maxsplit=1)[0] for a in diff.attributes}
        return set()


@dataclass
class SimEnv:
    sim: Simulator
    work_dir: Path
    terraform_path: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    # --- the node -------------------------------------------------------------------------------
    @property
    def node_root(self) -> Path:
        return self.sim.files.root

    def conf_path(self, vmid: int) -> Path:
        return self.sim.files.conf_path(vmid)

    def conf_text(self, vmid: int) -> str:
        return self.conf_path(vmid).read_text()

    def volume_path(self, volid: str) -> Path:
        return self.sim.files.volume_path(volid)

    def seed_volume(self, volid: str, data: bytes = b"", mode: int = 0o644) -> Path:
        """Put a file on the node, e.g. a container template the stack references by ID."""
        path = self.volume_path(volid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def node_fingerprint(self, *, hash_limit: int = 16 << 20) -> dict[str, tuple[object, ...]]:
        """Every entry of the node but run/: relative path -> (mode, uid, gid, rdev, size, mtime_ns,
        ctime_ns, symlink target, sha256 of a regular file up to `hash_limit` bytes).

        Proof that a command changed no file, mode, owner or device node: any write, chmod, chown
        or re-creation moves ctime.  It never reads a sparse 64 GiB disk image in full (size and
        times prove it unwritten).
        """
        root = self.node_root
        result: dict[str, tuple[object, ...]] = {}
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if rel.parts[:1] == ("run",):
                continue
            st = p.lstat()
            digest = None
            if stat.S_ISREG(st.st_mode) and st.st_size <= hash_limit:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            result[str(rel)] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_size, st.st_mtime_ns,
                                st.st_ctime_ns, os.readlink(p) if p.is_symlink() else None, digest)
        return result

    # --- commands -------------------------------------------------------------------------------
    def run(self, args: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,), timeout: float = 600,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), cwd=cwd, env={**os.environ, **self.env, **(extra_env or {})},
                              text=True, capture_output=True, timeout=timeout)
        self.log.append(f"$ {' '.join(args)}  (in {cwd}) -> {proc.returncode}")
        if proc.returncode not in ok:
            raise CommandFailed(f"{' '.join(args)} exited {proc.returncode} in {cwd}\n"
                                f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
        return proc

    def terraform(self, stack_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        return self.run([self.terraform_path, *args], stack_dir, ok=ok)

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
        """`plan -detailed-exitcode`: 0 clean, 2 changes (errors raise)."""
        self.init(stack_dir)
        return self.terraform(stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color", *extra,
                              ok=(0, 2)).returncode

    def plan_json(self, stack_dir: Path, *extra: str) -> tuple[int, dict[str, Any]]:
        self.init(stack_dir)
        code = self.terraform(stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color",
                              "-out=e2e.tfplan", *extra, ok=(0, 2)).returncode
        shown = self.terraform(stack_dir, "show", "-json", "e2e.tfplan")
        return code, json.loads(shown.stdout)

    def drift(self, stack_dir: Path) -> Drift:
        code, doc = self.plan_json(stack_dir, "-refresh-only")
        return Drift(code, doc.get("resource_drift", []))

    def cdktf(self, project_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        return self.run([str(tools.CDKTF), *args], project_dir, ok=ok, timeout=900)

    @property
    def project(self) -> Path:
        """A scratch cdktf project for this environment (see `make_project`)."""
        path = self.work_dir / "project"
        return path if (path / "cdktf.json").exists() else make_project(path)

    def cdktf_deploy(self, stack: str, *, skip_synth: bool = False) -> Path:
        """`cdktf deploy <stack> --auto-approve --skip-provider-lock`; returns the stack's directory."""
        extra = ["--skip-synth"] if skip_synth else []
        proc = self.cdktf(self.project, "deploy", stack, "--auto-approve", "--skip-provider-lock", *extra)
        self.last_output = proc.stdout + proc.stderr
        return stack_dir(self.project / "cdktf.out", stack)

    def cdktf_destroy(self, stack: str, *, skip_synth: bool = False) -> None:
        extra = ["--skip-synth"] if skip_synth else []
        self.cdktf(self.project, "destroy", stack, "--auto-approve", "--skip-provider-lock", *extra)

    def close(self) -> None:
        self.sim.stop()

    def __enter__(self) -> SimEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    last_output: str = ""


def sim_env(tmp_path: Path, *, facts: Path | None = FACTS, node: str = "pve", terraform: str | None = None,
            tokens: dict[str, str] | None = None) -> SimEnv:
    """A started simulated node and the environment for terraform/cdktf, all under `tmp_path`."""
    tools.require_built()
    work = Path(tmp_path)
    work.mkdir(parents=True, exist_ok=True)
    binary = terraform or tools.terraform_binary()
    sim = Simulator(work / "node", work / "sim-state", node=node, facts=facts, tokens=tokens).start()
    env = {**QUIET_ENV, **sim.env,
           "TF_CLI_CONFIG_FILE": str(tools.CLI_CONFIG),
           "TERRAFORM_BINARY_NAME": binary,
           # the product's local backend puts terraform.<stack>.tfstate here, not in the repo
           STATE_DIR_VAR: str(work / "state")}
    return SimEnv(sim, work, binary, env)


def copy_stack(stack_dir: Path, dest: Path) -> Path:
    """A private copy of a synthesized stack directory (cdk.tf.json and assets, no state)."""
    shutil.copytree(stack_dir, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan",
                                                                   ".terraform.lock.hcl"))
    return dest


def make_project(dest: Path, project_dir: Path = REPO_ROOT) -> Path:
    """A scratch cdktf project: the repo's cdktf.json with an absolute app command.

    cdktf-cli and the app run with this directory as working directory, so `cdktf.out`
    and cdktf's default local state land here, never in the repository.
    """
    config = json.loads((project_dir / "cdktf.json").read_text())
    config["app"] = f"{project_dir / '.venv' / 'bin' / 'python'} {project_dir / 'main.py'}"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cdktf.json").write_text(json.dumps(config, indent=2) + "\n")
    return dest


def synth_app(out_dir: Path, *, project_dir: Path = REPO_ROOT, env: dict[str, str] | None = None,
              state_dir: Path | None = None, python: Path | None = None) -> Path:
    """Run the project's main.py with CDKTF_OUTDIR=out_dir (never the repo's cdktf.out).

    `python`: the interpreter (default the project's .venv, cdktf; .venv-cdktn synthesizes with cdktn).
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    interpreter = str(python or project_dir / ".venv" / "bin" / "python")
    run_env = {**os.environ, **QUIET_ENV, STATE_DIR_VAR: str(state_dir or out_dir / "state"),
               **(env or {}), "CDKTF_OUTDIR": str(out_dir)}
    proc = subprocess.run([interpreter, str(project_dir / "main.py")], cwd=out_dir, env=run_env, text=True,
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


@contextmanager
def edited(path: Path, edit: Callable[[str], str]) -> Iterator[None]:
    """An out-of-band edit of a node (or stack) file for the duration of the block; the file's
    bytes are put back afterwards, whatever the block did."""
    original = path.read_bytes()
    path.write_text(edit(original.decode()))
    try:
        yield
    finally:
        path.write_bytes(original)


def sub(pattern: str, repl: str) -> Callable[[str], str]:
    """An edit replacing the first match of a multi-line regex; it fails when nothing matches."""
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
        assert n == 1, f"{pattern!r} not found in:\n{text}"
        return new
    return edit
