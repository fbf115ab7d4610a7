"""How long a full `pve-gpu-lxc drift` of the example stacks takes against the simulated node.

    .venv/bin/python benchmarks/drift_check.py [--repeat 3]

Deploys both example stacks (intel-jellyfin, nvidia-ollama) with the real terraform and
bpg/proxmox provider (.tools/) to a simulated Proxmox VE node in a temp dir
(pve_gpu_lxc_testing.pvesim: HTTPS API + real sshd over files), then times the drift
command (synthesis, and per stack terraform init / plan -refresh-only / show -json) in
both ways of loading the provider:

  mirror    Terraform starts the provider itself for every command (.tools/terraformrc),
            as a pipeline does
  reattach  one long-lived provider process (`terraform-provider-proxmox -debug`, attached
            with TF_REATTACH_PROVIDERS): the difference is what starting bpg and loading
            its schema costs per command

Prints a table (median of --repeat runs, seconds).  Not a test: numbers depend on the
machine, and the simulated node answers in milliseconds where a real PVE API takes longer.
For N containers in one stack and the drift command against a bare refresh-only plan,
see sim_benchmark.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "constructs"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # before cdktf loads

from pve_gpu_lxc.cli import drift  # noqa: E402
from pve_gpu_lxc_testing import tools  # noqa: E402
from pve_gpu_lxc_testing.e2e.harness import SimEnv, sim_env  # noqa: E402
from pve_gpu_lxc_testing.pg.scratch_app import write_scratch_project  # noqa: E402

TEMPLATES = ("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
             "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
STACKS = ("intel-jellyfin", "nvidia-ollama")
# The provider's address under both registries' host names: terraform asks for the first, tofu the second.
PROVIDER_ADDRESSES = ("registry.terraform.io/bpg/proxmox", "registry.opentofu.org/bpg/proxmox")
_REATTACH_PREFIX = "TF_REATTACH_PROVIDERS='"


class TimingRunner:
    """Wraps drift.run_subprocess and records the wall time of every command."""

    def __init__(self) -> None:
        self.times: dict[str, float] = defaultdict(float)

    def __call__(self, cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        try:
            return drift.run_subprocess(cmd, cwd, env)
        finally:
            key = "synth" if cmd[-1] == "main.py" else f"{Path(cwd).name}:{cmd[1]}"
            self.times[key] += time.perf_counter() - started


def one_check(options: drift.DriftOptions) -> tuple[int, dict[str, float]]:
    runner = TimingRunner()
    started = time.perf_counter()
    code = drift.run_drift(options, run=runner, out=io.StringIO(), err=io.StringIO())
    runner.times["total"] = time.perf_counter() - started
    return code, dict(runner.times)


@contextmanager
def reattached_provider(env: Mapping[str, str], timeout: float = 30.0) -> Iterator[str]:
    """bpg started once with `-debug` (terraform-plugin-go's managed debug mode); yields the
    TF_REATTACH_PROVIDERS value.  The provider reads PROXMOX_VE_* from its own environment."""
    proc = subprocess.Popen([str(tools.PROVIDER_BINARY), "-debug"], env=dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        seen = b""
        while True:  # raw reads: a buffered readline would hide lines from select()
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise RuntimeError(f"no reattach config from {tools.PROVIDER_BINARY} -debug:\n{seen.decode()}")
            seen += chunk
            for line in seen.decode(errors="replace").splitlines(keepends=True):
                text = line.strip()
                if text.startswith(_REATTACH_PREFIX) and line.endswith("\n"):
                    config = json.loads(text[len(_REATTACH_PREFIX):-1].replace("'\"'\"'", "'"))
                    (entry,) = config.values()
                    yield json.dumps({address: entry for address in PROVIDER_ADDRESSES})
                    return
    finally:
        proc.terminate()  # managed debug mode stops on SIGINT/SIGTERM
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_mode(reattach: bool, repeat: int, base: Path) -> dict[str, float]:
    env_obj: SimEnv = sim_env(base / "sim")
    try:
        for volid in TEMPLATES:
            env_obj.seed_volume(volid, b"template")
        project = write_scratch_project(base / "project")
        environ = {**os.environ, **env_obj.env}  # PVE_GPU_LXC_STATE_DIR: local state in the temp dir
        environ.pop("PVE_GPU_LXC_BACKEND", None)
        with reattached_provider(environ) if reattach else _nothing() as reattach_value:
            if reattach_value:
                environ["TF_REATTACH_PROVIDERS"] = reattach_value
            opts = drift.DriftOptions(project_dir=project, outdir=project / "cdktf.out", synth="always",
                                      environ=environ)
            code, _ = one_check(opts)  # first synth + init
            if code != 0:
                raise SystemExit(f"unexpected drift exit {code} before deploying")
            extra = {"TF_REATTACH_PROVIDERS": reattach_value} if reattach_value else None
            for stack in STACKS:
                env_obj.run([env_obj.terraform_path, "apply", "-auto-approve", "-input=false", "-no-color"],
                            project / "cdktf.out" / "stacks" / stack, extra_env=extra)
            samples: dict[str, list[float]] = defaultdict(list)
            for _ in range(repeat):
                code, times = one_check(opts)
                if code != 0:
                    raise SystemExit(f"drift exit {code} on a freshly deployed node")
                for key, value in times.items():
                    samples[key].append(value)
            # a no-synth check: what a pipeline pays when cdktf.out is current
            nosynth = drift.DriftOptions(**{**opts.__dict__, "synth": "never"})
            for _ in range(repeat):
                samples["total (--no-synth)"].append(one_check(nosynth)[1]["total"])
        return {key: statistics.median(values) for key, values in samples.items()}
    finally:
        env_obj.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="drift-check-") as tmp:
        for mode, reattach in (("mirror", False), ("reattach", True)):
            results[mode] = bench_mode(reattach, args.repeat, Path(tmp) / mode)
    rows = ["synth"] + [f"{s}:{verb}" for s in STACKS for verb in ("init", "plan", "show")]
    rows += ["total", "total (--no-synth)"]
    print(f"drift check of {len(STACKS)} example stacks on the simulated node, median of {args.repeat} runs (seconds)")
    print(f"{'step':<26}{'mirror':>10}{'reattach':>10}")
    for row in rows:
        print(f"{row:<26}" + "".join(f"{results[m].get(row, float('nan')):>10.2f}" for m in results))


if __name__ == "__main__":
    main()
